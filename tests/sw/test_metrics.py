"""Metrics: conv MACs against a hand count for stride, padding, dilation and groups; MACs freed
in two layers by structured pruning; storage bits of each format by hand."""

import itertools
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from secateurs.sw import metrics
from secateurs.sw import prune as P


def hand_count(conv: nn.Conv2d, size: int, skip_padding: bool) -> int:
    """Loop over every output position and kernel tap, as one would on paper."""
    (k, _), (s, _), (p, _), (d, _) = conv.kernel_size, conv.stride, conv.padding, conv.dilation
    out = (size + 2 * p - d * (k - 1) - 1) // s + 1
    per_tap_weights = conv.out_channels * conv.in_channels // conv.groups
    total = 0
    for oy, ox, ky, kx in itertools.product(range(out), range(out), range(k), range(k)):
        y, x = oy * s - p + ky * d, ox * s - p + kx * d
        if not skip_padding or (0 <= y < size and 0 <= x < size):
            total += per_tap_weights
    return total


CONVS = [dict(stride=1, padding=0, dilation=1, groups=1), dict(stride=2, padding=1, dilation=1, groups=2),
         dict(stride=1, padding=2, dilation=2, groups=4), dict(stride=3, padding=3, dilation=1, groups=1)]


@pytest.mark.parametrize("kw", CONVS)
@pytest.mark.parametrize("skip_padding", [False, True])
def test_conv_macs_match_a_hand_count(kw, skip_padding):
    conv = nn.Conv2d(4, 8, 3, **kw)
    model = nn.Sequential(conv)
    dense, remaining = metrics.macs(model, (4, 9, 9), skip_padding=skip_padding)
    assert dense == remaining == hand_count(conv, 9, skip_padding)
    out = model(torch.zeros(1, 4, 9, 9)).shape[-1]  # torch's own output size
    every_tap = out * out * conv.weight.numel()
    assert dense < every_tap if skip_padding and conv.padding[0] else dense == every_tap


def test_a_worked_example():
    # Conv2d(4, 6, 3, stride 2, padding 1, groups 2) on 7×7: 4×4 outputs × (6·2·3·3 = 108) weights
    model = nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2))
    assert metrics.macs(model, (4, 7, 7)) == (1728, 1728)


def test_lenet_5_has_its_textbook_mac_count():
    from secateurs.config import ModelConfig
    from secateurs.sw.models import build_model

    model = build_model(ModelConfig(arch="cnn", hidden=(120, 84)), (1, 28, 28), 10, seed=0)
    assert metrics.macs(model, (1, 28, 28))[0] == 117_600 + 240_000 + 48_000 + 10_080 + 840


def mlp(*zeros):
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)
        for layer, index in zeros:
            model[layer].weight[index] = 0.0
    return model


def test_a_dead_neuron_frees_macs_in_the_next_layer_too():
    model = mlp((0, (1, slice(None))))                          # row 1 of layer 0 is all zero
    assert metrics.macs(model, (4,)) == (18, 8 + 4)             # and column 1 of layer 1 goes too


def test_an_unread_neuron_is_never_computed():
    model = mlp((0, (1, slice(None))), (2, (slice(None), 2)))    # nobody reads neuron 2 either
    assert metrics.macs(model, (4,)) == (18, 4 + 2)
    assert metrics.model_speedup(model, (4,)) == 3.0


def test_a_pruned_filter_frees_its_flattened_features():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 3))
    with torch.no_grad():
        model[0].weight[1] = 0.0
    dense, remaining = metrics.macs(model, (1, 4, 4))
    assert dense == 16 * 18 + 24
    assert remaining == 16 * 9 + 12                            # filter 1 and its 4 features gone


def test_a_pruned_filter_frees_the_grouped_conv_that_reads_it():
    model = nn.Sequential(nn.Conv2d(1, 4, 1), nn.Conv2d(4, 4, 1, groups=2))
    with torch.no_grad():
        model[0].weight[3] = 0.0                                # channel 3 is read by outputs 2, 3
    live = metrics.live_weights(model)[model[1]]
    assert live[:, :, 0, 0].tolist() == [[True, True], [True, True], [True, False], [True, False]]
    assert metrics.macs(model, (1, 3, 3)) == (9 * (4 + 8), 9 * (3 + 6))


