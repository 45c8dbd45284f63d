"""What every format shares: its registry entry, packing options, and the storage breakdown.

A format is a handful of pure functions over its own layer class (:class:`Format`): ``pack`` an
integer matrix, ``unpack`` it back exactly, count its ``size_bits``, ``describe`` it, and turn
it into / back from the bit-packed ``blobs`` that ``model.bin`` stores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, NamedTuple

import numpy as np

from ...errors import FormatError, InputError
from ...hw.params import MAX_GROUP
from .payload import INT8, Payload

__all__ = ["Format", "Options", "SizeBits", "Blob", "check_matrix", "count_bits", "describe_layer",
           "expect_blobs"]

MAX_PES = 64  #: PEs a layer may be interleaved over


@dataclass(frozen=True)
class Options:
    """Format parameters; each format reads the ones it has."""

    #: PEs the rows are interleaved over (row r in PE r mod pes): CSC and N:M.
    pes: int = 1
    #: Relative index width r of CSC; ``None`` picks the width with the fewest total bits.
    index_bits: int | None = None
    #: N of N:M: weights kept in every group of M consecutive inputs of a row.
    n: int = 2
    #: M of N:M.
    m: int = 4

    def __post_init__(self):
        if not isinstance(self.pes, int) or not 1 <= self.pes <= MAX_PES:
            raise InputError(f"PE count must be an integer in 1..{MAX_PES}, not {self.pes!r}")
        if self.index_bits is not None and (not isinstance(self.index_bits, int)
                                            or not 1 <= self.index_bits <= 8):
            raise InputError(f"index width must be in 1..8 bits (or None for the best), "
                             f"not {self.index_bits!r}")
        if not (isinstance(self.n, int) and isinstance(self.m, int) and 2 <= self.m <= MAX_GROUP
                and 1 <= self.n <= self.m):
            raise InputError(f"N:M needs 1 <= N <= M and M in 2..{MAX_GROUP}, not {self.n}:{self.m}")


@dataclass(frozen=True)
class SizeBits:
    """Storage of one layer's weights, split the way Deep Compression and EIE account for it."""

    values: int  #: value (or codebook index) fields of the nonzero weights
    index: int  #: position information of the nonzeros (relative/absolute indices, bitmap)
    fillers: int  #: words that hold no nonzero: CSC fillers, N:M padding, dense zeros
    metadata: int  #: pointers / counts and the codebook table

    @property
    def total(self) -> int:
        return self.values + self.index + self.fillers + self.metadata

    def per_nonzero(self, nonzeros: int) -> dict[str, float]:
        """Each part and the total divided by the number of nonzeros (inf if there are none)."""
        parts = {**asdict(self), "total": self.total}
        return {k: (v / nonzeros if nonzeros else float("inf")) for k, v in parts.items()}

    def __add__(self, other: SizeBits) -> SizeBits:
        return SizeBits(self.values + other.values, self.index + other.index,
                        self.fillers + other.fillers, self.metadata + other.metadata)


class Blob(NamedTuple):
    """One bit-packed array of a layer in ``model.bin``: ``count`` fields of ``width`` bits."""

    name: str
    width: int
    fields: np.ndarray  #: unsigned integers, each below ``2**width``


class Format(NamedTuple):
    """The registry entry of one format."""

    name: str
    id: int  #: its number in model.bin
    layer: type
    #: Names of the blobs model.bin stores for a layer, in order.
    blob_names: tuple[str, ...]
    pack: Callable[[np.ndarray, Payload, Options], Any]
    unpack: Callable[[Any], np.ndarray]
    size_bits: Callable[[Any], SizeBits]
    describe: Callable[[Any], dict]
    #: The blobs model.bin stores, in ``blob_names`` order.
    blobs: Callable[[Any], list[Blob]]
    #: ``(rows, cols, payload, options, {name: fields}) -> layer``; FormatError if inconsistent.
    from_blobs: Callable[..., Any]
    #: Field streams an entropy coder would compress: ``{"values": (fields, width), "index": …}``.
    symbols: Callable[[Any], dict[str, tuple[np.ndarray, int]]]


class BankedLayer:
    """A layer whose rows are interleaved over P PE banks: row r is PE ``r % P``'s local row
    ``r // P``. Subclasses are dataclasses with ``rows``, ``pes``, ``value_bits`` and
    ``codebook`` fields."""

    @property
    def payload(self) -> Payload:
        return Payload(self.value_bits, self.codebook)

    @property
    def rows_per_pe(self) -> int:
        return -(-self.rows // self.pes)

    def local_rows(self, pe: int) -> int:
        """Rows PE ``pe`` holds: ``pe, pe + P, pe + 2P, …`` below ``rows``."""
        return len(range(pe, self.rows, self.pes))


def check_matrix(values: np.ndarray, payload: Payload = INT8, *,
                 what: str = "weights") -> np.ndarray:
    """``values`` as an int64 matrix; InputError unless 2-D integers that ``payload`` holds.

    The one check of an integer matrix (int8 by default), weights or activations alike: the
    packers call it, and so do the simulators with ``what="inputs"``.
    """
    array = np.asarray(values)
    if array.ndim != 2:
        raise InputError(f"{what} must be a 2-D matrix (rows x cols), not shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise InputError(f"{what} must be integers, not {array.dtype}")
    matrix = array.astype(np.int64)
    if payload.codebook is None:
        lo, hi = payload.value_range
        if matrix.size and (matrix.min() < lo or matrix.max() > hi):
            raise InputError(f"{what} must fit {payload.bits}-bit signed integers ({lo}..{hi})")
    else:
        payload.encode(matrix)  # raises naming a value the codebook lacks
    return matrix


def spans(ptr: np.ndarray, entries: int = 1 << 14) -> list[range]:
    """The runs (columns, rows) a pointer array ``ptr`` delimits, in consecutive spans of about
    ``entries`` entries each (a longer run is a span of its own): a reader that decodes a layer
    span by span keeps its scratch memory bounded whatever the layer's size."""
    ptr = np.asarray(ptr, dtype=np.int64)
    runs = len(ptr) - 1
    starts = np.searchsorted(ptr, np.arange(0, ptr[-1], entries), side="right") - 1
    bounds = [*np.unique(np.concatenate([[0], starts[starts < runs]])).tolist(), runs]
    return [range(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def count_bits(maximum: int) -> int:
    """Width of an unsigned field holding 0..maximum (at least 1)."""
    return max(1, int(maximum).bit_length())


def describe_layer(fmt: str, layer, weights_nonzero: int, size: SizeBits, **params) -> dict:
    """The common description of a packed layer (what ``secateurs inspect`` prints)."""
    cells = layer.rows * layer.cols
    return {
        "format": fmt, "payload": layer.payload.name, "shape": [layer.rows, layer.cols],
        "nonzeros": weights_nonzero, "density": weights_nonzero / max(cells, 1), **params,
        "bits": {**asdict(size), "total": size.total},
        "bits_per_nonzero": size.per_nonzero(weights_nonzero),
    }


def expect_blobs(blobs: dict[str, np.ndarray], names: tuple[str, ...]) -> None:
    """FormatError unless exactly the blobs ``names`` are present."""
    if tuple(blobs) != names:
        raise FormatError(f"expected blobs {', '.join(names)}; found {', '.join(blobs) or 'none'}")
