"""The sparse engine's column scheduler: the work list of nonzero activations, filled as they are
written, and the broadcast of one column a cycle to the PEs that have words in it.

The sequencer marks column j pending (``pend_en``) when it writes a nonzero activation j of the
next layer into a column that has words; no cycle is ever spent on a zero. While ``run`` is high
the lowest pending column is picked each cycle its predecessor leaves the broadcast stage: its
activation and both pointer words (column j and j + 1 of the layer) are read on the pick edge,
and the next cycle all PEs with words in it take it together once each has room in its queue.
This is the timing of :class:`~secateurs.hw.scheduler.ColumnScheduler`, so the single-layer
cycle model holds for each layer's compute phase.
"""

from amaranth.hdl import Const, Module, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .layout import pointer_word
from .scheduler import lowest_set_bit
from .signature import ACT_BITS, check_positive
from .walker import column_entry

__all__ = ["NetworkScheduler"]


class NetworkScheduler(wiring.Component):
    """Work list, pick, pointer ROM (``pointers``: raw ``pointer_word`` ints) and broadcast."""

    def __init__(self, *, pes, cols, pointer_bits, pointers):
        check_positive("PE count", pes)
        check_positive("Column count", cols)
        self._pes, self._cols, self._pointers = pes, cols, list(pointers)
        self._pointer = pointer_word(pes, pointer_bits)
        super().__init__({
            "launch": In(1),
            "run": In(1),
            "ptr_base": In(range(len(self._pointers) + 1)),
            "pend_en": In(1),
            "pend_index": In(range(cols)),
            "act_en": Out(1),
            "act_addr": Out(range(cols)),
            "act_data": In(signed(ACT_BITS)),
            "columns": Out(stream.Signature(column_entry(pointer_bits))).array(pes),
            "busy": Out(1),
            "fire": Out(1),
            "stall": Out(1),
            "picking": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        pes, cols = self._pes, self._cols

        m.submodules.pointers = pointers = memory.Memory(
            shape=unsigned(self._pointer.size), depth=len(self._pointers), init=self._pointers)
        pending = Signal(cols)
        picked, index = lowest_set_bit(m, pending, cols)
        this_port = pointers.read_port()
        next_port = pointers.read_port()
        m.d.comb += [this_port.addr.eq(self.ptr_base + index),
                     next_port.addr.eq(self.ptr_base + index + 1)]
        this_ptr = data.View(self._pointer, this_port.data)
        next_ptr = data.View(self._pointer, next_port.data)

        staged = Signal()  # the broadcast stage holds a column (its pointers are on the ports)
        starts, ends = this_ptr.start, next_ptr.start
        need = [starts[p] != ends[p] for p in range(pes)]
        accept = [Signal(name=f"accept{p}") for p in range(pes)]
        for p in range(pes):
            m.d.comb += accept[p].eq(~need[p] | self.columns[p].ready)
        # All PEs that need the column take it together: PE p is offered it only when every
        # other PE can accept (prefix/suffix ANDs, so no offer waits on its own ready).
        before = [Const(1)] + [Signal(name=f"before{p}") for p in range(1, pes + 1)]
        after = [Signal(name=f"after{p}") for p in range(pes)] + [Const(1)]
        for p in range(pes):
            m.d.comb += before[p + 1].eq(before[p] & accept[p])
            m.d.comb += after[pes - 1 - p].eq(accept[pes - 1 - p] & after[pes - p])
        fire = staged & before[pes]
        for p in range(pes):
            column = self.columns[p]
            m.d.comb += [
                column.valid.eq(staged & need[p] & before[p] & after[p + 1]),
                column.payload.x.eq(self.act_data),
                column.payload.start.eq(starts[p]),
                column.payload.end.eq(ends[p]),
            ]

        advance = self.run & (~staged | fire)
        picking = advance & pending.any()
        m.d.comb += [
            this_port.en.eq(advance),
            next_port.en.eq(advance),
            self.act_en.eq(picking),
            self.act_addr.eq(index),
        ]
        marked = Signal(cols)
        with m.If(self.pend_en):
            m.d.comb += marked.eq(1 << self.pend_index)
        with m.If(self.launch):
            m.d.sync += staged.eq(0)
        with m.Elif(advance):
            m.d.sync += staged.eq(pending.any())
        m.d.sync += pending.eq((pending & ~(picked & advance.replicate(cols))) | marked)
        m.d.comb += [
            self.busy.eq(pending.any() | staged),
            self.fire.eq(fire),
            self.stall.eq(staged & ~fire),
            self.picking.eq(picking),
        ]
        return m
