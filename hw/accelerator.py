"""The whole-network accelerator: every layer of a network, with no host between layers.

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

A conv layer (a capacity with conv sizes, :mod:`.core.address`) runs as one such compute and
drain per output position, row-major: on the sparse design the address generator first scans
the position's work list into the engine (one patch row a cycle), then the engine walks it,
reading each column's activation where the generator says it lies (the dense twin walks every
column, the padding read as 0), and the O rows drain to their output-position addresses
(``o * OH * OW + position``), or onto the output stream, position after position.

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
logit registers, counters, buffer parity, nonzero maps, pool unit, layer table and load port (a
loadable design is then empty and must be loaded again; the banks, pointers and parameters,
RAM, keep their words). The accumulators are a RAM too: for the
:attr:`~Accelerator.clear_cycles` cycles after reset a sweep writes every row to zero while
``busy`` is high, so nothing is loaded, streamed in or started meanwhile. The activation buffer needs no sweep: each layer reads only the columns the
stage before it wrote this run (an N:M group's padding past the last column meets no nonzero
weight).

Timing (cycles numbered from the launch edge, which samples ``start``): layer l launches in
cycle ``T_l`` (``T_0 = 0``), computes for ``C_l`` cycles (its engine's count), drains row r in
cycle ``T_l + C_l + r``; its requantized value is written ``DRAIN_LATENCY`` cycles later, and
the cycle after the last write launches layer l + 1. A conv layer is such a compute and
drain per computed position, the next position (or layer) launching the cycle after the last
write; a sparse conv position's scan takes the ``C * KH`` cycles before its launch, the first
in the cycle the position would otherwise launch. The pool unit costs no cycle: it takes each
row as it is written. ``sw/cycles.py`` sums it; each cycle the last layer's next logit waits on
``output.ready`` adds one.
"""

from typing import Callable, NamedTuple

from amaranth.hdl import Array, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .capacity import Capacity
from .core.address import AddressGenerator
from .core.argmax import Argmax
from .core.loader import LOAD_WORD_BITS, Loader, connect_write, register_writes
from .core.requantizer import Requantizer
from .engines.base import EngineSignature
from .engines.dense import DenseEngine
from .engines.nm import NMEngine
from .engines.sparse import SparseEngine
from .image import NetworkImage
from .layout import field_slices
from .memories import (LAYER_TABLE, PARAMETERS, PATCHES, layer_config, memory_images, memory_map,
                       param_word)
