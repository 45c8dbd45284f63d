"""Networks: a multilayer perceptron (what the accelerator runs) and a LeNet-5-like CNN (for sweeps).

Both take flattened images, so every data set feeds either model unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import ModelConfig
from ..errors import ConfigError

#: Images at least this wide get LeNet-5's own 5×5 kernels; smaller ones (8×8 digits) get 3×3.
LENET_IMAGE_SIZE = 28


class MLP(nn.Sequential):
    """Linear → ReLU → … → Linear on flattened images; the last layer gives the logits.

    LeNet-300-100 is ``hidden = (300, 100)``; its input width follows the image size.
    """

    def __init__(self, features: int, hidden: tuple[int, ...], classes: int):
        widths = (features, *hidden, classes)
        layers: list[nn.Module] = [nn.Flatten()]
        for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
            layers.append(nn.Linear(n_in, n_out))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        super().__init__(*layers)


class LeNet5(nn.Sequential):
    """(Conv → ReLU → 2×2 max-pool) per entry of ``channels``, then Linear layers as in the MLP.

    At 28×28 this is LeNet-5 (5×5 kernels, only the first padded: 400 features into the head);
    below that every convolution is a 'same' 3×3 so an 8×8 digit still leaves 2×2 maps.
    """

    def __init__(self, image_shape: tuple[int, int, int], channels: tuple[int, ...],
                 hidden: tuple[int, ...], classes: int):
        in_ch, height, width = image_shape
        large = min(height, width) >= LENET_IMAGE_SIZE
        kernel = 5 if large else 3
        layers: list[nn.Module] = [nn.Unflatten(1, tuple(image_shape))]
        for i, out_ch in enumerate(channels):
            padding = kernel // 2 if (i == 0 or not large) else 0
            height = height + 2 * padding - kernel + 1
            width = width + 2 * padding - kernel + 1
            if min(height, width) < 2:
                raise ConfigError(f"model.channels has {len(channels)} convolutions: too many for "
                                  f"{image_shape[1]}x{image_shape[2]} images")
            layers += [nn.Conv2d(in_ch, out_ch, kernel, padding=padding), nn.ReLU(), nn.MaxPool2d(2)]
            in_ch, height, width = out_ch, height // 2, width // 2
        widths = (in_ch * height * width, *hidden, classes)
        layers.append(nn.Flatten())
        for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
            layers.append(nn.Linear(n_in, n_out))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        super().__init__(*layers)


ARCHS = ("mlp", "cnn")


def _image_shape(features: int | tuple[int, ...]) -> tuple[int, int, int]:
    if isinstance(features, tuple):
        return features  # type: ignore[return-value]
    side = math.isqrt(features)
    if side * side != features:
        raise ConfigError(f"the CNN needs square single-channel images; {features} features are not")
    return (1, side, side)


def build_model(cfg: ModelConfig, features: int | tuple[int, int, int], classes: int,
                seed: int) -> nn.Module:
    """A freshly initialised model; the seed fixes the initial weights.

    ``features`` is the flattened input width, or the image shape (channels, height, width).
    """
    if cfg.arch not in ARCHS:
        raise ConfigError(f"model.arch {cfg.arch!r} is unknown; valid: {', '.join(ARCHS)}")
    with torch.random.fork_rng(devices=[]):  # seed the init without touching global state
        torch.manual_seed(seed)
        if cfg.arch == "cnn":
            return LeNet5(_image_shape(features), cfg.channels, cfg.hidden, classes)
        width = features if isinstance(features, int) else math.prod(features)
        return MLP(width, cfg.hidden, classes)


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The Linear layers in execution order: what the accelerator runs."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def weighted_layers(model: nn.Module) -> list[nn.Module]:
    """Linear and Conv2d layers in execution order: what pruning and the MAC count see."""
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
