"""Bitmap: one presence bit per weight (row-major), then the nonzero values in the same order.

Costs ``rows · cols`` index bits whatever the density, so it wins when the matrix is dense-ish
and loses to relative indices when it is very sparse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import FormatError
from .base import Blob, Format, Options, SizeBits, check_matrix, describe_layer, expect_blobs
from .payload import INT8, Payload

__all__ = ["BitmapLayer", "FORMAT"]


@dataclass(frozen=True, eq=False)
class BitmapLayer:
    rows: int
    cols: int
    payload: Payload
    #: ``(rows, cols)`` bool: which weights are nonzero.
    bitmap: np.ndarray
    #: Raw value fields of the nonzeros, row-major.
    values: np.ndarray

    @property
    def nonzeros(self) -> int:
        return int(self.values.size)


def pack(weights: np.ndarray, payload: Payload = INT8, options: Options = Options()) -> BitmapLayer:
    w = check_matrix(weights, payload)
    present = w != 0
    return BitmapLayer(w.shape[0], w.shape[1], payload, present, payload.encode(w[present]))


def unpack(layer: BitmapLayer) -> np.ndarray:
    present = np.asarray(layer.bitmap, dtype=bool)
    if present.shape != (layer.rows, layer.cols):
        raise FormatError(f"bitmap: expected {layer.rows}x{layer.cols} bits, found shape {present.shape}")
    if int(present.sum()) != layer.values.size:
        raise FormatError(f"values: the bitmap marks {int(present.sum())} nonzeros, "
                          f"found {layer.values.size} values")
    values = layer.payload.decode(layer.values)
    if np.any(layer.values == 0):
        raise FormatError(f"values: entry {int(np.flatnonzero(layer.values == 0)[0])} is zero "
                          f"under a set bitmap bit")
    w = np.zeros((layer.rows, layer.cols), dtype=np.int8)
    w[present] = values
    return w


def size_bits(layer: BitmapLayer) -> SizeBits:
    return SizeBits(values=layer.nonzeros * layer.payload.bits, index=layer.rows * layer.cols,
                    fillers=0, metadata=layer.payload.table_bits)


def describe(layer: BitmapLayer) -> dict:
    return describe_layer("bitmap", layer, layer.nonzeros, size_bits(layer))


BLOBS = ("bitmap", "values")


def blobs(layer: BitmapLayer) -> list[Blob]:
    return [Blob("bitmap", 1, layer.bitmap.ravel().astype(np.uint64)),
            Blob("values", layer.payload.bits, layer.values)]


def from_blobs(rows: int, cols: int, payload: Payload, options: Options,
               data: dict[str, np.ndarray]) -> BitmapLayer:
    expect_blobs(data, BLOBS)
    bits = data["bitmap"]
    if bits.size != rows * cols:
        raise FormatError(f"bitmap: expected {rows * cols} bits, found {bits.size}")
    layer = BitmapLayer(rows, cols, payload, bits.astype(bool).reshape(rows, cols), data["values"])
    unpack(layer)
    return layer


def symbols(layer: BitmapLayer) -> dict[str, tuple[np.ndarray, int]]:
    return {"values": (np.asarray(layer.values, dtype=np.int64), layer.payload.bits),
            "index": (layer.bitmap.ravel().astype(np.int64), 1)}


FORMAT = Format("bitmap", 2, BitmapLayer, BLOBS,
                pack, unpack, size_bits, describe, blobs, from_blobs, symbols)
