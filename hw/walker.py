"""A sparse PE's front end: its activation queue and the walk over one column's words.

The scheduler pushes ``(x, start, end)`` for every broadcast column in which this PE has words;
the queue (depth D) lets the PE fall behind by up to D columns while others run ahead. The
walker issues one bank address per cycle, ``start`` to ``end - 1``, and takes the next entry off
the queue on the cycle right after the last word of the previous one, so back-to-back columns
leave no bubble.
"""

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .pe import IssueSignature
from .signature import ACT_BITS, check_positive

__all__ = ["MAX_QUEUE_DEPTH", "QUEUE_LATENCY", "check_queue_depth", "column_entry", "ColumnWalker"]

MAX_QUEUE_DEPTH = 16  # queues are registers; deeper ones buy nothing at these layer sizes
QUEUE_LATENCY = 1  # an entry pushed on one edge is first issued in the cycle after it


def check_queue_depth(queue_depth: object) -> int:
    """Return ``queue_depth`` if it is an integer in 1..MAX_QUEUE_DEPTH, else raise."""
    if (not isinstance(queue_depth, int) or isinstance(queue_depth, bool)
            or not 1 <= queue_depth <= MAX_QUEUE_DEPTH):
        raise ValueError(
            f"Queue depth must be an integer in 1..{MAX_QUEUE_DEPTH}, not {queue_depth!r}")
    return queue_depth


def column_entry(pointer_bits: int) -> data.StructLayout:
    """A queued column: its activation and this PE's word range ``[start, end)`` (never empty)."""
    return data.StructLayout({
        "x": signed(ACT_BITS),
        "start": unsigned(pointer_bits),
        "end": unsigned(pointer_bits),
    })


class ColumnWalker(wiring.Component):
    """Queue of pending columns and the address counter that walks the head one word a cycle.

    ``busy`` is high while the walker holds a column or the queue is not empty.
    """

    def __init__(self, *, queue_depth, bank_depth, pointer_bits):
        check_queue_depth(queue_depth)
        check_positive("Bank depth", bank_depth)
        check_positive("Pointer width", pointer_bits)
        self._queue_depth = queue_depth
        self._entry = column_entry(pointer_bits)
        super().__init__({
            "column": In(stream.Signature(self._entry)),
            "issue": Out(IssueSignature(bank_depth=bank_depth)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.queue = queue = SyncFIFO(width=self._entry.size, depth=self._queue_depth)
        m.d.comb += [
            queue.w_data.eq(self.column.payload),
            queue.w_en.eq(self.column.valid),
            self.column.ready.eq(queue.w_rdy),
        ]
        head = data.View(self._entry, queue.r_data)

        walking = Signal()  # a column is being walked; `addr` is its next word
        addr = Signal(self._entry["start"].shape)
        end = Signal(self._entry["end"].shape)
        x = Signal(signed(ACT_BITS))
        m.d.comb += self.busy.eq(walking | queue.r_rdy)

        with m.If(walking):
            m.d.comb += [
                self.issue.valid.eq(1),
                self.issue.addr.eq(addr),
                self.issue.x.eq(x),
            ]
            m.d.sync += addr.eq(addr + 1)
            with m.If(addr + 1 == end):
                m.d.sync += walking.eq(0)
        with m.Elif(queue.r_rdy):
            m.d.comb += [
                queue.r_en.eq(1),
                self.issue.valid.eq(1),
                self.issue.addr.eq(head.start),
                self.issue.first.eq(1),
                self.issue.x.eq(head.x),
            ]
            m.d.sync += [
                addr.eq(head.start + 1),
                end.eq(head.end),
                x.eq(head.x),
                walking.eq(head.start + 1 != head.end),
            ]
        return m
