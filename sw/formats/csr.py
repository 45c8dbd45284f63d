"""CSR with absolute column indices: the textbook sparse format, kept for comparison.

Per row, the count of its nonzeros; per nonzero, its column (``ceil(log2 cols)`` bits) and
value. Compared with CSC's relative indices it pays the full index width on every nonzero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import FormatError
from .base import (Blob, Format, Options, SizeBits, check_matrix, count_bits, describe_layer,
                   expect_blobs, spans)
from .payload import INT8, Payload

__all__ = ["CSRLayer", "column_bits", "FORMAT"]


def column_bits(cols: int) -> int:
    """Width of an absolute column index (at least 1)."""
    return count_bits(cols - 1)


@dataclass(frozen=True, eq=False)
class CSRLayer:
    rows: int
    cols: int
    payload: Payload
    #: Nonzeros in each row.
    counts: np.ndarray
    #: Column of each nonzero, row by row, increasing within a row.
    columns: np.ndarray
    #: Raw value field of each nonzero.
    values: np.ndarray

    @property
    def nonzeros(self) -> int:
        return int(self.values.size)


def pack(weights: np.ndarray, payload: Payload = INT8, options: Options = Options()) -> CSRLayer:
    w = check_matrix(weights, payload)
    row, col = np.nonzero(w)
    return CSRLayer(w.shape[0], w.shape[1], payload, np.count_nonzero(w, axis=1).astype(np.int64),
                    col.astype(np.int64), payload.encode(w[row, col]))


def unpack(layer: CSRLayer) -> np.ndarray:
    counts = np.asarray(layer.counts, np.int64)
    if (counts.size != layer.rows or int(counts.sum()) != len(layer.columns)
            or len(layer.columns) != len(layer.values)):
        raise FormatError(f"counts: {counts.size} rows adding up to {int(counts.sum())} nonzeros do "
                          f"not match {layer.rows} rows, {len(layer.columns)} columns, "
                          f"{len(layer.values)} values")
    ptr = np.concatenate([[0], np.cumsum(counts)])
    w = np.zeros((layer.rows, layer.cols), dtype=np.int8)
    for rows in spans(ptr):  # a span at a time: the scratch memory stays small
        lo, hi = int(ptr[rows.start]), int(ptr[rows.stop])
        # int32 indices: rows and columns are at most 2^20
        columns = np.asarray(layer.columns[lo:hi], np.int32)
        row = np.repeat(np.arange(rows.start, rows.stop, dtype=np.int32), counts[rows.start:rows.stop])
        if np.any(columns >= layer.cols):
            raise FormatError(f"columns: index {int(columns.max())} beyond the layer's {layer.cols} columns")
        if np.any((row[1:] == row[:-1]) & (np.diff(columns) <= 0)):
            raise FormatError("columns: indices within a row do not increase")
        if np.any(np.asarray(layer.values[lo:hi]) == 0):
            raise FormatError("values: a stored nonzero is zero")
        w[row, columns] = layer.payload.decode(layer.values[lo:hi])
    return w


def size_bits(layer: CSRLayer) -> SizeBits:
    nonzeros = layer.nonzeros
    return SizeBits(values=nonzeros * layer.payload.bits, index=nonzeros * column_bits(layer.cols),
                    fillers=0, metadata=layer.rows * count_bits(np.max(layer.counts, initial=0))
                    + layer.payload.table_bits)


def describe(layer: CSRLayer) -> dict:
    return describe_layer("csr", layer, layer.nonzeros, size_bits(layer),
                          index_bits=column_bits(layer.cols))


BLOBS = ("counts", "columns", "values")


def blobs(layer: CSRLayer) -> list[Blob]:
    return [Blob("counts", count_bits(np.max(layer.counts, initial=0)), layer.counts),
            Blob("columns", column_bits(layer.cols), layer.columns),
            Blob("values", layer.payload.bits, layer.values)]


def from_blobs(rows: int, cols: int, payload: Payload, options: Options,
               data: dict[str, np.ndarray]) -> CSRLayer:
    expect_blobs(data, BLOBS)
    layer = CSRLayer(rows, cols, payload, data["counts"].astype(np.int64), data["columns"],
                     data["values"])  # the columns as read: at most 20 bits each
    unpack(layer)
    return layer


def symbols(layer: CSRLayer) -> dict[str, tuple[np.ndarray, int]]:
    return {"values": (np.asarray(layer.values, dtype=np.int64), layer.payload.bits),
            "index": (np.asarray(layer.columns, dtype=np.int64), column_bits(layer.cols))}


FORMAT = Format("csr", 4, CSRLayer, BLOBS,
                pack, unpack, size_bits, describe, blobs, from_blobs, symbols)
