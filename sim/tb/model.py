"""The cycle model a run is judged against: sw's exact analytic count of whole inferences."""

from __future__ import annotations

import numpy as np

from ...config import HardwareConfig
from ...sw.cycles import NetworkCycles, network_cycles

__all__ = ["reference_network_cycles"]


def reference_network_cycles(kind: str, hw: HardwareConfig, packed,
                             inputs: np.ndarray) -> NetworkCycles:
    """Per-layer and total cycles of whole inferences on the ``kind`` accelerator of ``packed``."""
    return network_cycles(packed, np.asarray(inputs), queue_depth=hw.queue_depth,
                          issue_width=hw.issue_width, array=kind)
