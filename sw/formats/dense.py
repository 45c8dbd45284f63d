"""Dense: every weight stored, zeros included, row-major. The baseline the sparse formats beat."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import FormatError
from .base import Blob, Format, Options, SizeBits, check_matrix, describe_layer, expect_blobs
from .payload import INT8, Payload

__all__ = ["DenseLayer", "FORMAT"]


@dataclass(frozen=True, eq=False)
class DenseLayer:
    rows: int
    cols: int
    payload: Payload
    #: ``rows · cols`` raw value fields, row-major.
    values: np.ndarray

    @property
    def nonzeros(self) -> int:
        return int(np.count_nonzero(self.payload.decode(self.values)))


def pack(weights: np.ndarray, payload: Payload = INT8, options: Options = Options()) -> DenseLayer:
    w = check_matrix(weights, payload)
    return DenseLayer(w.shape[0], w.shape[1], payload, payload.encode(w.ravel()))


def unpack(layer: DenseLayer) -> np.ndarray:
    if layer.values.size != layer.rows * layer.cols:
        raise FormatError(f"values: {layer.rows}x{layer.cols} weights need {layer.rows * layer.cols} "
                          f"fields, found {layer.values.size}")
    return layer.payload.decode(layer.values).reshape(layer.rows, layer.cols)


def size_bits(layer: DenseLayer) -> SizeBits:
    nonzeros, bits = layer.nonzeros, layer.payload.bits
    return SizeBits(values=nonzeros * bits, index=0, fillers=(layer.values.size - nonzeros) * bits,
                    metadata=layer.payload.table_bits)


def describe(layer: DenseLayer) -> dict:
    return describe_layer("dense", layer, layer.nonzeros, size_bits(layer))


BLOBS = ("values",)


def blobs(layer: DenseLayer) -> list[Blob]:
    return [Blob("values", layer.payload.bits, layer.values)]


def from_blobs(rows: int, cols: int, payload: Payload, options: Options,
               data: dict[str, np.ndarray]) -> DenseLayer:
    expect_blobs(data, BLOBS)
    layer = DenseLayer(rows, cols, payload, data["values"])
    unpack(layer)  # checks the count
    return layer


def symbols(layer: DenseLayer) -> dict[str, tuple[np.ndarray, int]]:
    return {"values": (np.asarray(layer.values, dtype=np.int64), layer.payload.bits)}


FORMAT = Format("dense", 1, DenseLayer, BLOBS,
                pack, unpack, size_bits, describe, blobs, from_blobs, symbols)
