"""The sparse compute engine: EIE-style column broadcast that spends no cycle on a zero.

Only columns with a nonzero activation and some word are broadcast, lowest first, at most one a
cycle; each PE queues (depth D) the columns it has words in and walks their CSC words, one a
cycle, from its weight ROM. Each layer's compute phase has exactly the timing of the
single-layer :class:`~secateurs.hw.sparse_array.SparseArray`, which ``sw/cycles.py`` models.
"""

from amaranth.hdl import Cat, Module
from amaranth.lib import wiring

from .engine import EngineSignature, connect_drain, count
from .memories import address_width, pointer_image, sparse_banks
from .network_pe import NetworkPE
from .network_scheduler import NetworkScheduler
from .queue import check_queue_depth
from .walker import ColumnWalker

__all__ = ["SparseEngine"]


class SparseEngine(wiring.Component):
    """P NetworkPEs fed by per-PE column walkers and the network scheduler."""

    def __init__(self, signature: EngineSignature, image, *, queue_depth, acc_bits):
        self._image = image
        self._queue_depth = check_queue_depth(queue_depth)
        self._acc_bits = acc_bits
        self._banks, _ = sparse_banks(image)
        self.bank_depth = max(1, max(len(b) for b in self._banks))
        self.pointer_bits = address_width(self.bank_depth)
        self._pointers = pointer_image(image, self.pointer_bits)
        super().__init__(signature)

    def elaborate(self, platform):
        m = Module()
        image, bus = self._image, self
        codebooks = (tuple(l.codebook for l in image.layers) if image.codebook else None)
        word = image.word_layout()
        m.submodules.scheduler = scheduler = NetworkScheduler(
            pes=image.pes, cols=image.max_cols, pointer_bits=self.pointer_bits,
            pointers=self._pointers)
        walkers, pes = [], []
        for p in range(image.pes):
            walker = ColumnWalker(queue_depth=self._queue_depth, bank_depth=self.bank_depth,
                                  pointer_bits=self.pointer_bits)
            pe = NetworkPE(word=word, bank=self._banks[p] + [0] * (self.bank_depth
                                                                    - len(self._banks[p])),
                           local_rows=max(image.rows_per_pe(l) for l in range(len(image.layers))),
                           acc_bits=self._acc_bits, layers=len(image.layers), codebooks=codebooks)
            m.submodules[f"walker{p}"] = walker
            m.submodules[f"pe{p}"] = pe
            wiring.connect(m, scheduler.columns[p], walker.column)
            wiring.connect(m, walker.issue, pe.issue)
            walkers.append(walker)
            pes.append(pe)

        connect_drain(m, bus, pes)
        m.d.comb += [
            scheduler.launch.eq(bus.launch),
            scheduler.run.eq(bus.run),
            scheduler.ptr_base.eq(bus.config.ptr_base),
            scheduler.pend_en.eq(bus.pend_en),
            scheduler.pend_index.eq(bus.pend_index),
            bus.act_en.eq(scheduler.act_en),
            bus.act_addr.eq(scheduler.act_addr),
            scheduler.act_data.eq(bus.act_data),
            bus.working.eq(scheduler.busy
                           | Cat(w.busy | pe.settling for w, pe in zip(walkers, pes)).any()),
            bus.events.queue_pushes.eq(count(
                m, [s.valid & s.ready for s in scheduler.columns], image.pes)),
            bus.events.broadcasts.eq(scheduler.fire),
            bus.events.stalls.eq(scheduler.stall),
            bus.events.pointer_reads.eq(Cat(0, scheduler.picking)),
        ]
        return m
