"""How ``sim matmul`` packs W (no RTL): N:M inference, codebook exactness, refusals, and the
one-layer derivation ``simulate`` uses for a layer's compute cycles."""

import numpy as np
import pytest

from secateurs.errors import InputError
from secateurs.sim.inference import compute_cycles, single_layer
from secateurs.sim.matmul import CODEBOOK_BITS, infer_nm, matmul_layer, parse_nm
from secateurs.sw.cycles import network_cycles
from secateurs.sw.formats.base import check_matrix
from secateurs.sw.formats.payload import INT4
from secateurs.sw.reference import accumulate, accumulate_packed, forward
from tests.helpers.models import packed, random_inputs, random_model


def _pattern(rng, rows, cols, keep):
    """Random nonzero int8 weights on the positions ``keep`` (a boolean row of one group) marks."""
    w = rng.integers(1, 128, (rows, cols)) * rng.choice([-1, 1], (rows, cols))
    return w * np.resize(keep, cols)


@pytest.mark.parametrize("keep, expected", [
    ([1, 1, 0, 0], (2, 4)),  # a pair holds 2: not 1:2; 4:8 walks as many words, the smaller M wins
    ([1, 0], (1, 2)),
    ([1, 0, 0, 0, 0, 0, 0, 0], (1, 8)),
    ([1, 1, 1, 0, 0, 0, 0, 0], (3, 8)),  # 2:4 would not hold, 3:8 does
])
def test_nm_is_the_tightest_pattern(keep, expected):
    w = _pattern(np.random.default_rng(0), 6, 24, np.array(keep))
    assert infer_nm(w) == expected
    layer = matmul_layer(w, pes=2, fmt="nm")
    assert layer.nm == expected and layer.packed.layers[0].m == expected[1]
    np.testing.assert_array_equal(layer.weights, w)


def test_nm_of_zeros_is_one_word_per_row():
    assert infer_nm(np.zeros((3, 5), dtype=int)) == (1, 8)  # one group of 8 covers 5 inputs


def test_dense_weights_have_no_nm_pattern():
    with pytest.raises(InputError, match="not N:M sparse for any M in 2, 4, 8, 16"):
        infer_nm(np.ones((2, 16), dtype=int))
    # Narrower than M, a dense row fits one narrow group: 6 of 8 is a pattern (a useless one).
    assert infer_nm(np.ones((2, 6), dtype=int)) == (6, 8)


def test_given_nm_is_checked_against_the_weights():
    w = _pattern(np.random.default_rng(1), 4, 8, np.array([1, 1, 1, 0]))
    with pytest.raises(InputError, match=r"^the weights are not 2:4 sparse: row 0 has 3 nonzeros "
                                         r"in inputs 0..3$"):
        matmul_layer(w, pes=2, fmt="nm", nm=(2, 4))
    assert matmul_layer(w, pes=2, fmt="nm", nm=(3, 4)).nm == (3, 4)
    with pytest.raises(InputError, match="--nm applies to --format nm only"):
        matmul_layer(w, pes=2, fmt="csc", nm=(3, 4))


@pytest.mark.parametrize("text, message", [
    ("2-4", "--nm must be N:M"), ("a:4", "--nm must be N:M"), ("4:4", "1 <= N < M"),
    ("0:4", "1 <= N < M"), ("1:32", "M in 2..16"),
])
def test_bad_nm_text(text, message):
    with pytest.raises(InputError, match=message):
        parse_nm(text)
    assert parse_nm("2:4") == (2, 4)


def test_codebook_is_exact_with_few_enough_values():
    rng = np.random.default_rng(2)
    levels = (1 << CODEBOOK_BITS) - 1
    values = rng.choice(np.arange(-128, 128)[np.arange(-128, 128) != 0], levels, replace=False)
    w = rng.choice(values, (12, 20)) * (rng.random((12, 20)) < 0.7)
    layer = matmul_layer(w, pes=3, payload="codebook")
    assert layer.exact and layer.max_weight_error == 0
    np.testing.assert_array_equal(layer.weights, w)
    stored = layer.packed.layers[0]
    assert stored.codebook is not None and len(stored.codebook) == 1 << CODEBOOK_BITS
    x = random_inputs(rng, 4, 20)
    np.testing.assert_array_equal(accumulate_packed(stored, x), x @ w.T)


def test_codebook_with_too_many_values_is_the_decoded_product():
    rng = np.random.default_rng(3)
    w = rng.integers(-128, 128, (10, 30))  # about 250 distinct values for 15 levels
    layer = matmul_layer(w, pes=2, payload="codebook")
    assert not layer.exact
    error = np.abs(layer.weights - w)
    assert layer.max_weight_error == error.max() > 0
    assert error.max() <= 30  # k-means levels, not noise: 15 levels over 255 values
    assert set(np.unique(layer.weights)) <= set(layer.packed.layers[0].codebook)
    np.testing.assert_array_equal(layer.weights[w == 0], 0)


def test_int4_refuses_weights_outside_its_range():
    with pytest.raises(InputError, match=r"weights must fit 4-bit signed integers \(-8..7\)"):
        matmul_layer(np.array([[3, -9]]), pes=1, payload="int4")
    layer = matmul_layer(np.array([[7, -8], [0, 1]]), pes=1, payload="int4")
    assert layer.packed.layers[0].value_bits == 4 and layer.exact


@pytest.mark.parametrize("values, what, message", [
    (np.zeros(3, dtype=int), "inputs",
     r"inputs must be a 2-D matrix \(rows x cols\), not shape \(3,\)"),
    (np.zeros((2, 2)), "weights", "weights must be integers, not float64"),
    (np.array([[128]]), "inputs", r"inputs must fit 8-bit signed integers \(-128..127\)"),
])
def test_the_one_int8_matrix_check(values, what, message):
    with pytest.raises(InputError, match=f"^{message}$"):
        check_matrix(values, what=what)
    assert check_matrix(np.array([[-8, 7]], dtype=np.int8), INT4).dtype == np.int64


def test_a_layer_alone_has_the_compute_cycles_of_the_network():
    """``simulate``'s per-layer check: each layer of a model as a one-layer network, fed the
    reference's activations, takes its compute cycles plus its drain and the argmax's cycle;
    its raw readout is its accumulators."""
    rng = np.random.default_rng(4)
    model = packed(random_model(rng, [12, 9, 5], 0.5), pes=2)
    x = random_inputs(rng, 6, 12)
    whole = network_cycles(model, x, queue_depth=2, array="sparse")
    activations = [x, *forward(model.model, x)[:-1]]
    for i, q in enumerate(model.model.layers):
        alone = single_layer(model, i)
        assert alone.layers[0] is model.layers[i] and not alone.model.layers[0].bias.any()
        cycles = network_cycles(alone, activations[i], queue_depth=2, array="sparse").total
        np.testing.assert_array_equal(compute_cycles(cycles, q.rows), whole.compute[i])
        np.testing.assert_array_equal(accumulate(alone.model.layers[0].weight, activations[i]),
                                      accumulate(q.weight, activations[i]))
