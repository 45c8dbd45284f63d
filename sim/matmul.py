"""``sim matmul``: one int8 layer, ``X @ W.T``, on the same engine as the whole accelerator.

There is no separate single-layer array: W becomes a one-layer network whose readout is its raw
accumulators (``readout="accumulators"``: bias 0, multiplier 1, shift 0, no ReLU), packed with
the project's own packers into a ``model.bin`` (CSC or N:M; int8, int4 or a k-means codebook),
and the sparse accelerator and its dense twin are proved on it (:func:`.network.prove`): outputs
bit-exact against numpy, cycles equal to ``sw.cycles.network_cycles`` — whole one-layer-network
cycles, the drain of the rows and the argmax's cycle included.

Packing rules:

* N:M without ``nm``: the tightest pattern W satisfies. For each M in :data:`NM_GROUPS`, N is
  the most nonzeros any aligned group of M inputs of any row holds (at least 1); of the pairs
  with N < M, the one with the fewest words per row, ``N * ceil(cols / M)`` (what the N:M engine
  walks), wins, ties going to the smaller M. None (W is too dense for every M): refused.
* int4: W must lie in -8..7.
* codebook: a :data:`CODEBOOK_BITS`-bit codebook (its code 0 is the zero) of k-means levels of
  W's nonzeros (``sw.share.cluster``, Deep Compression's linear initialisation), rounded to
  int8. With at most ``2**CODEBOOK_BITS - 1`` distinct nonzero values every value is its own
  level and the product is exact; otherwise the oracle is ``X @ decoded(W).T`` and the result
  says ``exact: False`` and the largest ``|W - decoded(W)|``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import HardwareConfig
from ..errors import InputError
from ..hw.params import KINDS, MAX_GROUP
from ..sw.formats import container
from ..sw.formats.base import check_matrix
from ..sw.formats.csc import best_index_bits
from ..sw.formats.payload import INT4, INT8, Payload, codebook
from ..sw.reference import QuantLayer, QuantModel
from ..sw.share import cluster
from .network import prove

__all__ = ["FORMATS", "PAYLOADS", "NM_GROUPS", "CODEBOOK_BITS", "MatmulLayer", "MatmulResult",
           "infer_nm", "parse_nm", "matmul_layer", "prove_layer", "run_matmul"]

#: Formats the accelerator's banks hold, and the payloads ``sim matmul`` packs into them.
FORMATS = ("csc", "nm")
PAYLOADS = ("int8", "int4", "codebook")
#: Group sizes M the N:M inference tries: the powers of two up to the hardware's largest.
NM_GROUPS = tuple(m for m in (2, 4, 8, 16) if m <= MAX_GROUP)
#: Code width of a codebook payload: 15 shared nonzero levels and the zero (Deep Compression
#: shares AlexNet's fully connected layers with 5 bits; 4 keeps the table small).
CODEBOOK_BITS = 4
#: Seed of the k-means clustering (its linear initialisation makes it deterministic anyway).
CODEBOOK_SEED = 0


def parse_nm(text: str) -> tuple[int, int]:
    """``"N:M"`` as ``(n, m)``; InputError unless two integers with 1 <= N < M <= MAX_GROUP."""
    parts = text.split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise InputError(f"--nm must be N:M (two integers, e.g. 2:4), not {text!r}")
    n, m = (int(p) for p in parts)
    if not (2 <= m <= MAX_GROUP and 1 <= n < m):
        raise InputError(f"--nm needs 1 <= N < M and M in 2..{MAX_GROUP}, not {n}:{m}")
    return n, m


def _group_counts(w: np.ndarray, m: int) -> np.ndarray:
    """``(rows, groups)`` nonzeros in each aligned group of ``m`` inputs of each row."""
    rows, cols = w.shape
    groups = -(-cols // m)
    padded = np.zeros((rows, groups * m), dtype=bool)
    padded[:, :cols] = w != 0
    return padded.reshape(rows, groups, m).sum(axis=2)


def infer_nm(weights: np.ndarray) -> tuple[int, int]:
    """The tightest N:M pattern ``weights`` satisfies (see the module's rules); InputError if
    none of :data:`NM_GROUPS` has one with N < M."""
    w = check_matrix(weights)
    fits = []
    for m in NM_GROUPS:
        counts = _group_counts(w, m)
        n = max(1, int(counts.max()))
        if n < m:
            fits.append((n * counts.shape[1], m, n))
    if not fits:
        raise InputError(f"the weights are not N:M sparse for any M in "
                         f"{', '.join(map(str, NM_GROUPS))}: some row has 2 nonzeros in an "
                         f"aligned pair of inputs")
    _, m, n = min(fits)
    return n, m


def _check_nm(w: np.ndarray, n: int, m: int) -> None:
    counts = _group_counts(w, m)
    over = np.argwhere(counts > n)
    if over.size:
        r, g = (int(v) for v in over[0])
        raise InputError(f"the weights are not {n}:{m} sparse: row {r} has {int(counts[r, g])} "
                         f"nonzeros in inputs {g * m}..{min(g * m + m, w.shape[1]) - 1}")


def _codebook(w: np.ndarray) -> tuple[np.ndarray, Payload]:
    """``(decoded W, payload)``: W's nonzeros as the codebook's levels."""
    table = np.zeros(1 << CODEBOOK_BITS, dtype=np.int64)
    values = np.unique(w[w != 0])
    if len(values) < len(table):
        # A level for every value: k-means' optimum (zero inertia), which Lloyd's iterations
        # from a linear initialisation do not always reach when values repeat.
        table[1:len(values) + 1] = values
        return w, codebook(table)
    shared = cluster(w, CODEBOOK_BITS, seed=CODEBOOK_SEED)
    table = np.clip(np.floor(shared.centroids + 0.5), -128, 127).astype(np.int64)
    return table[shared.codes], codebook(table)


@dataclass(frozen=True, eq=False)
class MatmulLayer:
    """W packed as a one-layer model.bin, and how faithfully it holds the given weights."""

    packed: container.PackedModel
    fmt: str
    payload: str
    #: ``(n, m)`` of an N:M layer, else None; ``index_bits`` of a CSC one, else None.
    nm: tuple[int, int] | None
    index_bits: int | None
    #: Whether the stored weights are the given ones, and the largest ``|W - stored W|``.
    exact: bool
    max_weight_error: int

    @property
    def weights(self) -> np.ndarray:
        """The weights as stored (decoded), int64: the oracle's W."""
        return self.packed.model.layers[0].weight.astype(np.int64)


def matmul_layer(weights: np.ndarray, *, pes: int, fmt: str = "csc", payload: str = "int8",
                 nm: tuple[int, int] | None = None) -> MatmulLayer:
    """W as a one-layer accumulator-readout model packed in ``fmt`` with ``payload`` for
    ``pes`` PEs; InputError if W cannot be (see the module's rules)."""
    if fmt not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if payload not in PAYLOADS:
        raise InputError(f"payload must be one of {', '.join(PAYLOADS)}, not {payload!r}")
    if nm is not None and fmt != "nm":
        raise InputError("--nm applies to --format nm only")
    w = check_matrix(weights)
    if payload == "int4":
        w = check_matrix(w, INT4)
    decoded, stored = (w, INT4 if payload == "int4" else INT8)
    if payload == "codebook":
        decoded, stored = _codebook(w)
    rows, cols = w.shape
    layer = QuantLayer(weight=decoded.astype(np.int8), bias=np.zeros(rows, dtype=np.int32),
                       multiplier=np.ones(rows, dtype=np.int64), shift=0, relu=False,
                       weight_scale=None, in_scale=1.0, out_scale=1.0,
                       weight_bits=stored.bits if stored.codebook is None else 8,
                       codebook=None if stored.codebook is None
                       else np.array(stored.codebook, dtype=np.int8))
    model = QuantModel(1.0, (layer,))
    index_bits = None
    if fmt == "nm":
        # A zero stays code 0, so the stored W has the given W's pattern (or a sparser one).
        nm = nm or infer_nm(w)
        _check_nm(w, *nm)
        layers = container.pack_layers(model, fmt="nm", pes=pes, n=nm[0], m=nm[1])
    else:
        index_bits = best_index_bits(decoded, pes=pes, payload=stored)
        layers = container.pack_layers(model, fmt="csc", pes=pes, index_bits=index_bits)
    packed = container.decode(container.encode_layers(model, layers))
    error = int(np.abs(w - decoded).max(initial=0))
    return MatmulLayer(packed, fmt, payload, nm, index_bits, error == 0, error)


@dataclass(frozen=True, eq=False)
class MatmulResult:
    """``X @ stored W.T`` as both designs computed it (checked), and per-sample cycles of whole
    one-layer-network runs, simulated and modelled (the model's, plus any cycles the host held
    outputs back: none without an idle seed)."""

    layer: MatmulLayer
    outputs: np.ndarray
    cycles: dict[str, np.ndarray]
    expected_cycles: dict[str, np.ndarray]

    def summary(self, *, pes: int, queue_depth: int) -> dict:
        """What ``sim matmul`` writes to summary.json (cycles summed over the batch)."""
        layer = self.layer
        rows, cols = layer.weights.shape
        return {
            "rows": rows, "cols": cols, "batch": int(self.outputs.shape[0]), "pes": pes,
            "queue_depth": queue_depth, "format": layer.fmt, "payload": layer.payload,
            "nm": None if layer.nm is None else f"{layer.nm[0]}:{layer.nm[1]}",
            "index_bits": layer.index_bits, "exact": layer.exact,
            "max_weight_error": layer.max_weight_error,
            **{f"cycles_{k}": int(c.sum()) for k, c in self.cycles.items()},
            **{f"expected_cycles_{k}": int(c.sum()) for k, c in self.expected_cycles.items()},
        }


def prove_layer(layer: MatmulLayer, inputs: np.ndarray, *, hw: HardwareConfig,
                build_root: str | Path, kinds=KINDS, idle_seed: int | None = None,
                simulator: str = "verilator") -> MatmulResult:
    """``inputs @ layer.weights.T`` on the sparse and the dense accelerator (or just ``kinds``),
    simulated by ``simulator``; SimulationError unless outputs and cycles are the reference's.

    ``idle_seed`` slips idle cycles into the input stream and holds outputs back on the output
    stream (:func:`.network.prove`); the cycles returned are then the model's plus those held.
    """
    x = check_matrix(inputs, what="inputs")
    if x.shape[1] != layer.weights.shape[1]:
        raise InputError(f"inputs have {x.shape[1]} columns but weights have "
                         f"{layer.weights.shape[1]}")
    proofs = prove(layer.packed, x, hw=hw, build_root=build_root, kinds=kinds,
                   readout="accumulators", idle_seed=idle_seed, simulator=simulator)
    outputs = proofs[kinds[0]].result.logits
    return MatmulResult(layer, outputs.astype(np.int64),
                        {k: p.cycles for k, p in proofs.items()},
                        {k: p.expected + p.result.held_cycles for k, p in proofs.items()})


def run_matmul(weights: np.ndarray, inputs: np.ndarray, *, hw: HardwareConfig,
               build_root: str | Path, fmt: str = "csc", payload: str = "int8",
               nm: tuple[int, int] | None = None, kinds=KINDS,
               idle_seed: int | None = None, simulator: str = "verilator") -> MatmulResult:
    """Pack ``weights`` (:func:`matmul_layer`) and prove ``inputs`` on it (:func:`prove_layer`)."""
    layer = matmul_layer(weights, pes=hw.pes, fmt=fmt, payload=payload, nm=nm)
    return prove_layer(layer, inputs, hw=hw, build_root=build_root, kinds=kinds,
                       idle_seed=idle_seed, simulator=simulator)
