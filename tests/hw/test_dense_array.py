"""DenseArray in Amaranth's simulator: outputs equal ``x @ W.T``, cycles equal the closed form."""

import dataclasses
import re

import numpy as np
import pytest

from secateurs.config import HardwareConfig
from secateurs.hw.dense_array import DenseArray
from secateurs.hw.sim_host import simulate_layers
from secateurs.sim.tb.images import dense_image
from secateurs.sw.cycles import IDLE_CYCLES, dense_cycles, expected_cycles
from secateurs.sw.formats.csc import pack_csc

# Rejected parameters build components that are never elaborated.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

ROWS, COLS = 18, 12  # the array most cases run on; smaller layers use n_rows / n_cols
DENSITIES = (0.0, 0.05, 0.1, 0.5, 1.0)
IDLE = 0.3  # probability of idle cycles before each host write
WORD_BITS = 12  # value + zeros of the default word layout


def random_layer(rng, rows, cols, density):
    return rng.integers(-128, 128, (rows, cols)) * (rng.random((rows, cols)) < density)


def random_inputs(rng, cols):
    """A sparse sample, an all-zero one and one without zeros (extremes included)."""
    sparse = rng.integers(-128, 128, cols) * (rng.random(cols) < 0.6)
    full = rng.choice([-128, -1, 1, 127], cols)
    return np.stack([sparse, np.zeros(cols, dtype=np.int64), full])


def junk_image(rng, weights, inputs, dut):
    """The host image, plus junk in the padding slots and in pointer words: both are ignored."""
    pes = dut.signature.pes
    image = dense_image(weights, inputs, pes, dut.signature.word_layout)
    rows, cols = weights.shape
    rows_per_pe = -(-rows // pes)
    banks = []
    for p, bank in enumerate(image.banks):
        bank = bank.copy()
        for local in range(rows_per_pe):
            if local * pes + p >= rows:
                bank[local::rows_per_pe] = rng.integers(0, 1 << WORD_BITS, cols)
        banks.append(bank)
    pointers = tuple(int(v) for v in rng.integers(0, 1 << 20, cols + 1))
    return dataclasses.replace(image, banks=tuple(banks), pointers=pointers)


def run_and_check(dut, hw, weights_list, inputs_list, *, seed):
    rng = np.random.default_rng(seed)
    images = [junk_image(rng, w, x, dut) for w, x in zip(weights_list, inputs_list)]
    results = simulate_layers(dut, images, seed=seed, idle=IDLE)
    for w, x, (outputs, runs) in zip(weights_list, inputs_list, results):
        np.testing.assert_array_equal(outputs, x @ w.T)
        cycles = np.array([r.cycles for r in runs])
        np.testing.assert_array_equal(cycles, [r.edges for r in runs])
        layer = pack_csc(w, pes=hw.pes)
        np.testing.assert_array_equal(cycles, expected_cycles(hw, layer, x, array="dense"))


@pytest.mark.parametrize("pes", [1, 3, 4])
def test_random_layers_match_numpy_and_cycle_model(pes):
    rng = np.random.default_rng(pes)
    hw = HardwareConfig(pes=pes)
    dut = DenseArray(pes=pes, rows=ROWS, cols=COLS)
    suite = [random_layer(rng, ROWS, COLS, d) for d in DENSITIES]
    suite += [random_layer(rng, 7, 5, 0.5),  # a smaller layer on the same array
              random_layer(rng, 1, COLS, 1.0),  # 1 x N
              random_layer(rng, ROWS, 1, 1.0)]  # N x 1
    inputs = [random_inputs(rng, w.shape[1]) for w in suite]
    run_and_check(dut, hw, suite, inputs, seed=pes)


def test_larger_layer():
    rng = np.random.default_rng(64)
    dut = DenseArray(pes=4, rows=64, cols=48)
    weights = random_layer(rng, 64, 48, 0.1)
    run_and_check(dut, HardwareConfig(pes=4), [weights], [random_inputs(rng, 48)[[0]]], seed=2)


def test_cycles_closed_form():
    """ceil(rows / pes) words per column, one a cycle, plus the fixed latency."""
    assert dense_cycles(18, 12, 4) == 5 * 12 + 3
    assert dense_cycles(1, 12, 4) == 12 + 3
    assert dense_cycles(0, 12, 4) == dense_cycles(18, 0, 4) == IDLE_CYCLES


def test_empty_runs_clear_accumulators():
    """n_cols = 0 or n_rows = 0 after a real run: fixed latency, accumulators cleared."""
    rng = np.random.default_rng(3)
    dut = DenseArray(pes=2, rows=6, cols=4)
    weights = random_layer(rng, 6, 4, 1.0)
    x = np.ones((1, 4), dtype=np.int64)
    full = dense_image(weights, x, 2, dut.signature.word_layout)
    no_cols = dense_image(weights[:, :0], x[:, :0], 2, dut.signature.word_layout)
    no_rows = dataclasses.replace(full, rows=0)
    (first, _), (zeros, runs), (_, more_runs) = simulate_layers(dut, [full, no_cols, no_rows])
    np.testing.assert_array_equal(first, x @ weights.T)
    np.testing.assert_array_equal(zeros, np.zeros((1, 6)))
    for run in runs + more_runs:
        assert run.cycles == run.edges == IDLE_CYCLES


def test_rejects_a_bank_too_small_for_a_dense_layer():
    message = ("Bank depth of a dense array must be at least ceil(rows / pes) * cols = 24, "
               "not 23")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        DenseArray(pes=2, rows=8, cols=6, bank_depth=23)


@pytest.mark.parametrize("kwargs, message", [
    (dict(pes=1.5), "PE count must be a positive integer, not 1.5"),
    (dict(acc_bits=0), "Accumulator width must be a positive integer, not 0"),
    (dict(value_bits=1), "Value width must be an integer in 2..16, not 1"),
])
def test_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        DenseArray(**(dict(pes=2, rows=8, cols=8) | kwargs))