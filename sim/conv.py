"""``sim conv``: one int8 conv layer, exactly torch's ``conv2d`` on the same integers, on the same
engine as the whole accelerator.

The layer is its weight matrix (out channels O x C*KH*KW patch columns, (c, ky, kx) order),
packed as CSC by the project's own packer (as ``sim matmul`` packs W), plus its geometry
(:class:`~secateurs.hw.image.ConvGeometry`, loaded in the layer table): a one-layer network
whose readout is its raw accumulators. The accelerator walks it once per output position; the
outputs leave position after position, O values each, and come back as (N, O, OH, OW). Both
designs are proved: outputs equal to the integer oracle (each patch times W, numpy int64),
cycles and every predicted event counter equal to ``sw.cycles.conv_cycles`` and
:func:`conv_events`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import HardwareConfig
from ..errors import InputError, SimulationError
from ..hw.capacity import Capacity
from ..hw.image import ConvGeometry, NetworkImage, network_image
from ..hw.params import KINDS
from ..sizes import MAX_MATMUL_MACS, SIM_CYCLES_PER_SECOND
from ..sw.cycles import conv_cycles
from ..sw.formats import container
from ..sw.formats.csc import best_index_bits
from ..sw.formats.payload import INT8
from ..sw.reference import QuantLayer, QuantModel
from .events import PREDICTED, conv_layer_events
from .network import build_accelerator, model_words

__all__ = ["MAX_CONV_CYCLES", "conv_geometry", "conv_image", "conv_capacity", "conv_oracle",
           "conv_events", "ConvResult", "check_conv", "prove_conv"]

_INT8 = (-128, 127)
#: Longest dense-twin simulation ``sim conv`` starts (batch x positions x patch x rows per PE
#: cycles): a few minutes of Verilator, as for ``sim matmul``.
MAX_CONV_CYCLES = MAX_MATMUL_MACS


def _int8_array(values, what: str, ndim: int) -> np.ndarray:
    a = np.asarray(values)
    if a.ndim != ndim:
        raise InputError(f"{what} must be a {ndim}-D array, not shape {a.shape}")
    if a.dtype.kind not in "iu":
        raise InputError(f"{what} must hold integers, not {a.dtype}")
    if a.size and (a.min() < _INT8[0] or a.max() > _INT8[1]):
        raise InputError(f"{what} must lie in -128..127 (int8)")
    return a.astype(np.int64)


def conv_geometry(weights_shape, inputs_shape, *, stride: int = 1,
                  padding: int = 0) -> ConvGeometry:
    """The geometry of weights (O, C, KH, KW) over inputs (N, C, H, W); InputError naming the
    first thing wrong or outside the hardware's limits."""
    _, c, kh, kw = weights_shape
    n, c_in, h, w = inputs_shape
    if c_in != c:
        raise InputError(f"inputs have {c_in} channels but the weights take {c}")
    if n < 1:
        raise InputError("inputs hold no sample")
    try:
        return ConvGeometry(channels=c, height=h, width=w, kernel_h=kh, kernel_w=kw,
                            stride=stride, padding=padding)
    except ValueError as e:
        raise InputError(f"the conv layer cannot run on the accelerator: {e}") from None


def conv_image(weights: np.ndarray, geometry: ConvGeometry, *, pes: int,
               index_bits: int | None = None) -> NetworkImage:
    """W (O, C, KH, KW) as a one-conv-layer image for ``pes`` PEs (bias 0, multiplier 1, shift
    0, no ReLU: read out as raw accumulators), CSC with ``index_bits``-bit relative indices
    (None: the width that needs the fewest words)."""
    matrix = np.asarray(weights, dtype=np.int64).reshape(len(weights), -1)
    rows = len(matrix)
    layer = QuantLayer(weight=matrix.astype(np.int8), bias=np.zeros(rows, dtype=np.int32),
                       multiplier=np.ones(rows, dtype=np.int64), shift=0, relu=False,
                       weight_scale=None, in_scale=1.0, out_scale=1.0, weight_bits=8,
                       codebook=None)
    model = QuantModel(1.0, (layer,))
    if index_bits is None:
        index_bits = best_index_bits(matrix, pes=pes, payload=INT8)
    layers = container.pack_layers(model, fmt="csc", pes=pes, index_bits=index_bits)
    image = network_image(container.decode(container.encode_layers(model, layers)))
    conv = dataclasses.replace(image.layers[0], conv=geometry)
    return dataclasses.replace(image, layers=(conv,))


