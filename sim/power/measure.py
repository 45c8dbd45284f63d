"""The two power proxies of a design, per inference: switching activity and event energy.

Switching activity: the design's build has SAIF tracing compiled in (every Verilator build of
the accelerator does, :data:`~..network.POWER_TRACE`); it is switched on for two runs on the same
stimulus, one with the inferences and one stopping before the first; the difference of the per-net
toggle counts is what the inferences alone switched (:mod:`.toggles`). Event energy: the
hardware's event counters times the per-event energy table (:mod:`.energy`).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import SimulationError
from .energy import EnergyTable, energy
from .toggles import BLOCKS, activity, by_block, read_saif, subtract

__all__ = ["Switching", "switching_activity", "event_energy"]


@dataclass(frozen=True)
class Switching:
    """Toggles of a batch of inferences, per block and per inference."""

    inferences: int
    #: Clock cycles the measured window spans (streaming inputs and reading logits included).
    cycles: int
    #: ``{block: {"toggles": per inference, "nets": count, "alpha": activity factor}}``.
    blocks: dict[str, dict[str, float]]

    @property
    def toggles(self) -> float:
        """Toggles per inference over the whole design."""
        return sum(b["toggles"] for b in self.blocks.values())

    @property
    def nets(self) -> int:
        return int(sum(b["nets"] for b in self.blocks.values()))

    @property
    def alpha(self) -> float:
        """Activity factor of the whole design: toggles / (nets x cycles)."""
        return activity(self.toggles * self.inferences, self.nets, self.cycles)

    def as_dict(self) -> dict:
        return {"inferences": self.inferences, "window_cycles": self.cycles,
                "per_inference": self.toggles, "nets": self.nets, "alpha": self.alpha,
                "by_block": self.blocks}


def switching_activity(design, inputs: np.ndarray, *, model=None,
                       work_dir: str | Path | None = None) -> Switching:
    """Per-inference toggles of ``design`` (an :class:`~.network.Accelerator` whose build has
    SAIF compiled in, switched on for these two runs only) running ``model`` (default: the one
    it was built for). Both runs load the model, so the
    load's toggles cancel in the difference."""
    if design.built.trace != "saif":
        raise SimulationError(f"the {design.kind} design was not built with SAIF tracing "
                              f"(its build traces {design.built.trace})")
    x = np.asarray(inputs)
    if not len(x):
        raise SimulationError("switching activity needs at least one inference")
    with tempfile.TemporaryDirectory(prefix="secateurs-saif-", dir=work_dir) as tmp:
        full, empty = Path(tmp) / "full", Path(tmp) / "empty"
        model = model if model is not None else design.model
        ran = design.run(model, x, run_dir=full, trace=True)
        idle = design.run(model, x[:0], run_dir=empty, trace=True)
        saif = design.built.trace_file
        toggles = subtract(read_saif(full / saif), read_saif(empty / saif))
    cycles = ran.total_cycles - idle.total_cycles
    blocks = {}
    for name, entry in by_block(toggles.nets).items():
        blocks[name] = {"toggles": entry["toggles"] / len(x), "nets": entry["nets"],
                        "alpha": activity(entry["toggles"], entry["nets"], cycles)}
    assert set(blocks) == set(BLOCKS)
    return Switching(len(x), cycles, blocks)


def event_energy(counters: dict[str, np.ndarray], table: EnergyTable) -> dict:
    """Mean picojoules per inference by event type, and their total."""
    by_event = {name: float(np.mean(pj)) if np.size(pj) else 0.0
                for name, pj in energy(counters, table).items()}
    return {"by_event": by_event, "total": sum(by_event.values())}
