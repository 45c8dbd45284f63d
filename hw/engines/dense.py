"""The dense twin's compute engine: the same P PEs walk every weight, zeros included.

PE p's bank holds, layer after layer, its local rows column-major (``memories.dense_banks``).
All PEs step in lockstep, one word a cycle, over every column of the layer: ``n_cols *
ceil(n_rows / P)`` issue cycles whatever the weights or activations, the baseline every cycle
and energy comparison uses. A PE's padding rows (global row ``>= n_rows``) are walked with
activation 0. Column j's activation is read from the buffer the cycle before its first issue.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring

from .base import EngineSignature, check_engine, connect_drain, processing_elements

__all__ = ["DenseEngine"]


class DenseEngine(wiring.Component):
    """P ProcessingElements with value-only words and one shared lockstep address counter.

    ``init`` (target id → words) bakes a model's dense banks in.
    """

    def __init__(self, signature: EngineSignature, *, init=None):
        self._capacity = check_engine(signature, "dense")
        self._init = init or {}
        self.bank_depth = self._capacity.bank_depth
        super().__init__(signature)

    def elaborate(self, platform):
        m = Module()
        capacity, bus, cfg = self._capacity, self, self.config
        pes = processing_elements(m, bus, init=self._init)
        connect_drain(m, bus, pes)

        walking = Signal()
        col = Signal(range(capacity.max_cols))
        local = Signal(range(capacity.rows_per_pe))  # local row issued this cycle
        addr = Signal(range(self.bank_depth))
        last_row = local + 1 == cfg.rows_per_pe
        for p, pe in enumerate(pes):
            m.d.comb += [
                pe.issue.valid.eq(walking),
                pe.issue.addr.eq(addr),
                pe.issue.first.eq(local == 0),
            ]
            with m.If(local * capacity.pes + p < cfg.rows):
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
