"""Small random integer conv networks (conv and pool layers, then Linear ones) for the hardware
tests, calibrated so that their hidden maps are neither all zero nor all saturated."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from secateurs.hw.capacity import Capacity
from secateurs.sw.conv import ConvGeometry, Pool
from secateurs.sw.formats import container
from secateurs.sw.reference import QuantLayer, QuantModel, layer_accumulate, layer_forward

#: Requantized values the calibration aims the layer's 90th percentile |output| at.
TARGET = 48


@dataclass(frozen=True)
class Conv:
    """A conv layer of a network spec: ``out`` channels, square kernel, stride, padding, pool."""

    out: int
    kernel: int
    stride: int = 1
    padding: int = 0
    pool: str | None = None  #: "max" or "avg" over ``pool_size`` windows, stride = size
    pool_size: int = 2
    density: float = 0.5  #: weights kept


@dataclass(frozen=True)
class Linear:
    out: int
    density: float = 0.5


def _weights(rng, shape, density) -> np.ndarray:
    w = rng.integers(-127, 128, shape)
    w[w == 0] = 1
    return (w * (rng.random(shape) < density)).astype(np.int8)


def random_conv_model(rng, in_shape, spec, x: np.ndarray) -> QuantModel:
    """A network of ``spec`` (:class:`Conv` and :class:`Linear` entries) on ``in_shape`` (C, H, W)
    maps: random weights, biases and multipliers; each layer's shift calibrated on the int8
    inputs ``x`` (batch, C*H*W) so its outputs spread over int8 (ReLU on all but the last)."""
    layers, shape, a = [], tuple(in_shape), np.asarray(x)
    for i, s in enumerate(spec):
        last = i == len(spec) - 1
        if isinstance(s, Conv):
            pool = None if s.pool is None else Pool(s.pool, (s.pool_size,) * 2, (s.pool_size,) * 2)
            g = ConvGeometry(shape[0], shape[1], shape[2], (s.kernel, s.kernel),
                             (s.stride, s.stride), (s.padding, s.padding), pool=pool)
            weight = _weights(rng, (s.out, g.cols), s.density)
        else:
            g, weight = None, _weights(rng, (s.out, int(np.prod(shape))), s.density)
        rows = len(weight)
        layer = QuantLayer(weight=weight, bias=rng.integers(-2000, 2000, rows).astype(np.int32),
                           multiplier=rng.integers(1 << 13, 1 << 14, rows).astype(np.int64),
                           shift=0, relu=not last, weight_scale=None, in_scale=1.0,
                           out_scale=1.0, geometry=g)
        acc = np.abs(layer_accumulate(layer, a) * (1 << 14)).ravel()
        spread = max(float(np.percentile(acc, 90)), 1.0)
        shift = int(np.clip(np.round(np.log2(spread / TARGET)), 1, 40))
        layer = QuantLayer(**{**layer.__dict__, "shift": shift})
        layers.append(layer)
        a = layer_forward(layer, a)
        shape = layer.out_shape
        a = a.reshape(len(a), -1)
    return QuantModel(1.0, tuple(layers))


def packed(model: QuantModel, *, pes: int, index_bits: int = 4):
    """``model`` through model.bin and back, CSC for ``pes`` PEs."""
    return container.decode(container.encode(model, pes=pes, index_bits=index_bits, fmt="csc"))


def random_maps(rng, batch, shape, density) -> np.ndarray:
    """(batch, C*H*W) int8 maps, about ``density`` of them nonzero."""
    features = int(np.prod(shape))
    x = rng.integers(-128, 128, (batch, features))
    return x * (rng.random((batch, features)) < density)


#: The one loadable capacity of the conv RTL tests (two Verilator builds, the sparse design and
#: its dense twin, shared by ``sim conv``'s layers and the conv networks): 4 PEs, four layers
#: of up to 16 rows and 400 columns, 28x28 maps of 4096 activations, 16 channels, 5x5 kernels,
#: a pool unit of 16 channels.
RTL_PES, RTL_QUEUE_DEPTH, RTL_ISSUE_WIDTH = 4, 2, 2
RTL_CAPACITY = Capacity(pes=RTL_PES, max_layers=4, max_rows=16, max_cols=16 * 25,
                        bank_depth=4 * 400, pointer_depth=200, param_depth=48,
                        queue_depth=RTL_QUEUE_DEPTH, issue_width=RTL_ISSUE_WIDTH, max_map=4096,
                        max_side=28, max_channels=16, max_kernel=5, patch_depth=400,
                        pool_rows=16)
