"""Training on the CPU with model selection on the validation split (never on test)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from .data import Dataset, Split


@dataclass
class TrainResult:
    best_epoch: int
    best_val_accuracy: float
    #: Validation accuracy after each epoch.
    history: list[float] = field(default_factory=list)


def _tensors(split: Split) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(split.x), torch.from_numpy(split.y)


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Class predictions (argmax of the logits)."""
    model.eval()
    out = [model(torch.from_numpy(x[i:i + batch_size])).argmax(1) for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.int64)


def accuracy(model: nn.Module, split: Split) -> float:
    return float((predict(model, split.x) == split.y).mean())


def train(model: nn.Module, data: Dataset, *, epochs: int, lr: float, weight_decay: float = 0.0,
          batch_size: int = 64, seed: int = 0,
          on_epoch: Callable[[int, float], None] | None = None) -> TrainResult:
    """Adam with cross-entropy; keeps (and restores) the weights of the best validation epoch.

    Works unchanged on a pruned model: masks live in parametrizations, so gradients of pruned
    weights are zero and the mask is held.
    """
    x, y = _tensors(data.train)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    result = TrainResult(best_epoch=-1, best_val_accuracy=-1.0)
    best_state = copy.deepcopy(model.state_dict())
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), batch_size):
            batch = order[i:i + batch_size]
            optimizer.zero_grad()
            loss_fn(model(x[batch]), y[batch]).backward()
            optimizer.step()
        val = accuracy(model, data.val)
        result.history.append(val)
        if val > result.best_val_accuracy:
            result.best_epoch, result.best_val_accuracy = epoch, val
            best_state = copy.deepcopy(model.state_dict())
        if on_epoch is not None:
            on_epoch(epoch, val)
    model.load_state_dict(best_state)
    return result
