"""The whole-network accelerator: every Linear layer of an MLP, with no host between layers.

The host streams one int8 input vector in, pulses ``start``, waits for ``done`` and reads the
class, the logits and the event counters. The logits also leave on the ``output`` stream, in
index order, as the last layer drains; a host that holds ``output.ready`` low holds the drain
(and the run) for exactly as many cycles, and one that only reads registers ties it high.

In between, for each layer in turn, the compute engine (sparse, or its dense twin: same
signature, memories and counters) accumulates ``W x`` in the PEs, then the sequencer drains
the accumulators one row a cycle through the requantizer (bias, multiply, round, shift,
clamp, ReLU) into the other half of the ping-pong activation buffer, marking each nonzero
output as pending work for the next layer. The last layer's
outputs are the logits; a streaming argmax picks the class.

The model is data: the design depends only on its :class:`~.capacity.Capacity` (and its kind).
Weights, pointers, requantization parameters, codebooks and the layer table are
memories the host writes through the ``load`` port before a run (:mod:`.load`); the number of
layers, inputs and outputs come from the loaded table (``features``, ``classes``; ports such
as ``predicted`` and ``logit_addr`` are sized by the capacity's widest layer). Built with
``image=``, the same memories
start with that model's contents (a self-contained bitstream; the load port stays). The sparse
engine is chosen by the capacity's word format: CSC (:mod:`.engines.sparse`) or N:M
(:mod:`.engines.nm`); the dense twin is :mod:`.engines.dense`.

``elaborate`` wires named stages, each a method: the load port, the layer select, the
activation buffer, the input stage, the drain, the write-back, the sequencer and the event
counters.

Reset (``rst``, synchronous, active high; power-on is the same) returns every register to its
initial value: the sequencer, walkers, queues, work lists, broadcast stage, requantizer, argmax,
logit registers, counters, buffer parity, layer table and load port (a loadable design is then
empty and must be loaded again; the banks, pointers and parameters, RAM, keep their words). The
accumulators are a RAM too: for the :attr:`~Accelerator.clear_cycles` cycles after reset a
sweep writes every row to zero while ``busy`` is high, so nothing is loaded, streamed in or
started meanwhile. The activation buffer needs no sweep: each layer reads only the columns the
stage before it wrote this run (an N:M group's padding past the last column meets no nonzero
weight).

Timing (cycles numbered from the launch edge, which samples ``start``): layer l launches in
cycle ``T_l`` (``T_0 = 0``), computes for ``C_l`` cycles (its engine's count), drains row r in
cycle ``T_l + C_l + r``; its requantized value is written ``DRAIN_LATENCY`` cycles later, and
the cycle after the last write launches layer l + 1. ``sw/cycles.py`` sums it; each cycle the
last layer's next logit waits on ``output.ready`` adds one.
"""

from typing import Callable, NamedTuple

from amaranth.hdl import Array, Module, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .capacity import Capacity
from .core.argmax import Argmax
from .core.loader import LOAD_WORD_BITS, Loader, connect_write, register_writes
from .core.requantizer import Requantizer
from .engines.base import EngineSignature
from .engines.dense import DenseEngine
from .engines.nm import NMEngine
from .engines.sparse import SparseEngine
from .image import NetworkImage
from .layout import field_slices
from .memories import LAYER_TABLE, PARAMETERS, layer_config, memory_images, memory_map, param_word
from .params import ACT_BITS, COUNTER_BITS, check_kind, check_readout, loaded_attrs

__all__ = ["COUNTERS", "AcceleratorSignature", "Accelerator"]

#: Host-visible event counters, each counted over the last run (the events an energy model
#: prices): ``cycles`` (launch edge to done edge, both included); ``macs`` (products of a
#: nonzero weight and a nonzero activation: useful work); ``weight_reads`` (weight-bank words
#: read, fillers and zeros included); ``broadcasts`` (columns sent to the PEs; N:M groups;
#: dense: columns stepped); ``stalls`` (cycles a column waited for queue room); ``queue_pushes``
#: (PE queue entries written); ``acc_updates`` (accumulator read-modify-writes); ``drains``
#: (accumulators read out, each also cleared); ``act_reads`` / ``act_writes`` (activation
#: buffer accesses, the streamed input included); ``pointer_reads`` (column-pointer words).
COUNTERS = ("cycles", "macs", "weight_reads", "broadcasts", "stalls", "queue_pushes",
            "acc_updates", "drains", "act_reads", "act_writes", "pointer_reads")


