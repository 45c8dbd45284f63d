"""The integer conv, pool and flatten reference against torch on the same integers."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from secateurs.sw.conv import ConvGeometry, Pool, conv_accumulate, macs_per_weight, pool
from secateurs.sw.reference import QuantLayer, QuantModel, forward, layer_forward, requantize

CASES = [  # (in channels, out channels, map, kernel, stride, padding, dilation, groups)
    (1, 4, 5, 1, 1, 0, 1, 1),
    (3, 5, 7, 3, 2, 1, 1, 1),
    (2, 3, 9, 5, 1, 2, 1, 1),
    (4, 4, 12, 3, 1, 1, 2, 1),
    (6, 6, 10, 3, 1, 1, 1, 6),  # depthwise
    (4, 8, 11, 3, 2, 0, 1, 4),  # depthwise, two filters a channel
    (1, 6, 28, 5, 1, 2, 1, 1),
    (16, 16, 14, 5, 1, 0, 1, 1),
    (3, 2, 8, (3, 1), (2, 1), (1, 0), (1, 2), 1),  # rectangular everything
]


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


def _case(c, o, size, k, s, p, d, g, seed=0, density=0.5):
    rng = np.random.default_rng(seed)
    k, s, p, d = map(_pair, (k, s, p, d))
    w = rng.integers(-127, 128, (o, c // g, *k))
    w[rng.random(w.shape) > density] = 0
    x = rng.integers(-128, 128, (3, c, size, size))
    return w, x, ConvGeometry(c, size, size, k, s, p, d, g)


@pytest.mark.parametrize("case", CASES)
def test_conv_accumulate_is_torch_conv2d(case):
    w, x, g = _case(*case)
    want = F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), stride=g.stride,
                    padding=g.padding, dilation=g.dilation, groups=g.groups)
    got = conv_accumulate(w.reshape(len(w), -1), x, g)
    assert got.dtype == np.int64 and got.shape == tuple(want.shape)
    assert np.array_equal(got, want.numpy().astype(np.int64))


def test_conv_all_zero_input_is_zero():
    w, x, g = _case(3, 4, 6, 3, 1, 1, 1, 1)
    assert not conv_accumulate(w.reshape(4, -1), np.zeros_like(x), g).any()


def test_conv_hand_case():
    """A 1×3×3 map of 1..9, a 2×2 kernel of ones, padding 1, stride 2: corners of the sums."""
    x = np.arange(1, 10).reshape(1, 1, 3, 3)
    g = ConvGeometry(1, 3, 3, (2, 2), (2, 2), (1, 1))
    got = conv_accumulate(np.ones((1, 4), dtype=np.int64), x, g)
    assert got.tolist() == [[[[1, 2 + 3], [4 + 7, 5 + 6 + 8 + 9]]]]


@pytest.mark.parametrize("size,stride", [((2, 2), (2, 2)), ((3, 3), (2, 2)), ((2, 3), (1, 2))])
def test_max_pool_is_torch(size, stride):
    x = np.random.default_rng(1).integers(-128, 128, (2, 3, 9, 8))
    want = F.max_pool2d(torch.from_numpy(x).double(), size, stride).numpy()
    assert np.array_equal(pool(x, Pool("max", size, stride)), want)


def test_avg_pool_rounds_half_up():
    """Means 0.5, 1.5, -0.5, -2.5 and -1.25 become 1, 2, 0, -2 and -1 (half towards +inf)."""
    x = np.array([[0, 1, 1, 2, -1, 0, -2, -3]]).reshape(1, 1, 1, 8)
    assert pool(x, Pool("avg", (1, 2), (1, 2))).ravel().tolist() == [1, 2, 0, -2]
    x = np.array([-1, -1, -1, -2]).reshape(1, 1, 2, 2)  # mean -1.25 → -1
    assert pool(x, Pool("avg", (2, 2), (2, 2))).item() == -1


def test_avg_pool_matches_torch_within_rounding():
    x = np.random.default_rng(2).integers(0, 128, (2, 4, 10, 10))
    want = F.avg_pool2d(torch.from_numpy(x).double(), 3, 2).numpy()
    got = pool(x, Pool("avg", (3, 3), (2, 2)))
    assert np.array_equal(got, np.floor(want + 0.5))  # a ninth is never exactly half-way


def _conv_layer(w, g, pool_=None, relu=True, seed=0):
    rng = np.random.default_rng(seed)
    rows = len(w)
    g = ConvGeometry(g.in_channels, g.in_height, g.in_width, g.kernel, g.stride, g.padding,
                     g.dilation, g.groups, pool_)
    return QuantLayer(weight=w.reshape(rows, -1).astype(np.int8),
                      bias=rng.integers(-500, 500, rows).astype(np.int32),
                      multiplier=rng.integers(1, 1 << 12, rows), shift=14, relu=relu,
                      weight_scale=None, in_scale=1.0, out_scale=1.0, geometry=g)


def test_conv_layer_forward_is_conv_bias_requantize_relu_pool():
    w, x, g = _case(3, 5, 12, 3, 1, 1, 1, 1)
    layer = _conv_layer(w, g, Pool("max", (2, 2), (2, 2)))
    acc = F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), padding=1).numpy()
    y = np.floor(((acc + layer.bias[:, None, None]) * layer.multiplier[:, None, None]) / 2 ** 14 + 0.5)
    y = np.clip(y, 0, 127)
    want = F.max_pool2d(torch.from_numpy(y), 2).numpy()
    assert np.array_equal(layer_forward(layer, x), want)
    assert layer.out_shape == (5, 6, 6) and layer.in_features == 3 * 12 * 12


def test_requantize_broadcasts_per_channel():
    acc = np.arange(8).reshape(1, 2, 2, 2)
    y = requantize(acc, np.array([0, 10])[:, None, None], np.array([1, 2])[:, None, None], 0, False)
    assert y.tolist() == [[[[0, 1], [2, 3]], [[28, 30], [32, 34]]]]


def test_flatten_feeds_linear_in_torch_order():
    """conv → flatten → Linear equals torch's flatten of the same map."""
    w, x, g = _case(2, 3, 6, 3, 1, 0, 1, 1)
    conv = _conv_layer(w, g, relu=True)
    rng = np.random.default_rng(3)
    fc_w = rng.integers(-127, 128, (4, 3 * 4 * 4)).astype(np.int8)
    fc = QuantLayer(weight=fc_w, bias=np.zeros(4, np.int32), multiplier=np.ones(4, np.int64),
                    shift=0, relu=False, weight_scale=None, in_scale=1.0, out_scale=1.0)
    hidden, logits = forward(QuantModel(1.0, (conv, fc)), x)
    flat = torch.flatten(torch.from_numpy(hidden.astype(np.int64)), 1).numpy()
    assert np.array_equal(logits, np.clip(flat @ fc_w.T.astype(np.int64), -128, 127))


