"""Conv networks on the whole accelerator in Amaranth simulation: conv and pool layers after
conv layers, then Linear layers (conv -> pool -> conv -> pool -> Linear -> Linear), loaded
through the load port into one capacity; logits and class equal the integer reference
(``sw.reference.forward``: sw/conv.py's conv, max and avg pool), cycles the whole-network
model plus the cycles the host held the output, and every predicted event counter its model,
on the sparse design and its dense twin, with random idle input cycles and back-pressure; the
capacity's one-line refusals of what the hardware does not run."""

import dataclasses

import numpy as np
import pytest

from secateurs.hw.accelerator import Accelerator
from secateurs.hw.capacity import Capacity
from secateurs.hw.image import ConvGeometry, network_image
from secateurs.hw.load import load_words
from secateurs.sim.amaranth_host import simulate_network
from secateurs.sim.events import PREDICTED, network_events
from secateurs.sw.conv import Pool
from secateurs.sw.cycles import network_cycles
from secateurs.sw.reference import QuantModel, classify, forward
from tests.helpers.conv_models import Conv, Linear, packed, random_conv_model, random_maps

PES, DEPTH, WIDTH = 2, 2, 2

#: name: (input map (C, H, W), layers, input density)
NETWORKS = {
    "max then avg pool, padding 1": (
        (1, 8, 8), [Conv(3, 3, padding=1, pool="max", density=0.6),
                    Conv(4, 3, padding=1, pool="avg", density=0.5), Linear(6), Linear(4)], 0.6),
    "stride 2 padding 2, then 2x2 max, fully dense": (
        (2, 9, 9), [Conv(3, 5, stride=2, padding=2, density=1.0),
                    Conv(4, 1, pool="max", density=1.0), Linear(5, density=1.0)], 1.0),
    "avg pool, padding 0, all-zero weights in the second conv": (
        (1, 7, 7), [Conv(2, 3, pool="avg", density=0.4), Conv(3, 1, density=0.0),
                    Linear(4)], 0.5),
}


def case(name, seed=0, batch=3):
    shape, spec, density = NETWORKS[name]
    rng = np.random.default_rng(sorted(NETWORKS).index(name) + 10 * seed)
    x = random_maps(rng, batch, shape, density)
    if density == 1.0:
        x[x == 0] = 1
    x[0] = 0  # an all-zero input map
    return packed(random_conv_model(rng, shape, spec, x), pes=PES), x


#: One capacity every network above fits (as the Verilator test's does).
CAPACITY = Capacity(pes=PES, max_layers=4, max_rows=6, max_cols=50, bank_depth=200,
                    pointer_depth=64, param_depth=20, queue_depth=DEPTH, issue_width=WIDTH,
                    max_map=192, max_side=9, max_channels=3, max_kernel=5, patch_depth=80,
                    pool_rows=4)


def run(p, x, kind, seed):
    image = network_image(p)
    return simulate_network(Accelerator(CAPACITY, kind=kind), x, seed=seed, idle=0.2,
                            load={0: load_words(image, CAPACITY, kind)})


@pytest.mark.parametrize("kind", ["sparse", "dense"])
@pytest.mark.parametrize("name", NETWORKS)
def test_conv_network_matches_the_reference_and_the_models(name, kind):
    p, x = case(name)
    runs = run(p, x, kind, seed=sorted(NETWORKS).index(name))
    logits = forward(p.model, x)[-1]
    np.testing.assert_array_equal(np.array([r.streamed for r in runs]), logits)
    assert [r.predicted for r in runs] == classify(logits).tolist()
    model = network_cycles(p, x, queue_depth=DEPTH, issue_width=WIDTH, array=kind)
    assert [r.counters["cycles"] for r in runs] == (model.total + [r.held for r in runs]).tolist()
    events = network_events(p, x, kind=kind, issue_width=WIDTH)
    for name_ in PREDICTED:
        assert [r.counters[name_] for r in runs] == sum(e[name_] for e in events).tolist(), name_


def test_capacity_of_a_conv_network_fits_and_sizes_the_pool_unit():
    p, _ = case("max then avg pool, padding 1")
    image = network_image(p)
    need = Capacity.of(image, queue_depth=DEPTH, issue_width=WIDTH)
    # the pool unit holds the hidden conv layers' channels (3 and 4); the largest map is the
    # 1 x 8 x 8 input (the first conv layer writes its pooled 3 x 4 x 4); 9 + 27 patch columns
    assert (need.pool_rows, need.max_map, need.max_channels, need.patch_depth) == (4, 64, 3, 36)
    CAPACITY.check(image, "sparse")
    with pytest.raises(ValueError, match="^Layer 1 has 4 output channels; the hardware's pool "
                                         "unit holds 3$"):
        dataclasses.replace(CAPACITY, pool_rows=3).check(image, "sparse")


