"""Hardware events each inference must cause, counted from the integer reference alone.

The accelerator counts its events in hardware (``hw.accelerator.COUNTERS``); these are the same
counts derived from the weights and the reference activations, so a test can demand equality:
MACs are the nonzero-weight x nonzero-activation pairs, exactly, on both designs; the sparse
design reads (and accumulates) only the words of columns whose activation is nonzero, the dense
one every word of every column.
"""

from __future__ import annotations

import numpy as np

from ..sw.reference import forward

__all__ = ["PREDICTED", "layer_events", "network_events"]

#: The counters the hardware must match exactly. Stalls depend on the queues' timing; the sparse
#: design's broadcasts (and its activation and pointer reads, one per broadcast) count one pick
#: per inference more than the columns with work, so they are predicted (``broadcasts``) but
#: reported as the hardware counts them rather than demanded.
PREDICTED = ("macs", "weight_reads", "acc_updates", "queue_pushes", "drains", "act_writes")


def layer_events(weight: np.ndarray, counts: np.ndarray, activations: np.ndarray, *,
                 kind: str) -> dict[str, np.ndarray]:
    """Per-sample events of one layer's compute phase.

    Parameters
    ----------
    weight : (rows, cols) int
        The layer's decoded weights.
    counts : (pes, cols) int
        Words (nonzeros and fillers) each PE holds in each column.
    activations : (batch, cols) int
        The layer's input activations.
    kind : "sparse" or "dense"
    """
    active = np.asarray(activations) != 0
    nonzeros = np.count_nonzero(weight, axis=0)
    counts = np.asarray(counts)
    pes, cols = counts.shape
    macs = active.astype(np.int64) @ nonzeros
    if kind == "sparse":
        words = active.astype(np.int64) @ counts.sum(axis=0)
        broadcasts = active.astype(np.int64) @ counts.any(axis=0)
        pushes = active.astype(np.int64) @ np.count_nonzero(counts, axis=0)
    else:
        rows_per_pe = -(-weight.shape[0] // pes)
        batch = len(active)
        words = np.full(batch, pes * rows_per_pe * cols, dtype=np.int64)
        broadcasts = np.full(batch, cols, dtype=np.int64)
        pushes = np.zeros(batch, dtype=np.int64)
    return {"macs": macs, "weight_reads": words, "acc_updates": words, "broadcasts": broadcasts,
            "queue_pushes": pushes}


def network_events(packed, inputs: np.ndarray, *, kind: str) -> list[dict[str, np.ndarray]]:
    """Per layer, per-sample counts of every event in ``PREDICTED`` for whole inferences.

    Each layer also drains its rows through the requantizer; a hidden layer writes them as the
    next layer's activations (the first layer's come from the host, counted with layer 0).
    """
    x = np.asarray(inputs)
    layers = packed.model.layers
    activations = [x, *forward(packed.model, x)[:-1]]
    batch = len(x)
    out = []
    for i, (q, csc, a) in enumerate(zip(layers, packed.layers, activations)):
        events = layer_events(q.weight, csc.counts(), a, kind=kind)
        events["drains"] = np.full(batch, q.rows, dtype=np.int64)
        hidden = q.rows if i < len(layers) - 1 else 0
        events["act_writes"] = np.full(batch, hidden + (q.cols if i == 0 else 0), dtype=np.int64)
        out.append(events)
    return out
