"""Conv layers in model.bin: geometry round trip in every format, the SPEC's geometry bytes, and
every lie about a conv layer's geometry refused with a FormatError naming it."""

import struct
import zlib

import numpy as np
import pytest

from secateurs.errors import FormatError, InputError
from secateurs.sw.conv import ConvGeometry, Pool
from secateurs.sw.formats import FORMATS, container
from secateurs.sw.reference import QuantLayer, QuantModel, forward

PREFIX = 6


def conv_model(seed=0, density=0.4) -> QuantModel:
    """conv 3x3 (1 → 4, padding 1) + max-pool 2 → depthwise conv 3x3 stride 2 + avg-pool → Linear."""
    rng = np.random.default_rng(seed)
    g1 = ConvGeometry(1, 10, 10, (3, 3), padding=(1, 1), pool=Pool("max", (2, 2), (2, 2)))
    g2 = ConvGeometry(4, 5, 5, (3, 3), stride=(2, 2), padding=(1, 1), groups=4,
                      pool=Pool("avg", (2, 2), (1, 1)))
    shapes = [(4, g1.cols, g1), (8, g2.cols, g2), (3, 8 * 2 * 2, None)]
    layers = []
    for i, (rows, cols, g) in enumerate(shapes):
        w = rng.integers(-127, 128, (rows, cols)) * (rng.random((rows, cols)) < density)
        layers.append(QuantLayer(w.astype(np.int8), rng.integers(-300, 300, rows).astype(np.int32),
                                 rng.integers(1, 1 << 14, rows), 13, i < 2, None, 0.5, 0.25,
                                 geometry=g))
    return QuantModel(0.5, tuple(layers))


def two_of_four(w: np.ndarray) -> np.ndarray:
    """``w`` with only the first two nonzeros of every group of 4 columns kept (2:4)."""
    w = w.copy()
    for start in range(0, w.shape[1], 4):
        group = w[:, start:start + 4]
        group[np.cumsum(group != 0, axis=1) > 2] = 0
    return w


@pytest.mark.parametrize("fmt", FORMATS)
def test_conv_model_round_trips(fmt):
    model = conv_model()
    if fmt == "nm":
        model = QuantModel(model.input_scale, tuple(
            QuantLayer(**{**l.__dict__, "weight": two_of_four(l.weight)}) for l in model.layers))
    packed = container.decode(container.encode(model, pes=3, fmt=fmt))
    for a, b in zip(model.layers, packed.model.layers):
        assert a.geometry == b.geometry and np.array_equal(a.weight, b.weight)
    x = np.random.default_rng(1).integers(-128, 128, (4, 1, 10, 10))
    for a, b in zip(forward(model, x), forward(packed.model, x)):
        assert np.array_equal(a, b)
    assert packed.model.layers[1].out_shape == (8, 2, 2)


def sections(data: bytes) -> list[bytes]:
    out, pos = [], PREFIX
    while pos < len(data):
        (length,) = struct.unpack_from("<I", data, pos)
        out.append(data[pos + 4:pos + 4 + length])
        pos += length + 8
    return out


def reseal(data: bytes, parts: list[bytes]) -> bytes:
    out = data[:PREFIX]
    for p in parts:
        framed = struct.pack("<I", len(p)) + p
        out += framed + struct.pack("<I", zlib.crc32(framed))
    return out


def test_spec_geometry_bytes():
    """SPEC.md's conv example: 6×5×5 kernels over a 1×28×28 map, padding 2, then max-pool 2."""
    g = ConvGeometry(1, 28, 28, (5, 5), padding=(2, 2), pool=Pool("max", (2, 2), (2, 2)))
    layer = QuantLayer(np.ones((6, 25), np.int8), np.zeros(6, np.int32), np.ones(6, np.int64), 0,
                       True, None, 1.0, 1.0, geometry=g)
    header = sections(container.encode(QuantModel(1.0, (layer,))))[1]
    assert header[-container.GEOMETRY.size:].hex(" ") == (
        "01 01 00 1c 00 1c 00 05 05 01 01 02 02 01 01 01 00 01 02 02 02 02")


def patch_geometry(data: bytes, layer: int, offset: int, fmt: str, value) -> bytes:
    parts = sections(data)
    header = bytearray(parts[1 + 2 * layer])
    struct.pack_into(fmt, header, len(header) - container.GEOMETRY.size + offset, value)
    parts[1 + 2 * layer] = bytes(header)
    return reseal(data, parts)


@pytest.mark.parametrize("layer,offset,fmt,value,message", [
    (0, 0, "<B", 7, "unknown layer kind 7"),
    (2, 1, "<H", 3, "a Linear layer's geometry fields must all be 0"),
    (0, 1, "<H", 2, "9 weight columns, but 2 channels a group of a 3x3 kernel make 18"),
    (0, 3, "<H", 0, r"input map 1x0x10"),
    (0, 3, "<H", 2000, "sides 1..1024"),
    (0, 7, "<B", 13, "does not fit"),  # a 13-tall kernel on a 10+2 padded map
    (0, 9, "<B", 0, "kernel, stride and dilation must be at least 1"),  # stride 0
    (1, 15, "<H", 3, "groups=3 must divide"),
    (0, 17, "<B", 3, "unknown pool kind 3"),
    (0, 17, "<B", 0, "pool size and stride must be 0 without a pool"),
    (0, 18, "<B", 11, "pool does not fit"),
    (0, 3, "<H", 12, "layer 1 header: 4x5x5 inputs, but layer 0 has 4x6x5 outputs"),
    (1, 17, "<B", 0, "pool size and stride"),
])
def test_geometry_lies_are_refused(layer, offset, fmt, value, message):
    data = container.encode(conv_model(), pes=2)
    with pytest.raises(FormatError, match=message):
        container.decode(patch_geometry(data, layer, offset, fmt, value))


def test_a_linear_after_a_map_must_read_all_of_it():
    model = conv_model()
    bad = QuantLayer(np.ones((3, 31), np.int8), np.zeros(3, np.int32), np.ones(3, np.int64), 0,
                     False, None, 1.0, 1.0)
    data = container.encode(QuantModel(0.5, (*model.layers[:2], bad)))
    with pytest.raises(FormatError, match="layer 2 header: 31 inputs, but layer 1 has 8x2x2 outputs"):
        container.decode(data)


def test_header_length_includes_the_geometry():
    data = container.encode(conv_model())
    parts = sections(data)
    parts[1] = parts[1][:-1]
    with pytest.raises(FormatError, match="blobs and the geometry need"):
        container.decode(reseal(data, parts))


def test_writer_refuses_geometry_it_cannot_store():
    model = conv_model()
    first = model.layers[0]
    wide = ConvGeometry(1, 10, 10, (3, 3), padding=(300, 300))
    bad = QuantLayer(**{**first.__dict__, "geometry": wide})
    with pytest.raises(InputError, match="0..255"):
        container.encode(QuantModel(0.5, (bad, *model.layers[1:])))