def test_capacity_refuses_conv_after_linear_and_a_pooled_last_layer():
    image = network_image(case("max then avg pool, padding 1")[0])
    conv0, conv1, hidden, last = image.layers
    after_linear = dataclasses.replace(last, conv=ConvGeometry(6, 1, 1, 1, 1))
    with pytest.raises(ValueError, match="^Layer 3 is a conv layer after a Linear layer; the "
                                         "hardware runs conv layers only first or after conv "
                                         "layers$"):
        CAPACITY.check(dataclasses.replace(image, layers=(conv0, conv1, hidden, after_linear)),
                       "dense")
    p, x = case("avg pool, padding 0, all-zero weights in the second conv")
    conv0, conv1, linear = p.model.layers
    last = dataclasses.replace(conv1, geometry=dataclasses.replace(
        conv1.geometry, pool=Pool("max", (1, 1), (1, 1))))
    pooled_last = dataclasses.replace(p, model=QuantModel(1.0, (conv0, last)),
                                      layers=p.layers[:2])
    with pytest.raises(ValueError, match="^Layer 1 is pooled but is the network's last; the "
                                         "hardware pools hidden conv layers only$"):
        CAPACITY.check(network_image(pooled_last), "sparse")
    with pytest.raises(ValueError, match=r"^Layer 0 \(conv\): The hardware pools with stride = "
                                         r"window size only, not window \(2, 2\) stride \(1, 1\)$"):
        network_image(dataclasses.replace(p, model=QuantModel(1.0, (dataclasses.replace(
            conv0, geometry=dataclasses.replace(conv0.geometry, pool=Pool("avg", (2, 2), (1, 1))))
            , conv1, linear))))


def test_for_shape_sizes_lenet5():
    """LeNet-5 on 28x28 (conv 5x5 -> 6, max-pool 2, conv 5x5 -> 16, max-pool 2, 120, 84, 10):
    the largest map is the first conv layer's pooled 6 x 12 x 12 output; the pool unit holds
    16 channels; 25 + 150 patch columns; the widest Linear reads the 16 x 4 x 4 map."""
    rng = np.random.default_rng(5)
    x = random_maps(rng, 2, (1, 28, 28), 0.2)
    spec = [Conv(6, 5, pool="max", density=0.1), Conv(16, 5, pool="max", density=0.1),
            Linear(120, 0.1), Linear(84, 0.1), Linear(10, 0.1)]
    image = network_image(packed(random_conv_model(rng, (1, 28, 28), spec, x), pes=4))
    capacity = Capacity.for_shape([(layer.rows, layer.cols) for layer in image.layers],
                                  convs=[layer.conv for layer in image.layers], pes=4)
    assert (capacity.max_map, capacity.max_side, capacity.max_channels, capacity.max_kernel,
            capacity.patch_depth, capacity.pool_rows) == (864, 28, 6, 5, 175, 16)
    assert (capacity.max_rows, capacity.max_cols, capacity.act_depth) == (120, 256, 864)
    for kind in ("sparse", "dense"):
        assert capacity.check(image, kind) is image


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_a_reset_inside_a_conv_layer_leaves_the_next_run_exact(kind):
    """``rst`` mid-window in the first conv layer (its pool unit holding a partial max), in the
    second (a partial sum, the first layer's nonzero map marked), and in the Linear layer: each
    run after a reset (the model loaded again) is exact, cycles and events included."""
    p, x = case("max then avg pool, padding 1", batch=6)
    model = network_cycles(p, x[0::2], queue_depth=DEPTH, issue_width=WIDTH, array=kind)
    ends = np.cumsum(model.compute + model.drain, axis=0)  # (layer, reset row) last cycles
    points = [int(ends[0, 0] // 2 + 1), int((ends[0, 1] + ends[1, 1]) // 2), int(ends[1, 2] + 3)]
    image = network_image(p)
    words = load_words(image, CAPACITY, kind)
    runs = simulate_network(Accelerator(CAPACITY, kind=kind), x, seed=1, idle=0.2,
                            load={r: words for r in range(len(x))},
                            reset={2 * i: ("run", c) for i, c in enumerate(points)})
    assert [type(r).__name__ for r in runs] == ["Interrupted", "Inference"] * 3
    after = x[1::2]
    logits = forward(p.model, after)[-1]
    np.testing.assert_array_equal(np.array([r.streamed for r in runs[1::2]]), logits)
    want = network_cycles(p, after, queue_depth=DEPTH, issue_width=WIDTH, array=kind).total
    assert [r.counters["cycles"] - r.held for r in runs[1::2]] == want.tolist()
    events = network_events(p, after, kind=kind, issue_width=WIDTH)
    for name_ in PREDICTED:
        assert [r.counters[name_] for r in runs[1::2]] == sum(e[name_] for e in events).tolist()


@pytest.mark.parametrize("pool_h, pool_w", [(h, w) for h in range(1, 5) for w in range(1, 5)])
def test_avg_pool_multiplier_is_sw_conv_s_rounded_mean_on_every_window_sum(pool_h, pool_w):
    """The pool unit's average of a window of A int8 values with sum S, offset by 128 each:
    ``((2 (S + 128 A) + A) * M >> POOL_SHIFT) - 128`` is ``⌊(2 S + A) / 2A⌋`` (sw/conv.py's
    mean rounded half up) for every S in -128 A .. 127 A."""
    from secateurs.hw.params import POOL_SHIFT

    geo = ConvGeometry(1, 8, 8, 1, 1, pool="avg", pool_h=pool_h, pool_w=pool_w)
    area, multiplier = pool_h * pool_w, geo.pool_multiplier
    sums = np.arange(-128 * area, 127 * area + 1)
    unit = ((2 * (sums + 128 * area) + area) * multiplier >> POOL_SHIFT) - 128
    assert unit.tolist() == [(2 * s + area) // (2 * area) for s in sums.tolist()]
    assert multiplier < 1 << POOL_SHIFT  # it fits the layer table's field
