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
outputs are the logits; a streaming argmax picks the class. Weights, pointers and
requantization parameters are ROMs initialised from ``model.bin``: one build per model (no host
write path, so the FPGA design is just the network). The sparse engine is chosen by the
model's format: CSC (:mod:`.engines.sparse`) or N:M (:mod:`.engines.nm`); the dense twin is
:mod:`.engines.dense`.

``elaborate`` wires named stages, each a method: the layer select, the activation buffer, the
input stage, the drain, the write-back, the sequencer and the event counters.

Timing (cycles numbered from the launch edge, which samples ``start``): layer l launches in
cycle ``T_l`` (``T_0 = 0``), computes for ``C_l`` cycles (its engine's count), drains row r in
cycle ``T_l + C_l + r``; its requantized value is written ``DRAIN_LATENCY`` cycles later, and
the cycle after the last write launches layer l + 1. ``sw/cycles.py`` sums it; each cycle the
last layer's next logit waits on ``output.ready`` adds one.
"""

from typing import Callable, NamedTuple

from amaranth.hdl import Array, Const, Module, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .core.argmax import Argmax
from .core.requantizer import Requantizer
from .engines.base import EngineSignature, layer_config
from .engines.dense import DenseEngine
from .engines.nm import NMEngine
from .engines.sparse import SparseEngine
from .image import NetworkImage, check_accumulator
from .memories import layer_table, param_image, param_word
from .params import (
    ACT_BITS,
    COUNTER_BITS,
    DEFAULT_ACC_BITS,
    DEFAULT_ISSUE_WIDTH,
    DEFAULT_QUEUE_DEPTH,
    KINDS,
    check_issue_width,
    check_queue_depth,
    check_readout,
)

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
    """The running layer: its ``index``, registered constants ``cfg`` (:func:`layer_config`), the
    buffer ``parity`` it reads, and ``select(value)``, which moves to layer ``value``."""

    index: Signal
    cfg: Signal
    parity: object
    select: Callable


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
    """Host interface of an accelerator for ``inputs`` features and ``outputs`` classes whose
    logits (or raw accumulators) are ``value_bits`` wide."""

    def __init__(self, *, inputs, outputs, value_bits=ACT_BITS):
        self.inputs, self.outputs, self.value_bits = inputs, outputs, value_bits
        super().__init__({
            "input": In(stream.Signature(signed(ACT_BITS))),
            "output": Out(stream.Signature(signed(value_bits))),
            "start": In(1),
            "busy": Out(1),
            "done": Out(1),
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
    """The ``kind`` ("sparse" or "dense") accelerator of ``image``.

    Parameters
    ----------
    image : NetworkImage
        The network (from :func:`~secateurs.hw.image.network_image`).
    queue_depth : int
        Activation queue depth D of each PE (1..16); the dense twin has no queues.
    issue_width : int
        Columns the sparse CSC engine broadcasts per cycle, W (1, 2, 4 or 8); the dense twin
        and the N:M engine step one column or group at a time whatever it is.
    acc_bits : int
        Accumulator width; rejected if any row of any layer could overflow it.
    readout : str
        "logits": the last layer is requantized to int8 logits and the argmax picks the class;
        "accumulators": its rows leave raw (``acc + bias``, ``acc_bits`` wide) in the same
        cycles, so a one-layer network computes ``W x`` exactly (``sim matmul``).
    """

    def __init__(self, image: NetworkImage, *, kind: str,
                 queue_depth: int = DEFAULT_QUEUE_DEPTH, issue_width: int = DEFAULT_ISSUE_WIDTH,
                 acc_bits: int = DEFAULT_ACC_BITS, readout: str = "logits"):
        if kind not in KINDS:
            raise ValueError(f"Accelerator kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if not isinstance(image, NetworkImage):
            raise TypeError(f"Image must be a NetworkImage, not {image!r}")
        image.word_layout()  # validates both widths
        self.kind, self.image = kind, image
        self.readout = check_readout(readout)
        self.queue_depth = check_queue_depth(queue_depth)
        self.issue_width = check_issue_width(issue_width)
        self.acc_bits = check_accumulator(image, acc_bits)
        self.table = layer_table(image)
        self._params = param_image(image, acc_bits)
        self._act_index_bits = max(1, (max(image.max_cols, image.max_rows) - 1).bit_length())
        self.config_layout = layer_config(
            len(image.layers), image.max_rows, image.max_cols,
            pointer_depth=sum(l.cols + 1 for l in image.layers), param_depth=len(self._params),
            dense_depth=sum(image.rows_per_pe(i) * l.cols for i, l in enumerate(image.layers)))
        self.value_bits = acc_bits if readout == "accumulators" else ACT_BITS
        super().__init__(AcceleratorSignature(inputs=image.inputs, outputs=image.outputs,
                                              value_bits=self.value_bits))

    def parameters(self) -> dict:
        """What this design was generated from (JSON-able)."""
        image = self.image
        return {"kind": self.kind, "readout": self.readout, "pes": image.pes, "queue_depth": self.queue_depth,
                "issue_width": self.issue_width, "acc_bits": self.acc_bits, "index_bits": image.index_bits,
                "nm": None if image.nm is None else list(image.nm),
                "value_bits": image.value_bits, "codebook": image.codebook,
                "layers": [[l.rows, l.cols] for l in image.layers]}

    def _config(self, layer: int) -> dict:
        t, image = self.table, self.image
        dense_base = sum(image.rows_per_pe(i) * image.layers[i].cols for i in range(layer))
        last = layer == len(t.rows) - 1
        return {"rows": t.rows[layer], "cols": t.cols[layer], "rows_per_pe": t.rows_per_pe[layer],
                "shift": t.shift[layer], "relu": int(t.relu[layer]), "last": int(last),
                "ptr_base": t.ptr_base[layer], "param_base": t.param_base[layer],
                "dense_base": dense_base, "next_nonempty": 0 if last else t.nonempty[layer + 1],
                "groups": image.layers[layer].groups if image.nm else 0}

    @property
    def act_lanes(self) -> int:
        """Activations the engine reads a cycle: W for the sparse CSC engine, else one."""
        return self.issue_width if self.kind == "sparse" and self.image.nm is None else 1

    def engine(self):
        """The compute engine of this kind (a fresh component each call)."""
        image = self.image
        signature = EngineSignature(
            pes=image.pes, layers=len(image.layers), config=self.config_layout,
            max_cols=image.max_cols, acc_bits=self.acc_bits, lanes=self.act_lanes,
            rows_per_pe=max(image.rows_per_pe(l) for l in range(len(image.layers))))
        if self.kind == "sparse" and image.nm is not None:
            return NMEngine(signature, image, acc_bits=self.acc_bits)
        if self.kind == "sparse":
            return SparseEngine(signature, image, queue_depth=self.queue_depth,
                                issue_width=self.issue_width, acc_bits=self.acc_bits)
        return DenseEngine(signature, image, acc_bits=self.acc_bits)

    def elaborate(self, platform):
        m = Module()
        m.submodules.engine = engine = self.engine()
        m.submodules.requantizer = requant = Requantizer(
            acc_bits=self.acc_bits, rows=self.image.max_rows, raw=self.readout == "accumulators")
        m.submodules.argmax = argmax = Argmax(classes=self.image.outputs,
                                              value_bits=self.value_bits)
        layer = self._layer_select(m, engine)
        act_write = self._activation_buffer(m, engine, layer.parity)
        in_count, loaded = self._input_stage(m, engine, act_write)
        drain = self._drain(m, engine, requant, layer.cfg)
        writes_hidden = self._write_back(m, engine, requant, argmax, act_write, layer)
        launch_run = self._sequencer(m, engine, requant, argmax, layer, drain, in_count, loaded)
        self._counters(m, engine, launch_run, writes_hidden)
        return m

    def _layer_select(self, m, engine) -> _Layer:
        """The running layer's index and its registered constants (``cfg``), fed to the engine."""
        n_layers = len(self.image.layers)
        layer = Signal(range(max(n_layers, 2)))  # bit 0 is the buffer parity
        cfg = Signal(self.config_layout, init=self._config(0))
        configs = Array(Const.cast(self.config_layout.const(self._config(l)))
                        for l in range(n_layers))

        def select(value):
            m.d.sync += [layer.eq(value), cfg.eq(configs[value])]

        m.d.comb += [engine.layer.eq(layer), engine.config.eq(cfg)]
        # layer l reads buffer l % 2 and writes the other one
        return _Layer(index=layer, cfg=cfg, parity=layer[0], select=select)

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

    def _input_stage(self, m, engine, act_write):
        """The host streams the first layer's activations into buffer 0, marking each nonzero
        one of a column with words as work; returns ``(in_count, loaded)``."""
        image = self.image
        in_count = Signal(range(image.inputs + 1))
        loaded = in_count == image.inputs
        first_nonempty = Const(self.table.nonempty[0], image.inputs)
        m.d.comb += self.input.ready.eq(~self.busy & ~loaded)
        with m.If(self.input.valid & self.input.ready):
            m.d.comb += [
                act_write.en.eq(1),
                act_write.addr.eq(in_count),
                act_write.data.eq(self.input.payload),
                engine.pend_en.eq((self.input.payload != 0)
                                  & first_nonempty.bit_select(in_count, 1)),
                engine.pend_index.eq(in_count),
            ]
            m.d.sync += in_count.eq(in_count + 1)
        return in_count, loaded

    def _drain(self, m, engine, requant, cfg) -> _Drain:
        """Read row r (PE r % P, local row r // P) and its parameters; requantize a cycle later,
        and clear the row on the cycle the requantizer takes it. The next row is read only as
        the issued one leaves (``advance``), so a held output holds the whole drain. The
        sequencer steps it (``_drain_row``)."""
        image = self.image
        layout = param_word(self.acc_bits)
        m.submodules.params = params = memory.Memory(
            shape=unsigned(layout.size), depth=len(self._params), init=self._params)
        param_read = params.read_port()
        param = data.View(layout, param_read.data)

        row = Signal(range(image.max_rows))
        drain_pe = Signal(range(image.pes))
        drain_local = Signal(range(max(image.rows_per_pe(l) for l in range(len(image.layers)))))
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
            *([requant.i.payload.raw.eq(cfg.last)] if self.readout == "accumulators" else []),
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

    def _write_back(self, m, engine, requant, argmax, act_write, layer):
        """Requantized rows: a hidden layer's into the other buffer (and the next layer's work
        list), the last layer's into the logit registers, the argmax and the output stream, on
        the host's ready. Returns the hidden-write strobe (an event)."""
        k, cfg = self._act_index_bits, layer.cfg
        logits = Signal(data.ArrayLayout(signed(self.value_bits), self.image.outputs))
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
                engine.pend_en.eq((out.value != 0) & cfg.next_nonempty.bit_select(out.index, 1)),
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
        with m.If(drain.pe == self.image.pes - 1):
            m.d.sync += [drain.pe.eq(0), drain.local.eq(drain.local + 1)]

    def _sequencer(self, m, engine, requant, argmax, layer, drain, in_count, loaded):
        """IDLE → COMPUTE → DRAIN → WRITEBACK (→ LAUNCH → COMPUTE … per layer) → ARGMAX →
        IDLE; returns the launch strobe (``start`` with a complete input while idle)."""
        cfg = layer.cfg
        launch_run = Signal()
        m.d.comb += launch_run.eq(~self.busy & self.start & loaded)
        with m.FSM():
            with m.State("IDLE"):
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
        return launch_run

    def _counters(self, m, engine, launch_run, writes_hidden):
        """The host-visible event counters (:data:`COUNTERS`): restarted by the launch edge
        (``act_writes`` counting the streamed input), summed every cycle of the run."""
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
                initial = self.image.inputs if name == "act_writes" else 0
                m.d.sync += getattr(self.counters, name).eq(event + initial)
        with m.Elif(self.busy):
            for name, event in events.items():
                counter = getattr(self.counters, name)
                m.d.sync += counter.eq(counter + event)
