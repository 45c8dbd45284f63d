"""Hidden neurons renumbered so that every PE of the array gets the same expected work.

Row r of a layer lives in PE ``r mod P``. After unstructured pruning some rows keep many more
weights than others, and the PE holding the heaviest rows sets the pace of its layer: the
activation queues smooth out imbalance between columns, not between PEs over a whole layer.
Renumbering the hidden neurons of layer l (its weight rows, biases and multipliers, and the
matching columns of layer l + 1) changes nothing the network computes, and the logits (the last
layer's rows) keep their order, but it decides which PE walks which row.

The assignment is greedy longest-processing-time: rows by expected work, heaviest first, each to
the least loaded PE that still has a slot (PE p holds ``len(range(p, rows, P))`` rows). A row's
expected work is its words weighted by how often their input is nonzero on calibration inputs
(the sparse engine skips zero activations), so a weight on an input that is rarely nonzero
counts for little.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import InputError
from .reference import QuantModel, forward

__all__ = ["row_work", "row_order", "balance_rows"]


def row_work(weight: np.ndarray, activations: np.ndarray) -> np.ndarray:
    """Expected words of each row per inference: its nonzeros, each weighted by the fraction of
    ``activations`` (batch x cols) in which that input is nonzero."""
    frequency = (np.asarray(activations) != 0).mean(axis=0)
    return (np.asarray(weight) != 0).astype(np.float64) @ frequency


def row_order(work: np.ndarray, pes: int) -> np.ndarray:
    """``order`` such that new row ``i`` is old row ``order[i]``, balancing ``work`` over the PEs
    (new row i lives in PE ``i % pes``)."""
    work = np.asarray(work, dtype=np.float64)
    rows = len(work)
    slots = [len(range(p, rows, pes)) for p in range(pes)]
    load = np.zeros(pes)
    held: list[list[int]] = [[] for _ in range(pes)]
    for row in np.argsort(-work, kind="stable"):
        pe = min((p for p in range(pes) if len(held[p]) < slots[p]), key=lambda p: (load[p], p))
        held[pe].append(int(row))
        load[pe] += work[row]
    order = np.empty(rows, dtype=np.int64)
    for pe, taken in enumerate(held):
        order[pe + pes * np.arange(len(taken))] = taken
    return order


def balance_rows(model: QuantModel, pes: int, calibration: np.ndarray) -> QuantModel:
    """``model`` with every hidden layer's neurons renumbered to balance the PEs' expected work
    on ``calibration`` (int8 inputs, batch x features). Computes exactly what ``model`` does."""
    if pes < 1:
        raise InputError(f"PE count must be positive, not {pes}")
    calibration = np.asarray(calibration)
    layers = list(model.layers)
    activations = calibration
    for i in range(len(layers) - 1):
        layer, following = layers[i], layers[i + 1]
        order = row_order(row_work(layer.weight, activations), pes)
        scale = None if layer.weight_scale is None else np.asarray(layer.weight_scale)[order]
        layers[i] = dataclasses.replace(layer, weight=layer.weight[order], bias=layer.bias[order],
                                        multiplier=layer.multiplier[order], weight_scale=scale)
        layers[i + 1] = dataclasses.replace(following, weight=following.weight[:, order])
        activations = forward(QuantModel(model.input_scale, (layers[i],)), activations)[0]
    return QuantModel(model.input_scale, tuple(layers))
