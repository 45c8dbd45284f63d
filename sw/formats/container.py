"""``model.bin`` version 2: the packed, quantized model — the only thing hw/ and sim/ read from sw/.

``MAGIC``, a u16 version, then CRC-framed sections: the file header, and per layer a header
(format, payload, shape, P, widths, requantization, scale, blob table) and a data section (bias,
multipliers, codebook, then the format's blobs). Every section is ``u32 length, bytes, u32 CRC32``
(the CRC covers length and bytes). Reading frames and checks every section of the file before
it parses any, and checks every field before it uses it; see SPEC.md for every bit.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...atomic import write_bytes
from ...errors import FormatError, InputError
from ..reference import ACC_BITS, QuantLayer, QuantModel
from . import FORMAT_IDS, Options, format_of, get_format
from .base import MAX_PES, Blob, count_bits
from .bits import pack_bits, packed_size, signed_width, unpack_bits
from .csc import best_common_index_bits
from .payload import CODEBOOK_VALUE_BITS, PAYLOAD_KINDS, Payload, to_signed

__all__ = ["MAGIC", "VERSION", "PackedModel", "encode", "encode_layers", "pack_layers", "decode",
           "save", "load", "payload_of", "common_index_bits"]

MAGIC = b"SCTR"
VERSION = 2
PREFIX = struct.Struct("<4sH")  # magic, version
FILE_HEADER = struct.Struct("<Hf")  # layers, input_scale
#: format, payload kind, value bits, index bits, n, m, pes, rows, cols, shift, relu, blobs, out_scale
LAYER_HEADER = struct.Struct("<BBBBBBHIIBBBf")
BLOB_ENTRY = struct.Struct("<BI")  # field width, field count
LENGTH = struct.Struct("<I")
CRC = struct.Struct("<I")
COMMON_BLOBS = ("bias", "multiplier", "codebook")
MAX_LAYERS = 256  #: refuse absurd counts before allocating anything
MAX_DIM = 1 << 20  #: largest rows or cols of a layer
MAX_WEIGHTS = 1 << 24  #: largest rows · cols of a layer (its dense matrix is allocated)
MAX_SHIFT = 63  #: the requantizer shifts a 64-bit product
MAX_FIELD_BITS = ACC_BITS  #: widest field of any blob (biases are at most int32)
MULTIPLIER_BITS = 16  #: requantization multipliers are below 2**16 (the hardware's multiplier)


@dataclass(frozen=True, eq=False)
class PackedModel:
    """A decoded ``model.bin``: the integer model and each layer in its packed format."""

    model: QuantModel
    layers: tuple  #: CSCLayer, NMLayer, … one per layer
    #: Bytes of each layer's two sections (framing included); the file adds its header.
    layer_bytes: tuple[int, ...] = ()
    file_bytes: int = 0

    @property
    def pes(self) -> int:
        return max(getattr(l, "pes", 1) for l in self.layers)

    @property
    def index_bits(self) -> int | None:
        """The relative index width all CSC layers share (None if they differ or there are none)."""
        widths = {l.index_bits for l in self.layers if hasattr(l, "col_ptr")}
        return widths.pop() if len(widths) == 1 else None


def payload_of(layer: QuantLayer) -> Payload:
    """How a quantized layer's weights are stored: its codebook, or ``weight_bits`` integers."""
    if layer.codebook is not None:
        return Payload(max(len(layer.codebook) - 1, 0).bit_length(), tuple(layer.codebook))
    return Payload(layer.weight_bits)


def pack_layers(model: QuantModel, *, fmt: str = "csc", pes: int = 1, index_bits: int | None = 4,
                n: int = 2, m: int = 4) -> tuple:
    """Each layer of ``model`` packed in format ``fmt`` (``index_bits=None``: best per layer)."""
    f, options = get_format(fmt), Options(pes=pes, index_bits=index_bits, n=n, m=m)
    return tuple(f.pack(q.weight, payload_of(q), options) for q in model.layers)


def common_index_bits(model: QuantModel, *, pes: int) -> int:
    """The one CSC index width with the fewest bits over the whole model (the accelerator's banks
    have one word layout)."""
    return best_common_index_bits([(q.weight, payload_of(q)) for q in model.layers], pes=pes)


