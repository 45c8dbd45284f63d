"""The reference a run is judged against: exact integer outputs and the analytic cycle models."""

from __future__ import annotations

import numpy as np

from ...config import HardwareConfig
from ...errors import SimulationError
from ...sw.cycles import NetworkCycles, expected_cycles, network_cycles
from ...sw.formats.csc import CSCLayer

__all__ = ["reference_outputs", "reference_cycles", "reference_network_cycles"]


def reference_outputs(weights: np.ndarray, inputs: np.ndarray, acc_bits: int = 32) -> np.ndarray:
    """``inputs @ weights.T`` in exact integers, as int32 (batch x rows).

    Raises SimulationError if a sum does not fit ``acc_bits``: the array would wrap around.
    """
    exact = np.asarray(inputs, dtype=np.int64) @ np.asarray(weights, dtype=np.int64).T
    bound = 1 << (acc_bits - 1)
    if exact.size and (exact.min() < -bound or exact.max() >= bound):
        raise SimulationError(f"an output does not fit the {acc_bits}-bit accumulators")
    return exact.astype(np.int32)


def reference_cycles(kind: str, hw: HardwareConfig, layer: CSCLayer, inputs: np.ndarray) -> np.ndarray:
    """Cycles per sample the ``kind`` array ("sparse" or "dense") must take, from sw's model."""
    return np.asarray(expected_cycles(hw, layer, np.asarray(inputs), array=kind), dtype=np.int64)


def reference_network_cycles(kind: str, hw: HardwareConfig, packed,
                             inputs: np.ndarray) -> NetworkCycles:
    """Per-layer and total cycles of whole inferences on the ``kind`` accelerator of ``packed``."""
    return network_cycles(packed, np.asarray(inputs), queue_depth=hw.queue_depth,
                          issue_width=hw.issue_width, array=kind)
