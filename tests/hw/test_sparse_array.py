"""SparseArray in Amaranth's simulator: outputs equal ``x @ W.T``, ``cycles`` equals the model."""

import numpy as np
import pytest

from secateurs.config import HardwareConfig
from secateurs.hw.dense_array import DenseArray
from secateurs.hw.sim_host import simulate_layers
from secateurs.hw.sparse_array import SparseArray
from secateurs.sim.tb.images import sparse_image
from secateurs.sw.cycles import IDLE_CYCLES, expected_cycles
from secateurs.sw.formats.csc import pack_csc

# Rejected parameters and signature checks build components that are never elaborated.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

ROWS, COLS = 20, 16  # the array most cases run on; smaller layers use n_rows / n_cols
DENSITIES = (0.0, 0.05, 0.1, 0.5, 1.0)
IDLE = 0.3  # probability of idle cycles before each host write


def random_layer(rng, rows, cols, density):
    weights = rng.integers(-128, 128, (rows, cols))
    return weights * (rng.random((rows, cols)) < density)


def random_inputs(rng, cols):
    """A sparse sample, an all-zero one and one without zeros (extremes included)."""
    sparse = rng.integers(-128, 128, cols) * (rng.random(cols) < 0.6)
    full = rng.choice([-128, -1, 1, 127], cols)
    return np.stack([sparse, np.zeros(cols, dtype=np.int64), full])


def layer_suite(rng, pes):
    """Weights of every case a configuration runs, in order, all fitting ROWS x COLS."""
    suite = [random_layer(rng, ROWS, COLS, d) for d in DENSITIES]
    holes = random_layer(rng, 13, 9, 0.4)
    holes[:, 2] = 0  # a column with no nonzero at all
    holes[:, 5] = 0
    holes[-1, 5] = -7  # ... and one whose only nonzero sits past a long gap
    suite.append(holes)
    suite.append(random_layer(rng, 1, COLS, 0.5))  # 1 x N
    suite.append(random_layer(rng, ROWS, 1, 0.5))  # N x 1
    gaps = np.zeros((ROWS, COLS), dtype=np.int64)
    gaps[-1, :] = rng.integers(1, 128, COLS)  # long gaps: fillers when index_bits is small
    gaps[0, ::3] = -128
    suite.append(gaps)
    suite.append(skewed_layer(rng, pes))
    return suite


def skewed_layer(rng, pes):
    """Each PE's rows are empty, sparse or dense per column: PEs take turns being the slow one,
    so deeper queues let the others run ahead."""
    weights = rng.integers(-128, 128, (ROWS, COLS))
    keep = rng.choice([0.0, 0.15, 1.0], size=(pes, COLS), p=[0.3, 0.4, 0.3])
    return weights * (rng.random((ROWS, COLS)) < keep[np.arange(ROWS) % pes])


def run_and_check(dut, hw, index_bits, weights_list, inputs_list, *, seed):
    layers = [pack_csc(w, pes=hw.pes, index_bits=index_bits) for w in weights_list]
    images = [sparse_image(layer, x, dut.signature.pointer_layout)
              for layer, x in zip(layers, inputs_list)]
    results = simulate_layers(dut, images, seed=seed, idle=IDLE)
    for w, x, layer, (outputs, runs) in zip(weights_list, inputs_list, layers, results):
        np.testing.assert_array_equal(outputs, x @ w.T)
        cycles = np.array([r.cycles for r in runs])
        np.testing.assert_array_equal(cycles, [r.edges for r in runs])
        np.testing.assert_array_equal(cycles, expected_cycles(hw, layer, x, array="sparse"))


@pytest.mark.parametrize("pes, queue_depth, issue_width, index_bits", [
    (1, 1, 1, 4), (3, 2, 1, 2), (4, 4, 2, 4), (4, 1, 2, 2), (3, 1, 4, 3), (1, 4, 8, 2),
    (4, 2, 4, 4),
])
def test_random_layers_match_numpy_and_cycle_model(pes, queue_depth, issue_width, index_bits):
    rng = np.random.default_rng([pes, queue_depth, issue_width, index_bits])
    hw = HardwareConfig(pes=pes, queue_depth=queue_depth, issue_width=issue_width)
    dut = SparseArray(pes=pes, rows=ROWS, cols=COLS, queue_depth=queue_depth,
                      issue_width=issue_width, index_bits=index_bits)
    suite = layer_suite(rng, pes)
    inputs = [random_inputs(rng, w.shape[1]) for w in suite]
    run_and_check(dut, hw, index_bits, suite, inputs, seed=pes * 100 + queue_depth)


def test_larger_layer():
    rng = np.random.default_rng(64)
    hw = HardwareConfig(pes=4, queue_depth=2)
    dut = SparseArray(pes=4, rows=64, cols=48, queue_depth=2)
    weights = random_layer(rng, 64, 48, 0.1)
    run_and_check(dut, hw, 4, [weights], [random_inputs(rng, 48)[[0, 2]]], seed=1)


def test_empty_run_clears_accumulators():
    """n_cols = 0 after a real run: nothing to do, fixed latency, all outputs 0."""
    rng = np.random.default_rng(5)
    dut = SparseArray(pes=2, rows=6, cols=4, queue_depth=2)
    weights = random_layer(rng, 6, 4, 1.0)
    layer = pack_csc(weights, pes=2)
    x = np.ones((1, 4), dtype=np.int64)
    image = sparse_image(layer, x, dut.signature.pointer_layout)
    empty = sparse_image(pack_csc(weights[:, :0], pes=2), x[:, :0], dut.signature.pointer_layout)
    (_, _), (outputs, runs) = simulate_layers(dut, [image, empty])
    np.testing.assert_array_equal(outputs, np.zeros((1, 6)))
    assert runs[0].cycles == runs[0].edges == IDLE_CYCLES


def test_shares_the_dense_signature():
    kwargs = dict(pes=3, rows=10, cols=7, index_bits=3)
    assert SparseArray(queue_depth=2, **kwargs).signature == DenseArray(**kwargs).signature


@pytest.mark.parametrize("kwargs, message", [
    (dict(pes=0), "PE count must be a positive integer, not 0"),
    (dict(rows="8"), "Row count must be a positive integer, not '8'"),
    (dict(cols=-1), "Column count must be a positive integer, not -1"),
    (dict(queue_depth=0), "Queue depth must be an integer in 1..16, not 0"),
    (dict(queue_depth=17), "Queue depth must be an integer in 1..16, not 17"),
    (dict(issue_width=3), "Issue width must be one of 1, 2, 4, 8, not 3"),
    (dict(bank_depth=0), "Bank depth must be a positive integer, not 0"),
    (dict(acc_bits=16), "Accumulator width 16 can overflow: 8 columns of 8-bit x 8-bit products "
                        "reach 131072, which needs 19 bits"),
    (dict(index_bits=0), "Index width must be an integer in 1..8, not 0"),
])
def test_rejects_bad_parameters(kwargs, message):
    params = dict(pes=2, rows=8, cols=8, queue_depth=2) | kwargs
    with pytest.raises(ValueError, match=f"^{message}$"):
        SparseArray(**params)