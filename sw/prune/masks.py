"""Mask selection: which weights survive, given their scores and a target density."""

from __future__ import annotations

import torch

from ...errors import ConfigError


def _n_keep(total: int, density: float) -> int:
    """Weights kept; matches ``torch.nn.utils.prune``, which rounds the number *pruned*."""
    return total - round((1.0 - density) * total)


def _keep_top(flat: torch.Tensor, density: float) -> torch.Tensor:
    n_prune = flat.numel() - _n_keep(flat.numel(), density)
    mask = torch.ones_like(flat, dtype=torch.bool)
    if n_prune > 0:
        mask[torch.topk(flat, k=n_prune, largest=False).indices] = False
    return mask


def select_global(scores: dict[str, torch.Tensor], density: float) -> dict[str, torch.Tensor]:
    """One threshold across all layers: keep the top ``density`` fraction of all scores."""
    flat = torch.cat([s.flatten() for s in scores.values()])
    keep = _keep_top(flat, density)
    masks, offset = {}, 0
    for name, s in scores.items():
        masks[name] = keep[offset:offset + s.numel()].view_as(s)
        offset += s.numel()
    return masks


def select_local(scores: dict[str, torch.Tensor], density: float) -> dict[str, torch.Tensor]:
    """The same fraction in every layer."""
    return {name: _keep_top(s.flatten(), density).view_as(s) for name, s in scores.items()}


SCOPES = {
    "global": (select_global, "one threshold across layers — Han et al. 2015; Blalock et al. 2020"),
    "local": (select_local, "same density in each layer — Blalock et al. 2020 ('layerwise')"),
}


def select(scope: str, scores: dict[str, torch.Tensor], density: float) -> dict[str, torch.Tensor]:
    if scope not in SCOPES:
        raise ConfigError(f"unknown scope {scope!r}; valid: {', '.join(sorted(SCOPES))}")
    if not 0.0 < density <= 1.0:
        raise ConfigError(f"density must be in (0, 1], not {density!r}")
    return SCOPES[scope][0](scores, density)