def _section(payload: bytes) -> bytes:
    framed = LENGTH.pack(len(payload)) + payload
    return framed + CRC.pack(zlib.crc32(framed))


def _common_blobs(q: QuantLayer, payload: Payload) -> list[Blob]:
    bias = np.asarray(q.bias, dtype=np.int64)
    width = signed_width(bias)
    mult = np.asarray(q.multiplier, dtype=np.int64)
    if mult.size and (mult.min() < 0 or mult.max() >> MULTIPLIER_BITS):
        raise InputError(f"requantization multipliers must be in 0..2^{MULTIPLIER_BITS} - 1")
    if not 0 <= q.shift <= MAX_SHIFT:
        raise InputError(f"requantization shift must be in 0..{MAX_SHIFT}, not {q.shift}")
    shared = mult.size > 0 and bool(np.all(mult == mult[0]))
    mult = mult[:1] if shared else mult
    return [Blob("bias", width, (bias & ((1 << width) - 1)).astype(np.uint64)),
            Blob("multiplier", count_bits(mult.max(initial=0)), mult.astype(np.uint64)),
            Blob("codebook", CODEBOOK_VALUE_BITS,
                 (payload.table & ((1 << CODEBOOK_VALUE_BITS) - 1)).astype(np.uint64))]


def _layer_sections(q: QuantLayer, layer) -> bytes:
    f = format_of(layer)
    blobs = _common_blobs(q, layer.payload) + f.blobs(layer)
    header = LAYER_HEADER.pack(
        f.id, PAYLOAD_KINDS.index(layer.payload.kind), layer.payload.bits,
        getattr(layer, "index_bits", 0) if f.name == "csc" else 0, getattr(layer, "n", 0),
        getattr(layer, "m", 0), getattr(layer, "pes", 1), layer.rows, layer.cols, q.shift,
        int(q.relu), len(blobs), q.out_scale)
    table = b"".join(BLOB_ENTRY.pack(b.width, len(b.fields)) for b in blobs)
    data = b"".join(pack_bits(b.fields, b.width) for b in blobs)
    return _section(header + table) + _section(data)


def encode_layers(model: QuantModel, layers) -> bytes:
    """The bytes of ``model.bin`` for ``model`` with its layers already packed."""
    if len(layers) != len(model.layers) or not 1 <= len(layers) <= MAX_LAYERS:
        raise InputError(f"a model needs 1..{MAX_LAYERS} packed layers, one per layer")
    out = [PREFIX.pack(MAGIC, VERSION), _section(FILE_HEADER.pack(len(layers), model.input_scale))]
    out += [_layer_sections(q, layer) for q, layer in zip(model.layers, layers)]
    return b"".join(out)


def encode(model: QuantModel, *, pes: int = 1, index_bits: int | None = 4, fmt: str = "csc",
           n: int = 2, m: int = 4) -> bytes:
    """The bytes of ``model.bin``: every layer packed in ``fmt`` (see :func:`pack_layers`)."""
    return encode_layers(model, pack_layers(model, fmt=fmt, pes=pes, index_bits=index_bits, n=n, m=m))


class _Sections:
    """Cuts the file into CRC-checked sections, naming the one that is truncated or corrupt."""

    def __init__(self, data: bytes, start: int):
        self.data, self.pos = data, start

    def next(self, what: str) -> bytes:
        left = len(self.data) - self.pos
        if left < LENGTH.size:
            raise FormatError(f"truncated at the {what} section: its length needs 4 bytes at "
                              f"offset {self.pos}, {left} left")
        (length,) = LENGTH.unpack_from(self.data, self.pos)
        end = self.pos + LENGTH.size + length
        if end + CRC.size > len(self.data):
            raise FormatError(f"truncated in the {what} section: it declares {length} bytes at "
                              f"offset {self.pos}, {left - LENGTH.size} left (with its checksum)")
        (crc,) = CRC.unpack_from(self.data, end)
        if zlib.crc32(self.data[self.pos:end]) != crc:
            raise FormatError(f"checksum mismatch in the {what} section: the file is corrupt")
        payload = self.data[self.pos + LENGTH.size:end]
        self.pos = end + CRC.size
        return payload


