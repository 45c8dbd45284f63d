"""``model.bin`` version 3: the packed, quantized model — the only thing hw/ and sim/ read from sw/.

``MAGIC``, a u16 version, then CRC-framed sections: the file header, and per layer a header
(format, payload, shape, P, widths, requantization, scale, blob table, and the conv geometry:
input map, kernel, stride, padding, dilation, groups, pool) and a data section (bias,
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
from ..conv import POOL_KINDS, ConvGeometry, Pool
from ..reference import ACC_BITS, QuantLayer, QuantModel
from . import FORMAT_IDS, Options, format_of, get_format
from ...hw.params import MAX_GROUP
from .base import MAX_PES, Blob, count_bits
from .bits import pack_bits, packed_size, signed_width
from .csc import best_common_index_bits
from .csr import column_bits
from .payload import CODE_BITS, CODEBOOK_VALUE_BITS, INT_BITS, PAYLOAD_KINDS, Payload, to_signed

__all__ = ["MAGIC", "VERSION", "PackedModel", "encode", "encode_layers", "pack_layers", "decode",
           "save", "load", "payload_of", "common_index_bits"]

MAGIC = b"SCTR"
VERSION = 3
PREFIX = struct.Struct("<4sH")  # magic, version
FILE_HEADER = struct.Struct("<Hf")  # layers, input_scale
#: format, payload kind, value bits, index bits, n, m, pes, rows, cols, shift, relu, blobs, out_scale
LAYER_HEADER = struct.Struct("<BBBBBBHIIBBBf")
BLOB_ENTRY = struct.Struct("<BI")  # field width, field count
#: kind (0 Linear, 1 conv), input channels, height, width, kernel h/w, stride h/w, padding h/w,
#: dilation h/w, groups, pool kind (0 none, 1 max, 2 avg), pool size h/w, pool stride h/w
GEOMETRY = struct.Struct("<BHHHBBBBBBBBHBBBBB")
LINEAR, CONV = 0, 1
MAX_MAP_SIDE = 1024  #: largest input height or width of a conv layer
MAX_MAP_VALUES = 1 << 22  #: largest input map (C·H·W) and output map (before the pool) of a layer
LENGTH = struct.Struct("<I")
CRC = struct.Struct("<I")
COMMON_BLOBS = ("bias", "multiplier", "codebook")
MAX_LAYERS = 256  #: refuse absurd counts before allocating anything
MAX_DIM = 1 << 20  #: largest rows or cols of a layer
#: Largest cells of a layer, max(R, P) · C: the reader allocates its dense matrix (and P·C
#: counts), so this bounds the memory a small file can make it take.
MAX_WEIGHTS = 1 << 22
MAX_TOTAL_WEIGHTS = 1 << 23  #: largest Σ max(R, P) · C over all layers of a file
UNPACK_CHUNK = 1 << 12  #: fields unpacked at a time (bounds the reader's scratch memory)
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


def _geometry_bytes(g: ConvGeometry | None) -> bytes:
    if g is None:
        return GEOMETRY.pack(*[0] * len(GEOMETRY.format.lstrip("<")))
    p = g.pool
    pool = (0, 0, 0, 0, 0) if p is None else (POOL_KINDS.index(p.kind) + 1, *p.size, *p.stride)
    return GEOMETRY.pack(CONV, g.in_channels, g.in_height, g.in_width, *g.kernel, *g.stride,
                         *g.padding, *g.dilation, g.groups, *pool)


def _check_geometry_fits(q: QuantLayer) -> None:
    """InputError unless the writer can store ``q``'s geometry in the fields SPEC.md gives it."""
    g = q.geometry
    if g is None:
        return
    problem = _geometry_problem(g, q.rows, q.cols)
    if problem:
        raise InputError(f"conv layer geometry cannot be packed: {problem}")


