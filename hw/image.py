"""What a whole-network accelerator holds: every layer's weights, pointers and requantization.

A :class:`NetworkImage` is read from a decoded ``model.bin`` (:func:`network_image`); its
contents go into the accelerator's memories (:mod:`.memories`) through the load port
(:mod:`.load`) or baked in. It also carries what proves the accumulators wide enough: the largest
``|W x|`` any int8 input can reach (:func:`accumulator_bound`, checked by
:meth:`~.capacity.Capacity.check`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import ACT_BITS, PARAM_MULTIPLIER_BITS, check_pes

__all__ = ["NetworkLayer", "NetworkImage", "network_image", "accumulator_bound"]

ACT_MAGNITUDE = 1 << (ACT_BITS - 1)  # the largest |x| of an int8 activation


@dataclass(frozen=True, eq=False)
class NetworkLayer:
    """One Linear layer as the hardware stores it."""

    weight: np.ndarray  #: int (rows, cols), the decoded weights (dense twin's banks, reference)
    bias: np.ndarray  #: int (rows,), accumulator units
    multiplier: np.ndarray  #: int (rows,), unsigned requantization multiplier M
    shift: int  #: requantization right shift s
    relu: bool
    words: tuple[np.ndarray, ...]  #: per PE, raw ``csc_word`` bits of this layer's CSC words
    col_ptr: np.ndarray | None  #: (pes, cols + 1) start of each CSC column in each PE's words
    #: Weight of each code for codebook layers (the word's value field is an index), else None.
    codebook: tuple[int, ...] | None = None
    #: ``(n, m)`` of an N:M layer (its words are group-major, no pointers), else None.
    nm: tuple[int, int] | None = None

    @property
    def rows(self) -> int:
        return self.weight.shape[0]

    @property
    def cols(self) -> int:
        return self.weight.shape[1]

    def counts(self) -> np.ndarray:
        """``(pes, cols)`` words each PE walks in each column."""
        return np.diff(self.col_ptr, axis=1)

    def nonempty(self) -> np.ndarray:
        """``(cols,)`` whether any PE has a word in each column (N:M: every column)."""
        if self.nm is not None:
            return np.ones(self.cols, dtype=bool)
        return self.counts().any(axis=0)

    @property
    def groups(self) -> int:
        """Groups of M inputs of an N:M layer."""
        return -(-self.cols // self.nm[1])


@dataclass(frozen=True, eq=False)
class NetworkImage:
    """Every layer of an MLP, packed for ``pes`` PEs with ``index_bits``-bit relative indices."""

    pes: int
    index_bits: int
    value_bits: int
    layers: tuple[NetworkLayer, ...]

    def __post_init__(self):
        check_pes(self.pes)
        if not self.layers:
            raise ValueError("A network needs at least one layer")
        for i, (a, b) in enumerate(zip(self.layers, self.layers[1:])):
            if a.rows != b.cols:
                raise ValueError(f"Layer {i} has {a.rows} outputs but layer {i + 1} has "
                                 f"{b.cols} inputs")
        for i, layer in enumerate(self.layers):
            if layer.nm is None and layer.col_ptr.shape != (self.pes, layer.cols + 1):
                raise ValueError(f"Layer {i} is packed for {layer.col_ptr.shape[0]} PEs, "
                                 f"not {self.pes}")
            if np.any(layer.multiplier < 0) or np.any(layer.multiplier >> PARAM_MULTIPLIER_BITS):
                raise ValueError(f"Layer {i} has a multiplier outside 0..2^16 - 1")

    @property
    def inputs(self) -> int:
        return self.layers[0].cols

    @property
    def outputs(self) -> int:
        return self.layers[-1].rows

    @property
    def max_rows(self) -> int:
        return max(layer.rows for layer in self.layers)

    @property
    def max_cols(self) -> int:
        return max(layer.cols for layer in self.layers)

    @property
    def codebook(self) -> bool:
        return any(layer.codebook is not None for layer in self.layers)

    @property
    def nm(self) -> tuple[int, int] | None:
        """``(n, m)`` if the layers are N:M (all of them are, then), else None."""
        return self.layers[0].nm

    def rows_per_pe(self, layer: int) -> int:
        return -(-self.layers[layer].rows // self.pes)


def accumulator_bound(layer: NetworkLayer) -> int:
    """The largest ``|acc + bias|`` an int8 input can produce in any row of ``layer``."""
    fan_in = np.abs(layer.weight.astype(np.int64)).sum(axis=1) * ACT_MAGNITUDE
    return int((fan_in + np.abs(layer.bias.astype(np.int64))).max())


def network_image(packed) -> NetworkImage:
    """The image of a decoded ``model.bin`` (:class:`~secateurs.sw.formats.container.PackedModel`).

    Every layer must have the same word layout, since the PEs' banks have one: CSC with one
    relative index width, or N:M with one N and M; values int8, int4 or codebook codes of one
    width.
    """
    layers, kinds = [], set()
    for i, (q, packed_layer) in enumerate(zip(packed.model.layers, packed.layers)):
        nm = (packed_layer.n, packed_layer.m) if hasattr(packed_layer, "m") else None
        if nm is None and not hasattr(packed_layer, "col_ptr"):
            raise ValueError(f"Layer {i} is stored as {type(packed_layer).__name__}; the "
                             f"accelerator reads CSC or N:M layers")
        codebook = getattr(packed_layer, "codebook", None)
        index_bits = None if nm else packed_layer.index_bits
        kinds.add((packed_layer.pes, packed_layer.value_bits, index_bits, nm,
                   codebook is not None))
        layers.append(NetworkLayer(
            weight=np.asarray(q.weight, dtype=np.int64), bias=np.asarray(q.bias, dtype=np.int64),
            multiplier=np.asarray(q.multiplier, dtype=np.int64), shift=int(q.shift),
            relu=bool(q.relu), words=tuple(np.asarray(w, dtype=np.int64) for w in packed_layer.words),
            col_ptr=None if nm else np.asarray(packed_layer.col_ptr, dtype=np.int64),
            codebook=None if codebook is None else tuple(int(v) for v in codebook), nm=nm))
    if len(kinds) != 1:
        raise ValueError("All layers must share one word layout (PEs, value width, index width "
                         f"or N:M, codebook or not); this model has {sorted(kinds, key=str)}")
    pes, value_bits, index_bits, _, _ = kinds.pop()
    return NetworkImage(pes=pes, index_bits=index_bits or 0, value_bits=value_bits,
                        layers=tuple(layers))
