"""The sparse compute engine: EIE-style column broadcast that spends no cycle on a zero.

Only columns with a nonzero activation and some word are broadcast, lowest first, an aligned
block of up to W a cycle (the issue width); each PE queues (depth D) the columns it has words in,
up to W a cycle, and walks their CSC words, one a cycle, from its weight ROM. Each layer's
compute phase takes exactly the cycles ``sw/cycles.py``'s ``sparse_cycles`` gives.
"""

from amaranth.hdl import Array, Cat, Const, Module
from amaranth.lib import wiring

from ..core.broadcast import block_pointer_word
from ..core.pe import ProcessingElement
from ..core.scheduler import ColumnScheduler
from ..core.walker import ColumnWalker
from ..memories import address_width, sparse_banks
from ..params import check_issue_width, check_queue_depth
from .base import EngineSignature, check_engine, connect_drain

__all__ = ["block_pointer_image", "SparseEngine"]


def block_pointer_image(image, pointer_bits: int, width: int) -> tuple[list[int], list[int]]:
    """``(words, bases)``: the raw :func:`~secateurs.hw.core.broadcast.block_pointer_word` of
    every block of every layer (absolute bank starts), and the address of each layer's first
    block."""
    layout = block_pointer_word(image.pes, pointer_bits, width)
    _, base = sparse_banks(image)
    words, bases = [], []
    for l, layer in enumerate(image.layers):
        bases.append(len(words))
        for first in range(0, layer.cols, width):
            bounds = [min(first + s, layer.cols) for s in range(width + 1)]
            starts = [[int(base[p, l] + layer.col_ptr[p, j]) for p in range(image.pes)]
                      for j in bounds]
            words.append(Const.cast(layout.const(starts)).value)
    return words, bases


class SparseEngine(wiring.Component):
    """P ProcessingElements fed by per-PE column walkers and the network scheduler."""

    def __init__(self, signature: EngineSignature, image, *, queue_depth, issue_width, acc_bits):
        check_engine(signature, image, acc_bits)
        if image.nm is not None:
            raise ValueError("The sparse CSC engine needs a CSC image, not an N:M one")
        self._image = image
        self._queue_depth = check_queue_depth(queue_depth)
        self._issue_width = check_issue_width(issue_width)
        if signature.lanes != issue_width:
            raise ValueError(f"The engine reads {issue_width} activations a cycle, but its "
                             f"signature has {signature.lanes} lanes")
        self._acc_bits = acc_bits
        self._banks, _ = sparse_banks(image)
        self.bank_depth = max(1, max(len(b) for b in self._banks))
        self.pointer_bits = address_width(self.bank_depth)
        self._pointers, self._bases = block_pointer_image(image, self.pointer_bits, issue_width)
        super().__init__(signature)

    def elaborate(self, platform):
        m = Module()
        image, bus = self._image, self
        codebooks = (tuple(l.codebook for l in image.layers) if image.codebook else None)
        word = image.word_layout()
        m.submodules.scheduler = scheduler = ColumnScheduler(
            pes=image.pes, cols=image.max_cols, issue_width=self._issue_width,
            pointer_bits=self.pointer_bits, pointers=self._pointers)
        walkers, pes = [], []
        for p in range(image.pes):
            walker = ColumnWalker(queue_depth=self._queue_depth, issue_width=self._issue_width,
                                  bank_depth=self.bank_depth, pointer_bits=self.pointer_bits)
            pe = ProcessingElement(word=word, bank=self._banks[p] + [0] * (self.bank_depth
                                                                    - len(self._banks[p])),
                           local_rows=max(image.rows_per_pe(l) for l in range(len(image.layers))),
                           acc_bits=self._acc_bits, layers=len(image.layers), codebooks=codebooks)
            m.submodules[f"walker{p}"] = walker
            m.submodules[f"pe{p}"] = pe
            wiring.connect(m, scheduler.columns[p], walker.column)
            wiring.connect(m, walker.issue, pe.issue)
            walkers.append(walker)
            pes.append(pe)

        bases = Array(Const(b, range(len(self._pointers) + 1)) for b in self._bases)
        connect_drain(m, bus, pes)
        m.d.comb += [
            scheduler.launch.eq(bus.launch),
            scheduler.run.eq(bus.run),
            scheduler.ptr_base.eq(bases[bus.layer]),
            scheduler.pend_en.eq(bus.pend_en),
            scheduler.pend_index.eq(bus.pend_index),
            bus.act_en.eq(scheduler.act_en),
            bus.act_addr.eq(scheduler.act_addr),
            scheduler.act_data.eq(bus.act_data),
            bus.working.eq(scheduler.busy
                           | Cat(w.busy | pe.settling for w, pe in zip(walkers, pes)).any()),
            bus.events.queue_pushes.eq(scheduler.pushes),
            bus.events.broadcasts.eq(scheduler.broadcasts),
            bus.events.stalls.eq(scheduler.stall),
            # A block's pointer word holds W + 1 column pointers.
            bus.events.pointer_reads.eq(scheduler.picking * (self._issue_width + 1)),
        ]
        return m