def test_structured_pruning_counts_both_layers():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 4))
    P.prune(model, density=0.5, structure="rows", scope="local")
    dense, remaining = metrics.macs(model, (10,))
    kept_rows = int(model[0].weight.any(1).sum())
    assert remaining == kept_rows * 10 + 2 * kept_rows       # layer 1 keeps 2 of 4 rows, reads kept rows


W = np.array([[0, 5, 0, 0], [0, 0, 0, 0], [1, 0, 0, 2]])


@pytest.mark.parametrize("fmt,bits", [
    ("dense", 12 * 8),
    ("bitmap", 3 * 8 + 12),
    ("csr", 3 * (8 + 2) + 4 * 32),
    ("relative", 5 * (8 + 1) + 5 * 32),   # columns 0 and 3 need one filler each (gap 2 > 1)
])
def test_storage_bits_by_hand(fmt, bits):
    assert metrics.storage_bits(W, fmt, value_bits=8, index_bits=1) == bits


def test_parameter_counts_of_a_masked_model():
    model = mlp()
    P.prune(model, density=0.5, scope="local")
    counts = metrics.parameter_counts(model)
    assert counts == {"params": 23, "params_nonzero": 9 + 5, "weights": 18, "weights_nonzero": 9}


def test_quantized_layer_metrics_are_unchanged():
    layers = [SimpleNamespace(weight=np.array([[1, 0], [0, 0]], np.int8), rows=2),
              SimpleNamespace(weight=np.array([[3, 4]], np.int8), rows=1)]
    assert metrics.theoretical_speedup(layers) == 2.0
    assert metrics.density(layers) == 0.5
    assert metrics.compression_ratio(layers, packed_bytes=9) == 32 * 9 / 72


def _quant(weight, geometry=None):
    from secateurs.sw.reference import QuantLayer

    rows = weight.shape[0]
    return QuantLayer(weight.astype(np.int8), np.zeros(rows, np.int32), np.ones(rows, np.int64), 0,
                      True, None, 1.0, 1.0, geometry=geometry)


@pytest.mark.parametrize("geometry,positions,inside_corner", [
    # 2×9×9, 3×3, stride 2, padding 1: (9 + 2 - 2 - 1) // 2 + 1 = 5 a side; tap (0, 0) reads
    # padding at output row/col 0 only: 4×4 of the 25 positions are inside the map.
    (dict(in_channels=2, in_height=9, in_width=9, kernel=(3, 3), stride=(2, 2), padding=(1, 1),
          groups=2), 25, 16),
    # 1×7×7, 3×3, dilation 2: (7 - 4 - 1) + 1 = 3 a side, no padding
    (dict(in_channels=1, in_height=7, in_width=7, kernel=(3, 3), dilation=(2, 2)), 9, 9),
    # 1×5×5, 5×5, padding 2: 5 a side; tap (0, 0) is inside at outputs 2..4 only: 3×3
    (dict(in_channels=1, in_height=5, in_width=5, kernel=(5, 5), padding=(2, 2)), 25, 9),
    # depthwise 4×6×6, 3×3: 4×4 positions, one input channel (9 columns) per filter
    (dict(in_channels=4, in_height=6, in_width=6, kernel=(3, 3), groups=4), 16, 16),
])
def test_theoretical_speedup_of_quantized_conv_layers_by_hand(geometry, positions, inside_corner):
    from secateurs.sw.conv import ConvGeometry

    g = ConvGeometry(**geometry)
    rows = 4
    w = np.zeros((rows, g.cols), dtype=np.int64)
    w[0, 0] = w[1, 0] = 3          # two corner taps (0, 0) of the first channel of a group
    w[2, :] = 1                    # one filter dense
    fc = np.zeros((10, 100))
    fc[:5, :10] = 1                # 50 of 1000 Linear weights
    layers = [_quant(w, g), _quant(fc)]
    nonzero = 2 + g.cols
    dense = rows * g.cols * positions + 1000
    assert metrics.macs_of_layers(layers) == (dense, nonzero * positions + 50)
    assert metrics.theoretical_speedup(layers) == pytest.approx(dense / (nonzero * positions + 50))
    # Skipping padding: the corner taps count only where they read the map.
    taps = metrics.layer_macs(layers[0], skip_padding=True)
    assert taps[0, 0] == inside_corner and taps[2].sum() <= g.cols * positions


def test_empty_layers_are_found():
    layers = [_quant(np.ones((2, 3))), _quant(np.zeros((4, 2))), _quant(np.eye(3)[:1])]
    assert metrics.empty_layers(layers) == [1]
