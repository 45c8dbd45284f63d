"""Schedules: the density after each of K pruning steps, ending at the target density.

Pure functions ``(target density, steps) -> densities``; what happens between steps (retraining)
is :mod:`.retrain`'s business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ...errors import ConfigError


def agp_sparsity(t: float, *, t0: float, n: int, dt: float, initial: float, final: float) -> float:
    """Zhu & Gupta's cubic: s_t = s_f + (s_i − s_f)(1 − (t − t0)/(nΔt))³, held outside [t0, t0 + nΔt]."""
    progress = min(max((t - t0) / (n * dt), 0.0), 1.0)
    return final + (initial - final) * (1.0 - progress) ** 3


def oneshot(density: float, steps: int) -> list[float]:
    """Straight to the target in one step."""
    return [density]


def linear(density: float, steps: int) -> list[float]:
    """Sparsity grows by the same amount each step."""
    return [1.0 - (1.0 - density) * k / steps for k in range(1, steps + 1)]


def geometric(density: float, steps: int) -> list[float]:
    """Each step prunes the same fraction of the weights still alive (IMP's fixed rate)."""
    return [density ** (k / steps) for k in range(1, steps + 1)]


def agp(density: float, steps: int) -> list[float]:
    """Cubic AGP: fast at first, while there are redundant weights, then gently towards the target."""
    return [1.0 - agp_sparsity(k, t0=0, n=steps, dt=1, initial=0.0, final=1.0 - density)
            for k in range(1, steps + 1)]


@dataclass(frozen=True)
class Schedule:
    fn: Callable[[float, int], list[float]]
    description: str
    citation: str
    #: True when pruning happens inside one continuing training run rather than between rounds.
    during_training: bool = False


SCHEDULES: dict[str, Schedule] = {
    "oneshot": Schedule(oneshot, "prune to the target once, then retrain",
                        "Han et al. 2015; Blalock et al. 2020"),
    "linear": Schedule(linear, "k rounds, sparsity rising by equal amounts",
                       "Han et al. 2015 (iterative pruning)"),
    "geometric": Schedule(geometric, "k rounds, each pruning the same fraction of survivors",
                          "Frankle & Carbin 2019, The Lottery Ticket Hypothesis (IMP)"),
    "agp": Schedule(agp, "cubic s_t = s_f + (s_i - s_f)(1 - (t - t0)/(n dt))^3 during training",
                    "Zhu & Gupta 2017, To prune, or not to prune", during_training=True),
}


def get_schedule(name: str) -> Schedule:
    try:
        return SCHEDULES[name]
    except KeyError:
        raise ConfigError(f"unknown schedule {name!r}; valid: {', '.join(sorted(SCHEDULES))}") from None


def densities(name: str, density: float, steps: int) -> list[float]:
    """The density after each pruning step of schedule ``name``."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"pruning steps must be a positive integer, not {steps!r}")
    return get_schedule(name).fn(density, steps)
