"""model.bin: round trip, and every kind of corruption ends in a FormatError naming it."""

import struct
import zlib

import numpy as np
import pytest

from secateurs.errors import FormatError
from secateurs.sw.formats import container
from secateurs.sw.reference import QuantLayer, QuantModel, forward


def random_model(seed=0, widths=(20, 16, 7), density=0.3) -> QuantModel:
    rng = np.random.default_rng(seed)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        w = rng.integers(-127, 128, (n_out, n_in)) * (rng.random((n_out, n_in)) < density)
        layers.append(QuantLayer(
            weight=w.astype(np.int8), bias=rng.integers(-5000, 5000, n_out).astype(np.int32),
            multiplier=rng.integers(1, 1 << 15, n_out), shift=int(rng.integers(10, 20)),
            relu=i < len(widths) - 2, weight_scale=None, in_scale=0.5, out_scale=0.25))
    return QuantModel(input_scale=0.5, layers=tuple(layers))


def reseal(body: bytes) -> bytes:
    """Re-append a valid CRC, so checks behind the checksum can be reached."""
    return body + struct.pack("<I", zlib.crc32(body))


@pytest.fixture(scope="module")
def model():
    return random_model()


@pytest.fixture(scope="module")
def data(model):
    return container.encode(model, pes=3, index_bits=3)


def test_round_trip(model, data):
    packed = container.decode(data)
    assert packed.pes == 3 and packed.index_bits == 3
    for a, b in zip(model.layers, packed.model.layers):
        assert np.array_equal(a.weight, b.weight)
        assert np.array_equal(a.bias, b.bias)
        assert np.array_equal(a.multiplier, b.multiplier)
        assert (a.shift, a.relu) == (b.shift, b.relu)
    x = np.random.default_rng(1).integers(-128, 128, (5, 20)).astype(np.int8)
    for a, b in zip(forward(model, x), forward(packed.model, x)):
        assert np.array_equal(a, b)


def test_save_is_atomic_and_load_reads_it(model, tmp_path):
    size = container.save(tmp_path / "model.bin", model, pes=2, index_bits=4)
    assert (tmp_path / "model.bin").stat().st_size == size
    assert list(tmp_path.iterdir()) == [tmp_path / "model.bin"]
    assert container.load(tmp_path / "model.bin").pes == 2


def test_every_truncation_is_rejected(data):
    for n in range(len(data)):
        with pytest.raises(FormatError):
            container.decode(data[:n])


def test_truncation_behind_a_valid_checksum_names_the_section(data):
    body = data[:-4]
    for cut, section in ((20, "layer 0 header"), (40, "layer 0 bias"), (len(body) - 1, "layer 1 words")):
        with pytest.raises(FormatError, match=section):
            container.decode(reseal(body[:cut]))


def test_random_bit_flips_are_caught(data):
    rng = np.random.default_rng(0)
    for _ in range(200):
        corrupt = bytearray(data)
        bit = int(rng.integers(0, 8 * len(data)))
        corrupt[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(FormatError):
            container.decode(bytes(corrupt))


@pytest.mark.parametrize("offset, value, message", [
    (0, b"XXXX", "magic"),
    (4, struct.pack("<H", 9), "version 9"),
    (8, struct.pack("<H", 0), "out of range"),
])
def test_bad_header_fields(data, offset, value, message):
    body = bytearray(data[:-4])
    body[offset:offset + len(value)] = value
    with pytest.raises(FormatError, match=message):
        container.decode(reseal(bytes(body)) if offset else bytes(body) + data[-4:])


def test_trailing_bytes_are_rejected(data):
    with pytest.raises(FormatError, match="unexpected bytes"):
        container.decode(reseal(data[:-4] + b"\0"))


def test_layers_that_do_not_chain_are_rejected():
    a, b = random_model(widths=(20, 16, 7)), random_model(widths=(9, 5, 3))
    mixed = QuantModel(0.5, (a.layers[0], b.layers[1]))
    with pytest.raises(FormatError, match="do not chain"):
        container.decode(container.encode(mixed, pes=2, index_bits=4))


def test_missing_file(tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        container.load(tmp_path / "nope.bin")
