"""The compute engine's interface, shared by the sparse engine and its dense twin.

An engine holds the P processing elements and whatever feeds them. The accelerator's sequencer
tells it which layer runs (``config``), pulses ``launch`` on a layer's first cycle, holds ``run``
for the rest of the compute phase, and waits for ``working`` to fall (a conv layer: once per
output position). Work arrives as pending columns, one (``pend_en``) or many (``pend_mask``) a
cycle; the dense twin walks every column and ignores them. Then it drains the
accumulators one row a cycle through ``drain``/``clear``. The load port's writes reach it on
``write`` (its banks, pointers and codebooks). The engine reads its activations through the
``act`` port: ``lanes`` synchronous read ports of the current buffer, lane s at
``act_addr + s`` when ``act_en[s]`` (the sparse engine reads a block of columns at once; the
dense and N:M engines have one lane). It reports per-cycle event counts, which the sequencer
sums into the host-visible counters.
"""

from amaranth.hdl import Array, Module, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..capacity import Capacity
from ..core.loader import WriteSignature, connect_write, register_writes
from ..core.pe import ProcessingElement
from ..layout import codebook_table
from ..memories import BANK, CODEBOOKS, bank_word, layer_config, memory_map
from ..params import ACT_BITS, check_kind

__all__ = ["layer_config", "engine_events", "EngineSignature", "check_engine",
           "processing_elements", "codebooks", "connect_drain", "count"]


class EngineSignature(wiring.Signature):
    """Ports of the ``kind`` compute engine of ``capacity`` (see the module docstring)."""

    def __init__(self, capacity, *, kind: str):
        if not isinstance(capacity, Capacity):
            raise TypeError(f"Capacity must be a Capacity, not {capacity!r}")
        self.capacity, self.kind = capacity, check_kind(kind)
        pes, cols = capacity.pes, capacity.max_cols
        self.pes, self.layers, self.acc_bits = pes, capacity.max_layers, capacity.acc_bits
        self.lanes = lanes = (capacity.issue_width
                              if kind == "sparse" and capacity.format == "csc" else 1)
        rows_per_pe = capacity.rows_per_pe
        super().__init__({
            "layer": In(range(capacity.max_layers)),
            "config": In(layer_config(capacity)),
            "write": In(WriteSignature.of(memory_map(capacity, kind))),
            "launch": In(1),
            "run": In(1),
            "working": Out(1),
            "pend_en": In(1),
            "pend_index": In(range(cols)),
            "pend_mask": In(cols),
            "act_en": Out(lanes),
            "act_addr": Out(range(cols)),
            "act_data": In(data.ArrayLayout(signed(ACT_BITS), lanes)),
            "drain_en": In(1),
            "drain_pe": In(range(pes)),
            "drain_addr": In(range(rows_per_pe)),
            "clear_en": In(1),
            "clear_pe": In(range(pes)),
            "clear_addr": In(range(rows_per_pe)),
            "acc": Out(signed(capacity.acc_bits)),
            "events": Out(engine_events(pes, lanes)),
        })

    def __eq__(self, other):
        return (type(other) is EngineSignature
                and (self.capacity, self.kind) == (other.capacity, other.kind))

    def __hash__(self):
        return hash((self.capacity, self.kind))

    def __repr__(self):
        return f"EngineSignature({self.capacity!r}, kind={self.kind!r})"


def check_engine(signature, kind: str, format: str | None = None) -> Capacity:
    """Return the capacity of ``signature`` if it is an :class:`EngineSignature` of ``kind``
    (and word ``format``), else raise (what every engine's constructor checks first)."""
    if not isinstance(signature, EngineSignature):
        raise TypeError(f"Engine signature must be an EngineSignature, not {signature!r}")
    if signature.kind != kind:
        raise ValueError(f"The signature is of a {signature.kind} engine, not a {kind} one")
    capacity = signature.capacity
    if format is not None and capacity.format != format:
        raise ValueError({"csc": "The sparse CSC engine needs a CSC capacity, not an N:M one",
                          "nm": "The N:M engine needs an N:M capacity, not a CSC one"}[format])
    return capacity


def bank_inits(init: dict | None, pes: int) -> list[list[int]]:
    """Each PE's initial bank words of a baked design (``init``: target id → words)."""
    init = init or {}
    return [init.get(BANK + p, []) for p in range(pes)]


def processing_elements(m: Module, bus, *, init=None, codebook=None, group=None) -> list:
    """The engine's P PEs, each bank written by ``bus.write`` (target ``BANK + p``) and
    initialised from ``init``; with ``codebook`` (the current layer's table), code words."""
    capacity = bus.signature.capacity
    word = bank_word(capacity, bus.signature.kind)
    pes = []
    for p, words in enumerate(bank_inits(init, capacity.pes)):
        pe = ProcessingElement(word=word, bank_depth=capacity.bank_depth, init=words,
                               local_rows=capacity.rows_per_pe, acc_bits=capacity.acc_bits,
                               codebook=codebook is not None, group=group)
        m.submodules[f"pe{p}"] = pe
        connect_write(m, bus.write, BANK + p, pe.write)
        if codebook is not None:
            m.d.comb += pe.codebook.eq(codebook)
        pes.append(pe)
    return pes


def codebooks(m: Module, bus, init=None):
    """The codebook registers (one table per layer, written through ``bus.write``, target
    ``CODEBOOKS``) and the running layer's table, read combinationally; None without codebooks.
    """
    capacity = bus.signature.capacity
    if not capacity.codebook:
        return None
    layout = codebook_table(capacity.value_bits)
    start = (init or {}).get(CODEBOOKS, [])
    tables = [Signal(unsigned(layout.size), init=start[l] if l < len(start) else 0,
                     name=f"codebook{l}") for l in range(capacity.max_layers)]
    register_writes(m, bus.write, CODEBOOKS, tables)
    current = Signal(layout)
    m.d.comb += current.eq(Array(tables)[bus.layer])
    return current


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