def _split(data: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """Check magic, version and every section's framing and CRC; returns the sections' bytes."""
    if len(data) < PREFIX.size:
        raise FormatError(f"file too short for a model ({len(data)} bytes)")
    magic, version = PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise FormatError(f"not a secateurs model: magic {magic!r}, expected {MAGIC!r}")
    if version == 1:
        raise FormatError("model.bin version 1 is no longer read; re-run `secateurs flow` to "
                          "write version 2")
    if version != VERSION:
        raise FormatError(f"unsupported model version {version}; this build reads version {VERSION}")
    sections = _Sections(data, PREFIX.size)
    header = sections.next("file header")
    if len(header) != FILE_HEADER.size:
        raise FormatError(f"file header is {len(header)} bytes, expected {FILE_HEADER.size}")
    n_layers, _ = FILE_HEADER.unpack(header)
    if not 1 <= n_layers <= MAX_LAYERS:
        raise FormatError(f"file header: {n_layers} layers, expected 1..{MAX_LAYERS}")
    layers = [(sections.next(f"layer {i} header"), sections.next(f"layer {i} data"))
              for i in range(n_layers)]
    if sections.pos != len(data):
        raise FormatError(f"{len(data) - sections.pos} unexpected bytes after the last layer")
    return header, layers


def _parse_header(raw: bytes, what: str) -> tuple[tuple, list[tuple[int, int]]]:
    if len(raw) < LAYER_HEADER.size:
        raise FormatError(f"{what} is {len(raw)} bytes, shorter than its {LAYER_HEADER.size} fixed bytes")
    fields = LAYER_HEADER.unpack_from(raw)
    fmt_id, kind, _, index_bits, n, m, pes, rows, cols, shift, relu, n_blobs, _ = fields
    if fmt_id not in FORMAT_IDS:
        raise FormatError(f"{what}: unknown format id {fmt_id}")
    f = FORMAT_IDS[fmt_id]
    problems = [
        (kind >= len(PAYLOAD_KINDS), f"payload kind {kind}"),
        (not (1 <= rows <= MAX_DIM and 1 <= cols <= MAX_DIM and rows * cols <= MAX_WEIGHTS),
         f"shape {rows}x{cols}"),
        (not 1 <= pes <= MAX_PES, f"pes={pes}"),
        (shift > MAX_SHIFT or relu > 1, f"shift={shift}, relu={relu}"),
        ((f.name == "csc") != (index_bits > 0), f"index_bits={index_bits} for format {f.name}"),
        ((f.name == "nm") != (m > 0) or (f.name == "nm") != (n > 0), f"N:M={n}:{m} for format {f.name}"),
        (n_blobs != len(COMMON_BLOBS) + len(f.blob_names), f"{n_blobs} blobs for format {f.name}"),
    ]
    for bad, text in problems:
        if bad:
            raise FormatError(f"{what} out of range: {text}")
    if len(raw) != LAYER_HEADER.size + n_blobs * BLOB_ENTRY.size:
        raise FormatError(f"{what} is {len(raw)} bytes; {n_blobs} blobs need "
                          f"{LAYER_HEADER.size + n_blobs * BLOB_ENTRY.size}")
    table = [BLOB_ENTRY.unpack_from(raw, LAYER_HEADER.size + k * BLOB_ENTRY.size) for k in range(n_blobs)]
    return fields, table


def _read_blobs(data: bytes, names: tuple[str, ...], table: list[tuple[int, int]],
                what: str) -> dict[str, np.ndarray]:
    sizes = [packed_size(count, width) for width, count in table]
    for name, (width, _) in zip(names, table):
        if not 1 <= width <= MAX_FIELD_BITS:
            raise FormatError(f"{what}: blob '{name}' has {width}-bit fields, expected 1..{MAX_FIELD_BITS}")
    if sum(sizes) != len(data):
        raise FormatError(f"{what} is {len(data)} bytes; its blob table ({', '.join(names)}) "
                          f"declares {sum(sizes)}")
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    return {name: unpack_bits(data[offsets[k]:offsets[k + 1]], width, count)
            for k, (name, (width, count)) in enumerate(zip(names, table))}


def _decode_layer(header: bytes, data: bytes, i: int, in_scale: float) -> tuple[QuantLayer, object]:
    fields, table = _parse_header(header, f"layer {i} header")
    fmt_id, kind, value_bits, index_bits, n, m, pes, rows, cols, shift, relu, _, out_scale = fields
    f = FORMAT_IDS[fmt_id]
    what = f"layer {i} data"
    blobs = _read_blobs(data, COMMON_BLOBS + f.blob_names, table, what)
    bias_width = table[0][0]
    if blobs["bias"].size != rows or blobs["multiplier"].size not in (1, rows):
        raise FormatError(f"{what}: {blobs['bias'].size} biases and {blobs['multiplier'].size} "
                          f"multipliers for {rows} rows")
    if table[1][0] > MULTIPLIER_BITS:
        raise FormatError(f"{what}: {table[1][0]}-bit multipliers; the requantizer takes "
                          f"{MULTIPLIER_BITS}")
    if not (np.isfinite(out_scale) and out_scale > 0):
        raise FormatError(f"layer {i} header: output scale {out_scale} is not a positive number")
    table_fields = blobs.pop("codebook")
    try:
        if PAYLOAD_KINDS[kind] == "codebook":
            if table[2][0] != CODEBOOK_VALUE_BITS:
                raise FormatError(f"codebook entries are {table[2][0]} bits, expected {CODEBOOK_VALUE_BITS}")
            payload = Payload(value_bits, tuple(to_signed(table_fields, CODEBOOK_VALUE_BITS)))
        else:
            if table_fields.size:
                raise FormatError(f"an integer payload has no codebook, found {table_fields.size} entries")
            payload = Payload(value_bits)
        options = Options(pes=pes, index_bits=index_bits or None, n=n or 2, m=m or 4)
        layer = f.from_blobs(rows, cols, payload, options, {k: blobs[k] for k in f.blob_names})
        weight = f.unpack(layer)
    except (FormatError, InputError) as e:
        raise FormatError(f"{what}: {e}") from None
    mult = np.broadcast_to(blobs["multiplier"].astype(np.int64), (rows,)).copy()
    q = QuantLayer(weight=weight.astype(np.int8), bias=to_signed(blobs["bias"], bias_width).astype(np.int32),
                   multiplier=mult, shift=shift, relu=bool(relu), weight_scale=None,
                   in_scale=in_scale, out_scale=out_scale,
                   weight_bits=8 if payload.codebook else value_bits,
                   codebook=payload.table.astype(np.int8) if payload.codebook else None)
    return q, layer


def decode(data: bytes) -> PackedModel:
    """Parse and validate ``model.bin`` bytes; raises FormatError naming what is wrong."""
    header, sections = _split(bytes(data))
    _, input_scale = FILE_HEADER.unpack(header)
    if not (np.isfinite(input_scale) and input_scale > 0):
        raise FormatError(f"file header: input scale {input_scale} is not a positive number")
    qlayers, packed, in_scale = [], [], input_scale
    for i, (layer_header, layer_data) in enumerate(sections):
        q, layer = _decode_layer(layer_header, layer_data, i, in_scale)
        if qlayers and qlayers[-1].rows != q.cols:
            raise FormatError(f"layer {i} header: {q.cols} inputs, but layer {i - 1} has "
                              f"{qlayers[-1].rows} outputs")
        qlayers.append(q)
        packed.append(layer)
        in_scale = q.out_scale
    framing = 2 * (LENGTH.size + CRC.size)
    sizes = tuple(len(h) + len(d) + framing for h, d in sections)
    return PackedModel(QuantModel(input_scale, tuple(qlayers)), tuple(packed), sizes, len(data))


def save(path: str | Path, model: QuantModel, *, pes: int = 1, index_bits: int | None = 4,
         fmt: str = "csc", n: int = 2, m: int = 4) -> int:
    """Write ``model.bin`` atomically; returns its size in bytes."""
    data = encode(model, pes=pes, index_bits=index_bits, fmt=fmt, n=n, m=m)
    write_bytes(path, data)
    return len(data)


def load(path: str | Path) -> PackedModel:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise FormatError(f"model file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise FormatError(f"model file {str(path)!r} is a folder") from None
    return decode(data)
