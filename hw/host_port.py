"""The host side of a layer array, identical for dense and sparse: activation registers,
weight-bank write decode and the accumulator read-back mux."""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data

from .params import ACT_BITS

__all__ = ["activation_file", "connect_bank_writes", "drive_outputs"]


def activation_file(m: Module, bus, cols: int) -> data.View:
    """Registers holding the layer's input activations, written one per ``act_we`` cycle."""
    acts = Signal(data.ArrayLayout(signed(ACT_BITS), cols))
    with m.If(bus.act_we):
        m.d.sync += acts[bus.act_addr].eq(bus.act_data)
    return acts


def connect_bank_writes(m: Module, bus, pes: list) -> None:
    """Route ``w_we``/``w_addr``/``w_data`` to the bank of PE ``w_pe``."""
    for p, pe in enumerate(pes):
        m.d.comb += [
            pe.w_en.eq(bus.w_we & (bus.w_pe == p)),
            pe.w_addr.eq(bus.w_addr),
            pe.w_data.eq(bus.w_data),
        ]


def drive_outputs(m: Module, bus, pes: list, rows: int) -> None:
    """``out_data`` is the accumulator of global row ``out_addr``: PE r % P, local row r // P."""
    with m.Switch(bus.out_addr):
        for r in range(rows):
            with m.Case(r):
                m.d.comb += bus.out_data.eq(pes[r % len(pes)].acc[r // len(pes)])
