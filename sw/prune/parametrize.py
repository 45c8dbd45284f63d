"""Masks as ``torch.nn.utils.parametrize`` parametrizations: prepare, train, squash.

While a mask is attached the layer computes with ``W ⊙ M`` and pruned weights get no gradient;
``squash`` folds the mask into a plain weight so the model saves as an ordinary state_dict.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize


class Mask(nn.Module):
    """Parametrization ``W ↦ W ⊙ M`` with a fixed boolean mask kept as a buffer."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask.to(torch.bool))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.mask


def _mask_module(module: nn.Module) -> Mask | None:
    if parametrize.is_parametrized(module, "weight"):
        for p in module.parametrizations.weight:
            if isinstance(p, Mask):
                return p
    return None


@torch.no_grad()
def attach(modules: dict[str, nn.Module], masks: dict[str, torch.Tensor]) -> None:
    """Attach (or update in place) the mask of each named module's ``weight``.

    Updating in place keeps the parameter objects, so an optimizer can carry on across pruning
    steps; pruned entries of the stored weight are zeroed so nothing is revived by accident.
    """
    for name, module in modules.items():
        mask = masks[name].to(torch.bool)
        existing = _mask_module(module)
        if existing is None:
            parametrize.register_parametrization(module, "weight", Mask(mask))
        else:
            existing.mask.copy_(mask)
        module.parametrizations.weight.original.mul_(mask)


def masks_of(modules: dict[str, nn.Module]) -> dict[str, torch.Tensor]:
    """The masks currently attached (all-ones for an unmasked module)."""
    out = {}
    for name, module in modules.items():
        existing = _mask_module(module)
        if existing is not None:
            out[name] = existing.mask.clone()
        else:
            out[name] = torch.ones_like(module.weight, dtype=torch.bool)
    return out


def weight_leaf(module: nn.Module) -> torch.Tensor:
    """The stored (trainable) tensor behind ``module.weight``."""
    if parametrize.is_parametrized(module, "weight"):
        return module.parametrizations.weight.original
    return module.weight


def squash(modules: dict[str, nn.Module]) -> None:
    """Fold every mask into its weight; the model becomes plain again."""
    for module in modules.values():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
