"""Importance scores: pure functions from a layer's weights to a same-shaped score tensor.

Higher score = more worth keeping. Choosing which weights to keep is :mod:`.masks`' job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ...errors import ConfigError


@dataclass(frozen=True)
class LayerState:
    """What a score may look at for one layer."""

    weight: torch.Tensor
    #: Seed for scores that draw random numbers (passed down, never global).
    seed: int = 0


def magnitude(state: LayerState) -> torch.Tensor:
    """|W| after training (Han et al., 2015, "Learning both Weights and Connections")."""
    return state.weight.detach().abs()


def random(state: LayerState) -> torch.Tensor:
    """Uniform random scores: the baseline every method must beat (Blalock et al., 2020)."""
    generator = torch.Generator().manual_seed(state.seed)
    return torch.rand(state.weight.shape, generator=generator)


@dataclass(frozen=True)
class Score:
    fn: Callable[[LayerState], torch.Tensor]
    description: str


SCORES: dict[str, Score] = {
    "magnitude": Score(magnitude, "weight magnitude |W| after training — Han et al. 2015"),
    "random": Score(random, "uniform random scores — the ShrinkBench baseline, Blalock et al. 2020"),
}


def get_score(name: str) -> Score:
    try:
        return SCORES[name]
    except KeyError:
        raise ConfigError(f"unknown score {name!r}; valid: {', '.join(sorted(SCORES))}") from None
