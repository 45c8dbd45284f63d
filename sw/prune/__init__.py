"""Pruning as f(x; M ⊙ W): scores rate weights, a scope selects the mask, parametrizations hold it."""

from __future__ import annotations

import torch
from torch import nn

from ..models import linear_layers
from .masks import select
from .parametrize import attach, masks_of, squash
from .scores import LayerState, get_score

__all__ = ["prunable", "prune", "attach", "masks_of", "squash", "density_of"]


def prunable(model: nn.Module) -> dict[str, nn.Module]:
    """The layers whose weights are pruned, by their name in the model."""
    names = {id(m): n for n, m in model.named_modules()}
    return {names[id(m)]: m for m in linear_layers(model)}


def prune(model: nn.Module, *, density: float, score: str = "magnitude", scope: str = "global",
          seed: int = 0) -> dict[str, torch.Tensor]:
    """Score every prunable weight, select the mask, attach it; returns the masks by layer name.

    Weights already pruned stay pruned: their score is forced to the minimum.
    """
    modules = prunable(model)
    score_fn = get_score(score).fn
    previous = masks_of(modules)
    scores = {}
    for i, (name, module) in enumerate(modules.items()):
        s = score_fn(LayerState(weight=module.weight.detach(), seed=seed + i)).float()
        scores[name] = torch.where(previous[name], s, torch.full_like(s, -torch.inf))
    masks = select(scope, scores, density)
    attach(modules, masks)
    return masks


def density_of(model: nn.Module) -> float:
    """Fraction of nonzero weights over all prunable layers."""
    modules = prunable(model)
    total = sum(m.weight.numel() for m in modules.values())
    nonzero = sum(int(torch.count_nonzero(m.weight)) for m in modules.values())
    return nonzero / total
