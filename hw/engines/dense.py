"""The dense twin's compute engine: the same P PEs walk every weight, zeros included.

PE p's ROM holds, layer after layer, its local rows column-major (``memories.dense_banks``).
All PEs step in lockstep, one word a cycle, over every column of the layer: ``n_cols *
ceil(n_rows / P)`` issue cycles whatever the weights or activations, the baseline every cycle
and energy comparison uses. A PE's padding rows (global row ``>= n_rows``) are walked with
activation 0. Column j's activation is read from the buffer the cycle before its first issue.
"""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, wiring

from ..core.pe import ProcessingElement
from ..memories import dense_banks
from ..params import ACT_BITS
from .base import EngineSignature, check_engine, connect_drain

__all__ = ["DenseEngine"]


class DenseEngine(wiring.Component):
    """P ProcessingElements with value-only words and one shared lockstep address counter."""

    def __init__(self, signature: EngineSignature, image, *, acc_bits):
        check_engine(signature, image, acc_bits)
        self._image, self._acc_bits = image, acc_bits
        self._banks = dense_banks(image)
        self.bank_depth = max(1, len(self._banks[0]))
        super().__init__(signature)

    def elaborate(self, platform):
        m = Module()
        image, bus, cfg = self._image, self, self.config
        word = data.StructLayout({"value": signed(ACT_BITS)})
        rows_per_pe = max(image.rows_per_pe(l) for l in range(len(image.layers)))
        pes = []
        for p in range(image.pes):
            pe = ProcessingElement(word=word, bank=self._banks[p] or [0], local_rows=rows_per_pe,
                           acc_bits=self._acc_bits, layers=len(image.layers))
            m.submodules[f"pe{p}"] = pe
            pes.append(pe)
        connect_drain(m, bus, pes)

        walking = Signal()
        col = Signal(range(image.max_cols))
        local = Signal(range(rows_per_pe))  # local row issued this cycle
        addr = Signal(range(self.bank_depth))
        last_row = local + 1 == cfg.rows_per_pe
        for p, pe in enumerate(pes):
            m.d.comb += [
                pe.issue.valid.eq(walking),
                pe.issue.addr.eq(addr),
                pe.issue.first.eq(local == 0),
            ]
            with m.If(local * image.pes + p < cfg.rows):
                m.d.comb += pe.issue.x.eq(bus.act_data[0])

        with m.If(bus.launch):
            m.d.comb += [bus.act_en.eq(1), bus.act_addr.eq(0)]
            m.d.sync += [
                walking.eq((cfg.rows != 0) & (cfg.cols != 0)),
                col.eq(0),
                local.eq(0),
                addr.eq(cfg.dense_base),
            ]
        with m.Elif(walking):
            m.d.sync += [addr.eq(addr + 1), local.eq(local + 1)]
            with m.If(last_row):
                m.d.sync += [local.eq(0), col.eq(col + 1)]
                with m.If(col + 1 == cfg.cols):
                    m.d.sync += walking.eq(0)
                with m.Else():
                    m.d.comb += [bus.act_en.eq(1), bus.act_addr.eq(col + 1)]

        settling = Signal()
        m.d.comb += settling.eq(sum(pe.settling for pe in pes) != 0)
        m.d.comb += [
            bus.working.eq(walking | settling),
            bus.events.broadcasts.eq(walking & last_row),
        ]
        return m
