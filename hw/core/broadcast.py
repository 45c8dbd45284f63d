"""The broadcast stage of the column schedulers: a block of up to W columns offered to the PEs.

Columns form aligned blocks of W, the issue width (block b holds columns bW .. bW + W - 1). A
scheduler picks the lowest block holding work and stages it: lane s carries column bW + s (set
if that column has work), its activation and every PE's word range. Each PE takes, in lane
order, the set lanes it has words in, as many a cycle as its queue has room for; a PE with a
full queue holds back no other PE's takes. The block is ``done`` in the cycle its last lane is
taken, and the scheduler stages the next block on that edge. A block costs one pointer word
(W + 1 bank starts per PE) and W activation reads, so W columns a cycle need no more memory
ports than one column a cycle.
"""

from amaranth.hdl import Cat, Const, Module, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..params import ACT_BITS, check_issue_width, check_positive
from .queue import PushSignature
from .walker import column_entry

__all__ = ["block_pointer_word", "blocks_with_work", "block_lanes", "block_mask", "BroadcastStage"]



def block_pointer_word(pes: int, pointer_bits: int, width: int) -> data.ArrayLayout:
    """A block's pointer word: ``starts[s][p]``, PE p's bank start of column bW + s, for
    s = 0..W (the last is where the block's last column ends)."""
    return data.ArrayLayout(data.ArrayLayout(unsigned(pointer_bits), pes), width + 1)


def _padded(vector: Value, cols: int, width: int) -> Value:
    blocks = -(-cols // width)
    return Cat(vector, Const(0, blocks * width - cols)) if blocks * width > cols else vector


def blocks_with_work(pending: Value, cols: int, width: int) -> Value:
    """Bit b set iff some column of block b is pending."""
    padded = _padded(pending, cols, width)
    return Cat(padded[b * width:(b + 1) * width].any() for b in range(len(padded) // width))


def block_lanes(pending: Value, cols: int, width: int, block: Value) -> Value:
    """The ``width`` pending bits of block ``block`` (columns past ``cols`` read 0)."""
    return _padded(pending, cols, width).word_select(block, width)


def block_mask(one_hot: Value, cols: int, width: int) -> Value:
    """The columns of the blocks set in ``one_hot``, as a ``cols``-bit mask."""
    return Cat(one_hot[b].replicate(width) for b in range(len(one_hot)))[:cols]


class BroadcastStage(wiring.Component):
    """The staged block, offered to ``pes`` queues; remembers which lanes each PE has taken.

    ``staged`` is high while a block is held (``lanes``, ``x`` and ``starts`` stay put until
    ``done``); ``pushes`` counts the queue entries written this cycle.
    """

    def __init__(self, *, pes, width, pointer_bits):
        check_positive("PE count", pes)
        check_issue_width(width)
        self._pes, self._width = pes, width
        super().__init__({
            "staged": In(1),
            "lanes": In(width),
            "x": In(data.ArrayLayout(signed(ACT_BITS), width)),
            "starts": In(block_pointer_word(pes, pointer_bits, width)),
            "columns": Out(PushSignature(column_entry(pointer_bits), width)).array(pes),
            "done": Out(1),
            "pushes": Out(range(pes * width + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        pes, width = self._pes, self._width
        finished = []
        for p in range(pes):
            column = self.columns[p]
            taken = Signal(width, name=f"taken{p}")  # lanes of the staged block PE p has taken
            left = Signal(width, name=f"left{p}")
            m.d.comb += left.eq(~taken & Cat(
                self.lanes[s] & (self.starts[s][p] != self.starts[s + 1][p])
                for s in range(width)))
            ahead = 0  # lanes PE p has still to take before lane s
            for s in range(width):
                entry = column.entries[s]
                m.d.comb += [
                    column.valid[s].eq(self.staged & left[s] & (ahead < column.room)),
                    entry.x.eq(self.x[s]),
                    entry.start.eq(self.starts[s][p]),
                    entry.end.eq(self.starts[s + 1][p]),
                ]
                ahead = ahead + left[s]
            finished.append(ahead <= column.room)
            with m.If(self.done | ~self.staged):
                m.d.sync += taken.eq(0)
            with m.Else():
                m.d.sync += taken.eq(taken | column.valid)
        m.d.comb += [
            self.done.eq(self.staged & Cat(finished).all()),
            self.pushes.eq(sum(c.valid[s] for c in self.columns for s in range(width))),
        ]
        return m
