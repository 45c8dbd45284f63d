"""The exact cycle count of the accelerator (``secateurs.hw``): a layer's compute phase on the
sparse, N:M and dense engines, and whole inferences.

Cycles of a run are numbered from 0: cycle 0 is the one whose closing edge samples ``start``.
A run *finishes* on the cycle F whose closing edge lands the last accumulate (``done`` reads 1
after it); the ``cycles`` port counts the edges 0..F, so ``cycles = F + 1``. A word issued to a
PE's bank in cycle t is read back and registered in t + 1, multiplied in t + 2 and accumulated
on the closing edge of t + 3 (``MAC_LATENCY``), so with L the last issue cycle,
F = L + MAC_LATENCY. A run with nothing to
issue finishes in cycle 1: ``IDLE_CYCLES = 2``.

Dense: every PE issues one word a cycle in lockstep, in cycles 1..N with
``N = n_cols * ceil(n_rows / P)``, so ``cycles = N + MAC_LATENCY + 1`` (``IDLE_CYCLES`` if N = 0).

Sparse, issue width W: columns form aligned blocks of W (block b holds columns bW .. bW + W - 1).
The work list is the columns j with ``x_j != 0`` and some word in them; a block without work
costs nothing. ``c[p, j]`` is PE p's word count in column j. The k-th block with work is

* picked (its pointer word and activations read, then held on the read ports) in cycle
  ``A_k``: ``A_1 = FIRST_PICK``, ``A_k = E_{k-1} - 1`` (ahead, while its predecessor is
  staged);
* offered to the PEs from ``E_1 = A_1 + BROADCAST_LATENCY``, ``E_k = B_{k-1} + STAGE_HANDOFF``
  (its word, fetched ahead, is registered into the stage on the edge its predecessor leaves;
  ``A_k + 2 <= E_k`` always). Each PE takes the block's work
  columns it has words in, in column order, as its queue of depth D has room: a queue holds a
  column from the edge after it is taken up to and including the cycle its walk starts, so the
  e-th column pushed to PE p is taken in ``Q[p, e] = max(E_k, S[p, e - D] + 1)``;
* gone from the broadcast stage after ``B_k``, the last ``Q`` of its columns;
* walked by PE p in cycles ``S[p, e] .. S[p, e] + c - 1``, starting
  ``S[p, e] = max(Q[p, e] + QUEUE_LATENCY, S[p, e - 1] + c[p, e - 1])`` (the walker takes the
  next column the cycle after the last word of the previous one).

PEs with no word in a column neither receive it nor wait for it, and one PE's full queue does
not hold back the others' takes. Then ``L = max S + c - 1`` over the last column of every PE,
and ``cycles = L + MAC_LATENCY + 1``.

The latencies are the RTL's own, imported from ``hw/params.py`` (plain Python, so sw stays free
of Amaranth); the tests hold the RTL to the counts they give.

Whole network (``hw/accelerator.py``): layer l launches in cycle ``T_l`` (``T_0 = 0``, the edge
sampling ``start``) and computes for ``C_l`` cycles, the layer count above with the
layer's own input activations; its ``R_l`` rows are then drained one a cycle, each written
``DRAIN_LATENCY`` cycles after its read, and the next layer launches the cycle after the last
write: ``T_{l+1} = T_l + C_l + R_l + DRAIN_LATENCY``. The argmax registers the class on the last
logit's edge and ``done`` rises one edge later: ``cycles = T_L + ARGMAX_LATENCY``. That is a
host that takes every logit from the output stream as it is offered; each cycle it holds one
back holds the drain, and adds one cycle (the testbenches add the cycles they held).

Conv layer (``hw/core/address.py``): the layer is its weight matrix (out channels O x C*KH*KW
patch columns) walked once per computed output position (row-major; with a pool, window by
window, and only the positions some window keeps: ``ConvGeometry.walk``). On the sparse design, position k's
work list is scanned into the scheduler one patch row (c, ky) a cycle, ``R = C * KH`` cycles
(the first in the cycle the layer would launch), then the position launches, computes for
``C_k`` cycles (``sparse_cycles`` with the position's patch as its activations: padding and
zeros are not work) and drains its O rows: ``R + C_k + O + DRAIN_LATENCY`` cycles. The dense
twin needs no scan: ``dense_cycles(O, C*KH*KW, P) + O + DRAIN_LATENCY`` a position. The pool
costs no cycle (its unit takes each drained row as it is written), and a layer after a conv
layer launches, as after a Linear, the cycle after its last position's last write.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import HardwareConfig
from ..errors import InputError
from ..hw.image import ConvGeometry
from ..hw.params import (ARGMAX_LATENCY, BROADCAST_LATENCY, DRAIN_LATENCY, FIRST_PICK, IDLE_CYCLES,
                         KINDS, MAC_LATENCY, NM_FIRST_GROUP, NM_GROUP_LOAD, QUEUE_LATENCY,
                         STAGE_HANDOFF)
from .formats.csc import CSCLayer
from .reference import forward

__all__ = ["ARRAYS", "FIRST_PICK", "BROADCAST_LATENCY", "STAGE_HANDOFF", "QUEUE_LATENCY",
           "MAC_LATENCY",
           "IDLE_CYCLES", "DRAIN_LATENCY", "ARGMAX_LATENCY", "dense_cycles", "sparse_cycles",
           "expected_cycles", "nm_cycles", "NetworkCycles", "network_cycles", "conv_cycles", "hardware_geometries"]

ARRAYS = KINDS
_NO_COLUMN = -1  # start cycle of a queue slot never used: constrains no broadcast


def dense_cycles(rows: int, cols: int, pes: int) -> int:
    """Cycles of a dense run over an ``rows x cols`` layer on ``pes`` PEs."""
    issues = cols * -(-rows // pes)
    return issues + MAC_LATENCY + 1 if issues else IDLE_CYCLES


def sparse_cycles(counts: np.ndarray, active: np.ndarray, *, queue_depth: int,
                  issue_width: int = HardwareConfig.issue_width) -> np.ndarray:
    """Cycles of sparse runs, one per sample.

    Parameters
    ----------
    counts : (pes, cols) array of int
        Words (nonzeros and fillers) each PE walks in each column (``CSCLayer.counts()``).
    active : (batch, cols) array of bool
        Which activations of each sample are nonzero.
    queue_depth : int
        Depth D of each PE's activation queue.
    issue_width : int
        Columns per block W: the most the broadcast offers in one cycle.
    """
    counts = np.asarray(counts, dtype=np.int64)
    active = np.asarray(active, dtype=bool)
    pes, cols = counts.shape
    if active.ndim != 2 or active.shape[1] != cols:
        raise InputError(f"activations must be (batch, {cols}), not shape {active.shape}")
    for name, value in (("queue depth", queue_depth), ("issue width", issue_width)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InputError(f"{name} must be a positive integer, not {value!r}")
    batch = active.shape[0]
    work = active & counts.any(axis=0)

    # E_1 = A_1 + BROADCAST_LATENCY, E_k = B_{k-1} + STAGE_HANDOFF
    next_offer = np.full(batch, FIRST_PICK + BROADCAST_LATENCY, dtype=np.int64)
    free = np.zeros((batch, pes), dtype=np.int64)  # first cycle each walker could start a column
    # Start cycles of the last D columns pushed to each PE, oldest first.
    started = np.full((batch, pes, queue_depth), _NO_COLUMN, dtype=np.int64)
    for first in range(0, cols, issue_width):
        block = range(first, min(first + issue_width, cols))
        go = work[:, first:first + issue_width].any(axis=1)
        if not go.any():
            continue
        offered = next_offer
        leaves = offered.copy()
        for j in block:
            needy = np.flatnonzero(counts[:, j])
            on = work[:, j]
            if not on.any():
                continue
            taken = np.maximum(offered[:, None], started[:, needy, 0] + 1)
            start = np.maximum(taken + QUEUE_LATENCY, free[:, needy])
            free[:, needy] = np.where(on[:, None], start + counts[needy, j], free[:, needy])
            shifted = np.concatenate([started[:, needy, 1:], start[:, :, None]], axis=2)
            started[:, needy] = np.where(on[:, None, None], shifted, started[:, needy])
            leaves = np.where(on, np.maximum(leaves, taken.max(axis=1)), leaves)
        next_offer = np.where(go, leaves + STAGE_HANDOFF, next_offer)

    last_issue = free.max(axis=1) - 1
    return np.where(last_issue >= 0, last_issue + MAC_LATENCY + 1, IDLE_CYCLES)


def expected_cycles(hw: HardwareConfig, layer: CSCLayer, inputs: np.ndarray, *,
                    array: str) -> np.ndarray:
    """Per-sample cycles of running ``inputs`` (batch x cols) through ``layer`` on ``array``."""
    if array not in ARRAYS:
        raise InputError(f"array must be one of {', '.join(ARRAYS)}, not {array!r}")
    if layer.pes != hw.pes:
        raise InputError(f"layer packed for {layer.pes} PEs, but the hardware has {hw.pes}")
    x = np.asarray(inputs)
    if x.ndim != 2 or x.shape[1] != layer.cols:
        raise InputError(f"inputs must be (batch, {layer.cols}), not shape {x.shape}")
    if array == "dense":
        return np.full(x.shape[0], dense_cycles(layer.rows, layer.cols, hw.pes), dtype=np.int64)
    return sparse_cycles(layer.counts(), x != 0, queue_depth=hw.queue_depth,
                         issue_width=hw.issue_width)


def nm_cycles(rows: int, cols: int, pes: int, n: int, m: int,
              active_groups: int | np.ndarray | None = None):
    """Compute cycles of an N:M layer on the N:M engine (``hw/engines/nm.py``).

    Only groups holding a nonzero activation are walked (``active_groups`` of the
    ``ceil(cols / m)``; all of them if None), lowest first. The k-th is walked in
    ``W = n * ceil(rows / pes)`` cycles from ``S_k``; ``S_0 = NM_FIRST_GROUP + m`` after the launch
    cycle and ``S_{k+1} = S_k + max(W, m + NM_GROUP_LOAD)`` (the next group's activations are read
    one a cycle meanwhile), so ``cycles = S_{G-1} + W - 1 + MAC_LATENCY + 1`` for G groups walked,
    and ``IDLE_CYCLES`` for none.
    """
    walk = n * -(-rows // pes)
    groups = np.asarray(-(-cols // m) if active_groups is None else active_groups,
                        dtype=np.int64)
    busy = (NM_FIRST_GROUP + m + (groups - 1) * max(walk, m + NM_GROUP_LOAD) + walk - 1
            + MAC_LATENCY + 1)
    cycles = np.where(groups > 0, busy, IDLE_CYCLES)
    return int(cycles) if cycles.ndim == 0 else cycles


@dataclass(frozen=True, eq=False)
class NetworkCycles:
    """Per-sample cycles of whole-network runs: ``total`` and its parts, ``(layers, batch)``."""

    total: np.ndarray
    compute: np.ndarray
    drain: np.ndarray


def network_cycles(packed, inputs: np.ndarray, *, queue_depth: int, array: str,
                   issue_width: int = HardwareConfig.issue_width) -> NetworkCycles:
    """Cycles of whole inferences of the int8 ``inputs`` (batch x features) on the accelerator.

    ``packed`` is a decoded ``model.bin`` (``container.PackedModel``); each layer's activations
    come from the integer reference, so a zero activation is skipped wherever the model has one.
    A conv layer (module docstring) costs its computed positions' scans, compute phases and
    drains; a network whose first layer is conv takes its flat ``C*H*W`` input maps.
    """
    if array not in ARRAYS:
        raise InputError(f"array must be one of {', '.join(ARRAYS)}, not {array!r}")
    x = np.asarray(inputs)
    layers = packed.model.layers
    if x.ndim != 2 or x.shape[1] != layers[0].in_features:
        raise InputError(f"inputs must be (batch, {layers[0].in_features}), not shape {x.shape}")
    walks = hardware_geometries(layers)
    activations = [x, *(a.reshape(len(x), -1) for a in forward(packed.model, x)[:-1])]
    compute, drain = [], []
    for q, csc, a, geo in zip(layers, packed.layers, activations, walks):
        if geo is not None:
            part = conv_cycles(csc.counts() if array == "sparse" else None, geo, a, rows=q.rows,
                               pes=packed.pes, queue_depth=queue_depth, array=array,
                               issue_width=issue_width)
            compute.append(part.compute[0])
            drain.append(part.drain[0])
            continue
        if array == "dense":
            compute.append(np.full(len(x), dense_cycles(q.rows, q.cols, packed.pes), dtype=np.int64))
        elif hasattr(csc, "m"):
            active = csc.active_groups(a).sum(axis=1)
            compute.append(nm_cycles(q.rows, q.cols, packed.pes, csc.n, csc.m, active))
        else:
            compute.append(sparse_cycles(csc.counts(), a != 0, queue_depth=queue_depth,
                                         issue_width=issue_width))
        drain.append(np.full(len(x), q.rows + DRAIN_LATENCY, dtype=np.int64))
    compute, drain = np.array(compute), np.array(drain)
    total = compute.sum(axis=0) + drain.sum(axis=0) + ARGMAX_LATENCY
    return NetworkCycles(total=total, compute=compute, drain=drain)


def hardware_geometries(layers) -> list[ConvGeometry | None]:
    """The accelerator's walk of each model.bin layer's conv geometry (None for a Linear);
    InputError (one line) naming the first layer the hardware cannot walk."""
    walks = []
    for i, q in enumerate(layers):
        try:
            walks.append(None if q.geometry is None else ConvGeometry.of(q.geometry))
        except ValueError as e:
            raise InputError(f"layer {i} (conv): {e}") from None
    return walks


def conv_cycles(counts: np.ndarray | None, geometry, inputs: np.ndarray, *, rows: int, pes: int,
                queue_depth: int, array: str,
                issue_width: int = HardwareConfig.issue_width) -> NetworkCycles:
    """Cycles of one-conv-layer runs, one per sample (module docstring): ``compute`` holds
    each sample's scans and compute phases, ``drain`` its drains, both ``(1, batch)``.

    Parameters
    ----------
    counts : (pes, C*KH*KW) array of int
        Words each PE walks in each patch column (unused by the dense twin).
    geometry : ConvGeometry
        The layer's map, kernel, stride, padding and pool (``secateurs.hw.image``); only the
        positions some pool window keeps are computed.
    inputs : (batch, C*H*W) array of int
        The input maps, flat.
    rows : int
        Output channels O.
    """
    if array not in ARRAYS:
        raise InputError(f"array must be one of {', '.join(ARRAYS)}, not {array!r}")
    x = np.asarray(inputs)
    if x.ndim != 2 or x.shape[1] != geometry.inputs:
        raise InputError(f"inputs must be (batch, {geometry.inputs}), not shape {x.shape}")
    batch, positions = len(x), geometry.positions
    if array == "dense":
        per = np.full((batch, positions), dense_cycles(rows, geometry.patch, pes), dtype=np.int64)
    else:
        active = geometry.patches(x).reshape(batch * positions, geometry.patch) != 0
        per = sparse_cycles(counts, active, queue_depth=queue_depth,
                            issue_width=issue_width).reshape(batch, positions)
        per = per + geometry.scan_rows
    compute = per.sum(axis=1)[None, :]
    drain = np.full((1, batch), positions * (rows + DRAIN_LATENCY), dtype=np.int64)
    return NetworkCycles(total=compute[0] + drain[0] + ARGMAX_LATENCY, compute=compute,
                         drain=drain)
