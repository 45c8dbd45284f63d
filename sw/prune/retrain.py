"""Retraining methods and the prune → retrain rounds a schedule asks for.

Fine-tuning retrains at a small constant learning rate; learning-rate rewinding replays the dense
run's schedule from epoch k; weight rewinding also resets the surviving weights to epoch k. With a
"linear" or "geometric" schedule each is iterative magnitude pruning (IMP) of its kind; with "agp"
the prunings happen inside one training run, Δt epochs apart.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from ...config import PruneConfig, TrainConfig
from ...errors import ConfigError
from ..data import Dataset
from ..train import TrainResult, train, train_by
from . import masks_of, options_of, prunable, prune
from .parametrize import attach, weight_leaf
from .schedules import densities, get_schedule
from .scores import get_score


@dataclass(frozen=True)
class Retraining:
    description: str
    citation: str
    #: Retrain on the dense run's schedule from the rewind epoch (else ``finetune_lr``, constant).
    replays_schedule: bool
    #: Reset the surviving weights (and biases) to their values at the rewind epoch first.
    rewinds_weights: bool


RETRAINING: dict[str, Retraining] = {
    "finetune": Retraining("retrain at a small constant learning rate", "Han et al. 2015", False, False),
    "lr_rewind": Retraining("retrain with the original LR schedule from epoch k",
                            "Renda et al. 2020, Comparing Rewinding and Fine-tuning", True, False),
    "weight_rewind": Retraining("reset survivors to their epoch-k values, retrain from epoch k",
                                "Frankle et al. 2020, Linear Mode Connectivity and the LTH", True, True),
}


def get_retraining(name: str) -> Retraining:
    try:
        return RETRAINING[name]
    except KeyError:
        raise ConfigError(f"unknown retraining {name!r}; valid: {', '.join(sorted(RETRAINING))}") from None


@dataclass
class DenseRun:
    """A dense training run with the checkpoints pruning may need."""

    result: TrainResult
    #: Weights at initialisation (plain state_dict).
    init: dict[str, torch.Tensor]
    #: Weights after ``rewind_epoch`` epochs (plain state_dict).
    rewind: dict[str, torch.Tensor]


def train_dense(model: nn.Module, data: Dataset, recipe: TrainConfig, *, seed: int,
                rewind_epoch: int = 0) -> DenseRun:
    """Train ``model`` by ``recipe``, keeping W_0 and the weights at the rewind epoch."""
    init = copy.deepcopy(model.state_dict())
    saved: dict[str, dict] = {}

    def snapshot(epoch: int) -> None:
        if epoch == rewind_epoch:
            saved["rewind"] = copy.deepcopy(model.state_dict())

    result = train_by(model, data, recipe, seed=seed, before_epoch=snapshot)
    return DenseRun(result, init, saved.get("rewind", copy.deepcopy(model.state_dict())))


@torch.no_grad()
def rewind_weights(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load a plain state_dict into a masked model; pruned weights stay zero."""
    modules = prunable(model)
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        for attr in ("weight", "bias"):
            key = prefix + attr
            if key in state and getattr(module, attr, None) is not None:
                target = weight_leaf(module) if attr == "weight" else getattr(module, attr)
                target.copy_(state[key])
    attach(modules, masks_of(modules))


@dataclass
class PruneResult:
    #: Target density of each pruning step.
    densities: list[float] = field(default_factory=list)
    #: Retraining epoch (counted over all retraining) at which each step pruned.
    epochs: list[int] = field(default_factory=list)
    #: Best validation accuracy of the retraining after each step (AGP: one entry).
    val_accuracy: list[float] = field(default_factory=list)


def _retrain_args(cfg: PruneConfig, recipe: TrainConfig) -> dict:
    """Epochs, learning rate and schedule of one retraining run."""
    if get_retraining(cfg.retrain).replays_schedule:
        if not 0 <= cfg.rewind_epoch < recipe.epochs:
            raise ConfigError(f"prune.rewind_epoch must be below the dense run's {recipe.epochs} epochs, "
                              f"not {cfg.rewind_epoch}")
        return dict(epochs=recipe.epochs - cfg.rewind_epoch, lr=recipe.lr,
                    weight_decay=recipe.weight_decay, lr_schedule=recipe.lr_schedule,
                    schedule_start=cfg.rewind_epoch, schedule_epochs=recipe.epochs)
    return dict(epochs=cfg.finetune_epochs, lr=cfg.finetune_lr)  # no weight decay