def _layer_sections(q: QuantLayer, layer) -> bytes:
    _check_geometry_fits(q)
    f = format_of(layer)
    blobs = _common_blobs(q, layer.payload) + f.blobs(layer)
    header = LAYER_HEADER.pack(
        f.id, PAYLOAD_KINDS.index(layer.payload.kind), layer.payload.bits,
        getattr(layer, "index_bits", 0) if f.name == "csc" else 0, getattr(layer, "n", 0),
        getattr(layer, "m", 0), getattr(layer, "pes", 1), layer.rows, layer.cols, q.shift,
        int(q.relu), len(blobs), q.out_scale)
    table = b"".join(BLOB_ENTRY.pack(b.width, len(b.fields)) for b in blobs)
    data = b"".join(pack_bits(b.fields, b.width) for b in blobs)
    return _section(header + table + _geometry_bytes(q.geometry)) + _section(data)


def encode_layers(model: QuantModel, layers) -> bytes:
    """The bytes of ``model.bin`` for ``model`` with its layers already packed."""
    if len(layers) != len(model.layers) or not 1 <= len(layers) <= MAX_LAYERS:
        raise InputError(f"a model needs 1..{MAX_LAYERS} packed layers, one per layer")
    check_cells([(l.rows, l.cols, getattr(l, "pes", 1)) for l in layers])
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
        self.data, self.view, self.pos = data, memoryview(data), start

    def next(self, what: str) -> memoryview:
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
        if zlib.crc32(self.view[self.pos:end]) != crc:
            raise FormatError(f"checksum mismatch in the {what} section: the file is corrupt")
        payload = self.view[self.pos + LENGTH.size:end]  # a view: no copy of the file
        self.pos = end + CRC.size
        return payload


def _split(data: bytes) -> tuple[bytes, list[tuple[memoryview, memoryview]]]:
    """Check magic, version and every section's framing and CRC; returns the sections' bytes."""
    if len(data) < PREFIX.size:
        raise FormatError(f"file too short for a model ({len(data)} bytes)")
    magic, version = PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise FormatError(f"not a secateurs model: magic {magic!r}, expected {MAGIC!r}")
    if version in (1, 2):
        raise FormatError(f"model.bin version {version} is no longer read (this build reads "
                          f"version {VERSION}); re-run `secateurs flow` to write version {VERSION}")
    if version != VERSION:
        raise FormatError(f"unsupported model version {version}; this build reads version {VERSION}")
    sections = _Sections(data, PREFIX.size)
    header = bytes(sections.next("file header"))
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
    fmt_id, kind, value_bits, index_bits, n, m, pes, rows, cols, shift, relu, n_blobs, _ = fields
    if fmt_id not in FORMAT_IDS:
        raise FormatError(f"{what}: unknown format id {fmt_id}")
    f = FORMAT_IDS[fmt_id]
    codebook = kind == PAYLOAD_KINDS.index("codebook")
    problems = [
        (kind >= len(PAYLOAD_KINDS), f"payload kind {kind}"),
        (value_bits not in (CODE_BITS if codebook else INT_BITS),
         f"value_bits={value_bits} for {'a codebook' if codebook else 'an integer'} payload"),
        (not (1 <= rows <= MAX_DIM and 1 <= cols <= MAX_DIM), f"shape {rows}x{cols}"),
        (not 1 <= pes <= MAX_PES, f"pes={pes}"),
        (max(rows, pes) * cols > MAX_WEIGHTS,
         f"{rows}x{cols} with P={pes} is {max(rows, pes) * cols} cells, more than the "
         f"{MAX_WEIGHTS} a layer may have"),
        (shift > MAX_SHIFT or relu > 1, f"shift={shift}, relu={relu}"),
        ((f.name == "csc") != (index_bits > 0) or index_bits > 8,
         f"index_bits={index_bits} for format {f.name}"),
        ((f.name == "nm") != (m > 0) or (f.name == "nm") != (n > 0)
         or (f.name == "nm" and not 1 <= n <= m <= MAX_GROUP), f"N:M={n}:{m} for format {f.name}"),
        (n_blobs != len(COMMON_BLOBS) + len(f.blob_names), f"{n_blobs} blobs for format {f.name}"),
    ]
    for bad, text in problems:
        if bad:
            raise FormatError(f"{what} out of range: {text}")
    table_end = LAYER_HEADER.size + n_blobs * BLOB_ENTRY.size
    if len(raw) != table_end + GEOMETRY.size:
        raise FormatError(f"{what} is {len(raw)} bytes; {n_blobs} blobs and the geometry need "
                          f"{table_end + GEOMETRY.size}")
    table = [BLOB_ENTRY.unpack_from(raw, LAYER_HEADER.size + k * BLOB_ENTRY.size) for k in range(n_blobs)]
    _check_table(f.name, fields, table, what)
    geometry = _parse_geometry(GEOMETRY.unpack_from(raw, table_end), rows, cols, what)
    return fields, table, geometry


