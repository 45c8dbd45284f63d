"""The compute engine's interface, shared by the sparse engine and its dense twin.

An engine holds the P processing elements and whatever feeds them. The accelerator's sequencer
tells it which layer runs (``config``), pulses ``launch`` on a layer's first cycle, holds ``run``
for the rest of the compute phase, and waits for ``working`` to fall. Then it drains the
accumulators one row a cycle through ``drain``/``clear``. The engine reads its activations
through the ``act`` port: ``lanes`` synchronous read ports of the current buffer, lane s at
``act_addr + s`` when ``act_en[s]`` (the sparse engine reads a block of columns at once; the
dense and N:M engines have one lane). It reports per-cycle event counts, which the sequencer
sums into the host-visible counters.
"""

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..params import ACT_BITS, check_positive

__all__ = ["layer_config", "engine_events", "EngineSignature", "check_engine", "connect_drain",
           "count"]


def layer_config(layers: int, max_rows: int, max_cols: int, pointer_depth: int,
                 param_depth: int, dense_depth: int) -> data.StructLayout:
    """The current layer's constants, registered by the sequencer when the layer changes."""
    return data.StructLayout({
        "rows": range(max_rows + 1),
        "cols": range(max_cols + 1),
        "rows_per_pe": range(max_rows + 1),
        "shift": unsigned(6),
        "relu": unsigned(1),
        "last": unsigned(1),
        "ptr_base": range(pointer_depth + 1),
        "param_base": range(param_depth + 1),
        "dense_base": range(dense_depth + 1),
        "groups": range(max_cols + 1),
        "next_nonempty": unsigned(max(max_cols, max_rows)),
    })


class EngineSignature(wiring.Signature):
    """Ports of a compute engine (see the module docstring); ``pes`` sets the event widths."""

    def __init__(self, *, pes, layers, config, max_cols, rows_per_pe, acc_bits, lanes=1):
        self.pes, self.layers, self.lanes, self.acc_bits = pes, layers, lanes, acc_bits
        super().__init__({
            "layer": In(range(layers)),
            "config": In(config),
            "launch": In(1),
            "run": In(1),
            "working": Out(1),
            "pend_en": In(1),
            "pend_index": In(range(max_cols)),
            "act_en": Out(lanes),
            "act_addr": Out(range(max_cols)),
            "act_data": In(data.ArrayLayout(signed(ACT_BITS), lanes)),
            "drain_en": In(1),
            "drain_pe": In(range(pes)),
            "drain_addr": In(range(rows_per_pe)),
            "clear_en": In(1),
            "clear_pe": In(range(pes)),
            "clear_addr": In(range(rows_per_pe)),
            "acc": Out(signed(acc_bits)),
            "events": Out(engine_events(pes, lanes)),
        })


def check_engine(signature, image, acc_bits: int) -> None:
    """Raise unless ``signature`` is an :class:`EngineSignature` for ``image``'s PEs whose
    accumulators are ``acc_bits`` wide (what every engine's constructor checks first)."""
    if not isinstance(signature, EngineSignature):
        raise TypeError(f"Engine signature must be an EngineSignature, not {signature!r}")
    check_positive("Accumulator width", acc_bits)
    if signature.pes != image.pes:
        raise ValueError(f"The signature has {signature.pes} PEs, but the image is packed for "
                         f"{image.pes}")
    if signature.acc_bits != acc_bits:
        raise ValueError(f"The signature's accumulators are {signature.acc_bits} bits wide, "
                         f"not {acc_bits}")


def engine_events(pes: int, lanes: int = 1) -> data.StructLayout:
    """What happened in the engine this cycle, as counts (summed over PEs where per PE)."""
    per_pe = range(pes + 1)
    return data.StructLayout({
        "weight_reads": per_pe,
        "macs": per_pe,
        "acc_updates": per_pe,
        "queue_pushes": range(pes * lanes + 1),
        "broadcasts": range(lanes + 1),
        "stalls": unsigned(1),
        "pointer_reads": range(lanes + 2),
    })


def count(m: Module, bits: list, pes: int) -> Signal:
    """The number of set bits among ``bits`` (at most ``pes``), as a signal."""
    total = Signal(range(pes + 1))
    m.d.comb += total.eq(sum(bits))
    return total


def connect_drain(m: Module, bus, pes: list) -> None:
    """Route drain reads and clears to PE ``drain_pe`` / ``clear_pe``; ``acc`` follows a cycle
    later (the accumulators are a synchronous RAM); sum the PEs' events."""
    selected = Signal(range(len(pes)))
    with m.If(bus.drain_en):
        m.d.sync += selected.eq(bus.drain_pe)
    for p, pe in enumerate(pes):
        m.d.comb += [
            pe.layer.eq(bus.layer),
            pe.drain_en.eq(bus.drain_en & (bus.drain_pe == p)),
            pe.drain_addr.eq(bus.drain_addr),
            pe.clear_en.eq(bus.clear_en & (bus.clear_pe == p)),
            pe.clear_addr.eq(bus.clear_addr),
        ]
        with m.If(selected == p):
            m.d.comb += bus.acc.eq(pe.acc)
    m.d.comb += [
        bus.events.weight_reads.eq(count(m, [pe.read for pe in pes], len(pes))),
        bus.events.macs.eq(count(m, [pe.mac for pe in pes], len(pes))),
        bus.events.acc_updates.eq(count(m, [pe.update for pe in pes], len(pes))),
    ]
