"""CSC packing: round trip for any int8 matrix, and the hand-worked example of SPEC.md."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
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
