"""model.bin v3: round trip in every format, and every kind of damage ends in a FormatError naming it."""

import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secateurs.errors import FormatError
from secateurs.sw.formats import FORMATS, codebook, container, csc, nm
from secateurs.sw.reference import QuantLayer, QuantModel, forward

PREFIX = 6  # magic + version


def random_model(seed=0, widths=(20, 16, 7), density=0.3, codebook=False) -> QuantModel:
    rng = np.random.default_rng(seed)
    table = np.array([0, -90, -31, -5, 4, 17, 60, 127], dtype=np.int8)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        keep = rng.random((n_out, n_in)) < density
        values = rng.choice(table[1:], (n_out, n_in)) if codebook else rng.integers(-127, 128, (n_out, n_in))
        layers.append(QuantLayer(
            weight=(values * keep).astype(np.int8), bias=rng.integers(-5000, 5000, n_out).astype(np.int32),
            multiplier=rng.integers(1, 1 << 15, n_out), shift=int(rng.integers(10, 20)),
            relu=i < len(widths) - 2, weight_scale=None, in_scale=0.5, out_scale=0.25,
            codebook=table if codebook else None))
    return QuantModel(input_scale=0.5, layers=tuple(layers))


def split(data: bytes) -> list[bytes]:
    """The payloads of every section, in order."""
    out, pos = [], PREFIX
    while pos < len(data):
        (length,) = struct.unpack_from("<I", data, pos)
        out.append(data[pos + 4:pos + 4 + length])
        pos += length + 8
    return out


def boundaries(data: bytes) -> list[int]:
    """Offsets where each section starts, and the end of the file."""
    out, pos = [], PREFIX
    while pos < len(data):
        out.append(pos)
        pos += struct.unpack_from("<I", data, pos)[0] + 8
    return out + [pos]


def frame(payload: bytes) -> bytes:
    framed = struct.pack("<I", len(payload)) + payload
    return framed + struct.pack("<I", zlib.crc32(framed))


def assemble(data: bytes, payloads: list[bytes]) -> bytes:
    """A file with the same prefix and these section payloads, every CRC valid."""
    return data[:PREFIX] + b"".join(frame(p) for p in payloads)


def section_name(k: int) -> str:
    return "file header" if k == 0 else f"layer {(k - 1) // 2} {'header' if k % 2 else 'data'}"


@pytest.fixture(scope="module")
def model():
    return random_model()


@pytest.fixture(scope="module")
def data(model):
    return container.encode(model, pes=3, index_bits=3)


def assert_same(a: QuantModel, b: QuantModel):
    assert a.input_scale == b.input_scale
    for x, y in zip(a.layers, b.layers, strict=True):
        assert np.array_equal(x.weight, y.weight) and np.array_equal(x.bias, y.bias)
        assert np.array_equal(x.multiplier, y.multiplier)
        assert (x.shift, x.relu, x.out_scale) == (y.shift, y.relu, y.out_scale)


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "nm"])
@pytest.mark.parametrize("codebook", [False, True])
def test_round_trip_every_format(fmt, codebook):
    model = random_model(codebook=codebook)
    packed = container.decode(container.encode(model, pes=3, index_bits=None, fmt=fmt))
    assert_same(model, packed.model)
    assert all(type(l) is FORMATS[fmt].layer for l in packed.layers)
    if codebook:
        assert all(np.array_equal(l.codebook, model.layers[0].codebook) for l in packed.model.layers)
    x = np.random.default_rng(1).integers(-128, 128, (5, 20)).astype(np.int8)
    for a, b in zip(forward(model, x), forward(packed.model, x)):
        assert np.array_equal(a, b)


def test_round_trip_nm_and_int4():
    rng = np.random.default_rng(2)
    w = rng.integers(-7, 8, (6, 10)) * (rng.random((6, 10)) < 0.5)
    w[:, 1::2] = 0  # at most 2 of every 4 inputs
    q = QuantLayer(weight=w.astype(np.int8), bias=np.arange(6, dtype=np.int32) - 3,
                   multiplier=np.full(6, 77), shift=5, relu=False, weight_scale=None, in_scale=1.0,
                   out_scale=0.5, weight_bits=4)
    model = QuantModel(0.25, (q,))
    packed = container.decode(container.encode(model, pes=4, fmt="nm", n=2, m=4))
    assert_same(model, packed.model)
    layer = packed.layers[0]
    assert isinstance(layer, nm.NMLayer) and (layer.n, layer.m, layer.value_bits) == (2, 4, 4)
    assert packed.model.layers[0].weight_bits == 4


