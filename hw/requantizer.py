"""Integer requantization of one accumulator per cycle: bias, multiply, round, shift, clamp, ReLU.

Exactly ``sw/reference.py``'s ``requantize``: ``y = ((acc + bias) * M + 2^(s-1)) >> s`` (no
rounding term when s = 0, arithmetic shift), clamped to int8, or to 0..127 with ReLU. Three
registered stages (add, multiply, round/shift/clamp) on valid/ready streams, so the pipeline
holds its contents under back-pressure; the accelerator never applies any, so there a row
takes exactly ``REQUANT_LATENCY`` cycles. ``index`` and ``last`` ride along untouched.
"""

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .image import PARAM_MULTIPLIER_BITS
from .signature import ACT_BITS, check_positive

__all__ = ["REQUANT_LATENCY", "SHIFT_BITS", "requant_input", "requant_output", "Requantizer"]

REQUANT_LATENCY = 3  # add; multiply; round, shift and clamp — each ends in a register
SHIFT_BITS = 6  # model.bin allows shifts up to 63
INT8_MIN, INT8_MAX = -(1 << (ACT_BITS - 1)), (1 << (ACT_BITS - 1)) - 1


def requant_input(acc_bits: int, rows: int) -> data.StructLayout:
    return data.StructLayout({
        "acc": signed(acc_bits),
        "bias": signed(acc_bits),
        "multiplier": unsigned(PARAM_MULTIPLIER_BITS),
        "shift": unsigned(SHIFT_BITS),
        "relu": unsigned(1),
        "index": range(rows),
        "last": unsigned(1),
    })


def requant_output(rows: int) -> data.StructLayout:
    return data.StructLayout({"value": signed(ACT_BITS), "index": range(rows), "last": unsigned(1)})


class Requantizer(wiring.Component):
    """Stream of ``requant_input`` in, stream of ``requant_output`` out, three stages deep."""

    def __init__(self, *, acc_bits, rows):
        check_positive("Accumulator width", acc_bits)
        check_positive("Row count", rows)
        self._acc_bits, self._rows = acc_bits, rows
        super().__init__({
            "i": In(stream.Signature(requant_input(acc_bits, rows))),
            "o": Out(stream.Signature(requant_output(rows))),
        })

    def elaborate(self, platform):
        m = Module()
        sum_bits = self._acc_bits + 1
        product_bits = sum_bits + PARAM_MULTIPLIER_BITS + 1
        tags = data.StructLayout({"index": range(self._rows), "last": unsigned(1)})

        def stage(layout):
            return Signal(layout), Signal()

        s1, v1 = stage(data.StructLayout({"sum": signed(sum_bits),
                                          "multiplier": unsigned(PARAM_MULTIPLIER_BITS),
                                          "shift": unsigned(SHIFT_BITS), "relu": unsigned(1),
                                          "tags": tags}))
        s2, v2 = stage(data.StructLayout({"product": signed(product_bits),
                                          "shift": unsigned(SHIFT_BITS), "relu": unsigned(1),
                                          "tags": tags}))
        v3 = Signal()
        r3 = ~v3 | self.o.ready
        r2 = ~v2 | r3
        r1 = ~v1 | r2
        m.d.comb += self.i.ready.eq(r1)

        i = self.i.payload
        with m.If(r1):
            m.d.sync += [
                v1.eq(self.i.valid),
                s1.sum.eq(i.acc + i.bias),
                s1.multiplier.eq(i.multiplier),
                s1.shift.eq(i.shift),
                s1.relu.eq(i.relu),
                s1.tags.index.eq(i.index),
                s1.tags.last.eq(i.last),
            ]
        with m.If(r2):
            m.d.sync += [
                v2.eq(v1),
                s2.product.eq(s1.sum * s1.multiplier),
                s2.shift.eq(s1.shift),
                s2.relu.eq(s1.relu),
                s2.tags.eq(s1.tags),
            ]

        rounding = Signal(unsigned(1 << SHIFT_BITS))
        m.d.comb += rounding.eq((1 << s2.shift) >> 1)
        shifted = Signal(signed(product_bits + 1))
        m.d.comb += shifted.eq((s2.product + rounding) >> s2.shift)
        low = Signal(signed(ACT_BITS))
        m.d.comb += low.eq(INT8_MIN)
        with m.If(s2.relu):
            m.d.comb += low.eq(0)
        clamped = Signal(signed(ACT_BITS))
        with m.If(shifted > INT8_MAX):
            m.d.comb += clamped.eq(INT8_MAX)
        with m.Elif(shifted < low):
            m.d.comb += clamped.eq(low)
        with m.Else():
            m.d.comb += clamped.eq(shifted)
        with m.If(r3):
            m.d.sync += [
                v3.eq(v2),
                self.o.payload.value.eq(clamped),
                self.o.payload.index.eq(s2.tags.index),
                self.o.payload.last.eq(s2.tags.last),
            ]
        m.d.comb += self.o.valid.eq(v3)
        return m
