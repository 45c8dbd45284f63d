"""Conv layers on the whole accelerator in Amaranth simulation: outputs equal torch's conv2d on
the same integers, cycles equal the conv cycle model, every predicted event counter equals its
model, on the sparse design and its dense twin, with random idle input cycles and output
back-pressure; and the capacity refuses conv layers it cannot walk, in one line."""

import dataclasses

import numpy as np
import pytest
import torch

from secateurs.config import HardwareConfig
from secateurs.hw.accelerator import Accelerator
from secateurs.hw.capacity import Capacity
from secateurs.hw.image import ConvGeometry
from secateurs.hw.load import load_words
from secateurs.sim.amaranth_host import simulate_network
from secateurs.sim.conv import conv_capacity, conv_events, conv_image
from secateurs.sim.events import PREDICTED
from secateurs.sw.cycles import DRAIN_LATENCY, MAC_LATENCY, conv_cycles


def torch_conv(w, x, stride, padding):
    """torch's conv2d on the integers (float64 holds every int8 sum of these sizes exactly)."""
    out = torch.nn.functional.conv2d(torch.tensor(x, dtype=torch.float64),
                                     torch.tensor(w, dtype=torch.float64),
                                     stride=stride, padding=padding)
    return out.numpy().astype(np.int64)


def random_layer(rng, o, geo, w_density, x_density, batch):
    w = rng.integers(-128, 128, (o, geo.channels, geo.kernel_h, geo.kernel_w))
    w *= rng.random(w.shape) < w_density
    x = rng.integers(-128, 128, (batch, geo.channels, geo.height, geo.width))
    x *= rng.random(x.shape) < x_density
    return w, x


CASES = [  # out channels, geometry, weight density, input density
    (3, ConvGeometry(2, 5, 6, 3, 3, stride=1, padding=1), 0.5, 0.5),
    (4, ConvGeometry(1, 7, 7, 5, 5, stride=2, padding=2), 1.0, 1.0),
    (5, ConvGeometry(3, 5, 5, 1, 1, stride=2, padding=0), 0.7, 0.3),
    (2, ConvGeometry(2, 6, 5, 3, 3, stride=1, padding=0), 0.0, 0.8),
]