def prune_and_retrain(model: nn.Module, data: Dataset, cfg: PruneConfig, recipe: TrainConfig, *,
                      seed: int, init: dict[str, torch.Tensor] | nn.Module | None = None,
                      rewind: dict[str, torch.Tensor] | None = None, pes: int = 4) -> PruneResult:
    """Prune ``model`` to ``cfg.density`` by ``cfg.schedule``, retraining by ``cfg.retrain``.

    ``init`` feeds init/movement scores; ``rewind`` is the plain state_dict at the rewind epoch
    (weight rewinding). Masks stay attached; squash them when done.
    """
    method = get_retraining(cfg.retrain)
    if method.rewinds_weights and rewind is None:
        raise ConfigError("prune.retrain = 'weight_rewind' needs the weights at the rewind epoch")
    targets = densities(cfg.schedule, cfg.density, cfg.steps)
    run = _retrain_args(cfg, recipe)
    layer_targets = {l.layer: densities(cfg.schedule, l.density, cfg.steps) for l in cfg.layers}

    def prune_step(step: int) -> None:
        overrides = {layer: d[step] for layer, d in layer_targets.items()}
        prune(model, density=targets[step], score=cfg.score, structure=cfg.structure, scope=cfg.scope,
              seed=seed + step, options=options_of(cfg, pes), overrides=overrides, init=init,
              data=data.train, batches=cfg.evidence_batches, batch_size=recipe.batch_size)
        if method.rewinds_weights and (step == 0 or not get_schedule(cfg.schedule).during_training):
            rewind_weights(model, rewind)

    result = PruneResult(densities=targets)
    if get_schedule(cfg.schedule).during_training:
        # One run: the replayed schedule, or finetune_epochs per step; prune every Δt epochs.
        if not method.replays_schedule:
            run["epochs"] = cfg.finetune_epochs * cfg.steps
        every = run["epochs"] // cfg.steps
        if every < 1:
            raise ConfigError(f"'agp' needs at least one epoch between its {cfg.steps} pruning steps")

        def before_epoch(epoch: int) -> None:
            if epoch % every == 0 and epoch // every < cfg.steps:
                prune_step(epoch // every)
                result.epochs.append(epoch)

        trained = train(model, data, **run, batch_size=recipe.batch_size, seed=seed + 1,
                        before_epoch=before_epoch, select_from=every * (cfg.steps - 1))
        result.val_accuracy.append(trained.best_val_accuracy)
        return result
    for step in range(len(targets)):
        prune_step(step)
        result.epochs.append(step * run["epochs"])
        trained = train(model, data, **run, batch_size=recipe.batch_size, seed=seed + 1 + step)
        result.val_accuracy.append(trained.best_val_accuracy)
    return result


def replay_checkpoints(cfg: PruneConfig, fresh: Callable[[], nn.Module], data: Dataset,
                       recipe: TrainConfig, *,
                       seed: int) -> tuple[nn.Module | None, dict[str, torch.Tensor] | None]:
    """W_0 and W_k of a dense run that was not recorded, rebuilt from its seed when ``cfg`` needs them.

    ``fresh()`` rebuilds the seeded initial model; training is deterministic, so k epochs of the
    same recipe reproduce the dense run's weights at epoch k.
    """
    init = fresh() if "init" in get_score(cfg.score).needs else None
    rewind = None
    if get_retraining(cfg.retrain).rewinds_weights:
        model = fresh()
        train_by(model, data, recipe, seed=seed, epochs=cfg.rewind_epoch,
                 schedule_epochs=recipe.epochs, keep_best=False)
        rewind = copy.deepcopy(model.state_dict())
    return init, rewind
