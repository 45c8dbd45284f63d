"""A sparse PE's front end: its activation queue and the walk over one column's words.

The scheduler pushes ``(x, start, end)`` for every broadcast column in which this PE has words,
up to W a cycle (a block, :mod:`.broadcast`); the queue (depth D) lets the PE fall behind by up
to D columns while others run ahead. The walker issues one bank address per cycle, ``start`` to ``end - 1``, and takes the next entry off
the queue on the cycle right after the last word of the previous one, so back-to-back columns
leave no bubble.
"""

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..params import ACT_BITS, MAX_QUEUE_DEPTH, QUEUE_LATENCY, check_positive, check_queue_depth
from .pe import IssueSignature
from .queue import ActivationQueue, PushSignature

__all__ = ["MAX_QUEUE_DEPTH", "QUEUE_LATENCY", "check_queue_depth", "column_entry", "ColumnWalker"]


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

    def __init__(self, *, queue_depth, issue_width, bank_depth, pointer_bits):
        check_queue_depth(queue_depth)
        check_positive("Issue width", issue_width)
        check_positive("Bank depth", bank_depth)
        check_positive("Pointer width", pointer_bits)
        self._queue_depth, self._issue_width = queue_depth, issue_width
        self._entry = column_entry(pointer_bits)
        super().__init__({
            "column": In(PushSignature(self._entry, issue_width)),
            "issue": Out(IssueSignature(bank_depth=bank_depth)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.queue = queue = ActivationQueue(self._entry, depth=self._queue_depth,
                                                     width=self._issue_width)
        wiring.connect(m, wiring.flipped(self.column), queue.push)
        head = queue.pop.payload

        walking = Signal()  # a column is being walked; `addr` is its next word
        addr = Signal(self._entry["start"].shape)
        end = Signal(self._entry["end"].shape)
        x = Signal(signed(ACT_BITS))
        m.d.comb += self.busy.eq(walking | queue.pop.valid)

        with m.If(walking):
            m.d.comb += [
                self.issue.valid.eq(1),
                self.issue.addr.eq(addr),
                self.issue.x.eq(x),
            ]
            m.d.sync += addr.eq(addr + 1)
            with m.If(addr + 1 == end):
                m.d.sync += walking.eq(0)
        with m.Elif(queue.pop.valid):
            m.d.comb += [
                queue.pop.ready.eq(1),
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
