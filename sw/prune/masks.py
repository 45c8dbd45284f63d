"""Mask selection: element scores → structure units → scope → one boolean mask per layer."""

from __future__ import annotations

import torch

from ...errors import ConfigError
from .scopes import get_scope, select_local
from .structures import StructureOptions, get_structure


def check_density(density: float, where: str = "density") -> None:
    if isinstance(density, bool) or not isinstance(density, (int, float)) or not 0.0 < density <= 1.0:
        raise ConfigError(f"{where} must be in (0, 1], not {density!r}")


def select_masks(scores: dict[str, torch.Tensor], *, density: float, structure: str = "unstructured",
                 scope: str = "global", options: StructureOptions = StructureOptions(),
                 groups: dict[str, int] | None = None,
                 overrides: dict[str, float] | None = None) -> dict[str, torch.Tensor]:
    """Masks keeping ``density`` of the weights of the layers without an override.

    Layers named in ``overrides`` are selected alone at their own density; the scope ranks the rest.
    Pruned weights carry ``-inf`` scores and stay pruned.
    """
    shape = get_structure(structure)
    rank = get_scope(scope).fn
    overrides = overrides or {}
    groups = groups or {}
    check_density(density)
    for name, d in overrides.items():
        if name not in scores:
            raise ConfigError(f"density override names layer {name!r}; layers: {', '.join(scores)}")
        check_density(d, f"density override of layer {name!r}")
    if shape.fixed_density is not None:
        fixed = shape.fixed_density(options)
        for d in (density, *overrides.values()):
            if abs(d - fixed) > 1e-9:
                raise ConfigError(f"structure {structure!r} keeps exactly {fixed:g} of the weights "
                                  f"(n={options.n}, m={options.m}); density {d:g} is impossible")
    units = {name: shape.group(s, groups.get(name, 1), options) for name, s in scores.items()}
    keep = rank({n: u for n, u in units.items() if n not in overrides}, density)
    for name, d in overrides.items():
        keep.update(select_local({name: units[name]}, d))
    masks = {}
    for name, s in scores.items():
        mask = shape.expand(keep[name], s.shape, groups.get(name, 1), options)
        if shape.constrain is not None:
            mask = shape.constrain(s, mask, options)
        masks[name] = mask & torch.isfinite(s)
    return masks
