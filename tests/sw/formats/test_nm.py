"""N:M packing: the hand-worked example of SPEC.md, the bank order the hardware walks, and refusals."""

import numpy as np
import pytest

from secateurs.errors import FormatError, InputError
from secateurs.hw.layout import field_slices, nm_code_word, nm_word
from secateurs.sw.formats import INT8, codebook, nm


def test_spec_worked_example():
    w = np.array([[0, 5, 0, -3, 7, 0],
                  [0, 0, 0, 0, 0, 2]], dtype=np.int8)
    layer = nm.pack_nm(w, n=2, m=4, pes=1)
    assert field_slices(nm_word(8, 4)) == {"value": (0, 8), "position": (8, 2)}
    # group 0 (inputs 0..3): row 0 keeps 5@1, -3@3; row 1 has nothing: two padding words
    # group 1 (inputs 4..5): row 0 keeps 7@0, one padding; row 1 keeps 2@1, one padding
    assert layer.words[0].tolist() == [0x105, 0x3FD, 0, 0, 0x007, 0, 0x102, 0]
    assert layer.counts().tolist() == [[4, 4]] and layer.groups == 2 and layer.group_width(1) == 2
    assert np.array_equal(nm.unpack_nm(layer), w)


def test_banks_are_group_major_over_interleaved_rows():
    rng = np.random.default_rng(0)
    w = rng.integers(-9, 10, (5, 8)) * np.tile([1, 0, 0, 1], (5, 2))
    layer = nm.pack_nm(w, n=2, m=4, pes=2)  # PE 0: rows 0, 2, 4; PE 1: rows 1, 3
    assert [len(b) for b in layer.words] == [2 * 3 * 2, 2 * 2 * 2]
    assert layer.counts().tolist() == [[6, 6], [4, 4]]
    values, positions = layer.fields(1)
    # PE 1, group 1, local row 1 (row 3), slot 1: address (1·2 + 1)·2 + 1
    assert INT8.decode(values[7]) == w[3, 7] and positions[7] == 3


def test_codebook_payload_uses_code_words():
    table = codebook([0, 11, -4, 90])
    w = np.array([[11, 0, -4, 0, 0, 90, 0, 0]], dtype=np.int8)
    with pytest.raises(InputError, match="1:4 allows 1"):
        nm.pack_nm(w, n=1, m=4, payload=table)
    layer = nm.pack_nm(w, n=2, m=4, pes=1, payload=table)
    assert layer.word_layout == nm_code_word(2, 4)
    # codes 1 (11) @0 and 2 (-4) @2; then 3 (90) @1 and padding
    assert layer.words[0].tolist() == [1, 2 | 2 << 2, 3 | 1 << 2, 0]
    assert np.array_equal(nm.unpack_nm(layer), w)


def test_too_many_nonzeros_in_a_group_is_refused():
    w = np.array([[1, 2, 3, 0]], dtype=np.int8)
    with pytest.raises(InputError, match="row 0 has 3 nonzeros in inputs 0..3; 2:4 allows 2"):
        nm.pack_nm(w, n=2, m=4)


@pytest.mark.parametrize("n, m", [(0, 4), (5, 4), (1, 1), (2, 17)])
def test_bad_n_m(n, m):
    with pytest.raises(InputError, match="N:M"):
        nm.pack_nm(np.zeros((2, 4), np.int8), n=n, m=m)


@pytest.mark.parametrize("word, message", [
    (0x305, "position beyond its group"),  # position 3 of a 2-wide tail group
    (0x100, "padding slot with a nonzero position"),
])
def test_unpack_rejects_bad_slots(word, message):
    w = np.zeros((1, 6), dtype=np.int8)
    layer = nm.pack_nm(w, n=1, m=4)
    words = layer.words[0].copy()
    words[1] = word  # group 1
    with pytest.raises(FormatError, match=message):
        nm.unpack_nm(nm.NMLayer(1, 6, 1, 1, 4, 8, (words,)))


def test_unpack_rejects_disordered_slots():
    w = np.array([[1, 0, 2, 0]], dtype=np.int8)
    layer = nm.pack_nm(w, n=2, m=4)
    swapped = layer.words[0][::-1].copy()
    with pytest.raises(FormatError, match="positions not increasing"):
        nm.unpack_nm(nm.NMLayer(1, 4, 1, 2, 4, 8, (swapped,)))
    padded_first = np.array([0, layer.words[0][0]], dtype=np.uint32)
    with pytest.raises(FormatError, match="kept weight after a padding slot"):
        nm.unpack_nm(nm.NMLayer(1, 4, 1, 2, 4, 8, (padded_first,)))


def test_active_groups():
    layer = nm.pack_nm(np.zeros((2, 6), np.int8), n=1, m=4)
    x = np.array([[0, 0, 0, 0, 0, 3], [1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    assert layer.active_groups(x).tolist() == [[False, True], [True, False], [False, False]]
