"""The sparse compute engine: EIE-style column broadcast that spends no cycle on a zero.

Only columns with a nonzero activation and some word are broadcast, lowest first, an aligned
block of up to W a cycle (the issue width); each PE queues (depth D) the columns it has words in,
up to W a cycle, and walks their CSC words, one a cycle, from its weight bank. Each layer's
compute phase takes exactly the cycles ``sw/cycles.py``'s ``sparse_cycles`` gives.
"""

from amaranth.hdl import Cat, Module
from amaranth.lib import wiring

from ..core.loader import connect_write
from ..core.scheduler import ColumnScheduler
from ..core.walker import ColumnWalker
from ..memories import POINTERS, block_pointer_image, pointer_bits
from .base import EngineSignature, check_engine, codebooks, connect_drain, processing_elements

__all__ = ["block_pointer_image", "SparseEngine"]


class SparseEngine(wiring.Component):
    """P ProcessingElements fed by per-PE column walkers and the network scheduler.

    ``init`` (target id → words, :func:`~..memories.memory_images`) bakes a model into the
    banks, the pointer memory and the codebooks; without it they start empty.
    """

    def __init__(self, signature: EngineSignature, *, init=None):
        self._capacity = check_engine(signature, "sparse", "csc")
        self._init = init or {}
        self.bank_depth = self._capacity.bank_depth
        self.pointer_bits = pointer_bits(self._capacity)
        super().__init__(signature)

    def elaborate(self, platform):
        m = Module()
        capacity, bus = self._capacity, self
        width = capacity.issue_width
        m.submodules.scheduler = scheduler = ColumnScheduler(
            pes=capacity.pes, cols=capacity.max_cols, issue_width=width,
            pointer_bits=self.pointer_bits, depth=capacity.pointer_depth,
            init=self._init.get(POINTERS, []))
        connect_write(m, bus.write, POINTERS, scheduler.write)
        pes = processing_elements(m, bus, init=self._init,
                                  codebook=codebooks(m, bus, self._init))
        walkers = []
        for p, pe in enumerate(pes):
            walker = ColumnWalker(queue_depth=capacity.queue_depth, issue_width=width,
                                  bank_depth=capacity.bank_depth, pointer_bits=self.pointer_bits)
            m.submodules[f"walker{p}"] = walker
            wiring.connect(m, scheduler.columns[p], walker.column)
            wiring.connect(m, walker.issue, pe.issue)
            walkers.append(walker)

        connect_drain(m, bus, pes)
        m.d.comb += [
            scheduler.launch.eq(bus.launch),
            scheduler.run.eq(bus.run),
            scheduler.ptr_base.eq(bus.config.ptr_base),
            scheduler.pend_en.eq(bus.pend_en),
            scheduler.pend_index.eq(bus.pend_index),
            scheduler.pend_mask.eq(bus.pend_mask),
            bus.act_en.eq(scheduler.act_en),
            bus.act_addr.eq(scheduler.act_addr),
            scheduler.act_data.eq(bus.act_data),
            bus.working.eq(scheduler.busy
                           | Cat(w.busy | pe.settling for w, pe in zip(walkers, pes)).any()),
            bus.events.queue_pushes.eq(scheduler.pushes),
            bus.events.broadcasts.eq(scheduler.broadcasts),
            bus.events.stalls.eq(scheduler.stall),
            # A block's pointer word holds W + 1 column pointers.
            bus.events.pointer_reads.eq(scheduler.picking * (width + 1)),
        ]
        return m
