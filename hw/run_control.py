"""Start/busy/done handshake and the run's cycle counter, shared by every layer array.

Number the cycles of a run from 0: cycle 0 is the one whose closing edge samples ``start`` while
not busy (``launch`` is high during it). ``busy`` is high from cycle 1 up to and including the
cycle in which the array reports ``finishing``; ``done`` rises on that cycle's closing edge and
stays high until the next launch. ``cycles`` counts the edges from the launch edge to the
finishing edge, both included, and holds that count afterwards.
"""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .params import COUNTER_BITS as CYCLE_BITS

__all__ = ["RunControl"]



class RunControl(wiring.Component):
    """Turns a ``start`` pulse into ``launch`` and tracks the run until ``finishing``."""

    start: In(1)
    finishing: In(1)  # the array's last accumulate (if any) lands on this cycle's closing edge
    launch: Out(1)
    busy: Out(1)
    done: Out(1)
    cycles: Out(CYCLE_BITS)

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.launch.eq(self.start & ~self.busy)
        with m.If(self.launch):
            m.d.sync += [self.busy.eq(1), self.done.eq(0), self.cycles.eq(1)]
        with m.Elif(self.busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(self.finishing):
                m.d.sync += [self.busy.eq(0), self.done.eq(1)]
        return m
