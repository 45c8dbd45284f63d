"""The sparse engine's column scheduler: the work list of nonzero activations, filled as they are
written, and the broadcast of one block of up to W columns a cycle to the PEs with words in it.

The sequencer marks column j pending (``pend_en``) when it writes a nonzero activation j of the
next layer into a column that has words, or many at once (``pend_mask``: a conv position's
work list, as the address generator scans it); no cycle is ever spent on a zero. Columns form aligned
blocks of W (:mod:`.broadcast`). While ``run`` is high the lowest block with work is picked
whenever the read ports are free: its pointer word (one word of a RAM the load port writes: the
W + 1 bank starts of each PE) and the activations of its pending columns (W read lanes at
consecutive addresses) are read on the pick edge and held there until the broadcast stage is
free, which registers them; from the next cycle each PE takes its columns of the block as its
queue has room. The next block is picked on the edge its predecessor is staged, so a block can
be offered every cycle. ``sw/cycles.py``'s ``sparse_cycles`` models this timing for each
layer's compute phase.
"""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from ..core.priority import lowest_set_bit
from ..params import ACT_BITS, check_issue_width, check_positive, loaded_attrs
from .broadcast import BroadcastStage, block_lanes, block_mask, block_pointer_word, blocks_with_work
from .pe import BankWriteSignature
from .queue import PushSignature
from .walker import column_entry

__all__ = ["ColumnScheduler"]


class ColumnScheduler(wiring.Component):
    """Work list, block pick, pointer memory (``depth`` raw block words, a layer's first at
    ``ptr_base``; written through ``write``, starting with ``init``) and broadcast stage."""

    def __init__(self, *, pes, cols, issue_width, pointer_bits, depth, init=()):
        check_positive("PE count", pes)
        check_positive("Column count", cols)
        check_positive("Pointer depth", depth)
        self._pes, self._cols = pes, cols
        self._width = check_issue_width(issue_width)
        self._pointer_bits, self._depth, self._init = pointer_bits, depth, list(init)
        self._word = block_pointer_word(pes, pointer_bits, issue_width)
        super().__init__({
            "launch": In(1),
            "run": In(1),
            "write": In(BankWriteSignature(depth=depth, width=self._word.size)),
            "ptr_base": In(range(depth + 1)),
            "pend_en": In(1),
            "pend_index": In(range(cols)),
            "pend_mask": In(cols),
            "act_en": Out(issue_width),
            "act_addr": Out(range(cols)),
            "act_data": In(data.ArrayLayout(signed(ACT_BITS), issue_width)),
            "columns": Out(PushSignature(column_entry(pointer_bits), issue_width)).array(pes),
            "busy": Out(1),
            "broadcasts": Out(range(issue_width + 1)),
            "pushes": Out(range(pes * issue_width + 1)),
            "stall": Out(1),
            "picking": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        pes, cols, width = self._pes, self._cols, self._width

        m.submodules.pointers = pointers = memory.Memory(
            shape=unsigned(self._word.size), depth=self._depth, init=self._init,
            attrs=loaded_attrs(self._init))
        write = pointers.write_port()
        m.d.comb += [write.en.eq(self.write.en), write.addr.eq(self.write.addr),
                     write.data.eq(self.write.data)]
        pending = Signal(cols)
        blocks = blocks_with_work(pending, cols, width)
        picked, index = lowest_set_bit(m, blocks, len(blocks))
        lanes = block_lanes(pending, cols, width, index)
        port = pointers.read_port()
        m.d.comb += port.addr.eq(self.ptr_base + index)

        m.submodules.stage = stage = BroadcastStage(pes=pes, width=width,
                                                    pointer_bits=self._pointer_bits)
        # Two registers between the pick and the PEs, so that the broadcast stage's decisions
        # start from flip-flops, not from the RAMs' slow outputs: the read ports hold the
        # picked block's pointer word and activations (``fetched``) until the stage is free,
        # which takes them on that edge (``load``), when the next block may be picked.
        fetched = Signal()
        fetched_lanes = Signal(width)
        staged = Signal()  # the broadcast stage holds a block
        staged_lanes = Signal(width)
        starts = Signal(self._word)
        xs = Signal.like(self.act_data)
        m.d.comb += [
            stage.staged.eq(staged),
            stage.lanes.eq(staged_lanes),
            stage.x.eq(xs),
            stage.starts.eq(starts),
        ]
        for p in range(pes):
            wiring.connect(m, stage.columns[p], wiring.flipped(self.columns[p]))

        load = fetched & (~staged | stage.done)
        advance = self.run & (~fetched | load)
        picking = advance & blocks.any()
        m.d.comb += [
            port.en.eq(advance),
            self.act_en.eq(Mux(picking, lanes, 0)),
            self.act_addr.eq(index * width),
        ]
        marked = Signal(cols)
        m.d.comb += marked.eq(self.pend_mask)
        with m.If(self.pend_en):
            m.d.comb += marked.eq(self.pend_mask | (1 << self.pend_index))
        with m.If(self.launch):
            m.d.sync += [fetched.eq(0), staged.eq(0)]
        with m.Else():
            with m.If(load):
                m.d.sync += [staged.eq(1), staged_lanes.eq(fetched_lanes),
                             starts.eq(port.data), xs.eq(self.act_data)]
            with m.Elif(stage.done):
                m.d.sync += staged.eq(0)
            with m.If(advance):
                m.d.sync += [fetched.eq(blocks.any()), fetched_lanes.eq(lanes)]
        taken = Mux(picking, block_mask(picked, cols, width), 0)
        m.d.sync += pending.eq((pending & ~taken) | marked)
        m.d.comb += [
            self.busy.eq(pending.any() | fetched | staged),
            self.broadcasts.eq(Mux(stage.done, sum(staged_lanes[s] for s in range(width)), 0)),
            self.pushes.eq(stage.pushes),
            self.stall.eq(staged & ~stage.done),
            self.picking.eq(picking),
        ]
        return m
