"""A PE's activation queue: a register FIFO of depth D between the broadcast and the walker.

It lets a PE with few words in recent columns take new columns while a slower PE is still
walking, which is what balances the load (EIE: ~0.5 efficiency at D = 1, ~0.9 at D = 8).
Registers, not block RAM: D is at most 16 and both ends are used every cycle.
"""

from amaranth.hdl import Module, Shape
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

__all__ = ["MAX_QUEUE_DEPTH", "QUEUE_LATENCY", "check_queue_depth", "ActivationQueue"]

MAX_QUEUE_DEPTH = 16  # deeper queues buy nothing at these layer sizes and cost registers
QUEUE_LATENCY = 1  # an entry pushed on one edge can leave in the cycle after it


def check_queue_depth(queue_depth: object) -> int:
    """Return ``queue_depth`` if it is an integer in 1..MAX_QUEUE_DEPTH, else raise."""
    if (not isinstance(queue_depth, int) or isinstance(queue_depth, bool)
            or not 1 <= queue_depth <= MAX_QUEUE_DEPTH):
        raise ValueError(
            f"Queue depth must be an integer in 1..{MAX_QUEUE_DEPTH}, not {queue_depth!r}")
    return queue_depth


class ActivationQueue(wiring.Component):
    """First-in first-out stream of ``shape`` entries, ``depth`` deep, no fall-through.

    ``push`` is ready while fewer than ``depth`` entries are held; ``pop`` is valid while any is.
    """

    def __init__(self, shape, *, depth):
        self._depth = check_queue_depth(depth)
        self._shape = shape
        super().__init__({
            "push": In(stream.Signature(shape)),
            "pop": Out(stream.Signature(shape)),
            "level": Out(range(depth + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        width = Shape.cast(self._shape).width
        m.submodules.fifo = fifo = SyncFIFO(width=width, depth=self._depth)
        m.d.comb += [
            fifo.w_data.eq(self.push.payload),
            fifo.w_en.eq(self.push.valid),
            self.push.ready.eq(fifo.w_rdy),
            self.pop.payload.eq(fifo.r_data),
            self.pop.valid.eq(fifo.r_rdy),
            fifo.r_en.eq(self.pop.ready),
            self.level.eq(fifo.level),
        ]
        return m
