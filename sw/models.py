"""Networks the flow trains: a multilayer perceptron of Linear + ReLU layers."""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from ..errors import ConfigError


class MLP(nn.Sequential):
    """Linear → ReLU → … → Linear on flattened images; the last layer gives the logits."""

    def __init__(self, features: int, hidden: tuple[int, ...], classes: int):
        widths = (features, *hidden, classes)
        layers: list[nn.Module] = [nn.Flatten()]
        for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
            layers.append(nn.Linear(n_in, n_out))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        super().__init__(*layers)


def build_model(cfg: ModelConfig, features: int, classes: int, seed: int) -> nn.Module:
    """A freshly initialised model; the seed fixes the initial weights."""
    if cfg.arch != "mlp":
        raise ConfigError(f"model.arch {cfg.arch!r} is unknown; valid: 'mlp'")
    with torch.random.fork_rng(devices=[]):  # seed the init without touching global state
        torch.manual_seed(seed)
        return MLP(features, cfg.hidden, classes)


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The Linear layers in execution order: what the accelerator runs."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)]
