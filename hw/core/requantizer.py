"""Integer requantization of one accumulator per cycle: bias, multiply, round, shift, clamp, ReLU.

Exactly ``sw/reference.py``'s ``requantize``: ``y = ((acc + bias) * M + 2^(s-1)) >> s`` (no
rounding term when s = 0, arithmetic shift), clamped to int8, or to 0..127 with ReLU. Five
registered stages (add, multiply, round, shift, clamp: one carry chain, multiplier or barrel
shifter a stage, so none sets the clock) on valid/ready streams, so the pipeline holds its
contents under back-pressure; the accelerator never applies any, so there a row takes exactly
``REQUANT_LATENCY`` cycles. ``index`` and ``last`` ride along untouched.

A requantizer built with ``raw=True`` also takes a ``raw`` flag per row: such a row leaves as
``acc + bias`` itself (multiplier 1, no shift, no ReLU; saturated to the accumulator's width,
which is then the output's), through the same five stages. The accelerator reads a layer's raw
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
    """Stream of ``requant_input`` in, stream of ``requant_output`` out, ``REQUANT_LATENCY``
    stages deep."""

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
        wide = signed(product_bits + 1)  # the rounded product, and after the shift
        # What every stage after the add carries beside its value: what the later stages need
        # (shift, ReLU, the raw flag) and the row's tags.
        tags = {"index": range(self._rows), "last": unsigned(1)}
        after_add = {"shift": unsigned(SHIFT_BITS), "relu": unsigned(1), "raw": unsigned(1),
                     **tags}
        layouts = [  # one register per stage, in order; each stage's valid beside it
            data.StructLayout({"sum": signed(sum_bits),
                               "multiplier": unsigned(PARAM_MULTIPLIER_BITS), **after_add}),
            data.StructLayout({"product": signed(product_bits), **after_add}),
            data.StructLayout({"rounded": wide, **after_add}),
            data.StructLayout({"shifted": wide, **after_add}),
        ]
        s1, s2, s3, s4 = (Signal(layout, name=f"stage{k + 1}")
                          for k, layout in enumerate(layouts))
        stages = len(layouts) + 1  # the last stage's register is the output payload
        valid = [Signal(name=f"valid{k + 1}") for k in range(stages)]
        # A stage takes a new row when it is empty or its row moves on this cycle.
        ready = [Signal(name=f"ready{k + 1}") for k in range(stages)]
        m.d.comb += ready[-1].eq(~valid[-1] | self.o.ready)
        for k in range(stages - 1):
            m.d.comb += ready[k].eq(~valid[k] | ready[k + 1])
        m.d.comb += [self.i.ready.eq(ready[0]), self.o.valid.eq(valid[-1])]
        for k in range(stages):
            with m.If(ready[k]):
                m.d.sync += valid[k].eq(self.i.valid if k == 0 else valid[k - 1])

        def carry(to, frm):
            """The fields every stage after the add passes on unchanged."""
            return [getattr(to, name).eq(getattr(frm, name)) for name in after_add]

        i = self.i.payload
        with m.If(ready[0]):  # add the bias
            m.d.sync += [
                s1.sum.eq(i.acc + i.bias),
                s1.multiplier.eq(i.multiplier),
                s1.shift.eq(i.shift),
                s1.relu.eq(i.relu),
                s1.index.eq(i.index),
                s1.last.eq(i.last),
            ]
            if self._raw:
                m.d.sync += s1.raw.eq(i.raw)
                with m.If(i.raw):
                    m.d.sync += [s1.multiplier.eq(1), s1.shift.eq(0), s1.relu.eq(0)]
        with m.If(ready[1]):  # multiply: registered operands and product, as a DSP wants
            m.d.sync += [s2.product.eq(s1.sum * s1.multiplier), *carry(s2, s1)]
        rounding = Signal(unsigned(1 << SHIFT_BITS))
        m.d.comb += rounding.eq((1 << s2.shift) >> 1)
        with m.If(ready[2]):  # add half the last place the shift drops (none when s = 0)
            m.d.sync += [s3.rounded.eq(s2.product + rounding), *carry(s3, s2)]
        with m.If(ready[3]):  # arithmetic right shift
            m.d.sync += [s4.shifted.eq(s3.rounded >> s3.shift), *carry(s4, s3)]

        bits = self._value_bits
        low, high = Signal(signed(bits)), Signal(signed(bits))
        m.d.comb += [low.eq(INT8_MIN), high.eq(INT8_MAX)]
        with m.If(s4.relu):
            m.d.comb += low.eq(0)
        with m.If(s4.raw):
            m.d.comb += [low.eq(-(1 << (bits - 1))), high.eq((1 << (bits - 1)) - 1)]
        clamped = Signal(signed(bits))
        with m.If(s4.shifted > high):
            m.d.comb += clamped.eq(high)
        with m.Elif(s4.shifted < low):
            m.d.comb += clamped.eq(low)
        with m.Else():
            m.d.comb += clamped.eq(s4.shifted)
        with m.If(ready[4]):  # clamp (to int8, 0..127 with ReLU, or the raw width)
            m.d.sync += [
                self.o.payload.value.eq(clamped),
                self.o.payload.index.eq(s4.index),
                self.o.payload.last.eq(s4.last),
            ]
        return m
