"""The whole-network accelerator in Amaranth simulation: small random networks, sparse and dense,
several P and D, loaded through the load port (or baked in), against the integer reference, the
cycle model and the event counts the reference predicts (sim/events.py)."""

import numpy as np
import pytest

from secateurs.hw.accelerator import Accelerator, AcceleratorSignature
from secateurs.hw.capacity import Capacity
from secateurs.hw.image import NetworkImage, network_image
from secateurs.hw.load import load_words
from secateurs.sim.amaranth_host import simulate_network
from secateurs.sim.events import PREDICTED, network_events
from secateurs.sw.cycles import network_cycles
from secateurs.sw.formats import container
from secateurs.sw.reference import QuantLayer, QuantModel, classify, forward
from tests.helpers.models import packed, random_inputs, random_model

SIZES = [12, 20, 9, 5]  # three layers; 20 rows exercise several local rows per PE


def loaded(p, *, kind, readout="logits", **design):
    """The design of the smallest capacity holding ``p`` and the words that load ``p`` (its
    readout is loaded with it: one design serves both)."""
    image = network_image(p)
    capacity = Capacity.of(image, kind=kind, **design)
    return (Accelerator(capacity, kind=kind),
            {0: load_words(image, capacity, kind, readout)})


def simulate_loaded(p, x, *, kind, seed, idle, readout="logits", **design):
    dut, load = loaded(p, kind=kind, readout=readout, **design)
    return simulate_network(dut, x, seed=seed, idle=idle, load=load)


def _run(model, x, *, pes, queue_depth, kind, issue_width=2, seed=1, index_bits=2):
    p = packed(model, pes=pes, index_bits=index_bits)
    return p, simulate_loaded(p, x, kind=kind, seed=seed, idle=0.3, queue_depth=queue_depth,
                              issue_width=issue_width)


def _check(p, x, runs, *, queue_depth, kind, issue_width=2):
    logits = forward(p.model, x)[-1]
    outputs = logits.shape[1]
    cycles = network_cycles(p, x, queue_depth=queue_depth, array=kind,
                            issue_width=issue_width).total
    for i, run in enumerate(runs):
        np.testing.assert_array_equal(run.logits[:outputs], logits[i],
                                      err_msg=f"sample {i} logits")
        np.testing.assert_array_equal(run.streamed, logits[i], err_msg=f"sample {i} stream")
        assert run.predicted == classify(logits)[i], f"sample {i} class"
        # each cycle the host held a logit back holds the whole drain one cycle
        assert run.counters["cycles"] == run.edges == cycles[i] + run.held, f"sample {i} cycles"


def _expected_events(p, x, kind, issue_width):
    """Event counts per sample derived from the model alone (every counter but stalls)."""
    layers = network_events(p, x, kind=kind, issue_width=issue_width)
    return {name: sum(layer[name] for layer in layers) for name in PREDICTED}


@pytest.mark.parametrize("kind,pes,queue_depth,issue_width", [
    ("sparse", 1, 1, 1), ("sparse", 2, 2, 1), ("sparse", 3, 4, 2), ("sparse", 4, 8, 4),
    ("sparse", 8, 1, 2), ("sparse", 8, 2, 8), ("sparse", 4, 1, 4),
    ("dense", 1, 1, 2), ("dense", 3, 1, 2), ("dense", 4, 4, 4),
])
def test_matches_reference_and_cycle_model(kind, pes, queue_depth, issue_width):
    rng = np.random.default_rng(pes * 10 + queue_depth)
    model = random_model(rng, SIZES, 0.35)
    x = random_inputs(rng, 5, SIZES[0])
    x[0] = 0  # no work in the first layer; biases alone reach the logits
    x[1, 0] = -128
    p, runs = _run(model, x, pes=pes, queue_depth=queue_depth, kind=kind,
                   issue_width=issue_width)
    _check(p, x, runs, queue_depth=queue_depth, kind=kind, issue_width=issue_width)
    for name, values in _expected_events(p, x, kind, issue_width).items():
        assert [run.counters[name] for run in runs] == values.tolist(), name
    assert kind == "sparse" or not any(run.counters["stalls"] for run in runs)


def test_filler_words_and_empty_columns():
    """1 index bit: every gap of two or more rows needs fillers; whole columns are empty."""
    rng = np.random.default_rng(7)
    model = random_model(rng, [10, 24, 6], 0.15)
    model.layers[0].weight[:, [0, 4, 9]] = 0
    x = random_inputs(rng, 4, 10, zero_fraction=0.2)
    p, runs = _run(model, x, pes=2, queue_depth=2, kind="sparse", index_bits=1)
    assert any(len(w) > np.count_nonzero(model.layers[0].weight[i::2]) for i, w in
               enumerate(p.layers[0].words)), "the case has no filler word"
    _check(p, x, runs, queue_depth=2, kind="sparse")