def _parse_geometry(g: tuple, rows: int, cols: int, what: str) -> ConvGeometry | None:
    """The conv geometry of a layer header (None for Linear), every field checked against the
    others and the layer's shape."""
    kind, *conv, groups, pool_kind, ph, pw, psh, psw = g
    if kind == LINEAR:
        if any(g):
            raise FormatError(f"{what}: a Linear layer's geometry fields must all be 0")
        return None
    if kind != CONV:
        raise FormatError(f"{what}: unknown layer kind {kind}")
    if pool_kind > len(POOL_KINDS):
        raise FormatError(f"{what}: unknown pool kind {pool_kind}")
    if pool_kind == 0 and (ph or pw or psh or psw):
        raise FormatError(f"{what}: pool size and stride must be 0 without a pool")
    c, h, w, kh, kw, sh, sw, pad_h, pad_w, dh, dw = conv
    pool = Pool(POOL_KINDS[pool_kind - 1], (ph, pw), (psh, psw)) if pool_kind else None
    geometry = ConvGeometry(c, h, w, (kh, kw), (sh, sw), (pad_h, pad_w), (dh, dw), groups, pool)
    problem = _geometry_problem(geometry, rows, cols)
    if problem:
        raise FormatError(f"{what}: conv geometry out of range: {problem}")
    return geometry


def _geometry_problem(g: ConvGeometry, rows: int, cols: int) -> str | None:
    """Why a conv geometry is not storable or computable (None if it is): SPEC.md's rules."""
    if not (1 <= g.in_channels <= 0xFFFF and 1 <= g.in_height <= MAX_MAP_SIDE
            and 1 <= g.in_width <= MAX_MAP_SIDE):
        return (f"input map {g.in_channels}x{g.in_height}x{g.in_width} (sides 1..{MAX_MAP_SIDE})")
    byte_fields = (*g.kernel, *g.stride, *g.padding, *g.dilation)
    if g.pool is not None:
        byte_fields += (*g.pool.size, *g.pool.stride)
    if any(not 0 <= v <= 0xFF for v in byte_fields) or not 1 <= g.groups <= 0xFFFF:
        return "kernel, stride, padding, dilation and pool fields are 0..255, groups 1..65535"
    if problem := g.problem(rows):
        return problem
    if cols != g.cols:
        return (f"{cols} weight columns, but {g.in_channels // g.groups} channels a group of a "
                f"{g.kernel[0]}x{g.kernel[1]} kernel make {g.cols}")
    oh, ow = g.conv_shape
    if g.in_channels * g.in_height * g.in_width > MAX_MAP_VALUES or rows * oh * ow > MAX_MAP_VALUES:
        return f"maps of more than {MAX_MAP_VALUES} values"
    return None


