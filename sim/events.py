"""Hardware events each inference must cause, counted from the integer reference alone.

The accelerator counts its events in hardware (``hw.accelerator.COUNTERS``); these are the same
counts derived from the weights and the reference activations, so a test can demand equality:
MACs are the nonzero-weight x nonzero-activation pairs, exactly, on both designs; the sparse
design reads (and accumulates) only the words of columns whose activation is nonzero and that
hold words, broadcasting each such column and reading one pointer word per block of W columns
with any; the N:M engine walks N words a row of every group with a nonzero activation; the
dense twin reads every word of every column.
"""

from __future__ import annotations

import numpy as np

from ..sw.cycles import hardware_geometries
from ..sw.reference import forward

__all__ = ["PREDICTED", "layer_events", "network_events", "conv_layer_events"]

#: The counters the hardware must match exactly: every one but ``stalls``, which depend on the
#: queues' timing (the cycle model accounts for them as cycles, not as a count).
PREDICTED = ("macs", "weight_reads", "acc_updates", "queue_pushes", "drains", "act_writes",
             "act_reads", "broadcasts", "pointer_reads")


def layer_events(weight: np.ndarray, layer, activations: np.ndarray, *, kind: str,
                 issue_width: int = 1) -> dict[str, np.ndarray]:
    """Per-sample events of one layer's compute phase.

    Parameters
    ----------
    weight : (rows, cols) int
        The layer's decoded weights.
    layer : CSCLayer or NMLayer
        The layer as packed (words per PE and column; N:M groups).
    activations : (batch, cols) int
        The layer's input activations.
    kind : "sparse" or "dense"
    issue_width : int
        Columns the sparse CSC engine sends a block (W); a block with work costs one pointer
        word of its W + 1 column bounds.
    """
    active = np.asarray(activations) != 0
    batch = len(active)
    rows, cols = weight.shape
    macs = active.astype(np.int64) @ np.count_nonzero(weight, axis=0)
    zero = np.zeros(batch, dtype=np.int64)
    if kind == "dense":
        pes = layer.pes
        words = np.full(batch, pes * -(-rows // pes) * cols, dtype=np.int64)
        steps = np.full(batch, cols, dtype=np.int64)
        return {"macs": macs, "weight_reads": words, "acc_updates": words, "broadcasts": steps,
                "act_reads": steps, "queue_pushes": zero, "pointer_reads": zero}
    if hasattr(layer, "active_groups"):  # N:M: N words a row for every group with work
        groups = layer.active_groups(activations).sum(axis=1)
        words = groups * layer.n * rows
        return {"macs": macs, "weight_reads": words, "acc_updates": words, "broadcasts": groups,
                "act_reads": groups * layer.m, "queue_pushes": zero, "pointer_reads": zero}
    counts = layer.counts()  # (pes, cols) words, fillers included
    sent = active & counts.any(axis=0)  # columns with work are broadcast, the rest skipped
    words = sent.astype(np.int64) @ counts.sum(axis=0)
    blocks = np.zeros((batch, -(-cols // issue_width) * issue_width), dtype=bool)
    blocks[:, :cols] = sent
    picked = blocks.reshape(batch, -1, issue_width).any(axis=2).sum(axis=1)
    return {"macs": macs, "weight_reads": words, "acc_updates": words,
            "broadcasts": sent.sum(axis=1), "act_reads": sent.sum(axis=1),
            "queue_pushes": sent.astype(np.int64) @ np.count_nonzero(counts, axis=0),
            "pointer_reads": (issue_width + 1) * picked}


def network_events(packed, inputs: np.ndarray, *, kind: str,
                   issue_width: int = 1) -> list[dict[str, np.ndarray]]:
    """Per layer, per-sample counts of every event in ``PREDICTED`` for whole inferences.

    Each layer also drains its rows through the requantizer; a hidden layer writes them as the
    next layer's activations (the first layer's come from the host, counted with layer 0). A
    conv layer is one compute phase over its patch and O drains per computed position
    (:func:`conv_layer_events`); a hidden one writes its (pooled) output map.
    """
    x = np.asarray(inputs)
    layers = packed.model.layers
    walks = hardware_geometries(layers)
    activations = [x, *(a.reshape(len(x), -1) for a in forward(packed.model, x)[:-1])]
    batch = len(x)
    out = []
    for i, (q, layer, a, geo) in enumerate(zip(layers, packed.layers, activations, walks)):
        if geo is not None:
            events = conv_layer_events(q.weight, layer, geo, a, kind=kind,
                                       issue_width=issue_width)
            outputs = q.rows * geo.out_positions
        else:
            events = layer_events(q.weight, layer, a, kind=kind, issue_width=issue_width)
            events["drains"] = np.full(batch, q.rows, dtype=np.int64)
            outputs = q.rows
        hidden = outputs if i < len(layers) - 1 else 0
        events["act_writes"] = np.full(batch, hidden + (q.in_features if i == 0 else 0),
                                       dtype=np.int64)
        out.append(events)
    return out


def conv_layer_events(weight: np.ndarray, layer, geometry, activations: np.ndarray, *,
                      kind: str, issue_width: int = 1) -> dict[str, np.ndarray]:
    """Per-sample events of a conv layer's positions (every one in ``PREDICTED`` but
    ``act_writes``): each computed position of ``geometry`` (``secateurs.hw.image``) is one
    compute phase over its patch (padding and zeros are no work), then O drains.

    ``layer`` is the packed CSC layer of the (O, C*KH*KW) ``weight``; ``activations`` the
    (batch, C*H*W) input maps."""
    x = np.asarray(activations).reshape(len(activations), -1)
    batch, positions = len(x), geometry.positions
    patches = geometry.patches(x).reshape(batch * positions, geometry.patch)
    per = layer_events(weight, layer, patches, kind=kind, issue_width=issue_width)
    events = {name: v.reshape(batch, positions).sum(axis=1) for name, v in per.items()}
    events["drains"] = np.full(batch, positions * len(weight), dtype=np.int64)
    return events