def test_shared_multipliers_are_stored_once(model):
    shared = QuantModel(model.input_scale, tuple(
        QuantLayer(l.weight, l.bias, np.full(l.rows, 1234), l.shift, l.relu, None, l.in_scale,
                   l.out_scale) for l in model.layers))
    smaller = container.encode(shared, pes=3, index_bits=3)
    assert len(smaller) < len(container.encode(model, pes=3, index_bits=3))
    assert np.all(container.decode(smaller).model.layers[0].multiplier == 1234)


def test_save_is_atomic_and_load_reads_it(model, tmp_path):
    size = container.save(tmp_path / "model.bin", model, pes=2, index_bits=4)
    assert (tmp_path / "model.bin").stat().st_size == size
    assert list(tmp_path.iterdir()) == [tmp_path / "model.bin"]
    packed = container.load(tmp_path / "model.bin")
    assert packed.pes == 2 and packed.index_bits == 4 and packed.file_bytes == size
    assert sum(packed.layer_bytes) == size - PREFIX - 14  # file header section: 6 bytes + framing


def test_every_truncation_is_rejected(data):
    for n in range(len(data)):
        with pytest.raises(FormatError):
            container.decode(data[:n])


def test_truncation_at_every_section_boundary_names_the_section(data):
    edges = boundaries(data)
    for k, cut in enumerate(edges[:-1]):
        with pytest.raises(FormatError, match=f"truncated at the {section_name(k)} section"):
            container.decode(data[:cut])
        middle = (cut + edges[k + 1]) // 2
        with pytest.raises(FormatError, match=f"truncated in the {section_name(k)} section"):
            container.decode(data[:middle])


