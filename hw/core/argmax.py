"""Streaming argmax over the last layer's int8 outputs: the class, ties going to the first index.

Values arrive in index order, ``last`` marking the final one; the running maximum is replaced
only by a strictly greater value, exactly as ``sw/reference.py``'s ``classify`` (numpy's first
argmax). The class is offered one cycle after the last value is taken and held until taken.
"""

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..params import ACT_BITS, check_positive

__all__ = ["Argmax"]



class Argmax(wiring.Component):
    """``i``: ``(value, last)`` per element, in index order; ``o``: the class index."""

    def __init__(self, *, classes, value_bits=ACT_BITS):
        check_positive("Class count", classes)
        check_positive("Value width", value_bits)
        self._classes, self._value_bits = classes, value_bits
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"value": signed(value_bits),
                                                        "last": unsigned(1)}))),
            "o": Out(stream.Signature(range(classes))),
        })

    def elaborate(self, platform):
        m = Module()
        index = Signal(range(self._classes))  # index of the value offered on ``i``
        best = Signal(signed(self._value_bits))
        best_index = Signal(range(self._classes))
        m.d.comb += self.i.ready.eq(~self.o.valid)

        better = (index == 0) | (self.i.payload.value > best)
        winner = Signal(range(self._classes))
        m.d.comb += winner.eq(best_index)
        with m.If(better):
            m.d.comb += winner.eq(index)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [best_index.eq(winner), index.eq(index + 1)]
            with m.If(better):
                m.d.sync += best.eq(self.i.payload.value)
            with m.If(self.i.payload.last):
                m.d.sync += [index.eq(0), self.o.valid.eq(1), self.o.payload.eq(winner)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m
