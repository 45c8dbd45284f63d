"""Integer requantization of one accumulator per cycle: bias, multiply, round, shift, clamp, ReLU.

Exactly ``sw/reference.py``'s ``requantize``: ``y = ((acc + bias) * M + 2^(s-1)) >> s`` (no
rounding term when s = 0, arithmetic shift), clamped to int8, or to 0..127 with ReLU. Three
registered stages (add, multiply, round/shift/clamp) on valid/ready streams, so the pipeline
holds its contents under back-pressure; the accelerator never applies any, so there a row
takes exactly ``REQUANT_LATENCY`` cycles. ``index`` and ``last`` ride along untouched.

A requantizer built with ``raw=True`` also takes a ``raw`` flag per row: such a row leaves as
``acc + bias`` itself (multiplier 1, no shift, no ReLU; saturated to the accumulator's width,
which is then the output's), through the same three stages. The accelerator reads a layer's raw
accumulators out this way (``readout="accumulators"``) in exactly the cycles of a requantized one.
"""

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..params import ACT_BITS, PARAM_MULTIPLIER_BITS, SHIFT_BITS, check_positive

__all__ = ["requant_input", "requant_output", "Requantizer"]

INT8_MIN, INT8_MAX = -(1 << (ACT_BITS - 1)), (1 << (ACT_BITS - 1)) - 1


def requant_input(acc_bits: int, rows: int, raw: bool = False) -> data.StructLayout:
    return data.StructLayout({
        **({"raw": unsigned(1)} if raw else {}),
        "acc": signed(acc_bits),
        "bias": signed(acc_bits),
        "multiplier": unsigned(PARAM_MULTIPLIER_BITS),
        "shift": unsigned(SHIFT_BITS),
        "relu": unsigned(1),
        "index": range(rows),
        "last": unsigned(1),
    })


def requant_output(rows: int, value_bits: int = ACT_BITS) -> data.StructLayout:
    return data.StructLayout({"value": signed(value_bits), "index": range(rows),
                              "last": unsigned(1)})


class Requantizer(wiring.Component):
    """Stream of ``requant_input`` in, stream of ``requant_output`` out, three stages deep."""

    def __init__(self, *, acc_bits, rows, raw=False):
        check_positive("Accumulator width", acc_bits)
        check_positive("Row count", rows)
        if not isinstance(raw, bool):
            raise TypeError(f"Raw must be a bool, not {raw!r}")
        self._acc_bits, self._rows, self._raw = acc_bits, rows, raw
        self._value_bits = acc_bits if raw else ACT_BITS
        super().__init__({
            "i": In(stream.Signature(requant_input(acc_bits, rows, raw))),
            "o": Out(stream.Signature(requant_output(rows, self._value_bits))),
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
        raw = Signal()
        s1_raw, s2_raw = Signal(), Signal()
        if self._raw:
            m.d.comb += raw.eq(i.raw)
        with m.If(r1):
            m.d.sync += [
                v1.eq(self.i.valid),
                s1_raw.eq(raw),
                s1.sum.eq(i.acc + i.bias),
                s1.multiplier.eq(i.multiplier),
                s1.shift.eq(i.shift),
                s1.relu.eq(i.relu),
                s1.tags.index.eq(i.index),
                s1.tags.last.eq(i.last),
            ]
            with m.If(raw):
                m.d.sync += [s1.multiplier.eq(1), s1.shift.eq(0), s1.relu.eq(0)]
        with m.If(r2):
            m.d.sync += [
                v2.eq(v1),
                s2_raw.eq(s1_raw),
                s2.product.eq(s1.sum * s1.multiplier),
                s2.shift.eq(s1.shift),
                s2.relu.eq(s1.relu),
                s2.tags.eq(s1.tags),
            ]

        rounding = Signal(unsigned(1 << SHIFT_BITS))
        m.d.comb += rounding.eq((1 << s2.shift) >> 1)
        shifted = Signal(signed(product_bits + 1))
        m.d.comb += shifted.eq((s2.product + rounding) >> s2.shift)
        bits = self._value_bits
        low, high = Signal(signed(bits)), Signal(signed(bits))
        m.d.comb += [low.eq(INT8_MIN), high.eq(INT8_MAX)]
        with m.If(s2.relu):
            m.d.comb += low.eq(0)
        with m.If(s2_raw):
            m.d.comb += [low.eq(-(1 << (bits - 1))), high.eq((1 << (bits - 1)) - 1)]
        clamped = Signal(signed(bits))
        with m.If(shifted > high):
            m.d.comb += clamped.eq(high)
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