@pytest.mark.parametrize("kind", ["sparse", "dense"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_conv_layer_matches_torch_and_the_models(kind, case):
    o, geo, w_density, x_density = CASES[case]
    hw = HardwareConfig(pes=2, queue_depth=2, issue_width=2)
    rng = np.random.default_rng(case)
    w, x = random_layer(rng, o, geo, w_density, x_density, batch=3)
    x[0] = 0  # an all-zero input map
    image = conv_image(w, geo, pes=hw.pes)
    capacity = conv_capacity(image, hw)
    flat = x.reshape(len(x), -1)
    runs = simulate_network(Accelerator(capacity, kind=kind), flat, seed=case, idle=0.2,
                            load={0: load_words(image, capacity, kind, "accumulators")})
    got = np.array([r.streamed for r in runs]).reshape(len(x), geo.positions, o)
    got = got.transpose(0, 2, 1).reshape(len(x), o, geo.out_h, geo.out_w)
    np.testing.assert_array_equal(got, torch_conv(w, x, geo.stride, geo.padding))
    model = conv_cycles(image.layers[0].counts(), geo, flat, rows=o, pes=hw.pes,
                        queue_depth=hw.queue_depth, issue_width=hw.issue_width, array=kind)
    assert [r.counters["cycles"] for r in runs] == list(model.total + [r.held for r in runs])
    assert [r.edges for r in runs] == [r.counters["cycles"] for r in runs]
    events = conv_events(image, flat, kind=kind, issue_width=hw.issue_width)
    for name in PREDICTED:
        assert [r.counters[name] for r in runs] == events[name].tolist(), name


def test_padding_and_zeros_cost_no_compute_cycle():
    """A sparse position whose patch is all padding or zeros costs its scan and the idle
    compute phase only: the whole run is the model's, and below the dense twin's."""
    geo = ConvGeometry(1, 5, 5, 3, 3, stride=1, padding=2)
    counts = np.ones((2, geo.patch), dtype=np.int64)
    x = np.zeros((1, geo.inputs), dtype=np.int64)
    sparse = conv_cycles(counts, geo, x, rows=2, pes=2, queue_depth=2, array="sparse")
    dense = conv_cycles(counts, geo, x, rows=2, pes=2, queue_depth=2, array="dense")
    # per position: C*KH = 3 scan cycles, IDLE_CYCLES = 2, 2 rows drained + DRAIN_LATENCY
    assert sparse.total[0] == geo.positions * (3 + 2 + 2 + DRAIN_LATENCY) + 1
    # dense: 9 columns x 1 row a PE, + MAC_LATENCY + 1, then the same drain
    assert dense.total[0] == geo.positions * (9 + MAC_LATENCY + 1 + 2 + DRAIN_LATENCY) + 1


def capacity_for(**changes):
    base = dict(pes=2, max_layers=2, max_rows=4, max_cols=18, bank_depth=64, pointer_depth=16,
                param_depth=8, max_map=96, max_side=6, max_channels=2, max_kernel=3,
                patch_depth=18)
    return Capacity(**{**base, **changes})


@pytest.mark.parametrize("changes, message", [
    ({"max_side": 5}, "^Layer 0's map side is 6; the hardware's is at most 5$"),
    ({"max_channels": 1}, "^Layer 0's input channel count is 2; the hardware's is at most 1$"),
    ({"max_kernel": 2}, "^Layer 0's kernel side is 3; the hardware's is at most 2$"),
    ({"max_map": 80}, r"^Layer 0's largest map \(activations\) is 90; the hardware's is at "
                      "most 80$"),
    ({"patch_depth": 9}, "^The patch table needs 18 words; the hardware has 9$"),
])
def test_capacity_refuses_a_conv_layer_that_does_not_fit(changes, message):
    geo = ConvGeometry(2, 5, 6, 3, 3, padding=1)
    image = conv_image(np.ones((3, 2, 3, 3), dtype=np.int64), geo, pes=2, index_bits=4)
    capacity_for().check(image, "sparse")
    with pytest.raises(ValueError, match=message):
        capacity_for(**changes).check(image, "sparse")


def test_capacity_without_conv_refuses_a_conv_layer():
    geo = ConvGeometry(1, 5, 5, 3, 3)
    image = conv_image(np.ones((2, 1, 3, 3), dtype=np.int64), geo, pes=2, index_bits=4)
    bare = Capacity(pes=2, max_layers=1, max_rows=4, max_cols=25, bank_depth=64,
                    pointer_depth=16, param_depth=8)
    with pytest.raises(ValueError, match="^Layer 0 is a conv layer; the hardware has no address "
                                         r"generator \(built for Linear layers only\)$"):
        bare.check(image, "dense")


@pytest.mark.parametrize("fields, message", [
    ({"kernel_h": 8}, r"^Kernel height must be an integer in 1\.\.7, not 8$"),
    ({"stride": 5}, r"^Stride must be an integer in 1\.\.4, not 5$"),
    ({"padding": 3}, r"^Padding must be an integer in 0\.\.2, not 3$"),
    ({"height": 2, "width": 2}, "^A 3x3 kernel does not fit a 2x2 map padded by 0$"),
])
def test_geometry_limits(fields, message):
    base = dict(channels=1, height=5, width=5, kernel_h=3, kernel_w=3, stride=1, padding=0)
    with pytest.raises(ValueError, match=message):
        ConvGeometry(**{**base, **fields})


def packed_layer(weight, bias, multiplier, shift, relu, pes, conv=None):
    """One layer packed by the project's CSC packer, as the hardware stores it."""
    from secateurs.hw.image import network_image
    from secateurs.sw.formats import container
    from secateurs.sw.reference import QuantLayer, QuantModel

    layer = QuantLayer(weight=weight.astype(np.int8), bias=bias.astype(np.int32),
                       multiplier=multiplier.astype(np.int64), shift=shift, relu=relu,
                       weight_scale=None, in_scale=1.0, out_scale=1.0, weight_bits=8,
                       codebook=None)
    model = QuantModel(1.0, (layer,))
    packed = container.decode(container.encode_layers(
        model, container.pack_layers(model, fmt="csc", pes=pes, index_bits=4)))
    return dataclasses.replace(network_image(packed).layers[0], conv=conv)


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_conv_then_linear_reads_the_map_at_output_position_addresses(kind):
    """A conv layer (requantized, ReLU) drains each row to ``o * OH * OW + position``, where
    the Linear after it (flatten is addressing only) reads it: logits and class as numpy's,
    cycles the conv layer's plus the Linear's, as the cycle model composes them."""
    from secateurs.hw.image import NetworkImage
    from secateurs.sw.cycles import dense_cycles, sparse_cycles
    from secateurs.sw.reference import requantize

    hw = HardwareConfig(pes=2, queue_depth=2, issue_width=2)
    rng = np.random.default_rng(7)
    geo = ConvGeometry(2, 6, 5, 3, 3, stride=1, padding=1)
    o, classes = 3, 4
    w0 = rng.integers(-128, 128, (o, geo.patch)) * (rng.random((o, geo.patch)) < 0.5)
    w1 = rng.integers(-128, 128, (classes, o * geo.positions))
    w1 *= rng.random(w1.shape) < 0.4
    conv = packed_layer(w0, rng.integers(-500, 500, o), rng.integers(1, 300, o), 12, True,
                        hw.pes, geo)
    linear = packed_layer(w1, rng.integers(-500, 500, classes), rng.integers(1, 300, classes),
                          14, False, hw.pes)
    image = NetworkImage(pes=hw.pes, index_bits=4, value_bits=8, layers=(conv, linear))
    x = rng.integers(-128, 128, (3, geo.inputs)) * (rng.random((3, geo.inputs)) < 0.6)
    x[1] = 0

    acc0 = geo.patches(x) @ w0.T  # (batch, positions, O)
    hidden = requantize(acc0, conv.bias, conv.multiplier, 12, True).astype(np.int64)
    hidden = hidden.transpose(0, 2, 1).reshape(len(x), -1)  # row o of position p at o*P + p
    logits = requantize(hidden @ w1.T, linear.bias, linear.multiplier, 14, False)

    capacity = Capacity.of(image, queue_depth=hw.queue_depth, issue_width=hw.issue_width)
    runs = simulate_network(Accelerator(capacity, kind=kind), x, seed=3, idle=0.2,
                            load={0: load_words(image, capacity, kind)})
    np.testing.assert_array_equal(np.array([r.streamed for r in runs]), logits)
    assert [r.predicted for r in runs] == np.argmax(logits, axis=1).tolist()
    first = conv_cycles(conv.counts(), geo, x, rows=o, pes=hw.pes, queue_depth=hw.queue_depth,
                        issue_width=hw.issue_width, array=kind)
    if kind == "dense":
        second = dense_cycles(classes, linear.cols, hw.pes)
    else:
        second = sparse_cycles(linear.counts(), hidden != 0, queue_depth=hw.queue_depth,
                               issue_width=hw.issue_width)
    want = first.total + second + classes + DRAIN_LATENCY
    assert [r.counters["cycles"] - r.held for r in runs] == want.tolist()
