"""A PE's activation queue: a register FIFO of depth D between the broadcast and the walker.

It lets a PE with few words in recent columns take new columns while a slower PE is still
walking, which is what balances the load (EIE: ~0.5 efficiency at D = 1, ~0.9 at D = 8). The
broadcast offers a block of up to W columns a cycle, so the queue takes up to W entries on one
edge (lanes in order) and gives out one. Registers, not block RAM: D is at most 16 and both ends
are used every cycle.
"""

from amaranth.hdl import Array, Module, Mux, Shape, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..params import check_queue_depth

__all__ = ["PushSignature", "ActivationQueue"]



class PushSignature(wiring.Signature):
    """Up to ``width`` entries into a queue on one edge, lane k's ``entries[k]`` iff ``valid[k]``.

    The queue says with ``room`` (at most ``width``) how many it takes this cycle; the writer
    sets no more valid lanes than that. Set lanes need not be adjacent: they go in lane order.
    """

    def __init__(self, shape, width: int):
        super().__init__({
            "valid": Out(width),
            "entries": Out(data.ArrayLayout(shape, width)),
            "room": In(range(width + 1)),
        })


class ActivationQueue(wiring.Component):
    """First-in first-out queue of ``shape`` entries, ``depth`` deep, ``width`` in a cycle.

    ``room`` counts only entries held at the start of the cycle (no pop-through); ``pop`` is
    valid while any entry is held.
    """

    def __init__(self, shape, *, depth, width=1):
        self._depth = check_queue_depth(depth)
        if not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise ValueError(f"Queue push width must be a positive integer, not {width!r}")
        self._shape, self._width = shape, width
        super().__init__({
            "push": In(PushSignature(shape, width)),
            "pop": Out(stream.Signature(shape)),
            "level": Out(range(depth + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        depth, width = self._depth, self._width
        slots = Array(Signal(Shape.cast(self._shape).width, name=f"slot{i}")
                      for i in range(depth))
        head = Signal(range(depth))  # the oldest entry
        tail = Signal(range(depth))  # where the next entry goes

        def wrap(position):
            return Mux(position >= depth, position - depth, position)

        offset = 0  # lanes set before this one
        for k in range(width):
            with m.If(self.push.valid[k]):
                m.d.sync += slots[wrap(tail + offset)].eq(self.push.entries[k])
            offset = offset + self.push.valid[k]
        pushed = Signal(range(width + 1))
        popped = Signal()
        free = Signal(range(depth + 1))
        m.d.comb += [
            pushed.eq(offset),
            popped.eq(self.pop.valid & self.pop.ready),
            free.eq(depth - self.level),
            self.push.room.eq(Mux(free < width, free, width)),
            self.pop.valid.eq(self.level != 0),
            self.pop.payload.eq(slots[head]),
        ]
        m.d.sync += [
            self.level.eq(self.level + pushed - popped),
            tail.eq(wrap(tail + pushed)),
            head.eq(wrap(head + popped)),
        ]
        return m
