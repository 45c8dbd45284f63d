"""Training on the CPU with model selection on the validation split (never on test).

Learning-rate schedules are named functions of (epoch, epochs), so a retraining run can replay the
original schedule from any epoch (learning-rate rewinding).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..config import TrainConfig
from ..errors import ConfigError
from .data import Dataset, Split

#: Step decay drops the learning rate tenfold at these fractions of training (He et al. 2016).
STEP_MILESTONES = (0.5, 0.75)
STEP_FACTOR = 0.1

LR_SCHEDULES: dict[str, Callable[[int, int], float]] = {
    "constant": lambda epoch, epochs: 1.0,
    "cosine": lambda epoch, epochs: 0.5 * (1.0 + math.cos(math.pi * epoch / epochs)),
    "step": lambda epoch, epochs: STEP_FACTOR ** sum(epoch >= f * epochs for f in STEP_MILESTONES),
}


def lr_factor(schedule: str, epoch: int, epochs: int) -> float:
    """Multiplier of the base learning rate at ``epoch`` of an ``epochs``-long schedule."""
    try:
        return LR_SCHEDULES[schedule](epoch, max(epochs, 1))
    except KeyError:
        raise ConfigError(f"unknown lr schedule {schedule!r}; valid: {', '.join(LR_SCHEDULES)}") from None


@dataclass
class TrainResult:
    best_epoch: int
    best_val_accuracy: float
    #: Validation accuracy after each epoch.
    history: list[float] = field(default_factory=list)


def _tensors(split: Split) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(split.x), torch.from_numpy(split.y)


@torch.no_grad()
def logits(model: nn.Module, x: np.ndarray, batch_size: int = 1024) -> torch.Tensor:
    model.eval()
    out = [model(torch.from_numpy(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
    return torch.cat(out) if out else torch.zeros(0, 0)


def predict(model: nn.Module, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Class predictions (argmax of the logits)."""
    out = logits(model, x, batch_size)
    return out.argmax(1).numpy() if len(out) else np.zeros(0, dtype=np.int64)


def accuracy(model: nn.Module, split: Split) -> float:
    return float((predict(model, split.x) == split.y).mean())


def top_k_accuracy(model: nn.Module, split: Split, k: int) -> float:
    """Fraction of samples whose label is among the ``k`` largest logits."""
    out = logits(model, split.x)
    top = out.topk(min(k, out.shape[1]), dim=1).indices.numpy()
    return float((top == split.y[:, None]).any(1).mean())


def train(model: nn.Module, data: Dataset, *, epochs: int, lr: float, weight_decay: float = 0.0,
          batch_size: int = 64, seed: int = 0,
          on_epoch: Callable[[int, float], None] | None = None,
          lr_schedule: str = "constant", schedule_start: int = 0, schedule_epochs: int | None = None,
          before_epoch: Callable[[int], None] | None = None, select_from: int = 0,
          keep_best: bool = True) -> TrainResult:
    """Adam with cross-entropy; keeps (and restores) the weights of the best validation epoch.

    Epoch ``e`` runs at ``lr · lr_factor(lr_schedule, schedule_start + e, schedule_epochs)``
    (``schedule_epochs`` defaults to ``schedule_start + epochs``), so ``schedule_start = k`` replays
    an original schedule from epoch k. ``before_epoch(e)`` runs before epoch e (e.g. to prune);
    only epochs ``>= select_from`` compete for best; ``keep_best=False`` keeps the last epoch.
    Works unchanged on a pruned model: masks live in parametrizations, so gradients of pruned
    weights are zero and the mask is held.
    """
    lr_factor(lr_schedule, 0, 1)
    x, y = _tensors(data.train)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    length = schedule_epochs if schedule_epochs is not None else schedule_start + epochs
    result = TrainResult(best_epoch=-1, best_val_accuracy=-1.0)
    best_state = None
    for epoch in range(epochs):
        if before_epoch is not None:
            before_epoch(epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr * lr_factor(lr_schedule, schedule_start + epoch, length)
        model.train()
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), batch_size):
            batch = order[i:i + batch_size]
            optimizer.zero_grad()
            loss_fn(model(x[batch]), y[batch]).backward()
            optimizer.step()
        val = accuracy(model, data.val)
        result.history.append(val)
        if epoch >= select_from and val > result.best_val_accuracy:
            result.best_epoch, result.best_val_accuracy = epoch, val
            if keep_best:
                best_state = copy.deepcopy(model.state_dict())
        if on_epoch is not None:
            on_epoch(epoch, val)
    if best_state is not None:
        model.load_state_dict(best_state)
    return result


def train_by(model: nn.Module, data: Dataset, recipe: TrainConfig, *, seed: int,
             **overrides) -> TrainResult:
    """:func:`train` with the epochs, learning rate, weight decay, batch size and schedule of
    ``recipe``; ``overrides`` are further keywords of :func:`train` (or replace the recipe's)."""
    return train(model, data, **{"epochs": recipe.epochs, "lr": recipe.lr,
                                 "weight_decay": recipe.weight_decay,
                                 "batch_size": recipe.batch_size,
                                 "lr_schedule": recipe.lr_schedule, **overrides}, seed=seed)
