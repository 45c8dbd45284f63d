"""Pruning as f(x; M ⊙ W): scores rate weights, a structure groups them, a scope selects the mask,
parametrizations hold it; schedules and retraining methods drive the rounds (:mod:`.retrain`).
"""

from __future__ import annotations

import torch
from torch import nn

from ...errors import ConfigError
from ..data import Split
from ..models import weighted_layers
from .evidence import input_norms, mean_gradients
from .masks import select_masks
from .parametrize import attach, masks_of, squash
from .schedules import get_schedule
from .scopes import get_scope
from .scores import LayerState, get_score
from .structures import StructureOptions, get_structure

__all__ = ["prunable", "prune", "attach", "masks_of", "squash", "density_of", "check_config",
           "options_of", "StructureOptions", "catalogue"]


def prunable(model: nn.Module) -> dict[str, nn.Module]:
    """The layers whose weights are pruned (Linear and Conv2d), by their name in the model."""
    names = {id(m): n for n, m in model.named_modules()}
    return {names[id(m)]: m for m in weighted_layers(model)}


def _layer_names(modules: dict[str, nn.Module], overrides: dict) -> dict[str, float]:
    """Override keys as layer names: an int counts prunable layers (negative from the end)."""
    names = list(modules)
    out = {}
    for key, density in overrides.items():
        if isinstance(key, int) and not isinstance(key, bool):
            if not -len(names) <= key < len(names):
                raise ConfigError(f"layer {key} does not exist: the model has {len(names)} prunable layers")
            key = names[key]
        elif key not in modules:
            raise ConfigError(f"layer {key!r} is not prunable; prunable layers: {', '.join(names)}")
        out[key] = density
    return out


def _init_weights(init: dict[str, torch.Tensor] | nn.Module) -> dict[str, torch.Tensor]:
    if isinstance(init, nn.Module):
        return {name: m.weight.detach().clone() for name, m in prunable(init).items()}
    return init


def _tensors(data: Split | tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(data, Split):
        return torch.from_numpy(data.x), torch.from_numpy(data.y)
    return data


def prune(model: nn.Module, *, density: float, score: str = "magnitude",
          structure: str = "unstructured", scope: str = "global", seed: int = 0,
          options: StructureOptions | None = None, overrides: dict[int | str, float] | None = None,
          init: dict[str, torch.Tensor] | nn.Module | None = None,
          data: Split | tuple[torch.Tensor, torch.Tensor] | None = None,
          batches: int = 4, batch_size: int = 64) -> dict[str, torch.Tensor]:
    """Score every prunable weight, select the mask, attach it; returns the masks by layer name.

    ``init`` (the model at initialisation, or its weights by layer name) feeds the init and
    movement scores; ``data`` (a split, or inputs and labels) feeds the gradient and activation
    scores, measured on ``batches`` seeded mini-batches. ``overrides`` maps a layer (index or
    name) to its own density. Weights already pruned stay pruned.
    """
    spec = get_score(score)
    modules = prunable(model)
    evidence: dict[str, dict[str, torch.Tensor]] = {}
    if "init" in spec.needs:
        if init is None:
            raise ConfigError(f"score {score!r} needs the weights at initialisation (init=...)")
        evidence["init"] = _init_weights(init)
    if {"grad", "input_norm"} & set(spec.needs):
        if data is None:
            raise ConfigError(f"score {score!r} needs training data (data=...)")
        x, y = _tensors(data)
        kw = dict(batches=batches, batch_size=batch_size, seed=seed)
        if "grad" in spec.needs:
            evidence["grad"] = mean_gradients(model, modules, x, y, **kw)
        if "input_norm" in spec.needs:
            evidence["input_norm"] = input_norms(model, modules, x, **kw)
    previous = masks_of(modules)
    scores = {}
    for i, (name, module) in enumerate(modules.items()):
        state = LayerState(weight=module.weight.detach(), seed=seed + i,
                           **{k: v[name] for k, v in evidence.items()})
        s = spec.fn(state).float()
        scores[name] = torch.where(previous[name], s, torch.full_like(s, -torch.inf))
    masks = select_masks(scores, density=density, structure=structure, scope=scope,
                         options=options or StructureOptions(),
                         groups={n: getattr(m, "groups", 1) for n, m in modules.items()},
                         overrides=_layer_names(modules, overrides or {}))
    attach(modules, masks)
    return masks


def density_of(model: nn.Module) -> float:
    """Fraction of nonzero weights over all prunable layers."""
    modules = prunable(model)
    total = sum(m.weight.numel() for m in modules.values())
    nonzero = sum(int(torch.count_nonzero(m.weight)) for m in modules.values())
    return nonzero / total


def options_of(cfg, pes: int = 4) -> StructureOptions:
    """Structure options of a :class:`~secateurs.config.PruneConfig`; ``pes`` where it says 0."""
    return StructureOptions(n=cfg.n, m=cfg.m, pes=cfg.pes or pes, column_block=cfg.column_block,
                            block=cfg.block, group_norm=cfg.group_norm)


def check_config(cfg) -> None:
    """Every name of a PruneConfig is registered, and the structure allows its densities."""
    from .retrain import get_retraining

    get_score(cfg.score)
    get_scope(cfg.scope)
    get_schedule(cfg.schedule)
    get_retraining(cfg.retrain)
    shape = get_structure(cfg.structure)
    options = options_of(cfg)
    if shape.fixed_density is not None:
        fixed = shape.fixed_density(options)
        wrong = [d for d in (cfg.density, *(l.density for l in cfg.layers)) if abs(d - fixed) > 1e-9]
        if wrong:
            raise ConfigError(f"structure {cfg.structure!r} keeps exactly n/m = {fixed:g} of the "
                              f"weights: set prune.density (and overrides) to {fixed:g}, not {wrong[0]:g}")
        if cfg.schedule != "oneshot":
            raise ConfigError(f"structure {cfg.structure!r} has one density: use prune.schedule = 'oneshot'")


def catalogue() -> dict[str, dict[str, tuple[str, str]]]:
    """Every registered piece of a pruning strategy, by kind: name → (description, citation)."""
    from .retrain import RETRAINING
    from .schedules import SCHEDULES
    from .scopes import SCOPES
    from .scores import SCORES
    from .structures import STRUCTURES

    kinds = {"score": SCORES, "structure": STRUCTURES, "scope": SCOPES, "schedule": SCHEDULES,
             "retrain": RETRAINING}
    return {kind: {name: (entry.description, entry.citation) for name, entry in registry.items()}
            for kind, registry in kinds.items()}