class _Layer(NamedTuple):
    """The running layer: its ``index``, registered table entry ``cfg`` (:func:`layer_config`),
    the buffer ``parity`` it reads, ``select(value)``, which moves to layer ``value``, the
    table's ``first`` entry (the input stage's) and the next layer's ``next_nonempty`` mask."""

    index: Signal
    cfg: object
    parity: object
    select: Callable
    first: object
    next_nonempty: Signal


class _Drain(NamedTuple):
    """The drain's row counters (``row`` = ``local`` * P + ``pe``), the row issued to the
    requantizer and ``advance`` (the issued row leaves, so the next may be read)."""

    row: Signal
    pe: Signal
    local: Signal
    issued: Signal
    issued_row: Signal
    issued_last: Signal
    issued_pe: Signal
    issued_local: Signal
    advance: Signal


class AcceleratorSignature(wiring.Signature):
    """Host interface of an accelerator for at most ``inputs`` features and ``outputs`` classes
    whose logits (or raw accumulators) are ``value_bits`` wide, loaded through ``load``;
    ``features`` and ``classes`` are the loaded network's input and output counts."""

    def __init__(self, *, inputs, outputs, value_bits=ACT_BITS):
        self.inputs, self.outputs, self.value_bits = inputs, outputs, value_bits
        super().__init__({
            "load": In(stream.Signature(unsigned(LOAD_WORD_BITS))),
            "input": In(stream.Signature(signed(ACT_BITS))),
            "output": Out(stream.Signature(signed(value_bits))),
            "start": In(1),
            "busy": Out(1, init=1),  # the clear sweep after reset
            "done": Out(1),
            "features": Out(range(inputs + 1)),
            "classes": Out(range(outputs + 1)),
            "predicted": Out(range(outputs)),
            "logit_addr": In(range(outputs)),
            "logit": Out(signed(value_bits)),
            "counters": Out(wiring.Signature({n: Out(COUNTER_BITS) for n in COUNTERS})),
        })

    def _key(self) -> tuple:
        return self.inputs, self.outputs, self.value_bits

    def __eq__(self, other):
        return type(other) is AcceleratorSignature and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return (f"AcceleratorSignature(inputs={self.inputs}, outputs={self.outputs}, "
                f"value_bits={self.value_bits})")


