"""``model.bin``: the packed, quantized model — the only thing hw/ and sim/ read from sw/.

Layout (all integers little-endian; see SPEC.md for every bit): a fixed header, one section per
layer (shape, requantization, bias, CSC pointers and words), and a CRC32 of everything before
it. Reading checks the checksum and every length before it trusts any field.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...atomic import write_bytes
from ...errors import FormatError
from ..reference import QuantLayer, QuantModel
from .bits import pack_bits, packed_size, unpack_bits
from .csc import CSCLayer, pack_csc, unpack_csc

MAGIC = b"SCTR"
VERSION = 1
HEADER = struct.Struct("<4sHHHBBf")  # magic, version, layers, pes, value_bits, index_bits, input_scale
LAYER = struct.Struct("<IIBBBBf")  # rows, cols, shift, relu, pointer_bits, multiplier_bits, out_scale
CRC = struct.Struct("<I")
MULTIPLIER_BITS = 16  #: multipliers are stored as u16 (the quantizer keeps them below 2^16)
MAX_DIM = 1 << 20  #: refuse absurd shapes before allocating anything


@dataclass(frozen=True, eq=False)
class PackedModel:
    """A decoded ``model.bin``: the integer model and its per-layer CSC banks."""

    model: QuantModel
    layers: tuple[CSCLayer, ...]
    pes: int
    index_bits: int
    value_bits: int = 8

    @property
    def size_bits(self) -> int:
        return 8 * len(encode(self.model, pes=self.pes, index_bits=self.index_bits))


def _pointer_bits(layer: CSCLayer) -> int:
    return max(1, int(layer.col_ptr[:, -1].max()).bit_length())


def encode(model: QuantModel, *, pes: int, index_bits: int) -> bytes:
    """The bytes of ``model.bin`` for an integer model packed for ``pes`` PEs."""
    value_bits = 8
    out = [HEADER.pack(MAGIC, VERSION, len(model.layers), pes, value_bits, index_bits,
                       model.input_scale)]
    for q in model.layers:
        csc = pack_csc(q.weight, pes=pes, index_bits=index_bits, value_bits=value_bits)
        pbits = _pointer_bits(csc)
        out.append(LAYER.pack(q.rows, q.cols, q.shift, int(q.relu), pbits, MULTIPLIER_BITS,
                              q.out_scale))
        out.append(q.bias.astype("<i4").tobytes())
        out.append(q.multiplier.astype("<u2").tobytes())
        out.append(pack_bits(csc.col_ptr[:, 1:], pbits))
        out.append(pack_bits(np.concatenate(csc.words) if csc.n_words() else np.zeros(0), csc.word_bits))
    body = b"".join(out)
    return body + CRC.pack(zlib.crc32(body))


class _Reader:
    """Cursor over the file that names what it was reading when the bytes ran out."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise FormatError(f"truncated at {what}: needs {n} bytes at offset {self.pos}, "
                              f"{len(self.data) - self.pos} left")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: struct.Struct, what: str) -> tuple:
        return fmt.unpack(self.take(fmt.size, what))


def decode(data: bytes) -> PackedModel:
    """Parse and validate ``model.bin`` bytes; raises FormatError naming what is wrong."""
    if len(data) < HEADER.size + CRC.size:
        raise FormatError(f"file too short for a model header ({len(data)} bytes)")
    if data[:4] != MAGIC:
        raise FormatError(f"not a secateurs model: magic {data[:4]!r}, expected {MAGIC!r}")
    body, (crc,) = data[:-CRC.size], CRC.unpack(data[-CRC.size:])
    if zlib.crc32(body) != crc:
        raise FormatError("checksum mismatch: the file is corrupt or truncated")
    r = _Reader(body)
    _, version, n_layers, pes, value_bits, index_bits, input_scale = r.unpack(HEADER, "header")
    if version != VERSION:
        raise FormatError(f"unsupported model version {version}; this build reads version {VERSION}")
    if value_bits != 8 or not 1 <= index_bits <= 8 or not 1 <= pes <= 64 or n_layers < 1:
        raise FormatError(f"header out of range: pes={pes} value_bits={value_bits} "
                          f"index_bits={index_bits} layers={n_layers}")
    qlayers, csc_layers = [], []
    in_scale = input_scale
    for i in range(n_layers):
        what = f"layer {i}"
        rows, cols, shift, relu, pbits, mbits, out_scale = r.unpack(LAYER, f"{what} header")
        if not (1 <= rows <= MAX_DIM and 1 <= cols <= MAX_DIM) or mbits != MULTIPLIER_BITS \
                or relu > 1 or shift > 63 or not 1 <= pbits <= 32:
            raise FormatError(f"{what} header out of range: {rows}x{cols}, shift={shift}, "
                              f"pointer_bits={pbits}")
        bias = np.frombuffer(r.take(4 * rows, f"{what} bias"), dtype="<i4").astype(np.int32)
        mult = np.frombuffer(r.take(2 * rows, f"{what} multipliers"), dtype="<u2").astype(np.int64)
        ptr = unpack_bits(r.take(packed_size(pes * cols, pbits), f"{what} column pointers"),
                          pbits, pes * cols).astype(np.int64).reshape(pes, cols)
        col_ptr = np.concatenate([np.zeros((pes, 1), dtype=np.int64), ptr], axis=1)
        if np.any(np.diff(col_ptr, axis=1) < 0):
            raise FormatError(f"{what} column pointers decrease")
        counts = col_ptr[:, -1]
        word_bits = value_bits + index_bits
        raw = unpack_bits(r.take(packed_size(int(counts.sum()), word_bits), f"{what} words"),
                          word_bits, int(counts.sum()))
        words = tuple(np.split(raw.astype(np.uint32), np.cumsum(counts)[:-1]))
        csc = CSCLayer(rows=rows, cols=cols, pes=pes, value_bits=value_bits, index_bits=index_bits,
                       words=words, col_ptr=col_ptr)
        try:
            weight = unpack_csc(csc).astype(np.int8)
        except FormatError as e:
            raise FormatError(f"{what}: {e}") from None
        csc_layers.append(csc)
        qlayers.append(QuantLayer(weight=weight, bias=bias, multiplier=mult, shift=shift,
                                  relu=bool(relu), weight_scale=None, in_scale=in_scale,
                                  out_scale=out_scale))
        in_scale = out_scale
    if r.pos != len(body):
        raise FormatError(f"{len(body) - r.pos} unexpected bytes after the last layer")
    for prev, nxt in zip(qlayers, qlayers[1:]):
        if prev.rows != nxt.cols:
            raise FormatError(f"layer shapes do not chain: {prev.rows} outputs feed {nxt.cols} inputs")
    return PackedModel(QuantModel(input_scale, tuple(qlayers)), tuple(csc_layers), pes, index_bits)


def save(path: str | Path, model: QuantModel, *, pes: int, index_bits: int) -> int:
    """Write ``model.bin`` atomically; returns its size in bytes."""
    data = encode(model, pes=pes, index_bits=index_bits)
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
