"""Event energy: hardware event counts times a per-event energy table, in picojoules.

The table is data (``energy_45nm.toml`` beside this file: Horowitz, ISSCC 2014, 45 nm); a user
swaps in their own process's numbers with a file of the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ...config import parse_toml, read_toml
from ...errors import ConfigError

__all__ = ["DEFAULT_TABLE", "EnergyTable", "load_table", "energy"]

#: The table shipped with the package.
DEFAULT_TABLE = "energy_45nm.toml"


@dataclass(frozen=True)
class EnergyTable:
    """Picojoules per event, by counter name, and where the numbers come from."""

    pj: dict[str, float]
    citation: str
    process: str


def _table(raw: dict, where: str) -> EnergyTable:
    table = raw.get("energy_pj")
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"energy table {where} needs an [energy_pj] table of event = picojoules")
    for name, value in table.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"energy table {where}: {name} must be a non-negative number of "
                              f"picojoules, not {value!r}")
    source = raw.get("source", {})
    return EnergyTable({k: float(v) for k, v in table.items()}, str(source.get("citation", "")),
                       str(source.get("process", "")))


def load_table(path: str | Path | None = None) -> EnergyTable:
    """The energy table at ``path``, or the shipped 45 nm one."""
    if path is None:
        text = resources.files(__package__).joinpath(DEFAULT_TABLE).read_text()
        return _table(parse_toml(text, f"energy table {DEFAULT_TABLE}"), DEFAULT_TABLE)
    return _table(read_toml(path, "energy table"), repr(str(path)))


def energy(counts: dict[str, np.ndarray | int], table: EnergyTable) -> dict[str, np.ndarray]:
    """Picojoules by event type (``counts`` x the table), for every priced event in ``counts``."""
    return {name: np.asarray(counts[name], dtype=np.float64) * pj
            for name, pj in table.pj.items() if name in counts}
