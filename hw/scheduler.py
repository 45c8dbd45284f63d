"""The sparse array's column scheduler: which column to broadcast next, and to which PEs.

At launch the work list is latched: columns ``j < n_cols`` whose activation is nonzero and in
which some PE has a word. Each cycle the lowest remaining column is picked (priority encoder)
and its two pointer words (column ``j`` and ``j + 1``) are read; the next cycle that column waits
in the broadcast stage until every PE with words in it has room in its queue, then all of those
PEs take it on the same edge. The pick for the following column happens on that same edge, so an
unstalled scheduler broadcasts one column per cycle.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .layout import pointer_word
from .signature import ACT_BITS, check_positive
from .walker import column_entry

__all__ = ["BROADCAST_LATENCY", "ColumnScheduler", "lowest_set_bit"]

BROADCAST_LATENCY = 1  # a picked column's pointer words are read on the pick edge (synchronous)


def lowest_set_bit(m: Module, vector: Signal, width: int) -> tuple[Signal, Signal]:
    """``(one_hot, index)`` of the lowest set bit of ``vector`` (both 0 when it is empty).

    A tree of 2:1 choices (``log2(width)`` levels), not ``v & -v``: the carry chain of the
    subtraction is the array's longest path on an iCE40.
    """
    def lowest(lo: int, hi: int) -> tuple[Value, Value]:
        if hi - lo == 1:
            return vector[lo], Const(0, 1)
        mid = lo + (1 << ((hi - lo - 1).bit_length() - 1))
        any_lo, index_lo = lowest(lo, mid)
        any_hi, index_hi = lowest(mid, hi)
        bits = (mid - lo - 1).bit_length() + 1
        index = Mux(any_lo, index_lo, index_hi | Const(mid - lo, bits))
        return any_lo | any_hi, index

    found, found_index = lowest(0, width)
    one_hot = Signal(width)
    index = Signal(range(width))
    m.d.comb += index.eq(Mux(found, found_index, 0))
    m.d.comb += one_hot.eq(found << index)
    return one_hot, index


class ColumnScheduler(wiring.Component):
    """Work list, priority pick, pointer memory and broadcast stage of the sparse array."""

    def __init__(self, *, pes, cols, pointer_bits):
        check_positive("PE count", pes)
        check_positive("Column count", cols)
        check_positive("Pointer width", pointer_bits)
        self._pes, self._cols = pes, cols
        self._pointer = pointer_word(pes, pointer_bits)
        super().__init__({
            "ptr_we": In(1),
            "ptr_addr": In(range(cols + 1)),
            "ptr_data": In(self._pointer),
            "launch": In(1),
            "n_cols": In(range(cols + 1)),
            "acts": In(data.ArrayLayout(signed(ACT_BITS), cols)),
            "columns": Out(stream.Signature(column_entry(pointer_bits))).array(pes),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        pes, cols = self._pes, self._cols

        m.submodules.pointers = pointers = memory.Memory(
            shape=self._pointer, depth=cols + 1, init=[])
        write = pointers.write_port()
        m.d.comb += [
            write.en.eq(self.ptr_we),
            write.addr.eq(self.ptr_addr),
            write.data.eq(self.ptr_data),
        ]
        nonempty = Signal(cols)  # copy of the pointer words' flags, for the launch-time work list
        with m.If(self.ptr_we & (self.ptr_addr < cols)):
            m.d.sync += nonempty.bit_select(self.ptr_addr, 1).eq(self.ptr_data.nonempty)

        pending = Signal(cols)
        picked, index = lowest_set_bit(m, pending, cols)
        this_ptr = pointers.read_port()
        next_ptr = pointers.read_port()
        m.d.comb += [this_ptr.addr.eq(index), next_ptr.addr.eq(index + 1)]

        staged = Signal()  # the broadcast stage holds a column (its pointers are on the ports)
        staged_x = Signal(signed(ACT_BITS))
        starts, ends = this_ptr.data.start, next_ptr.data.start
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
                column.payload.x.eq(staged_x),
                column.payload.start.eq(starts[p]),
                column.payload.end.eq(ends[p]),
            ]

        advance = ~staged | fire
        m.d.comb += [this_ptr.en.eq(advance), next_ptr.en.eq(advance)]
        work = Cat((self.acts[j] != 0) & nonempty[j] & (j < self.n_cols) for j in range(cols))
        with m.If(self.launch):
            m.d.sync += [pending.eq(work), staged.eq(0)]
        with m.Elif(advance):
            m.d.sync += [
                staged.eq(pending.any()),
                staged_x.eq(self.acts[index]),
                pending.eq(pending & ~picked),
            ]
        m.d.comb += self.busy.eq(pending.any() | staged)
        return m
