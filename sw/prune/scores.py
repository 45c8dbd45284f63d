"""Importance scores: pure functions from what is known about a layer to a same-shaped score tensor.

Higher score = more worth keeping. Grouping scores into structures and choosing which weights to
keep is the job of :mod:`.structures` and :mod:`.scopes`; gathering gradients and activations is
the job of :mod:`.evidence`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ...errors import ConfigError


@dataclass(frozen=True, eq=False)
class LayerState:
    """What a score may look at for one layer; optional evidence is ``None`` when not gathered."""

    #: The current (trained) weight, pruned entries already zero.
    weight: torch.Tensor
    #: Seed for scores that draw random numbers (passed down, never global).
    seed: int = 0
    #: The weight at initialisation, W_0 (same shape).
    init: torch.Tensor | None = None
    #: Mean of ∂L/∂W over the scored batches (same shape).
    grad: torch.Tensor | None = None
    #: L2 norm of each input feature (channel) over the scored samples, broadcastable to the weight.
    input_norm: torch.Tensor | None = None


def _need(state: LayerState, what: str, score: str) -> torch.Tensor:
    value = getattr(state, what)
    if value is None:
        raise ConfigError(f"score {score!r} needs the layer's {what.replace('_', ' ')}, which was not given")
    return value.detach()


def random(state: LayerState) -> torch.Tensor:
    """Uniform random scores: the baseline every method must beat."""
    generator = torch.Generator().manual_seed(state.seed)
    return torch.rand(state.weight.shape, generator=generator)


def magnitude(state: LayerState) -> torch.Tensor:
    """|W| after training: small weights matter least."""
    return state.weight.detach().abs()


def magnitude_init(state: LayerState) -> torch.Tensor:
    """|W_0|: the magnitude the weight had at initialisation."""
    return _need(state, "init", "magnitude_init").abs()


def movement(state: LayerState) -> torch.Tensor:
    """|W| − |W_0|: weights that grew during training matter most."""
    return state.weight.detach().abs() - _need(state, "init", "movement").abs()


def signed_movement(state: LayerState) -> torch.Tensor:
    """W · (W − W_0): −W·∂L/∂W with the training displacement standing in for −∂L/∂W.

    Positive when the weight moved away from zero, negative when it moved towards it.
    """
    weight = state.weight.detach()
    return weight * (weight - _need(state, "init", "signed_movement"))


def gradient(state: LayerState) -> torch.Tensor:
    """|W · ∂L/∂W|: first-order Taylor estimate of the loss change when the weight is removed."""
    return (state.weight.detach() * _need(state, "grad", "gradient")).abs()


def activation(state: LayerState) -> torch.Tensor:
    """|W| · ‖x‖: magnitude weighted by the L2 norm of the input feature the weight multiplies."""
    norm = _need(state, "input_norm", "activation")
    return state.weight.detach().abs() * norm.expand_as(state.weight)


@dataclass(frozen=True)
class Score:
    fn: Callable[[LayerState], torch.Tensor]
    description: str
    citation: str
    #: Evidence the score needs besides the weights: any of "init", "grad", "input_norm".
    needs: tuple[str, ...] = ()


SCORES: dict[str, Score] = {
    "random": Score(random, "uniform random scores, the baseline",
                    "Blalock et al. 2020, What is the State of Neural Network Pruning?"),
    "magnitude": Score(magnitude, "weight magnitude |W| after training",
                       "Han et al. 2015, Learning both Weights and Connections"),
    "magnitude_init": Score(magnitude_init, "magnitude at initialisation |W_0|",
                            "Zhou et al. 2019, Deconstructing Lottery Tickets", ("init",)),
    "movement": Score(movement, "change in magnitude |W| - |W_0|",
                      "Zhou et al. 2019, Deconstructing Lottery Tickets ('magnitude increase')",
                      ("init",)),
    "signed_movement": Score(signed_movement, "signed movement W * (W - W_0), away from zero scores high",
                             "Sanh et al. 2020, Movement Pruning", ("init",)),
    "gradient": Score(gradient, "|W * dL/dW|, gradient averaged over a number of batches",
                      "Molchanov et al. 2017, Pruning CNNs for Resource Efficient Inference; "
                      "Blalock et al. 2020", ("grad",)),
    "activation": Score(activation, "|W| * ||x||, magnitude weighted by input activation norm",
                        "Sun et al. 2023, Wanda; Blalock et al. 2020", ("input_norm",)),
}


def get_score(name: str) -> Score:
    try:
        return SCORES[name]
    except KeyError:
        raise ConfigError(f"unknown score {name!r}; valid: {', '.join(sorted(SCORES))}") from None