def test_ties_go_to_the_first_class():
    layer = QuantLayer(weight=np.zeros((4, 3), dtype=np.int8),
                       bias=np.array([5, 9, 9, 9], dtype=np.int32),
                       multiplier=np.ones(4, dtype=np.int64), shift=0, relu=False,
                       weight_scale=None, in_scale=1.0, out_scale=1.0)
    model = QuantModel(1.0, (layer,))
    x = np.array([[1, 2, 3]])
    p, runs = _run(model, x, pes=2, queue_depth=1, kind="sparse")
    assert runs[0].predicted == 1
    np.testing.assert_array_equal(runs[0].logits[:4], [5, 9, 9, 9])


def test_start_waits_for_a_complete_input():
    rng = np.random.default_rng(3)
    model = random_model(rng, SIZES, 0.3)
    x = random_inputs(rng, 2, SIZES[0])
    p = packed(model, pes=2)
    dut, load = loaded(p, kind="sparse", queue_depth=2)
    runs = simulate_network(dut, x, seed=5, idle=0.5, start_early=True, load=load)
    _check(p, x, runs, queue_depth=2, kind="sparse")


def test_codebook_and_int4_values():
    rng = np.random.default_rng(11)
    base = random_model(rng, SIZES, 0.4)
    book = np.array([0, -90, -40, -7, 3, 25, 64, 127], dtype=np.int8)  # entry 0 is 0
    layers = []
    for q in base.layers:
        codes = rng.integers(1, len(book), q.weight.shape) * (q.weight != 0)
        layers.append(QuantLayer(weight=book[codes], bias=q.bias, multiplier=q.multiplier,
                                 shift=q.shift, relu=q.relu, weight_scale=None, in_scale=1.0,
                                 out_scale=1.0, codebook=book))
    shared = QuantModel(1.0, tuple(layers))
    x = random_inputs(rng, 4, SIZES[0])
    p, runs = _run(shared, x, pes=3, queue_depth=2, kind="sparse")
    assert p.layers[0].codebook is not None
    _check(p, x, runs, queue_depth=2, kind="sparse")

    int4 = QuantModel(1.0, tuple(
        QuantLayer(weight=np.clip(q.weight // 16, -8, 7).astype(np.int8), bias=q.bias,
                   multiplier=q.multiplier, shift=q.shift - 3, relu=q.relu, weight_scale=None,
                   in_scale=1.0, out_scale=1.0, weight_bits=4) for q in base.layers))
    p, runs = _run(int4, x, pes=2, queue_depth=4, kind="sparse")
    assert p.layers[0].value_bits == 4
    _check(p, x, runs, queue_depth=4, kind="sparse")


def test_both_kinds_share_one_signature():
    p = packed(random_model(np.random.default_rng(0), SIZES, 0.3), pes=2)
    capacity = Capacity.of(network_image(p), queue_depth=4)
    sparse = Accelerator(capacity, kind="sparse")
    dense = Accelerator(capacity, kind="dense")
    # ports sized by the widest layer: 20 inputs or outputs at most; values acc_bits wide (the
    # readout, logits or raw accumulators, is loaded with the model)
    assert sparse.signature == dense.signature == AcceleratorSignature(
        inputs=20, outputs=20, value_bits=capacity.acc_bits)


def test_rejects_bad_parameters():
    rng = np.random.default_rng(0)
    image = network_image(packed(random_model(rng, [40, 8, 4], 0.9), pes=2))
    capacity = Capacity.of(image)
    cases = [
        (lambda: Accelerator(capacity, kind="systolic"), ValueError,
         "Kind must be one of sparse, dense, not 'systolic'"),
        (lambda: Accelerator(image, kind="sparse"), TypeError,
         f"Capacity must be a Capacity, not {image!r}"),
        (lambda: Accelerator(capacity, kind="sparse", image=capacity), TypeError,
         f"Image must be a NetworkImage or None, not {capacity!r}"),
    ]
    for make, error, message in cases:
        with pytest.raises(error) as caught:
            make()
        assert str(caught.value) == message
    narrow = Capacity.of(image, acc_bits=16)
    with pytest.raises(ValueError, match="Accumulator width 16 can overflow in layer 0"):
        Accelerator(narrow, kind="sparse", image=image)
    with pytest.raises(ValueError, match="Accumulator width 16 can overflow in layer 0"):
        load_words(image, narrow, "sparse")


def test_rejects_bad_images():
    rng = np.random.default_rng(0)
    model = random_model(rng, [8, 8, 4], 0.5)
    image = network_image(packed(model, pes=2))
    with pytest.raises(ValueError, match="PE count must be an integer in 1..64, not 65"):
        NetworkImage(pes=65, index_bits=4, value_bits=8, layers=image.layers)
    with pytest.raises(ValueError, match="Layer 0 is packed for 2 PEs, not 3"):
        NetworkImage(pes=3, index_bits=4, value_bits=8, layers=image.layers)
    csr = container.decode(container.encode(model, pes=2, fmt="csr"))
    with pytest.raises(ValueError, match="the accelerator reads CSC or N:M layers"):
        network_image(csr)


def _nm_model(rng, sizes, n, m):
    """A random model whose every row keeps at most ``n`` weights in each group of ``m`` inputs."""
    model = random_model(rng, sizes, 1.0)
    for q in model.layers:
        for r in range(q.rows):
            for g in range(0, q.cols, m):
                group = np.arange(g, min(g + m, q.cols))
                q.weight[r, rng.permutation(group)[n:]] = 0
    return model


@pytest.mark.parametrize("n,m,pes", [(2, 4, 1), (2, 4, 3), (1, 4, 4), (1, 4, 8), (1, 2, 2)])
@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_nm_structure(n, m, pes, kind):
    """N:M layers: the sparse design walks N words per row and group with work (no index), the
    dense twin every weight; both exact."""
    rng = np.random.default_rng(n * 100 + m * 10 + pes)
    model = _nm_model(rng, [14, 20, 9, 5], n, m)  # 14 inputs: a narrower last group
    x = random_inputs(rng, 4, 14)
    x[0] = 0  # no group of the first layer has work
    x[1, 4:12] = 0  # groups of zeros amid groups with work
    p = container.decode(container.encode(model, pes=pes, fmt="nm", n=n, m=m))
    runs = simulate_loaded(p, x, kind=kind, seed=pes, idle=0.3)
    _check(p, x, runs, queue_depth=4, kind=kind)
    for name, values in _expected_events(p, x, kind, issue_width=2).items():
        assert [run.counters[name] for run in runs] == values.tolist(), name


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_output_back_pressure_holds_the_run(kind):
    """A host that keeps every logit waiting 1..3 cycles: the logits come out of the stream in
    order and each held cycle adds exactly one cycle to the run."""
    rng = np.random.default_rng(21)
    model = random_model(rng, SIZES, 0.3)
    x = random_inputs(rng, 3, SIZES[0])
    p = packed(model, pes=3)
    runs = simulate_loaded(p, x, kind=kind, queue_depth=2, seed=4, idle=1.0)
    assert all(SIZES[-1] <= run.held <= 3 * SIZES[-1] for run in runs)
    _check(p, x, runs, queue_depth=2, kind=kind)


def _matmul_model(weight):
    """One layer whose requantization is the identity: bias 0, multiplier 1, shift 0, no ReLU."""
    rows = weight.shape[0]
    layer = QuantLayer(weight=weight.astype(np.int8), bias=np.zeros(rows, dtype=np.int32),
                       multiplier=np.ones(rows, dtype=np.int64), shift=0, relu=False,
                       weight_scale=None, in_scale=1.0, out_scale=1.0)
    return QuantModel(1.0, (layer,))


@pytest.mark.parametrize("fmt", ["csc", "nm"])
@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_accumulator_readout_is_the_exact_product(kind, fmt):
    """``readout="accumulators"``: the stream and the logit registers are ``X @ W.T`` exactly,
    far outside int8 (all -128 weights and inputs), in the cycles of a requantized readout."""
    n, m, pes, cols = 2, 4, 3, 14
    rng = np.random.default_rng(31 if fmt == "csc" else 32)
    if fmt == "nm":
        w = _nm_model(rng, [cols, 7], n, m).layers[0].weight.astype(np.int64)
        w[0, w[0] != 0] = -128  # every kept weight of row 0 at the int8 extreme
        p = container.decode(container.encode(_matmul_model(w), pes=pes, fmt="nm", n=n, m=m))
    else:
        w = random_model(rng, [cols, 7], 0.5).layers[0].weight.astype(np.int64)
        w[0] = -128
        p = packed(_matmul_model(w), pes=pes)
    x = random_inputs(rng, 4, cols)
    x[0] = -128
    x[1] = 127
    expected = x.astype(np.int64) @ w.T
    assert expected.max() == 128 * 128 * np.count_nonzero(w[0]) and expected.min() < -(1 << 15)
    dut, load = loaded(p, kind=kind, queue_depth=2, issue_width=2, readout="accumulators")
    assert dut.signature == AcceleratorSignature(inputs=cols, outputs=7, value_bits=32)
    runs = simulate_network(dut, x, seed=6, idle=0.3, load=load)
    cycles = network_cycles(p, x, queue_depth=2, array=kind, issue_width=2).total
    for i, run in enumerate(runs):
        np.testing.assert_array_equal(run.logits, expected[i], err_msg=f"sample {i} registers")
        np.testing.assert_array_equal(run.streamed, expected[i], err_msg=f"sample {i} stream")
        assert run.predicted == np.argmax(expected[i]), f"sample {i} class"
        assert run.counters["cycles"] == run.edges == cycles[i] + run.held, f"sample {i} cycles"


def test_rejects_a_bad_readout():
    image = network_image(packed(random_model(np.random.default_rng(0), [8, 4], 0.5), pes=2))
    with pytest.raises(ValueError) as error:
        Accelerator(Capacity.of(image), kind="sparse", readout="x")
    assert str(error.value) == "Readout must be one of logits, accumulators, not 'x'"
