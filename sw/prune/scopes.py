"""Scope: how far one ranking reaches — within each layer, or one threshold across all of them.

A scope gets each layer's unit scores and unit sizes (weights per unit) and returns which units
each layer keeps. Counts follow ``torch.nn.utils.prune``, which rounds the number *pruned*.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ...errors import ConfigError

Units = dict[str, tuple[torch.Tensor, torch.Tensor]]


def n_pruned(total: int, density: float) -> int:
    """Items pruned for a target density, rounded as ``torch.nn.utils.prune`` rounds."""
    return round((1.0 - density) * total)


def keep_top(scores: torch.Tensor, sizes: torch.Tensor, density: float) -> torch.Tensor:
    """Keep the best-scoring units so the kept weights are ``density`` of the total.

    Equal sizes: the ``round((1 - density) · units)`` lowest units go, via the same ``topk`` call
    as ``torch.nn.utils.prune``. Unequal sizes: best first while the kept weights fit the budget.
    """
    keep = torch.ones_like(scores, dtype=torch.bool)
    if scores.numel() == 0:
        return keep
    if bool((sizes == sizes[0]).all()):
        k = n_pruned(scores.numel(), density)
        if k > 0:
            keep[torch.topk(scores, k=k, largest=False).indices] = False
        return keep
    budget = int(sizes.sum()) - n_pruned(int(sizes.sum()), density)
    order = scores.argsort(descending=True, stable=True)
    keep[order[torch.cumsum(sizes[order], 0) > budget]] = False
    return keep


def _split(flat: torch.Tensor, units: Units) -> dict[str, torch.Tensor]:
    out, offset = {}, 0
    for name, (scores, _) in units.items():
        out[name] = flat[offset:offset + scores.numel()]
        offset += scores.numel()
    return out


def _keep_one_per_layer(keep: dict[str, torch.Tensor], units: Units) -> dict[str, torch.Tensor]:
    """Structured units only: a layer never loses all its units (that would cut the network)."""
    for name, (scores, sizes) in units.items():
        structured = sizes.numel() > 0 and int(sizes.max()) > 1
        if structured and not keep[name].any() and torch.isfinite(scores).any():
            keep[name][scores.argmax()] = True
    return keep


def select_local(units: Units, density: float) -> dict[str, torch.Tensor]:
    """The same density in every layer."""
    return {name: keep_top(scores, sizes, density) for name, (scores, sizes) in units.items()}


def select_global(units: Units, density: float) -> dict[str, torch.Tensor]:
    """One threshold over the units of all layers: scores are compared as they are."""
    if not units:
        return {}
    scores = torch.cat([s.flatten().float() for s, _ in units.values()])
    sizes = torch.cat([z.flatten() for _, z in units.values()])
    return _keep_one_per_layer(_split(keep_top(scores, sizes, density), units), units)


def _l2_normalised(scores: torch.Tensor) -> torch.Tensor:
    live = torch.isfinite(scores)
    norm = scores[live].float().norm()
    return scores.float() / norm if norm > 0 else scores.float()


def select_global_normalised(units: Units, density: float) -> dict[str, torch.Tensor]:
    """One threshold after dividing each layer's scores by their L2 norm over the layer."""
    return select_global({name: (_l2_normalised(s), z) for name, (s, z) in units.items()}, density)


@dataclass(frozen=True)
class Scope:
    fn: Callable[[Units, float], dict[str, torch.Tensor]]
    description: str
    citation: str


SCOPES: dict[str, Scope] = {
    "local": Scope(select_local, "the same density in every layer ('layerwise')",
                   "Blalock et al. 2020, What is the State of Neural Network Pruning?"),
    "global": Scope(select_global, "one threshold across all layers on raw scores",
                    "Han et al. 2015; Blalock et al. 2020"),
    "global_normalised": Scope(select_global_normalised,
                               "one threshold across layers after L2-normalising each layer's scores",
                               "Molchanov et al. 2017, Pruning CNNs for Resource Efficient Inference"),
}


def get_scope(name: str) -> Scope:
    try:
        return SCOPES[name]
    except KeyError:
        raise ConfigError(f"unknown scope {name!r}; valid: {', '.join(sorted(SCOPES))}") from None