from .params import (ACT_BITS, COUNTER_BITS, POOL_SHIFT, POOL_SUM_BITS, check_kind, check_readout,
                     loaded_attrs)

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
    table's ``first`` entry (the input stage's), the next layer's ``next_nonempty`` mask and
    whether it is a conv layer (``next_conv``)."""

    index: Signal
    cfg: object
    parity: object
    select: Callable
    first: object
    next_nonempty: Signal
    next_conv: Signal


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
        self._act_index_bits = max(1, (capacity.act_depth - 1).bit_length())
        self.config_layout = layer_config(capacity)
        self.value_bits = capacity.acc_bits  # raw accumulators or sign-extended logits
        super().__init__(AcceleratorSignature(inputs=max(capacity.max_cols, capacity.max_map),
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
        address = self._address_generator(m, engine, write, layer)
        act_write = self._activation_buffer(m, engine, layer, address)
        in_count, loaded = self._input_stage(m, engine, act_write, layer, address)
        drain = self._drain(m, engine, requant, layer.cfg, write)
        clearing = self._clear_sweep(m, engine)  # after the drain: its clears give way
        writes_hidden, handoff = self._write_back(m, engine, requant, argmax, act_write, layer,
                                                  address)
        self._sequencer(m, engine, requant, argmax, layer, drain, in_count, loaded, launch_run,
                        address, handoff)
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
                               init=start[1] >> offset & ((1 << width) - 1)
                               if len(start) > 1 else 0)
        # the table word's bit of ``conv.enabled`` (none without conv layers)
        conv_bit = (layout["conv"].offset + layout["conv"].shape["enabled"].offset
                    if capacity.conv else None)
        next_conv = Signal(init=start[1] >> conv_bit & 1 if len(start) > 1 and capacity.conv
                           else 0)

        def select(value):
            after = min(value + 1, capacity.max_layers - 1) if isinstance(value, int) else value + 1
            m.d.sync += [layer.eq(value), cfg.eq(entries[value]),
                         next_nonempty.eq(entries[after][offset:offset + width])]
            if conv_bit is not None:
                m.d.sync += next_conv.eq(entries[after][conv_bit])

        m.d.comb += [engine.layer.eq(layer), engine.config.eq(cfg),
                     self.features.eq(data.View(layout, raw[0]).inputs)]
        for entry in reversed([data.View(layout, r) for r in raw]):  # the first marked last
            with m.If(entry.last):
                m.d.comb += self.classes.eq(entry.rows)
        # layer l reads buffer l % 2 and writes the other one
        return _Layer(index=layer, cfg=cfg, parity=layer[0], select=select,
                      first=data.View(layout, raw[0]), next_nonempty=next_nonempty,
                      next_conv=next_conv)

    def _address_generator(self, m, engine, write, layer):
        """The conv address generator (None on a capacity without conv layers): its patch
        table is loaded, its geometry the running layer's, its scanned work list goes to the
        engine's work list (less the layer's empty columns)."""
        capacity = self.capacity
        if not capacity.conv:
            return None
        m.submodules.address = address = AddressGenerator(
            max_map=capacity.max_map, max_side=capacity.max_side,
            max_channels=capacity.max_channels, max_kernel=capacity.max_kernel,
            max_cols=capacity.max_cols, patch_depth=capacity.patch_depth, lanes=self.act_lanes,
            init=self._init.get(PATCHES, []))
        connect_write(m, write, PATCHES, address.write)
        m.d.comb += [address.geometry.eq(layer.cfg.conv), address.column.eq(engine.act_addr),
                     address.parity.eq(layer.parity)]
        return address

    def _activation_buffer(self, m, engine, layer, address):
        """The ping-pong activation buffer: the engine's read lanes on the current half (lane s
        reads ``act_addr + s``; in a conv layer, the input of that patch column, and 0 where it
        is padding); returns the write port, shared by input and write-back."""
        k = self._act_index_bits
        m.submodules.activations = acts = memory.Memory(
            shape=signed(ACT_BITS), depth=2 << k, init=[])
        act_write = acts.write_port()
        act_reads = [acts.read_port() for _ in range(self.act_lanes)]
        for s, port in enumerate(act_reads):
            addr = engine.act_addr + s
            inside = Signal(init=1, name=f"act_inside{s}")  # the lane's read is no padding
            if address is not None:
                conv = layer.cfg.conv.enabled
                addr = Mux(conv, address.addr[s], addr)
                with m.If(port.en):
                    m.d.sync += inside.eq(~conv | address.inside[s])
            m.d.comb += [
                port.addr.eq(addr[:k] | (layer.parity << k)),
                port.en.eq(engine.act_en[s]),
                engine.act_data[s].eq(Mux(inside, port.data, 0)),
            ]
        return act_write

    def _input_stage(self, m, engine, act_write, layer, address):
        """The host streams the first layer's activations (as many as its table entry has
        inputs) into buffer 0, marking each nonzero one of a column with words as work (a conv
        layer: in the address generator's nonzero map); returns ``(in_count, loaded)``."""
        first = layer.first
        in_count = Signal(range(max(self.capacity.max_cols, self.capacity.max_map) + 1))
        loaded = in_count == first.inputs
        conv = first.conv.enabled if address is not None else 0
        m.d.comb += self.input.ready.eq(~self.busy & ~loaded)
        with m.If(self.input.valid & self.input.ready):
            m.d.comb += [
                act_write.en.eq(1),
                act_write.addr.eq(in_count),
                act_write.data.eq(self.input.payload),
                engine.pend_en.eq((self.input.payload != 0) & ~conv
                                  & first.nonempty.bit_select(in_count, 1)),
                engine.pend_index.eq(in_count),
            ]
            if address is not None:
                m.d.comb += [address.mark.eq(conv), address.mark_map.eq(0),
                             address.mark_addr.eq(in_count),
                             address.mark_value.eq(self.input.payload != 0)]
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

    def _write_back(self, m, engine, requant, argmax, act_write, layer, address):
        """Requantized rows: a hidden layer's into the other buffer (and the next layer's work
        list), at the row's index, the last layer's into the logit registers, the argmax and
        the output stream, on the host's ready. A hidden conv layer's rows go through the pool
        unit (:meth:`_pool_unit`), and a window's last position writes row o's pooled value at
        ``o * PH * PW + window``; its nonzero values mark the next layer's work: a conv layer's
        in the nonzero map of the buffer written, a Linear's held aside while the positions
        still compute and handed to the engine as it launches (on ``handoff``). Returns the
        hidden-write strobe (an event) and ``handoff``."""
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
        hidden = requant.o.valid & ~cfg.last  # a hidden layer's row leaves the requantizer
        writes_hidden = Signal()
        target, conv, handoff, value = out.index, 0, Signal(), out.value
        if address is None:
            m.d.comb += writes_hidden.eq(hidden)
        else:
            geo, conv = cfg.conv, cfg.conv.enabled
            target = Mux(conv, out.index * (geo.pooled_h * geo.pooled_w) + address.pooled,
                         out.index)
            if self.capacity.pool_rows:  # else no conv layer is hidden (Capacity.check)
                value = Mux(conv, self._pool_unit(m, out, hidden & conv, geo, address),
                            out.value)
            m.d.comb += writes_hidden.eq(hidden & (~conv | address.window_last))
        nonzero = value != 0
        work = (writes_hidden & nonzero & ~layer.next_conv
                & layer.next_nonempty.bit_select(target, 1))
        with m.If(writes_hidden):
            m.d.comb += [
                act_write.en.eq(1),
                act_write.addr.eq(target[:k] | (~layer.parity << k)),
                act_write.data.eq(value),
                engine.pend_en.eq(work & ~conv),
                engine.pend_index.eq(target),
            ]
        if address is not None:
            with m.If(writes_hidden & layer.next_conv):
                m.d.comb += [address.mark.eq(1), address.mark_map.eq(~layer.parity),
                             address.mark_addr.eq(target), address.mark_value.eq(nonzero)]
            held = Signal(self.capacity.max_cols)  # the next layer's work, written by a conv one
            marked = Signal(self.capacity.max_cols)
            column = Signal(range(self.capacity.max_cols))  # the next layer's column written
            m.d.comb += column.eq(target)
            with m.If(work & conv):
                m.d.comb += marked.eq(1 << column)
            m.d.sync += held.eq(held | marked)
            with m.If(handoff):
                m.d.sync += held.eq(0)
            m.d.comb += engine.pend_mask.eq((address.mask & cfg.nonempty)
                                            | Mux(handoff, held | marked, 0))
        m.d.comb += [argmax.i.valid.eq(taken),
                     argmax.i.payload.value.eq(out.value),
                     argmax.i.payload.last.eq(out.last),
                     argmax.o.ready.eq(1)]
        with m.If(taken):
            m.d.sync += logits[out.index].eq(out.value)
        m.d.comb += self.logit.eq(logits[self.logit_addr])
        return writes_hidden, handoff

    def _pool_unit(self, m, out, drained, geo, address):
        """One register per output channel holds the running max, or sum, of the window's
        requantized values, each offset by 128 (0..255, so both are unsigned): a window's first
        position starts it, each ``drained`` row updates it. Returns the row's pooled int8 value
        so far, the window's once its last position drains: the max, or the average rounded
        half up, ``(2*sum + A) * M >> POOL_SHIFT`` (exact: the table's M is checked on the host,
        :attr:`~.image.ConvGeometry.pool_multiplier`) less the 128."""
        rows = self.capacity.pool_rows
        pool = Array(Signal(POOL_SUM_BITS, name=f"pool{r}") for r in range(rows))
        index = out.index[:max(1, (rows - 1).bit_length())]
        offset, before, running = Signal(ACT_BITS), Signal(POOL_SUM_BITS), Signal(POOL_SUM_BITS)
        m.d.comb += [offset.eq(out.value[:ACT_BITS] ^ (1 << (ACT_BITS - 1))),
                     before.eq(pool[index])]
        with m.If(address.window_first):
            m.d.comb += running.eq(offset)
        with m.Elif(geo.pool_avg):
            m.d.comb += running.eq(before + offset)
        with m.Else():
            m.d.comb += running.eq(Mux(offset > before, offset, before))
        with m.If(drained):
            m.d.sync += pool[index].eq(running)
        quotient = Signal(ACT_BITS)  # the offset average, 0..255
        area = geo.pool_h * geo.pool_w
        m.d.comb += quotient.eq((((running << 1) + area) * geo.pool_multiplier) >> POOL_SHIFT)
        pooled = Signal(signed(ACT_BITS))
        m.d.comb += pooled.eq(Mux(geo.pool_avg, quotient, running[:ACT_BITS])
                              ^ (1 << (ACT_BITS - 1)))
        return pooled

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

    def _sequencer(self, m, engine, requant, argmax, layer, drain, in_count, loaded, launch_run,
                   address, handoff):
        """IDLE → COMPUTE → DRAIN → WRITEBACK (→ LAUNCH → COMPUTE … per layer and conv
        position; a sparse conv position scans first: → SCAN → LAUNCH) → ARGMAX → IDLE; drives
        the launch strobe (``start`` with a complete input while idle, once a model is
        loaded). While idle the first layer's entry is registered every cycle, so a freshly
        loaded table is in ``cfg`` by the launch edge, and the address generator waits at the
        first position."""
        cfg = layer.cfg
        conv = cfg.conv.enabled if address is not None else 0
        scans = address is not None and self.kind == "sparse"

        def scan_then_launch():
            m.d.comb += address.scan.eq(1)
            m.next = "LAUNCH"
            with m.If(~address.scan_last):
                m.next = "SCAN"
        # a table whose first layer has no column is no model (nothing is loaded yet)
        m.d.comb += launch_run.eq(~self.busy & self.start & loaded & (layer.first.cols != 0))
        with m.FSM():
            with m.State("IDLE"):
                layer.select(0)
                if address is not None:
                    m.d.comb += address.restart.eq(~launch_run)
                with m.If(launch_run):
                    m.d.sync += in_count.eq(0)
                    if scans:
                        with m.If(conv):
                            scan_then_launch()
                        with m.Else():
                            m.d.comb += engine.launch.eq(1)
                            m.next = "COMPUTE"
                    else:
                        m.d.comb += engine.launch.eq(1)
                        m.next = "COMPUTE"
            if scans:
                with m.State("SCAN"):
                    scan_then_launch()
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
                    next_position = conv & ~address.last if address is not None else 0
                    with m.If(next_position):
                        if address is not None:
                            m.d.comb += address.advance.eq(1)
                            m.next = "SCAN" if scans else "LAUNCH"
                    with m.Elif(cfg.last):
                        m.next = "ARGMAX"
                    with m.Else():
                        layer.select(layer.index + 1)
                        if address is not None:
                            m.d.comb += [address.restart.eq(1), handoff.eq(1)]
                        m.next = "LAUNCH"
                        if scans:
                            with m.If(layer.next_conv):
                                m.next = "SCAN"
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
                initial = layer.first.inputs if name == "act_writes" else 0
                m.d.sync += getattr(self.counters, name).eq(event + initial)
        with m.Elif(self.busy & ~clearing):
            for name, event in events.items():
                counter = getattr(self.counters, name)
                m.d.sync += counter.eq(counter + event)