def _expected_blobs(fmt: str, fields: tuple) -> list[tuple[str, range | int, range | int]]:
    """Per blob: its name, the widths SPEC.md allows and the counts it allows (an int: exactly)."""
    _, kind, v, r, n, m, pes, rows, cols, *_ = fields
    cells = rows * cols
    codebook = kind == PAYLOAD_KINDS.index("codebook")
    common = [("bias", range(1, MAX_FIELD_BITS + 1), rows),
              ("multiplier", range(1, MULTIPLIER_BITS + 1), (1, rows)),
              ("codebook", CODEBOOK_VALUE_BITS, (1 << v) if codebook else 0)]
    if fmt == "dense":
        own = [("values", v, cells)]
    elif fmt == "bitmap":
        own = [("bitmap", 1, cells), ("values", v, range(cells + 1))]
    elif fmt == "csc":
        # A PE's column holds at most one word per local row (each word advances a row or more).
        own = [("counts", range(1, count_bits(-(-rows // pes)) + 1), pes * cols),
               ("words", v + r, range(cells + 1))]
    elif fmt == "csr":
        own = [("counts", range(1, count_bits(cols) + 1), rows),
               ("columns", column_bits(cols), range(cells + 1)), ("values", v, range(cells + 1))]
    elif fmt == "nm":
        own = [("words", v + (m - 1).bit_length(), -(-cols // m) * rows * n)]
    else:  # pragma: no cover - every registered format is listed above
        raise FormatError(f"format {fmt} has no blob rules")
    return common + own


def _allows(allowed: range | int | tuple, value: int) -> bool:
    return value in allowed if isinstance(allowed, (range, tuple)) else value == allowed


def _describe(allowed: range | int | tuple) -> str:
    if isinstance(allowed, range):
        return f"{allowed.start}..{allowed.stop - 1}"
    if isinstance(allowed, tuple):
        return " or ".join(map(str, allowed))
    return str(allowed)


def _check_table(fmt: str, fields: tuple, table: list[tuple[int, int]], what: str) -> None:
    """Every blob's width and count against what SPEC.md derives from the header."""
    for (name, widths, counts), (width, count) in zip(_expected_blobs(fmt, fields), table):
        if not _allows(widths, width):
            raise FormatError(f"{what}: blob '{name}' has {width}-bit fields, expected "
                              f"{_describe(widths)}")
        if not _allows(counts, count):
            raise FormatError(f"{what}: blob '{name}' has {count} fields, expected "
                              f"{_describe(counts)}")
    if fmt == "csr" and table[4][1] != table[5][1]:
        raise FormatError(f"{what}: {table[4][1]} CSR columns but {table[5][1]} values")


def _unpack(data: memoryview, width: int, count: int) -> np.ndarray:
    """``count`` ``width``-bit fields of ``data``, a chunk at a time (scratch memory bounded)."""
    dtype = np.uint8 if width <= 8 else np.uint16 if width <= 16 else np.uint32
    out = np.empty(count, dtype)
    raw = np.frombuffer(data, dtype=np.uint8)
    powers = (np.uint64(1) << np.arange(width, dtype=np.uint64))
    for start in range(0, count, UNPACK_CHUNK):  # a multiple of 8: chunks start on a byte
        stop = min(start + UNPACK_CHUNK, count)
        bits = np.unpackbits(raw[start * width // 8:(stop * width + 7) // 8], bitorder="little")
        out[start:stop] = bits[:(stop - start) * width].reshape(-1, width) @ powers
    return out


def _read_blobs(data: memoryview, names: tuple[str, ...], table: list[tuple[int, int]],
                what: str) -> dict[str, np.ndarray]:
    sizes = [packed_size(count, width) for width, count in table]
    if sum(sizes) != len(data):
        raise FormatError(f"{what} is {len(data)} bytes; its blob table ({', '.join(names)}) "
                          f"declares {sum(sizes)}")
    offsets = np.concatenate([[0], np.cumsum(sizes)]).tolist()
    return {name: _unpack(data[offsets[k]:offsets[k + 1]], width, count)
            for k, (name, (width, count)) in enumerate(zip(names, table))}


def _decode_layer(parsed: tuple, data: memoryview, i: int, in_scale: float) -> tuple[QuantLayer, object]:
    fields, table, geometry = parsed
    fmt_id, kind, value_bits, index_bits, n, m, pes, rows, cols, shift, relu, _, out_scale = fields
    f = FORMAT_IDS[fmt_id]
    what = f"layer {i} data"
    blobs = _read_blobs(data, COMMON_BLOBS + f.blob_names, table, what)
    bias_width = table[0][0]
    if blobs["bias"].size != rows or blobs["multiplier"].size not in (1, rows):
        raise FormatError(f"{what}: {blobs['bias'].size} biases and {blobs['multiplier'].size} "
                          f"multipliers for {rows} rows")
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
    q = QuantLayer(weight=weight.astype(np.int8, copy=False), bias=to_signed(blobs["bias"], bias_width).astype(np.int32),
                   multiplier=mult, shift=shift, relu=bool(relu), weight_scale=None,
                   in_scale=in_scale, out_scale=out_scale,
                   weight_bits=8 if payload.codebook else value_bits,
                   codebook=payload.table.astype(np.int8) if payload.codebook else None,
                   geometry=geometry)
    return q, layer


def check_cells(shapes, error=InputError) -> None:
    """``error`` unless the layers ``(rows, cols, pes)`` stay within the reader's limits:
    max(R, P)·C ≤ MAX_WEIGHTS per layer and ≤ MAX_TOTAL_WEIGHTS in all (SPEC.md, Limits)."""
    cells = [max(r, p) * c for r, c, p in shapes]
    for i, n in enumerate(cells):
        if n > MAX_WEIGHTS:
            raise error(f"layer {i}: {n} cells (max(rows, P) x cols), more than the "
                        f"{MAX_WEIGHTS} a layer may have")
    if sum(cells) > MAX_TOTAL_WEIGHTS:
        raise error(f"{sum(cells)} cells over all layers, more than the {MAX_TOTAL_WEIGHTS} a "
                    f"model may have")


def _shapes(parsed: tuple) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(input shape, output shape) of one sample through a parsed layer: a Linear layer's
    (cols,) and (rows,); a conv layer's (C, H, W) maps. A Linear input reads any map flattened."""
    fields, _, g = parsed
    rows, cols = fields[7], fields[8]
    return ((cols,), (rows,)) if g is None else (g.in_shape, g.out_shape(rows))


def decode(data: bytes) -> PackedModel:
    """Parse and validate ``model.bin`` bytes; raises FormatError naming what is wrong."""
    header, sections = _split(bytes(data))
    _, input_scale = FILE_HEADER.unpack(header)
    if not (np.isfinite(input_scale) and input_scale > 0):
        raise FormatError(f"file header: input scale {input_scale} is not a positive number")
    # Every header, its blob table and the chain of shapes are checked before any data is decoded.
    parsed = [_parse_header(h, f"layer {i} header") for i, (h, _) in enumerate(sections)]
    check_cells([(f[7], f[8], f[6]) for f, _, _ in parsed], FormatError)
    for i in range(1, len(parsed)):
        before, after = _shapes(parsed[i - 1]), _shapes(parsed[i])
        if after[0] != before[1] and not (len(after[0]) == 1 and after[0][0] == np.prod(before[1])):
            describe = lambda shape: "x".join(map(str, shape))  # noqa: E731
            raise FormatError(f"layer {i} header: {describe(after[0])} inputs, but layer {i - 1} "
                              f"has {describe(before[1])} outputs")
    qlayers, packed, in_scale = [], [], input_scale
    for i, ((_, layer_data), p) in enumerate(zip(sections, parsed)):
        q, layer = _decode_layer(p, layer_data, i, in_scale)
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


#: Largest model.bin read: the cell limits keep a valid file far below it.
MAX_FILE_BYTES = 64 << 20


def load(path: str | Path) -> PackedModel:
    """Read and decode ``model.bin``; a non-regular or oversized file is refused before reading."""
    from ...inputs import read_bytes

    return decode(read_bytes(path, "model file", MAX_FILE_BYTES, FormatError))
