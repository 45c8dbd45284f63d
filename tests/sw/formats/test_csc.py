"""CSC packing: round trip for any int8 matrix, and the hand-worked example of SPEC.md."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from secateurs.errors import FormatError, InputError
from secateurs.sw.formats.csc import pack_csc, unpack_csc


@st.composite
def sparse_int8(draw):
    rows = draw(st.integers(1, 40))
    cols = draw(st.integers(1, 12))
    values = draw(hnp.arrays(np.int8, (rows, cols)))
    keep = draw(hnp.arrays(np.bool_, (rows, cols)))
    return np.where(keep, values, 0).astype(np.int8)


@settings(max_examples=200, deadline=None)
@given(w=sparse_int8(), pes=st.integers(1, 8), index_bits=st.integers(1, 5))
def test_round_trip(w, pes, index_bits):
    layer = pack_csc(w, pes=pes, index_bits=index_bits)
    assert np.array_equal(unpack_csc(layer), w)
    # every word advances at least one local row, so a PE never has more words than rows × cols
    assert layer.counts().max(initial=0) <= layer.rows_per_pe


def test_spec_worked_example():
    column = np.array([[0], [5], [0], [0], [0], [0], [-3]], dtype=np.int8)
    layer = pack_csc(column, pes=2, index_bits=2)
    assert layer.words[0].tolist() == [0x3FD]
    assert layer.words[1].tolist() == [0x005]
    narrow = pack_csc(column, pes=2, index_bits=1)
    filler = 1 << 8  # value 0, zeros = 2^1 - 1
    assert narrow.words[0].tolist() == [filler, 0xFD | 1 << 8]
    assert narrow.col_ptr.tolist() == [[0, 2], [0, 1]]


def test_filler_count_for_long_gap():
    w = np.zeros((100, 1), dtype=np.int8)
    w[99, 0] = 1
    layer = pack_csc(w, pes=1, index_bits=4)  # gap of 99 rows: 6 fillers of 16 rows, then 3
    assert layer.n_words() == 7


def test_rejects_wide_values_and_bad_shapes():
    with pytest.raises(InputError, match="8-bit"):
        pack_csc(np.array([[200]]), pes=1)
    with pytest.raises(InputError, match="2-D"):
        pack_csc(np.zeros(4, dtype=np.int8), pes=1)


def test_unpack_rejects_word_past_last_row():
    layer = pack_csc(np.array([[1], [0]], dtype=np.int8), pes=1, index_bits=4)
    layer.words[0][0] |= 5 << 8  # land on row 5 of a 2-row layer
    with pytest.raises(FormatError, match="beyond"):
        unpack_csc(layer)


def test_codebook_words_hold_codes_in_the_hardware_layout():
    from secateurs.hw.layout import csc_code_word, field_slices
    from secateurs.sw.formats import codebook

    table = codebook([0, 40, -7, 3])
    w = np.array([[0, -7], [40, 0], [0, 0], [3, 40]], dtype=np.int8)
    layer = pack_csc(w, pes=1, index_bits=1, payload=table)
    fields = field_slices(csc_code_word(2, 1))
    assert fields == {"code": (0, 2), "zeros": (2, 1)} and layer.word_layout == csc_code_word(2, 1)
    # column 0: 40 on row 1 (code 1, zeros 1), then row 3 (code 3, zeros 1)
    # column 1: -7 on row 0 (code 2, zeros 0); the gap to row 3 is 2 > 1: a filler (code 0,
    # zeros 1) advances 2 rows, then 40 (code 1) with zeros 0
    assert layer.words[0].tolist() == [1 | 1 << 2, 3 | 1 << 2, 2, 0 | 1 << 2, 1]
    assert layer.col_ptr.tolist() == [[0, 2, 5]]
    assert np.array_equal(unpack_csc(layer), w)
    values, zeros = layer.decode(0)
    assert values.tolist() == [40, 3, -7, 0, 40] and zeros.tolist() == [1, 1, 0, 1, 0]


def test_counts_are_per_pe_per_column_words():
    w = np.zeros((6, 3), dtype=np.int8)
    w[[0, 2, 4], 0] = 1  # PE 0 (P=2) holds rows 0, 2, 4: three words in column 0
    w[5, 2] = 1  # PE 1 holds rows 1, 3, 5: local row 2
    layer = pack_csc(w, pes=2, index_bits=1)  # gap 2 > 1 for PE 1: one filler
    assert layer.counts().tolist() == [[3, 0, 0], [0, 0, 2]]
    assert layer.n_fillers() == 1 and layer.nonzeros == 4


def test_best_index_width_is_the_cheapest():
    from secateurs.sw.formats import csc

    rng = np.random.default_rng(0)
    for density in (0.5, 0.1, 0.02):
        w = (rng.integers(-127, 128, (200, 30)) * (rng.random((200, 30)) < density)).astype(np.int8)
        totals = {r: csc.size_bits(pack_csc(w, pes=2, index_bits=r)).total for r in range(1, 9)}
        best = csc.best_index_bits(w, pes=2)
        assert totals[best] == min(totals.values())
        assert pack_csc(w, pes=2, index_bits=None).index_bits == best
    # sparser matrices want wider indices (fewer fillers), as EIE's analysis predicts
    widths = [csc.best_index_bits((rng.random((400, 8)) < d).astype(np.int8), pes=1)
              for d in (0.5, 0.1, 0.01)]
    assert widths == sorted(widths) and widths[0] < widths[-1]


def test_fillers_match_the_gap_arithmetic():
    from secateurs.sw.formats import csc

    rng = np.random.default_rng(1)
    w = (rng.random((300, 5)) < 0.03).astype(np.int8)
    for r in (1, 2, 3, 4):
        layer = pack_csc(w, pes=1, index_bits=r)
        expected = 0
        for j in range(5):
            rows = np.flatnonzero(w[:, j])
            gaps = np.diff(np.concatenate([[-1], rows])) - 1
            expected += int(np.sum(gaps // (1 << r)))
        assert layer.n_fillers() == expected
        size = csc.size_bits(layer)
        assert size.fillers == expected * (8 + r) and size.index == int(w.sum()) * r


@pytest.mark.parametrize("corrupt, message", [
    (lambda words: words.__setitem__(1, 0 | 2 << 8), "not a filler"),  # a zero value with a short gap
    (lambda words: words.__setitem__(2, 15 << 8), "no value but is not a filler"),  # trailing filler
])
def test_unpack_rejects_zero_words_that_are_not_fillers(corrupt, message):
    w = np.zeros((40, 1), dtype=np.int8)
    w[[0, 30], 0] = 5
    layer = pack_csc(w, pes=1, index_bits=4)  # 5, filler, 5
    assert layer.n_words() == 3
    words = layer.words[0].copy()
    corrupt(words)
    bad = type(layer)(40, 1, 1, 8, 4, (words,), layer.col_ptr)
    with pytest.raises(FormatError, match=message):
        unpack_csc(bad)


def test_unpack_rejects_pointers_that_do_not_cover_the_bank():
    layer = pack_csc(np.array([[1], [2]], dtype=np.int8), pes=1, index_bits=4)
    bad = type(layer)(2, 1, 1, 8, 4, layer.words, np.array([[0, 1]]))
    with pytest.raises(FormatError, match="monotonic cover"):
        unpack_csc(bad)


def test_common_index_width_minimises_the_sum_over_layers():
    from secateurs.sw.formats import INT8, csc

    rng = np.random.default_rng(2)
    layers = [(((rng.random((120, 20)) < d) * 3).astype(np.int8), INT8) for d in (0.4, 0.02)]
    totals = {r: sum(csc.size_bits(pack_csc(w, pes=2, index_bits=r)).total for w, _ in layers)
              for r in range(1, 9)}
    assert totals[csc.best_common_index_bits(layers, pes=2)] == min(totals.values())
