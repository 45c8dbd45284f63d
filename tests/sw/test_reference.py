"""The integer reference against torch's integer matmul and hand-computed requantization."""

import numpy as np
import pytest
import torch

from secateurs.sw.reference import accumulate, classify, quantize_input, requantize


def test_accumulate_matches_torch_integer_matmul():
    rng = np.random.default_rng(0)
    w = rng.integers(-128, 128, (33, 70)).astype(np.int8)
    x = rng.integers(-128, 128, (9, 70)).astype(np.int8)
    want = torch.from_numpy(x).long() @ torch.from_numpy(w).long().T
    assert np.array_equal(accumulate(w, x), want.numpy())


@pytest.mark.parametrize("acc, bias, m, shift, relu, want", [
    (100, -4, 3, 2, True, 72),       # (96·3 + 2) >> 2 = 290 >> 2
    (-10, 0, 5, 2, True, 0),         # negative, then ReLU
    (-10, 0, 5, 2, False, -12),      # (-50 + 2) >> 2 = -48 >> 2
    (-11, 0, 5, 2, False, -14),      # -55/4 = -13.75 rounds to -14
    (6, 0, 1, 2, False, 2),          # 1.5 rounds half up to 2
    (-6, 0, 1, 2, False, -1),        # -1.5 rounds half up to -1
    (10**6, 0, 1, 0, False, 127),    # clamps, shift 0 adds no rounding term
    (-10**6, 0, 1, 0, False, -128),
])
def test_requantize_hand_cases(acc, bias, m, shift, relu, want):
    got = requantize(np.array([[acc]]), np.array([bias]), np.array([m]), shift, relu)
    assert got.dtype == np.int8 and int(got[0, 0]) == want


def test_quantize_input_rounds_half_up_and_clamps():
    got = quantize_input(np.array([0.0, 0.25, 0.5, 0.75, -0.75, 100.0, -100.0]), 0.5)
    assert got.tolist() == [0, 1, 1, 2, -1, 127, -128]


def test_classify_breaks_ties_to_the_first_index():
    assert classify(np.array([[3, 7, 7, 1], [0, 0, 0, 0]])).tolist() == [1, 0]


def test_walking_packed_banks_matches_torch():
    """CSC (int8 and codebook codes, with fillers) and N:M banks walked word by word give W·x."""
    from secateurs.sw.formats import codebook
    from secateurs.sw.formats.csc import pack_csc
    from secateurs.sw.formats.nm import pack_nm
    from secateurs.sw.reference import accumulate_packed

    rng = np.random.default_rng(3)
    table = codebook([0, 90, -17, 4, -128, 33, 1, -2])
    w = rng.choice(table.codebook, (50, 24)) * (rng.random((50, 24)) < 0.15)
    w_nm = w * np.tile([1, 0, 0, 1], 6)  # at most 2 of every 4 inputs
    x = rng.integers(-128, 128, (7, 24))
    want = (torch.from_numpy(x) @ torch.from_numpy(w).T).numpy()
    for layer in (pack_csc(w, pes=3, index_bits=2), pack_csc(w, pes=4, index_bits=3, payload=table)):
        assert layer.n_fillers() > 0
        assert np.array_equal(accumulate_packed(layer, x), want)
    want_nm = (torch.from_numpy(x) @ torch.from_numpy(w_nm).T).numpy()
    assert np.array_equal(accumulate_packed(pack_nm(w_nm, n=2, m=4, pes=3, payload=table), x), want_nm)
