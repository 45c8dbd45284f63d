"""The sparse array's column scheduler: which block of columns to broadcast next, and to which PEs.

At launch the work list is latched: columns ``j < n_cols`` whose activation is nonzero and in
which some PE has a word. Columns form aligned blocks of W, the issue width (:mod:`.broadcast`).
Each cycle the lowest block with work is picked (priority encoder over the blocks) and the W + 1
pointer words bounding its columns are read; the next cycle the block waits in the broadcast
stage, each PE taking its columns of it as its queue has room, and the pick of the following
block happens on the edge its last column is taken. So an unstalled scheduler broadcasts a block
(up to W columns) per cycle.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from .core.broadcast import BroadcastStage, block_lanes, block_mask, blocks_with_work
from .core.priority import lowest_set_bit
from .core.queue import PushSignature
from .core.walker import column_entry
from .layout import pointer_word
from .params import ACT_BITS, check_positive

__all__ = ["ColumnScheduler"]



class ColumnScheduler(wiring.Component):
    """Work list, block pick, pointer memory and broadcast stage of the sparse array."""

    def __init__(self, *, pes, cols, pointer_bits, issue_width):
        check_positive("PE count", pes)
        check_positive("Column count", cols)
        check_positive("Pointer width", pointer_bits)
        self._pes, self._cols, self._width = pes, cols, issue_width
        self._pointer_bits = pointer_bits
        self._pointer = pointer_word(pes, pointer_bits)
        super().__init__({
            "ptr_we": In(1),
            "ptr_addr": In(range(cols + 1)),
            "ptr_data": In(self._pointer),
            "launch": In(1),
            "n_cols": In(range(cols + 1)),
            "acts": In(data.ArrayLayout(signed(ACT_BITS), cols)),
            "columns": Out(PushSignature(column_entry(pointer_bits), issue_width)).array(pes),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        pes, cols, width = self._pes, self._cols, self._width

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
        blocks = blocks_with_work(pending, cols, width)
        picked, index = lowest_set_bit(m, blocks, len(blocks))
        first = Signal(range(len(blocks) * width))  # the picked block's first column
        m.d.comb += first.eq(index * width)
        reads = [pointers.read_port() for _ in range(width + 1)]  # the block's W + 1 bounds
        for s, port in enumerate(reads):
            m.d.comb += port.addr.eq(Mux(first + s > cols, cols, first + s))

        m.submodules.stage = stage = BroadcastStage(pes=pes, width=width,
                                                    pointer_bits=self._pointer_bits)
        staged = Signal()  # the broadcast stage holds a block (its pointers are on the ports)
        staged_lanes = Signal(width)
        staged_x = Signal(data.ArrayLayout(signed(ACT_BITS), width))
        m.d.comb += [stage.staged.eq(staged), stage.lanes.eq(staged_lanes), stage.x.eq(staged_x)]
        for s, port in enumerate(reads):
            m.d.comb += stage.starts[s].eq(port.data.start)
        for p in range(pes):
            wiring.connect(m, stage.columns[p], wiring.flipped(self.columns[p]))

        advance = ~staged | stage.done
        for port in reads:
            m.d.comb += port.en.eq(advance)
        work = Cat((self.acts[j] != 0) & nonempty[j] & (j < self.n_cols) for j in range(cols))
        block_x = block_lanes(self.acts.as_value(), cols * ACT_BITS, width * ACT_BITS, index)
        with m.If(self.launch):
            m.d.sync += [pending.eq(work), staged.eq(0)]
        with m.Elif(advance):
            m.d.sync += [
                staged.eq(blocks.any()),
                staged_lanes.eq(block_lanes(pending, cols, width, index)),
                staged_x.eq(block_x),
                pending.eq(pending & ~block_mask(picked, cols, width)),
            ]
        m.d.comb += self.busy.eq(pending.any() | staged)
        return m
