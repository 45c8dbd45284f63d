"""The scoreboard: what each design reported for each sample, judged against the references.

It holds the integer reference of a batch (every layer's activations, the logits, the classes)
and checks what the hardware streamed out (int8 logits, or the last layer's raw accumulators),
its classes, cycle counts and event counters against it and the analytic models. The first
disagreement becomes a :class:`SimulationError` naming the design, sample, layer and neuron (or
counter).
"""

from __future__ import annotations

import numpy as np

from ...errors import SimulationError
from ...hw.image import ConvGeometry
from ...hw.params import READOUTS
from ...sw.reference import accumulate, classify, forward, layer_accumulate
from .checker import check_cycles, differences

__all__ = ["Scoreboard", "cycle_stats"]


def cycle_stats(cycles: np.ndarray) -> dict[str, float]:
    """Mean, min, max and total cycles of a batch of inferences."""
    c = np.asarray(cycles, dtype=np.int64)
    if not c.size:
        return {"mean": 0.0, "min": 0, "max": 0, "total": 0}
    return {"mean": float(c.mean()), "min": int(c.min()), "max": int(c.max()), "total": int(c.sum())}


class Scoreboard:
    """The reference of one batch and the judge of every design run on it."""

    def __init__(self, packed, inputs: np.ndarray, labels: np.ndarray | None = None):
        self.packed = packed
        self.inputs = np.asarray(inputs)
        self.labels = None if labels is None else np.asarray(labels)
        outputs = [o.reshape(len(o), -1) for o in forward(packed.model, self.inputs)]
        #: Input activations of each layer, then the logits; flat, as the activation buffer
        #: holds them (a conv layer's map channel-major, (c, y, x)).
        self.activations = [self.inputs, *outputs]
        self.logits = outputs[-1].astype(np.int64)
        self.classes = classify(self.logits)

    @property
    def layers(self) -> int:
        return len(self.packed.model.layers)

    def accumulators(self, layer: int) -> np.ndarray:
        """``W x`` of ``layer`` for every sample (before bias and requantization), as the
        hardware drains it: a conv layer's O values of each computed position, position after
        position in the order the address generator walks them."""
        q = self.packed.model.layers[layer]
        if q.geometry is None:
            return accumulate(q.weight, self.activations[layer])
        acc = layer_accumulate(q, self.activations[layer])  # (N, O, OH, OW), before the pool
        oy, ox = np.array(ConvGeometry.of(q.geometry).walk()).T
        return acc[:, :, oy, ox].transpose(0, 2, 1).reshape(len(acc), -1)

    def readout(self, readout: str = "logits") -> np.ndarray:
        """What the output stream must carry: the int8 logits, or (``"accumulators"``) the last
        layer's raw ``W x + bias``."""
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {', '.join(READOUTS)}, not {readout!r}")
        if readout == "logits":
            return self.logits
        bias = np.asarray(self.packed.model.layers[-1].bias, dtype=np.int64)
        acc = self.accumulators(self.layers - 1)
        return (acc.reshape(len(acc), -1, len(bias)) + bias).reshape(len(acc), -1)

    def check_layer(self, design: str, layer: int, outputs: np.ndarray) -> None:
        """A layer's accumulators, bit-exact."""
        _first_difference(f"{design} design", layer, np.asarray(outputs), self.accumulators(layer),
                          what="neuron")

    def check_outputs(self, design: str, values: np.ndarray, predicted: np.ndarray, *,
                      readout: str = "logits") -> None:
        """A whole inference's output stream (``readout``: logits or raw accumulators) and its
        class (the first index of the largest value), bit-exact. A network that ends in a conv
        layer streams a map, position after position: its values are judged, it has no class."""
        expected = self.readout(readout)
        _first_difference(f"{design} design", self.layers - 1, np.asarray(values), expected,
                          what="neuron")
        if self.packed.model.layers[-1].geometry is not None:
            return
        classes = classify(expected)
        wrong = np.flatnonzero(np.asarray(predicted) != classes)
        if wrong.size:
            s = int(wrong[0])
            raise SimulationError(f"{design} design: sample {s} classified {int(predicted[s])}, "
                                  f"the reference says {int(classes[s])}")

    def check_logits(self, design: str, logits: np.ndarray, predicted: np.ndarray) -> None:
        """A whole inference's int8 logits (the last layer's outputs) and its class."""
        self.check_outputs(design, logits, predicted, readout="logits")

    def check_cycles(self, design: str, cycles: np.ndarray, expected: np.ndarray,
                     stalls: np.ndarray | int = 0) -> None:
        """Cycles of each run == the model's + the stall cycles injected into that run."""
        check_cycles(cycles, np.asarray(expected) + np.asarray(stalls), label=f"{design} design")

    def check_events(self, design: str, counters: dict[str, np.ndarray],
                     expected: dict[str, np.ndarray]) -> None:
        """Every predicted event counter, per sample, exactly."""
        for name, want in expected.items():
            got, want, off = differences(counters[name], want, label=f"{design} design",
                                         what=f"{name} counts")
            if off.size:
                s = int(off[0][0])
                raise SimulationError(f"{design} design: sample {s} counted {int(got[s])} {name}, "
                                      f"the reference predicts {int(want[s])}")

    def accuracy(self, predicted: np.ndarray) -> float:
        """Fraction of samples whose class matches the label."""
        if self.labels is None or not len(self.labels):
            return 0.0
        return float((np.asarray(predicted) == self.labels).mean())


def _first_difference(design: str, layer: int, got: np.ndarray, want: np.ndarray, *,
                      what: str) -> None:
    got, want, bad = differences(got, want, label=design, what=f"layer {layer} outputs")
    if len(bad):
        sample, index = (int(v) for v in bad[0])
        raise SimulationError(
            f"{design} differs from the reference at sample {sample}, layer {layer}, {what} "
            f"{index}: {int(got[sample, index])}, the reference says {int(want[sample, index])} "
            f"({len(bad)} of {got.size} outputs differ)")