def test_random_bit_flips_are_caught(data):
    rng = np.random.default_rng(0)
    for _ in range(300):
        corrupt = bytearray(data)
        bit = int(rng.integers(0, 8 * len(data)))
        corrupt[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(FormatError):
            container.decode(bytes(corrupt))


def test_a_flip_names_its_section(data):
    edges = boundaries(data)
    for k in range(len(edges) - 1):
        corrupt = bytearray(data)
        corrupt[edges[k] + 5] ^= 0x01
        with pytest.raises(FormatError, match=f"checksum mismatch in the {section_name(k)} section"):
            container.decode(bytes(corrupt))


@pytest.mark.parametrize("prefix, message", [
    (b"XXXX" + struct.pack("<H", 2), "magic"),
    (b"SCTR" + struct.pack("<H", 9), "version 9"),
    (b"SCTR" + struct.pack("<H", 1), "version 1 is no longer read"),
    (b"SCTR" + struct.pack("<H", 2), r"version 2 is no longer read \(this build reads version 3\)"),
])
def test_wrong_magic_or_version(data, prefix, message):
    with pytest.raises(FormatError, match=message):
        container.decode(prefix + data[PREFIX:])


def test_trailing_bytes_are_rejected(data):
    with pytest.raises(FormatError, match="unexpected bytes"):
        container.decode(data + b"\0")


def patch_header(data: bytes, layer: int, offset: int, fmt: str, value) -> bytes:
    """Rewrite one field of a layer header and re-seal every CRC."""
    sections = split(data)
    header = bytearray(sections[1 + 2 * layer])
    struct.pack_into(fmt, header, offset, value)
    sections[1 + 2 * layer] = bytes(header)
    return assemble(data, sections)


@pytest.mark.parametrize("offset, fmt, value, message", [
    (0, "<B", 9, "layer 0 header: unknown format id 9"),
    (1, "<B", 7, "payload kind 7"),
    (3, "<B", 0, "index_bits=0 for format csc"),
    (4, "<B", 2, "N:M=2:0 for format csc"),
    (6, "<H", 0, "pes=0"),
    (6, "<H", 2, "blob 'counts' has 60 fields, expected 40"),  # P changed: counts ≠ P·C
    (8, "<I", 0, "shape 0x20"),
    (8, "<I", 17, "blob 'bias' has 16 fields, expected 17"),  # shape disagrees with the table
    (12, "<I", 21, "blob 'counts' has .* fields, expected 63"),
    (16, "<B", 64, "shift=64"),
    (17, "<B", 2, "relu=2"),
    (18, "<B", 4, "4 blobs for format csc"),
    (2, "<B", 9, "value_bits=9 for an integer payload"),
])
def test_header_fields_out_of_range_or_inconsistent(data, offset, fmt, value, message):
    with pytest.raises(FormatError, match=message):
        container.decode(patch_header(data, 0, offset, fmt, value))


def test_file_header_fields(data):
    sections = split(data)
    for payload, message in ((struct.pack("<Hf", 0, 0.5), "0 layers"),
                             (struct.pack("<Hf", 2, float("nan")), "input scale"),
                             (struct.pack("<Hf", 3, 0.5), "truncated at the layer 2 header")):
        with pytest.raises(FormatError, match=message):
            container.decode(assemble(data, [payload, *sections[1:]]))


def test_blob_table_that_disagrees_with_the_data_length(data):
    sections = split(data)
    header = bytearray(sections[1])
    width = struct.unpack_from("<B", header, 23 + 5 * 4)[0]
    struct.pack_into("<BI", header, 23 + 5 * 4, width, 100)  # the words blob claims 100 words
    with pytest.raises(FormatError, match="layer 0 data is .* bytes; its blob table"):
        container.decode(assemble(data, [sections[0], bytes(header), *sections[2:]]))


def test_layers_that_do_not_chain_are_rejected():
    a, b = random_model(widths=(20, 16, 7)), random_model(widths=(9, 5, 3))
    mixed = QuantModel(0.5, (a.layers[0], b.layers[1]))
    with pytest.raises(FormatError, match="layer 1 header: 5 inputs, but layer 0 has 16 outputs"):
        container.decode(container.encode(mixed, pes=2, index_bits=4))


def encode_tampered(model, layers):
    return container.encode_layers(model, layers)


def test_csc_index_out_of_range(model):
    layers = list(container.pack_layers(model, pes=2, index_bits=4))
    first = layers[0]
    words = [w.copy() for w in first.words]
    words[0][0] |= 15 << 8  # land far beyond the PE's rows (or on a later row than allowed)
    words[0][-1] |= 15 << 8
    layers[0] = csc.CSCLayer(first.rows, first.cols, 2, 8, 4, tuple(words), first.col_ptr)
    with pytest.raises(FormatError, match="layer 0 data: PE 0 column .* beyond"):
        container.decode(encode_tampered(model, layers))


def test_csc_zero_word_that_is_not_a_filler(model):
    layers = list(container.pack_layers(model, pes=2, index_bits=4))
    first = layers[0]
    words = [w.copy() for w in first.words]
    words[1][0] &= ~np.uint32(0xFF)  # value 0, but not a filler
    layers[0] = csc.CSCLayer(first.rows, first.cols, 2, 8, 4, tuple(words), first.col_ptr)
    with pytest.raises(FormatError, match="layer 0 data: PE 1 .* not a filler"):
        container.decode(encode_tampered(model, layers))


def test_nm_position_out_of_range():
    w = np.zeros((2, 6), dtype=np.int8)
    w[0, 4] = 3  # tail group holds inputs 4 and 5 only
    q = QuantLayer(w, np.zeros(2, np.int32), np.ones(2, np.int64), 0, False, None, 1.0, 1.0)
    model = QuantModel(1.0, (q,))
    layer = nm.pack_nm(w, n=1, m=4)
    words = layer.words[0].copy()
    words[2] = 3 | (3 << 8)  # group 1, row 0: position 3 of a 2-wide group
    bad = nm.NMLayer(2, 6, 1, 1, 4, 8, (words,))
    with pytest.raises(FormatError, match="layer 0 data: PE 0 group 1 row 0 slot 0: position beyond"):
        container.decode(encode_tampered(model, [bad]))


def test_csr_column_out_of_range():
    w = np.eye(3, 5, dtype=np.int8)
    q = QuantLayer(w, np.zeros(3, np.int32), np.ones(3, np.int64), 0, False, None, 1.0, 1.0)
    model = QuantModel(1.0, (q,))
    layer = FORMATS["csr"].pack(w, container.payload_of(q), container.Options())
    cols = layer.columns.copy()
    cols[2] = 7
    bad = type(layer)(3, 5, layer.payload, layer.counts, cols, layer.values)
    with pytest.raises(FormatError, match="layer 0 data: columns: index 7 beyond"):
        container.decode(encode_tampered(model, [bad]))


def test_codebook_without_zero_first_entry():
    model = random_model(codebook=True)
    data = container.encode(model, pes=1, index_bits=4)
    sections = split(data)
    raw = bytearray(sections[2])
    bias_bytes = (16 * struct.unpack_from("<B", sections[1], 23)[0] + 7) // 8
    mult_bytes = (16 * struct.unpack_from("<B", sections[1], 28)[0] + 7) // 8
    raw[bias_bytes + mult_bytes] = 5  # codebook entry 0
    with pytest.raises(FormatError, match="layer 0 data: codebook entry 0 must be 0"):
        container.decode(assemble(data, [sections[0], sections[1], bytes(raw), *sections[3:]]))


def test_missing_file(tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        container.load(tmp_path / "nope.bin")
    with pytest.raises(FormatError, match="is a folder"):
        container.load(tmp_path)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_resealed_damage_never_crashes(data_strategy):
    """Damage behind valid checksums: a FormatError or a model that decodes cleanly, nothing else."""
    data = container.encode(random_model(seed=3, widths=(9, 6, 4), density=0.4), pes=2, index_bits=2)
    sections = split(data)
    k = data_strategy.draw(st.integers(0, len(sections) - 1))
    section = bytearray(sections[k])
    action = data_strategy.draw(st.sampled_from(["flip", "set", "cut", "grow"]))
    if action == "cut" and section:
        del section[data_strategy.draw(st.integers(0, len(section) - 1)):]
    elif action == "grow":
        section += data_strategy.draw(st.binary(min_size=1, max_size=8))
    elif section:
        at = data_strategy.draw(st.integers(0, len(section) - 1))
        section[at] = (section[at] ^ (1 << data_strategy.draw(st.integers(0, 7))) if action == "flip"
                       else data_strategy.draw(st.integers(0, 255)))
    sections[k] = bytes(section)
    try:
        packed = container.decode(assemble(data, sections))
    except FormatError:
        return
    for layer in packed.model.layers:  # whatever decoded is self-consistent
        assert layer.weight.dtype == np.int8 and layer.bias.shape == (layer.rows,)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_are_rejected(blob):
    with pytest.raises(FormatError):
        container.decode(b"SCTR" + struct.pack("<H", 2) + blob)


def test_spec_worked_example_bytes():
    w = np.array([[0], [5], [0], [0], [0], [0], [-3]], dtype=np.int8)
    q = QuantLayer(w, np.array([1, -2, 0, 0, 0, 0, 70], np.int32), np.full(7, 3), 1, False, None,
                   1.0, 0.5)
    data = container.encode(QuantModel(1.0, (q,)), pes=2, index_bits=2)
    header, layer_header, layer_data = split(data)
    assert data[:PREFIX] == b"SCTR\x03\x00" and header == struct.pack("<Hf", 1, 1.0)
    assert layer_header.hex(" ") == (
        "03 00 08 02 00 00 02 00 07 00 00 00 01 00 00 00 01 00 05 00 00 00 3f "
        "08 07 00 00 00 02 01 00 00 00 08 00 00 00 00 01 02 00 00 00 0a 02 00 00 00 "
        + " ".join(["00"] * 22))  # a Linear layer's geometry: all zero
    assert layer_data.hex(" ") == "01 fe 00 00 00 00 46 03 03 fd 17 00"
    narrow = csc.pack_csc(w, pes=2, index_bits=1)
    assert [b.tolist() for b in narrow.words] == [[0x100, 0x1FD], [0x005]]
    shared = csc.pack_csc(w, pes=2, index_bits=2, payload=codebook([0, 5, -3, 9]))
    assert [b.tolist() for b in shared.words] == [[0x0E], [0x1]]
    assert nm.pack_nm(np.array([[0, 0, 7, 0, 0, -1]]), n=1, m=4).words[0].tolist() == [0x207, 0x1FF]


def test_encode_refuses_what_it_could_not_read_back(model):
    from secateurs.errors import InputError

    layer = model.layers[0]
    for bad, message in ((dict(multiplier=np.full(layer.rows, 1 << 16)), "multipliers"),
                         (dict(shift=64), "shift")):
        fields = {**layer.__dict__, **bad}
        broken = QuantModel(model.input_scale, (QuantLayer(**fields), *model.layers[1:]))
        with pytest.raises(InputError, match=message):
            container.encode(broken, pes=2)