def test_macs_per_weight_hand_counts():
    # 5×5 map, 3×3 kernel, stride 2, padding 1: 3×3 outputs; the corner tap (0, 0) is inside
    # the map at 2×2 of them (output rows/cols 1, 2), the centre tap at all 9.
    g = ConvGeometry(2, 5, 5, (3, 3), (2, 2), (1, 1))
    every = macs_per_weight(g, 4)
    inside = macs_per_weight(g, 4, skip_padding=True)
    assert every.shape == (4, 18) and (every == 9).all()
    assert inside[0, :9].reshape(3, 3).tolist() == [[4, 6, 4], [6, 9, 6], [4, 6, 4]]
    # dilation 2, no padding, 7×7 map, 3×3 kernel: (7 - 4 - 1) // 1 + 1 = 3 outputs a side
    g = ConvGeometry(1, 7, 7, (3, 3), dilation=(2, 2))
    assert (macs_per_weight(g, 1) == 9).all() and g.conv_shape == (3, 3)
    # depthwise: 4 channels, groups 4 → one input channel per filter
    g = ConvGeometry(4, 6, 6, (3, 3), groups=4)
    assert g.cols == 9 and macs_per_weight(g, 4).shape == (4, 9)


@pytest.mark.parametrize("geometry,rows,why", [
    (ConvGeometry(3, 8, 8, (3, 3), groups=2), 4, "groups=2"),
    (ConvGeometry(1, 4, 4, (5, 5)), 2, "does not fit"),
    (ConvGeometry(1, 8, 8, (3, 3), pool=Pool("max", (7, 7), (1, 1))), 2, "pool"),
    (ConvGeometry(1, 8, 8, (3, 3), pool=Pool("median", (2, 2), (2, 2))), 2, "median"),
])
def test_geometry_problems(geometry, rows, why):
    assert why in geometry.problem(rows)


@pytest.mark.parametrize("size", [5, 13, 28])
def test_maps_5_to_28_with_pool(size):
    w, x, g = _case(2, 3, size, 3, 1, 1, 1, 1, seed=size)
    layer = _conv_layer(w, g, Pool("max", (2, 2), (2, 2)), relu=True)
    out = layer_forward(layer, x)
    assert out.shape == (3, *layer.out_shape) and out.dtype == np.int8 and out.min() >= 0