def conv_capacity(image: NetworkImage, hw: HardwareConfig) -> Capacity:
    """The smallest capacity of hardware ``hw`` that holds any conv layer of ``image``'s shape
    and word format, whatever its weights."""
    layer = image.layers[0]
    try:
        return Capacity.for_shape([(layer.rows, layer.cols)], convs=[layer.conv], pes=hw.pes,
                                  index_bits=image.index_bits, value_bits=image.value_bits,
                                  queue_depth=hw.queue_depth, issue_width=hw.issue_width,
                                  acc_bits=hw.acc_bits)
    except ValueError as e:
        raise InputError(f"cannot size the accelerator: {e}") from None


def conv_oracle(weights: np.ndarray, geometry: ConvGeometry, inputs: np.ndarray) -> np.ndarray:
    """(N, O, OH, OW) int64: every output position's patch times W (numpy integer math)."""
    w = np.asarray(weights, dtype=np.int64).reshape(len(weights), -1)
    patches = geometry.patches(np.asarray(inputs, dtype=np.int64).reshape(len(inputs), -1))
    out = patches @ w.T  # (N, positions, O)
    return out.transpose(0, 2, 1).reshape(len(inputs), len(w), geometry.out_h, geometry.out_w)


def conv_events(image: NetworkImage, inputs: np.ndarray, *, kind: str,
                issue_width: int) -> dict[str, np.ndarray]:
    """Per-sample counts of every event in ``PREDICTED`` of one-conv-layer runs: each output
    position is one compute phase over its patch (padding and zeros are no work), then O
    drains (:func:`~.events.conv_layer_events`); the host's input map is the only activation
    write."""
    layer = image.layers[0]
    x = np.asarray(inputs).reshape(len(inputs), -1)
    events = conv_layer_events(layer.weight, _PackedView(layer, image.pes), layer.conv, x,
                               kind=kind, issue_width=issue_width)
    events["act_writes"] = np.full(len(x), layer.conv.inputs, dtype=np.int64)
    return events


@dataclass(frozen=True)
class _PackedView:
    """What :func:`~.events.layer_events` reads of a packed CSC layer."""

    layer: object
    pes: int

    def counts(self) -> np.ndarray:
        return self.layer.counts()


@dataclass(frozen=True, eq=False)
class ConvResult:
    """The conv layer as both designs computed it (checked against the oracle), and per-sample
    cycles, simulated and modelled."""

    image: NetworkImage
    outputs: np.ndarray
    cycles: dict[str, np.ndarray]
    expected_cycles: dict[str, np.ndarray]
    seconds: dict[str, float]

    def summary(self, *, pes: int, queue_depth: int, issue_width: int) -> dict:
        """What ``sim conv`` writes to summary.json (cycles summed over the batch)."""
        layer = self.image.layers[0]
        geo = layer.conv
        return {
            "out_channels": layer.rows, "in_channels": geo.channels, "height": geo.height,
            "width": geo.width, "kernel": [geo.kernel_h, geo.kernel_w], "stride": geo.stride,
            "padding": geo.padding, "out_height": geo.out_h, "out_width": geo.out_w,
            "batch": int(self.outputs.shape[0]), "pes": pes, "queue_depth": queue_depth,
            "issue_width": issue_width, "index_bits": self.image.index_bits,
            "weight_density": float(np.count_nonzero(layer.weight) / layer.weight.size),
            **{f"cycles_{k}": int(c.sum()) for k, c in self.cycles.items()},
            **{f"expected_cycles_{k}": int(c.sum()) for k, c in self.expected_cycles.items()},
        }


def _first_difference(what: str, got: np.ndarray, want: np.ndarray) -> str:
    index = tuple(int(i) for i in np.argwhere(got != want)[0])
    return f"{what} {index}: {got[index]} != {want[index]}"


