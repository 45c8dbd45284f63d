"""Compares what a design did with the reference and names the first disagreement."""

from __future__ import annotations

import numpy as np

from ...errors import SimulationError

__all__ = ["differences", "check_cycles"]


def differences(actual, expected, *, label: str, what: str):
    """``(actual, expected, indices where they differ)`` as arrays; SimulationError if the
    shapes differ."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape:
        raise SimulationError(f"{label}: {what} have shape {actual.shape}, expected "
                              f"{expected.shape}")
    return actual, expected, np.argwhere(actual != expected)


def check_cycles(actual: np.ndarray, expected: np.ndarray, *, label: str = "design") -> None:
    """Raise SimulationError at the first sample whose cycle count differs from the model."""
    actual, expected, wrong = differences(actual, expected, label=label, what="cycle counts")
    if wrong.size:
        s = int(wrong[0][0])
        raise SimulationError(
            f"{label}: sample {s} took {int(actual[s])} cycles, the model says {int(expected[s])} "
            f"({len(wrong)} of {actual.size} samples differ)")
