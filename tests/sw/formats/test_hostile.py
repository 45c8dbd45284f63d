"""Hostile model.bin files, every CRC valid (built with the module's own struct layouts): each
is refused quickly with a FormatError naming what lies, and no file makes the reader take more
than a few times its size in memory (plus, for a file it accepts, its dense matrices)."""

import time
import tracemalloc
import zlib

import numpy as np
import pytest

from secateurs.errors import FormatError
from secateurs.sw.formats import container as c

CSC, NM, DENSE, BITMAP, CSR = 3, 5, 1, 2, 4
SLACK = 1 << 20  # interpreter and numpy bookkeeping


def section(payload: bytes) -> bytes:
    framed = c.LENGTH.pack(len(payload)) + payload
    return framed + c.CRC.pack(zlib.crc32(framed))


def layer(fmt, rows, cols, table, *, kind=0, v=8, r=0, n=0, m=0, pes=1, relu=0, data=None):
    """A layer's two sections; its data all zero bytes, exactly as long as ``table`` declares."""
    header = c.LAYER_HEADER.pack(fmt, kind, v, r, n, m, pes, rows, cols, 0, relu, len(table), 1.0)
    header += b"".join(c.BLOB_ENTRY.pack(w, k) for w, k in table) + bytes(c.GEOMETRY.size)
    if data is None:
        data = bytes(sum((w * k + 7) // 8 for w, k in table))
    return section(header) + section(data)


def model_file(layers) -> bytes:
    return (c.PREFIX.pack(c.MAGIC, c.VERSION) + section(c.FILE_HEADER.pack(len(layers), 1.0))
            + b"".join(layers))


def zero_csc(rows, cols, pes=1, r=4, relu=0):
    return layer(CSC, rows, cols, [(1, rows), (1, 1), (8, 0), (1, pes * cols), (8 + r, 0)],
                 r=r, pes=pes, relu=relu)


def decode_measured(data):
    """decode(data) under tracemalloc; returns (result or exception, peak bytes, seconds)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        result = c.decode(data)
    except FormatError as e:
        result = e
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, peak, seconds


def test_a_zero_layer_decodes():
    """The helpers build files the reader accepts: the hostile ones below differ in one lie."""
    packed = c.decode(model_file([zero_csc(16, 8)]))
    assert packed.model.layers[0].weight.shape == (16, 8) and not packed.model.layers[0].weight.any()


HOSTILE = {
    # 256 layers of 4096² zeros: 280 KB that SPEC v2 allowed, 4.3 GB of dense matrices
    "256 layers of 4096x4096 zeros": (
        lambda: model_file([zero_csc(4096, 4096, relu=int(i < 255)) for i in range(256)]),
        "cells"),
    "one 4096x4096 zero layer": (lambda: model_file([zero_csc(4096, 4096)]), "cells"),
    "P·C counts past the limit": (lambda: model_file([zero_csc(1, 1 << 20, pes=64)]), "cells"),
    # 8 MiB of 1-bit fields: the old reader took 64 bytes of scratch per field
    "64 Mi one-bit bitmap fields": (
        lambda: model_file([layer(BITMAP, 8192, 8192, [(1, 8192), (1, 1), (8, 0), (1, 1 << 26),
                                                          (8, 0)])]), "cells"),
    "a bias blob of 64 Mi fields": (
        lambda: model_file([layer(CSC, 16, 8, [(1, 1 << 26), (1, 1), (8, 0), (1, 8), (12, 0)],
                                  r=4)]), "blob 'bias' has 67108864 fields, expected 16"),
    "CSC words width not value_bits + index_bits": (
        lambda: model_file([layer(CSC, 16, 8, [(1, 16), (1, 1), (8, 0), (1, 8), (13, 0)], r=4)]),
        "blob 'words' has 13-bit fields, expected 12"),
    "CSC words more than rows x cols": (
        lambda: model_file([layer(CSC, 16, 8, [(1, 16), (1, 1), (8, 0), (1, 8), (12, 129)], r=4)]),
        "blob 'words' has 129 fields, expected 0..128"),
    "CSC counts wider than the rows need": (
        lambda: model_file([layer(CSC, 16, 8, [(1, 16), (1, 1), (8, 0), (6, 8), (12, 0)], r=4)]),
        "blob 'counts' has 6-bit fields, expected 1..5"),
    "N:M words width not value_bits + position bits": (
        lambda: model_file([layer(NM, 4, 8, [(1, 4), (1, 1), (8, 0), (11, 16)], n=2, m=4)]),
        "blob 'words' has 11-bit fields, expected 10"),
    "N:M words count not G·R·N": (
        lambda: model_file([layer(NM, 4, 8, [(1, 4), (1, 1), (8, 0), (10, 15)], n=2, m=4)]),
        "blob 'words' has 15 fields, expected 16"),
    "N:M with N > M": (
        lambda: model_file([layer(NM, 4, 8, [(1, 4), (1, 1), (8, 0), (10, 40)], n=5, m=4)]),
        "N:M=5:4"),
    "bias wider than 32 bits": (
        lambda: model_file([layer(CSC, 16, 8, [(33, 16), (1, 1), (8, 0), (1, 8), (12, 0)], r=4)]),
        "blob 'bias' has 33-bit fields, expected 1..32"),
    "multiplier wider than 16 bits": (
        lambda: model_file([layer(CSC, 16, 8, [(1, 16), (17, 1), (8, 0), (1, 8), (12, 0)], r=4)]),
        "blob 'multiplier' has 17-bit fields"),
    "multiplier count neither 1 nor R": (
        lambda: model_file([layer(CSC, 16, 8, [(1, 16), (1, 2), (8, 0), (1, 8), (12, 0)], r=4)]),
        "blob 'multiplier' has 2 fields, expected 1 or 16"),
    "codebook entries not 8 bits": (
        lambda: model_file([layer(CSC, 16, 8, [(1, 16), (1, 1), (7, 4), (1, 8), (4, 0)], kind=1,
                                  v=2, r=2)]), "blob 'codebook' has 7-bit fields, expected 8"),
    "codebook count not 2^b": (
        lambda: model_file([layer(CSC, 16, 8, [(1, 16), (1, 1), (8, 5), (1, 8), (4, 0)], kind=1,
                                  v=2, r=2)]), "blob 'codebook' has 5 fields, expected 4"),
    "codebook entries for an integer payload": (
        lambda: model_file([layer(CSC, 16, 8, [(1, 16), (1, 1), (8, 4), (1, 8), (12, 0)], r=4)]),
        "blob 'codebook' has 4 fields, expected 0"),
    "value_bits 0 for a codebook": (
        lambda: model_file([layer(CSC, 16, 8, [(1, 16), (1, 1), (8, 1), (1, 8), (2, 0)], kind=1,
                                  v=0, r=2)]), "value_bits=0 for a codebook payload"),
    "index_bits past 8": (
        lambda: model_file([layer(CSC, 16, 8, [(1, 16), (1, 1), (8, 0), (1, 8), (17, 0)], r=9)]),
        "index_bits=9"),
    "dense values count not R·C": (
        lambda: model_file([layer(DENSE, 4, 4, [(1, 4), (1, 1), (8, 0), (8, 15)])]),
        "blob 'values' has 15 fields, expected 16"),
    "bitmap of 2-bit fields": (
        lambda: model_file([layer(BITMAP, 4, 4, [(1, 4), (1, 1), (8, 0), (2, 16), (8, 0)])]),
        "blob 'bitmap' has 2-bit fields, expected 1"),
    "CSR columns width not ceil(log2 C)": (
        lambda: model_file([layer(CSR, 4, 4, [(1, 4), (1, 1), (8, 0), (1, 4), (3, 0), (8, 0)])]),
        "blob 'columns' has 3-bit fields, expected 2"),
    "CSR columns and values counts differ": (
        lambda: model_file([layer(CSR, 4, 4, [(1, 4), (1, 1), (8, 0), (1, 4), (2, 3), (8, 2)])]),
        "3 CSR columns but 2 values"),
    "layers that do not chain (checked before any data)": (
        lambda: model_file([zero_csc(16, 8, relu=1), zero_csc(4, 15)]),
        "layer 1 header: 15 inputs, but layer 0 has 16 outputs"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_file_is_refused_quickly_in_bounded_memory(name):
    build, message = HOSTILE[name]
    data = build()
    result, peak, seconds = decode_measured(data)
    assert isinstance(result, FormatError), name
    assert message in str(result)
    assert seconds < 2
    assert peak < 4 * len(data) + SLACK, f"{peak} bytes to refuse {len(data)}"


def test_accepted_file_takes_its_size_and_its_dense_matrix():
    """At the file limit: two all-zero 2048² layers (1 KB, 2^23 cells) decode within a few
    times their size plus the one byte per cell of the int8 matrices kept (SPEC.md, Limits)."""
    data = model_file([zero_csc(2048, 2048, relu=1), zero_csc(2048, 2048)])
    result, peak, _ = decode_measured(data)
    assert not isinstance(result, FormatError), result
    assert all(q.weight.dtype == np.int8 for q in result.model.layers)
    assert peak < 4 * len(data) + 2 * 2048 * 2048 + SLACK


def test_real_model_decodes_in_a_few_times_its_size():
    from tests.sw.formats.test_container import random_model

    data = c.encode(random_model(widths=(300, 200, 10), density=0.5), pes=4, index_bits=4)
    result, peak, _ = decode_measured(data)
    assert not isinstance(result, FormatError), result
    cells = 300 * 200 + 200 * 10
    assert peak < 4 * len(data) + 2 * cells + SLACK


#: Bytes per cell of the layer being decoded the reader may take beside a few times the file
#: (SPEC.md, Limits): the int8 matrix kept plus scratch, tightest for the formats the
#: hardware reads.
PER_CELL = {"csc": 2, "nm": 2, "dense": 4, "bitmap": 4, "csr": 4}


@pytest.mark.parametrize("density", [0.05, 0.3, 1.0])
@pytest.mark.parametrize("fmt", list(PER_CELL))
def test_the_largest_layer_decodes_within_the_stated_memory(fmt, density):
    """SPEC.md, Limits: the largest layer (2^22 cells), random at three densities, decodes in
    a few times its file plus a few bytes per cell, and decodes to exactly its matrix."""
    from secateurs.sw.reference import QuantLayer, QuantModel

    rng = np.random.default_rng(0)
    rows, cols = 2048, 2048
    w = (rng.integers(-127, 128, (rows, cols)) * (rng.random((rows, cols)) < density)).astype(np.int8)
    if fmt == "nm":  # 2:4: the last two of every four weights are pruned
        w.reshape(rows, cols // 4, 4)[..., 2:] = 0
    q = QuantLayer(w, np.zeros(rows, np.int32), np.ones(rows, np.int64), 0, False, None, 1.0, 1.0)
    data = c.encode(QuantModel(1.0, (q,)), fmt=fmt, pes=4, index_bits=4, n=2, m=4)
    result, peak, _ = decode_measured(data)
    assert np.array_equal(result.model.layers[0].weight, w)
    assert peak < 4 * len(data) + PER_CELL[fmt] * rows * cols + SLACK


def test_the_writer_refuses_what_the_reader_would():
    from secateurs.errors import InputError
    from secateurs.sw.reference import QuantLayer, QuantModel

    w = np.zeros((4096, 2048), np.int8)
    q = QuantLayer(w, np.zeros(4096, np.int32), np.ones(4096, np.int64), 0, False, None, 1.0, 1.0)
    with pytest.raises(InputError, match="cells"):
        c.encode(QuantModel(1.0, (q,)), pes=1, index_bits=4)