def check_conv(weights, inputs, *, hw: HardwareConfig, stride: int = 1, padding: int = 0,
               capacity: Capacity | None = None, kinds=KINDS):
    """``(W, X, image, capacity)`` of a conv job, everything checked before anything is built:
    int8 arrays of (O, C, KH, KW) and (N, C, H, W), a geometry inside the limits, a simulation
    of bounded length, and a layer that fits ``capacity`` (default :func:`conv_capacity`);
    InputError naming the first thing wrong."""
    w = _int8_array(weights, "weights", 4)
    x = _int8_array(inputs, "inputs", 4)
    if 0 in w.shape:
        raise InputError(f"weights must have no empty dimension, not shape {w.shape}")
    geometry = conv_geometry(w.shape, x.shape, stride=stride, padding=padding)
    dense = len(x) * geometry.positions * geometry.patch * -(-len(w) // hw.pes)
    if dense > MAX_CONV_CYCLES:
        raise InputError(f"the dense twin would simulate {dense} cycles (about "
                         f"{dense / SIM_CYCLES_PER_SECOND / 60:.0f} minutes); the limit is "
                         f"{MAX_CONV_CYCLES} (split the batch)")
    image = conv_image(w, geometry, pes=hw.pes,
                       index_bits=None if capacity is None else capacity.index_bits)
    capacity = capacity if capacity is not None else conv_capacity(image, hw)
    for kind in kinds:
        model_words(image, capacity, kind, "accumulators")  # one line if it does not fit
    return w, x, image, capacity


def prove_conv(weights: np.ndarray, inputs: np.ndarray, *, hw: HardwareConfig,
               build_root: str | Path | None = None, stride: int = 1, padding: int = 0,
               kinds=KINDS, designs: dict | None = None) -> ConvResult:
    """Run the conv layer of ``weights`` (O, C, KH, KW) on ``inputs`` (N, C, H, W) on each of
    ``kinds``; SimulationError unless outputs, cycles and events are the oracles'.

    The designs are built in ``build_root``, sized for this layer (:func:`conv_capacity`), or
    ``designs`` gives them (kind → a built :class:`~.network.Accelerator` of one capacity:
    many layers, one build); a layer that does not fit is refused (InputError, one line)."""
    if designs is not None:
        kinds = tuple(designs)
    capacity = None if designs is None else designs[kinds[0]].capacity
    if designs is None and build_root is None:
        raise InputError("prove_conv needs a build folder or built designs")
    w, x, image, capacity = check_conv(weights, inputs, hw=hw, stride=stride, padding=padding,
                                       capacity=capacity, kinds=kinds)
    geometry = image.layers[0].conv
    flat = x.reshape(len(x), -1)
    want = conv_oracle(w, geometry, x)
    outputs, cycles, expected, seconds = None, {}, {}, {}
    for kind in kinds:
        design = (designs[kind] if designs is not None
                  else build_accelerator(capacity, kind=kind, hw=hw, build_root=build_root))
        began = time.perf_counter()
        result = design.run(image, flat, readout="accumulators")
        seconds[kind] = time.perf_counter() - began
        got = result.logits.reshape(len(x), geometry.positions, len(w)).transpose(0, 2, 1)
        got = got.reshape(want.shape)
        if not np.array_equal(got, want):
            raise SimulationError(f"{kind} conv: " + _first_difference("output", got, want))
        model = conv_cycles(image.layers[0].counts(), geometry, flat, rows=len(w), pes=hw.pes,
                            queue_depth=hw.queue_depth, issue_width=hw.issue_width, array=kind)
        if not np.array_equal(result.cycles, model.total):
            raise SimulationError(f"{kind} conv: " + _first_difference(
                "cycles of sample", result.cycles, model.total))
        events = conv_events(image, flat, kind=kind, issue_width=hw.issue_width)
        for name in PREDICTED:
            if not np.array_equal(result.counters[name], events[name]):
                raise SimulationError(f"{kind} conv: " + _first_difference(
                    f"{name} of sample", np.asarray(result.counters[name]), events[name]))
        outputs, cycles[kind], expected[kind] = got, result.cycles, model.total
    return ConvResult(image, outputs, cycles, expected, seconds)