class Accelerator(wiring.Component):
    """The ``kind`` ("sparse" or "dense") accelerator of ``capacity``.

    Parameters
    ----------
    capacity : Capacity
        The sizes, word format and engine parameters (queue depth, issue width, accumulator
        width) the design is built for; any model that fits runs on it.
    kind : str
        "sparse" or its dense twin "dense" (same ports, memories and counters).
    readout : str
        The baked model's readout (with ``image`` only; a loaded model carries its own in the
        layer table's ``raw`` bit): "logits": the last layer is requantized to int8 logits and
        the argmax picks the class; "accumulators": its rows leave raw (``acc + bias``) in the
        same cycles, so a one-layer network computes ``W x`` exactly (``sim matmul``). The
        output stream and logit registers are ``acc_bits`` wide either way (logits
        sign-extended), so one design serves both.
    image : NetworkImage or None
        Bake this model in: every memory starts with its contents (refused unless it fits,
        :meth:`Capacity.check`), so the design runs without loading. None: memories start
        empty and the host loads a model through ``load`` (:func:`~.load.load_words`).
    """

    def __init__(self, capacity: Capacity, *, kind: str, readout: str = "logits",
                 image: NetworkImage | None = None):
        if not isinstance(capacity, Capacity):
            raise TypeError(f"Capacity must be a Capacity, not {capacity!r}")
        self.capacity, self.kind = capacity, check_kind(kind)
        self.readout = check_readout(readout)
        if image is not None and not isinstance(image, NetworkImage):
            raise TypeError(f"Image must be a NetworkImage or None, not {image!r}")
        self.image = image
        self._init = {} if image is None else memory_images(image, capacity, kind, readout)
        self._memories = memory_map(capacity, kind)
        self._act_index_bits = max(1, (max(capacity.max_cols, capacity.max_rows) - 1).bit_length())
        self.config_layout = layer_config(capacity)
        self.value_bits = capacity.acc_bits  # raw accumulators or sign-extended logits
        super().__init__(AcceleratorSignature(inputs=capacity.max_cols,
                                              outputs=capacity.max_rows,
                                              value_bits=self.value_bits))

    def parameters(self) -> dict:
        """What this design was generated from (JSON-able): its capacity's fields, kind and,
        when a model is baked in, its ``layers`` as ``[rows, cols]`` and readout (else None)."""
        baked = self.image is not None
        layers = [[layer.rows, layer.cols] for layer in self.image.layers] if baked else None
        return {"kind": self.kind, **self.capacity.as_dict(), "layers": layers,
                "readout": self.readout if baked else None}

    @property
    def memories(self) -> dict:
        """The memory map the load port writes (target id → :class:`~.memories.MemorySpec`)."""
        return dict(self._memories)

    @property
    def clear_cycles(self) -> int:
        """Cycles ``busy`` stays high after reset (and power-on) while the accumulators clear:
        one per row of every PE, P x ceil(max_rows / P)."""
        return self.capacity.pes * self.capacity.rows_per_pe

    @property
    def act_lanes(self) -> int:
        """Activations the engine reads a cycle: W for the sparse CSC engine, else one."""
        return self.engine_signature().lanes

    def engine_signature(self) -> EngineSignature:
        return EngineSignature(self.capacity, kind=self.kind)

    def engine(self):
        """The compute engine of this kind (a fresh component each call)."""
        signature = self.engine_signature()
        if self.kind == "sparse" and self.capacity.format == "nm":
            return NMEngine(signature, init=self._init)
        if self.kind == "sparse":
            return SparseEngine(signature, init=self._init)
        return DenseEngine(signature, init=self._init)

    def elaborate(self, platform):
        m = Module()
        capacity = self.capacity
        m.submodules.engine = engine = self.engine()
        m.submodules.requantizer = requant = Requantizer(
            acc_bits=capacity.acc_bits, rows=capacity.max_rows, raw=True)
        m.submodules.argmax = argmax = Argmax(classes=capacity.max_rows,
                                              value_bits=self.value_bits)
        launch_run = Signal()  # ``start`` with a complete input while idle
        write = self._load_port(m, engine, launch_run)
        layer = self._layer_select(m, engine, write)
        act_write = self._activation_buffer(m, engine, layer.parity)
        in_count, loaded = self._input_stage(m, engine, act_write, layer)
        drain = self._drain(m, engine, requant, layer.cfg, write)
        clearing = self._clear_sweep(m, engine)  # after the drain: its clears give way
        writes_hidden = self._write_back(m, engine, requant, argmax, act_write, layer)
        self._sequencer(m, engine, requant, argmax, layer, drain, in_count, loaded, launch_run)
        self._counters(m, engine, launch_run, writes_hidden, layer, clearing)
        return m

    def _load_port(self, m, engine, launch_run):
        """The load stream's decoder (:mod:`.load`): taken only while idle; a launch drops a
        partial transfer. Its writes go to the engine's memories and to the ones here."""
        m.submodules.loader = loader = Loader(self._memories)
        wiring.connect(m, wiring.flipped(self.load), loader.load)
        m.d.comb += [loader.enable.eq(~self.busy), loader.restart.eq(launch_run)]
        wiring.connect(m, loader.write, engine.write)
        return loader.write

    def _layer_select(self, m, engine, write) -> _Layer:
        """The layer table (registers the load port writes), the running layer's index and its
        registered entry (``cfg``, fed to the engine), and the next layer's nonempty mask."""
        capacity, layout = self.capacity, self.config_layout
        start = self._init.get(LAYER_TABLE, [])
        raw = [Signal(layout.size, init=start[l] if l < len(start) else 0,
                      name=f"layer_table{l}") for l in range(capacity.max_layers)]
        register_writes(m, write, LAYER_TABLE, raw)
        entries = Array(raw)
        offset, width = field_slices(layout)["nonempty"]
        layer = Signal(range(max(capacity.max_layers, 2)))  # bit 0 is the buffer parity
        cfg = data.View(layout, Signal(layout.size, init=start[0] if start else 0, name="cfg"))
        next_nonempty = Signal(max(capacity.max_cols, capacity.max_rows),
                               init=start[1] >> offset if len(start) > 1 else 0)

        def select(value):
            after = min(value + 1, capacity.max_layers - 1) if isinstance(value, int) else value + 1
            m.d.sync += [layer.eq(value), cfg.eq(entries[value]),
                         next_nonempty.eq(entries[after][offset:offset + width])]

        m.d.comb += [engine.layer.eq(layer), engine.config.eq(cfg),
                     self.features.eq(data.View(layout, raw[0]).cols)]
        for entry in reversed([data.View(layout, r) for r in raw]):  # the first marked last
            with m.If(entry.last):
                m.d.comb += self.classes.eq(entry.rows)
        # layer l reads buffer l % 2 and writes the other one
        return _Layer(index=layer, cfg=cfg, parity=layer[0], select=select,
                      first=data.View(layout, raw[0]), next_nonempty=next_nonempty)

    def _activation_buffer(self, m, engine, parity):
        """The ping-pong activation buffer: the engine's read lanes on the current half (lane s
        reads ``act_addr + s``); returns the write port, shared by input and write-back."""
        k = self._act_index_bits
        m.submodules.activations = acts = memory.Memory(
            shape=signed(ACT_BITS), depth=2 << k, init=[])
        act_write = acts.write_port()
        act_reads = [acts.read_port() for _ in range(self.act_lanes)]
        for s, port in enumerate(act_reads):
            m.d.comb += [
                port.addr.eq((engine.act_addr + s)[:k] | (parity << k)),
                port.en.eq(engine.act_en[s]),
                engine.act_data[s].eq(port.data),
            ]
        return act_write

    def _input_stage(self, m, engine, act_write, layer):
        """The host streams the first layer's activations (as many as its table entry has
        columns) into buffer 0, marking each nonzero one of a column with words as work;
        returns ``(in_count, loaded)``."""
        first = layer.first
        in_count = Signal(range(self.capacity.max_cols + 1))
        loaded = in_count == first.cols
        m.d.comb += self.input.ready.eq(~self.busy & ~loaded)
        with m.If(self.input.valid & self.input.ready):
            m.d.comb += [
                act_write.en.eq(1),
                act_write.addr.eq(in_count),
                act_write.data.eq(self.input.payload),
                engine.pend_en.eq((self.input.payload != 0)
                                  & first.nonempty.bit_select(in_count, 1)),
                engine.pend_index.eq(in_count),
            ]
            m.d.sync += in_count.eq(in_count + 1)
        return in_count, loaded

    def _drain(self, m, engine, requant, cfg, write) -> _Drain:
        """Read row r (PE r % P, local row r // P) and its parameters; requantize a cycle later,
        and clear the row on the cycle the requantizer takes it. The next row is read only as
        the issued one leaves (``advance``), so a held output holds the whole drain. The
        sequencer steps it (``_drain_row``)."""
        capacity = self.capacity
        layout = param_word(capacity.acc_bits)
        m.submodules.params = params = memory.Memory(
            shape=unsigned(layout.size), depth=capacity.param_depth,
            init=self._init.get(PARAMETERS, []), attrs=loaded_attrs(self._init.get(PARAMETERS, [])))
        connect_write(m, write, PARAMETERS, params.write_port())
        param_read = params.read_port()
        param = data.View(layout, param_read.data)

        row = Signal(range(capacity.max_rows))
        drain_pe = Signal(range(capacity.pes))
        drain_local = Signal(range(capacity.rows_per_pe))
        issued = Signal()
        issued_row = Signal.like(row)
        issued_last = Signal()
        issued_pe = Signal.like(drain_pe)
        issued_local = Signal.like(drain_local)
        advance = Signal()
        m.d.comb += advance.eq(~issued | requant.i.ready)
        m.d.comb += [
            requant.i.valid.eq(issued),
            requant.i.payload.acc.eq(engine.acc),
            requant.i.payload.bias.eq(param.bias),
            requant.i.payload.multiplier.eq(param.multiplier),
            requant.i.payload.shift.eq(cfg.shift),
            requant.i.payload.relu.eq(cfg.relu),
            requant.i.payload.raw.eq(cfg.last & cfg.raw),  # the loaded readout
            requant.i.payload.index.eq(issued_row),
            requant.i.payload.last.eq(issued_last),
            engine.clear_en.eq(issued & requant.i.ready),
            engine.clear_pe.eq(issued_pe),
            engine.clear_addr.eq(issued_local),
            engine.drain_pe.eq(drain_pe),
            engine.drain_addr.eq(drain_local),
            param_read.addr.eq(cfg.param_base + row),
            param_read.en.eq(advance),  # a read port's enable is high unless driven
        ]
        with m.If(advance):
            m.d.sync += issued.eq(0)
        return _Drain(row=row, pe=drain_pe, local=drain_local, issued=issued,
                      issued_row=issued_row, issued_last=issued_last, issued_pe=issued_pe,
                      issued_local=issued_local, advance=advance)

    def _clear_sweep(self, m, engine) -> Signal:
        """After reset (power-on included) the accumulators, a RAM, hold what an interrupted run
        left: clear every row, one a cycle in the drain's order (:attr:`clear_cycles` cycles),
        while ``busy`` keeps the host out (``load`` and ``input`` not ready, ``start``
        ignored). Returns the ``clearing`` flag; every other state is a register, which reset
        returns to its initial value."""
        pes, rows_per_pe = self.capacity.pes, self.capacity.rows_per_pe
        clearing = Signal(init=1)
        pe = Signal(range(pes))
        local = Signal(range(rows_per_pe))
        with m.If(clearing):
            m.d.comb += [engine.clear_en.eq(1), engine.clear_pe.eq(pe),
                         engine.clear_addr.eq(local)]
            m.d.sync += pe.eq(pe + 1)
            with m.If(pe == pes - 1):
                m.d.sync += [pe.eq(0), local.eq(local + 1)]
                with m.If(local == rows_per_pe - 1):
                    m.d.sync += [clearing.eq(0), self.busy.eq(0)]
        return clearing

    def _write_back(self, m, engine, requant, argmax, act_write, layer):
        """Requantized rows: a hidden layer's into the other buffer (and the next layer's work
        list), the last layer's into the logit registers, the argmax and the output stream, on
        the host's ready. Returns the hidden-write strobe (an event)."""
        k, cfg = self._act_index_bits, layer.cfg
        logits = Signal(data.ArrayLayout(signed(self.value_bits), self.capacity.max_rows))
        out = requant.o.payload
        taken = Signal()  # a logit leaves this cycle
        m.d.comb += [
            self.output.valid.eq(requant.o.valid & cfg.last),
            self.output.payload.eq(out.value),
            requant.o.ready.eq(~cfg.last | (self.output.ready & argmax.i.ready)),
            taken.eq(self.output.valid & requant.o.ready),
        ]
        writes_hidden = requant.o.valid & ~cfg.last
        with m.If(writes_hidden):
            m.d.comb += [
                act_write.en.eq(1),
                act_write.addr.eq(out.index | (~layer.parity << k)),
                act_write.data.eq(out.value),
                engine.pend_en.eq((out.value != 0) & layer.next_nonempty.bit_select(out.index, 1)),
                engine.pend_index.eq(out.index),
            ]
        m.d.comb += [argmax.i.valid.eq(taken),
                     argmax.i.payload.value.eq(out.value),
                     argmax.i.payload.last.eq(out.last),
                     argmax.o.ready.eq(1)]
        with m.If(taken):
            m.d.sync += logits[out.index].eq(out.value)
        m.d.comb += self.logit.eq(logits[self.logit_addr])
        return writes_hidden

    def _drain_row(self, m, engine, drain, cfg):
        """Read the next row and hand the one read to the requantizer (when ``advance``)."""
        m.d.comb += engine.drain_en.eq(1)
        m.d.sync += [
            drain.issued.eq(1), drain.issued_row.eq(drain.row),
            drain.issued_last.eq(drain.row + 1 == cfg.rows),
            drain.issued_pe.eq(drain.pe), drain.issued_local.eq(drain.local),
            drain.row.eq(drain.row + 1), drain.pe.eq(drain.pe + 1),
        ]
        with m.If(drain.pe == self.capacity.pes - 1):
            m.d.sync += [drain.pe.eq(0), drain.local.eq(drain.local + 1)]

    def _sequencer(self, m, engine, requant, argmax, layer, drain, in_count, loaded, launch_run):
        """IDLE → COMPUTE → DRAIN → WRITEBACK (→ LAUNCH → COMPUTE … per layer) → ARGMAX →
        IDLE; drives the launch strobe (``start`` with a complete input while idle, once a
        model is loaded). While idle
        the first layer's entry is registered every cycle, so a freshly loaded table is in
        ``cfg`` by the launch edge."""
        cfg = layer.cfg
        # a table whose first layer has no column is no model (nothing is loaded yet)
        m.d.comb += launch_run.eq(~self.busy & self.start & loaded & (layer.first.cols != 0))
        with m.FSM():
            with m.State("IDLE"):
                layer.select(0)
                with m.If(launch_run):
                    m.d.comb += engine.launch.eq(1)
                    m.d.sync += in_count.eq(0)
                    m.next = "COMPUTE"
            with m.State("LAUNCH"):
                m.d.comb += engine.launch.eq(1)
                m.next = "COMPUTE"
            with m.State("COMPUTE"):
                m.d.comb += engine.run.eq(1)
                with m.If(~engine.working):
                    m.d.sync += [drain.row.eq(0), drain.pe.eq(0), drain.local.eq(0)]
                    m.next = "DRAIN"
            with m.State("DRAIN"):
                with m.If(drain.advance):
                    self._drain_row(m, engine, drain, cfg)
                    with m.If(drain.row + 1 == cfg.rows):
                        m.next = "WRITEBACK"
            with m.State("WRITEBACK"):
                with m.If(requant.o.valid & requant.o.ready & requant.o.payload.last):
                    with m.If(cfg.last):
                        m.next = "ARGMAX"
                    with m.Else():
                        layer.select(layer.index + 1)
                        m.next = "LAUNCH"
            with m.State("ARGMAX"):
                with m.If(argmax.o.valid):
                    m.d.sync += [self.predicted.eq(argmax.o.payload), self.busy.eq(0),
                                 self.done.eq(1)]
                    layer.select(0)
                    m.next = "IDLE"

    def _counters(self, m, engine, launch_run, writes_hidden, layer, clearing):
        """The host-visible event counters (:data:`COUNTERS`): restarted by the launch edge
        (``act_writes`` counting the streamed input), summed every cycle of the run (not of the
        clear sweep, which leaves them at 0)."""
        events = {
            "cycles": 1,
            "macs": engine.events.macs,
            "weight_reads": engine.events.weight_reads,
            "broadcasts": engine.events.broadcasts,
            "stalls": engine.events.stalls,
            "queue_pushes": engine.events.queue_pushes,
            "acc_updates": engine.events.acc_updates,
            "drains": engine.drain_en,
            "act_reads": sum(engine.act_en[s] for s in range(self.act_lanes)),
            "act_writes": writes_hidden,
            "pointer_reads": engine.events.pointer_reads,
        }
        with m.If(launch_run):
            m.d.sync += [self.busy.eq(1), self.done.eq(0)]
            for name, event in events.items():
                initial = layer.first.cols if name == "act_writes" else 0
                m.d.sync += getattr(self.counters, name).eq(event + initial)
        with m.Elif(self.busy & ~clearing):
            for name, event in events.items():
                counter = getattr(self.counters, name)
                m.d.sync += counter.eq(counter + event)
