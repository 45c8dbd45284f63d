"""Every format × payload: pack → unpack is exact, the container's blobs round-trip, the storage
accounting adds up, and walking the packed words computes the same W·x (hypothesis, small shapes)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secateurs.sw.formats import FORMATS, INT4, INT8, Options, codebook
from secateurs.sw.reference import accumulate, accumulate_packed

EXAMPLES = 200
SHAPES = ("random", "all_zero", "dense", "one_row", "one_column", "single", "long_gaps")


@st.composite
def payloads(draw, kind):
    if kind == "int8":
        return INT8
    if kind == "int4":
        return INT4
    bits = draw(st.integers(1, 8))
    entries = draw(st.lists(st.integers(-128, 127).filter(bool), min_size=(1 << bits) - 1,
                            max_size=(1 << bits) - 1))
    return codebook([0, *entries])


def nonzero_values(payload):
    if payload.codebook is not None:
        return [v for v in payload.codebook if v]
    lo, hi = payload.value_range
    return [v for v in range(lo, hi + 1) if v]


@st.composite
def matrices(draw, payload):
    """Integer matrices the payload can hold, with the shapes that break packers."""
    shape = draw(st.sampled_from(SHAPES))
    rows, cols = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    if shape == "one_row":
        rows, cols = 1, draw(st.integers(1, 40))
    elif shape == "one_column":
        rows, cols = draw(st.integers(1, 40)), 1
    elif shape == "long_gaps":
        rows, cols = draw(st.integers(20, 80)), draw(st.integers(1, 3))
    values = nonzero_values(payload)
    pick = st.sampled_from(values) if values else st.just(0)
    w = np.array(draw(st.lists(pick, min_size=rows * cols, max_size=rows * cols)),
                 dtype=np.int64).reshape(rows, cols)
    if shape == "all_zero":
        return np.zeros_like(w)
    if shape == "single":
        keep = np.zeros(w.size, bool)
        keep[draw(st.integers(0, w.size - 1))] = True
        return np.where(keep.reshape(w.shape), w, 0)
    if shape == "long_gaps":
        keep = np.zeros(w.shape, bool)
        keep[[0, rows - 1]] = True  # first and last row only: a gap of rows - 2
        keep[draw(st.integers(0, rows - 1))] = True
        return np.where(keep, w, 0)
    if shape == "dense":
        return w
    density = draw(st.floats(0, 1))
    mask = np.array(draw(st.lists(st.floats(0, 1), min_size=w.size, max_size=w.size))) < density
    return np.where(mask.reshape(w.shape), w, 0)


def to_nm(w, n, m):
    """Keep the first n nonzeros of every group of m inputs of each row."""
    w = w.copy()
    for r in range(w.shape[0]):
        for g in range(0, w.shape[1], m):
            nz = np.flatnonzero(w[r, g:g + m])
            w[r, g + nz[n:]] = 0
    return w


@pytest.mark.parametrize("payload_kind", ["int8", "int4", "codebook"])
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_round_trip(fmt, payload_kind):
    f = FORMATS[fmt]

    @settings(max_examples=EXAMPLES, deadline=None)
    @given(data=st.data())
    def check(data):
        payload = data.draw(payloads(payload_kind))
        w = data.draw(matrices(payload))
        n, m = data.draw(st.sampled_from([(2, 4), (1, 4), (1, 2), (3, 8), (2, 3), (4, 16)]))
        if fmt == "nm":
            w = to_nm(w, n, m)
        options = Options(pes=data.draw(st.integers(1, 6)), n=n, m=m,
                          index_bits=data.draw(st.one_of(st.none(), st.integers(1, 5))))
        layer = f.pack(w, payload, options)
        assert np.array_equal(f.unpack(layer), w)

        blobs = {b.name: np.asarray(b.fields, dtype=np.uint64) for b in f.blobs(layer)}
        assert tuple(blobs) == f.blob_names
        assert all(int(b.fields.max(initial=0)) < 1 << b.width for b in f.blobs(layer))
        stored = Options(pes=options.pes, n=n, m=m, index_bits=getattr(layer, "index_bits", None))
        again = f.from_blobs(w.shape[0], w.shape[1], payload, stored, blobs)
        assert np.array_equal(f.unpack(again), w)

        nonzeros = int(np.count_nonzero(w))
        size = f.size_bits(layer)
        assert size.values == nonzeros * payload.bits
        assert size.total == size.values + size.index + size.fillers + size.metadata
        description = f.describe(layer)
        assert description["nonzeros"] == nonzeros and description["format"] == fmt

        x = np.arange(w.shape[1] * 2).reshape(2, -1) % 255 - 127
        assert np.array_equal(accumulate_packed(layer, x), accumulate(w, x))

    check()


@given(st.lists(st.integers(0, 40), min_size=0, max_size=30), st.integers(1, 64))
def test_spans_cover_every_run_once_within_their_size(lengths, entries):
    """``spans`` (the readers' bounded walk) cuts runs into consecutive spans covering each run
    exactly once; besides its first run, a span holds at most ``entries`` entries."""
    from secateurs.sw.formats.base import spans

    ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    cut = spans(ptr, entries)
    assert [r for span in cut for r in span] == list(range(len(lengths)))
    for span in cut:
        held = int(ptr[span.stop] - ptr[span.start])
        assert held - lengths[span.start] <= entries
