"""Built-in networks: a multilayer perceptron, a LeNet-5-like CNN of configurable channels (the
sweeps' digits CNN) and LeNet-5 itself; the user's own model comes from :mod:`.usermodel`.

Every model takes images shaped (N, C, H, W); the MLP flattens them in its first layer.
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
    """Flatten, then Linear → ReLU → … → Linear; the last layer gives the logits.

    LeNet-300-100 is ``hidden = (300, 100)``; its input width follows the image size.
    """

    def __init__(self, features: int, hidden: tuple[int, ...], classes: int):
        super().__init__(*_head(features, hidden, classes))


class CNN(nn.Sequential):
    """(Conv → ReLU → 2×2 max-pool) per entry of ``channels``, then Linear layers as in the MLP.

    At 28×28 this is LeNet-5 (5×5 kernels, only the first padded: 400 features into the head);
    below that every convolution is a 'same' 3×3 so an 8×8 digit still leaves 2×2 maps.
    """

    def __init__(self, image_shape: tuple[int, int, int], channels: tuple[int, ...],
                 hidden: tuple[int, ...], classes: int):
        in_ch, height, width = image_shape
        large = min(height, width) >= LENET_IMAGE_SIZE
        kernel = 5 if large else 3
        layers: list[nn.Module] = []
        for i, out_ch in enumerate(channels):
            padding = kernel // 2 if (i == 0 or not large) else 0
            height = height + 2 * padding - kernel + 1
            width = width + 2 * padding - kernel + 1
            if min(height, width) < 2:
                raise ConfigError(f"model.channels has {len(channels)} convolutions: too many for "
                                  f"{image_shape[1]}x{image_shape[2]} images")
            layers += [nn.Conv2d(in_ch, out_ch, kernel, padding=padding), nn.ReLU(), nn.MaxPool2d(2)]
            in_ch, height, width = out_ch, height // 2, width // 2
        super().__init__(*layers, *_head(in_ch * height * width, hidden, classes))


def _head(features: int, hidden: tuple[int, ...], classes: int) -> list[nn.Module]:
    """Flatten, then Linear → ReLU → … → Linear."""
    widths = (features, *hidden, classes)
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return layers


#: LeNet-5's (LeCun et al. 1998) convolutions: 5×5 kernels to 6 then 16 channels, each followed
#: by a 2×2 max-pool, and the map side each was designed for (32×32 digits, then 14×14).
LENET5_CHANNELS = (6, 16)
LENET5_KERNEL = 5
LENET5_SIDES = (32, 14)
#: LeNet-5's fully connected layers after the convolutions (then the classes).
LENET5_HIDDEN = (120, 84)


class LeNet5(nn.Sequential):
    """LeNet-5: conv 5×5 → 6, max-pool 2, conv 5×5 → 16, max-pool 2, Linear 120 → 84 → classes.

    Shapes follow the data set: a convolution whose input is smaller than the side LeNet-5 gave
    it (32, then 14) is 'same' padded (2), so 28×28 MNIST is the classic network (400 features
    into the head), 32×32 CIFAR-10 needs no padding, and 8×8 digits keep 2×2 maps.
    """

    def __init__(self, image_shape: tuple[int, int, int], classes: int):
        in_ch, height, width = image_shape
        layers: list[nn.Module] = []
        for out_ch, side in zip(LENET5_CHANNELS, LENET5_SIDES):
            padding = LENET5_KERNEL // 2 if min(height, width) < side else 0
            height, width = (n + 2 * padding - LENET5_KERNEL + 1 for n in (height, width))
            if min(height, width) < 2:
                raise ConfigError(f"model.arch = 'lenet5' needs images of at least 2x2, not "
                                  f"{image_shape[1]}x{image_shape[2]}")
            layers += [nn.Conv2d(in_ch, out_ch, LENET5_KERNEL, padding=padding), nn.ReLU(),
                       nn.MaxPool2d(2)]
            in_ch, height, width = out_ch, height // 2, width // 2
        super().__init__(*layers, *_head(in_ch * height * width, LENET5_HIDDEN, classes))


ARCHS = ("mlp", "cnn", "lenet5")


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

    ``features`` is the image shape (channels, height, width), or for the MLP (and a square
    single-channel image) the flattened width. ``model.module`` builds the user's model
    (:mod:`.usermodel`), checked to trace into the layer graph.
    """
    if cfg.module:
        from .usermodel import user_model

        return user_model(cfg.module, _image_shape(features), seed=seed)
    if cfg.arch not in ARCHS:
        raise ConfigError(f"model.arch {cfg.arch!r} is unknown; valid: {', '.join(ARCHS)}")
    with torch.random.fork_rng(devices=[]):  # seed the init without touching global state
        torch.manual_seed(seed)
        if cfg.arch == "cnn":
            return CNN(_image_shape(features), cfg.channels, cfg.hidden, classes)
        if cfg.arch == "lenet5":
            return LeNet5(_image_shape(features), classes)
        width = features if isinstance(features, int) else math.prod(features)
        return MLP(width, cfg.hidden, classes)


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The Linear layers in execution order: what the accelerator runs."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def weighted_layers(model: nn.Module) -> list[nn.Module]:
    """Linear and Conv2d layers in execution order: what pruning and the MAC count see."""
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
