"""Data sets: scikit-learn's embedded 8x8 digits, split train / val / test by a config seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from ..config import DataConfig
from ..errors import ConfigError


@dataclass(frozen=True, eq=False)
class Split:
    """Features in [0, 1] (float32, one row per image) and integer labels."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True, eq=False)
class Dataset:
    train: Split
    val: Split
    test: Split
    #: Shape of one image (channels, height, width); the MLP sees it flattened.
    image_shape: tuple[int, int, int]
    classes: int

    @property
    def features(self) -> int:
        return int(np.prod(self.image_shape))


def _split(x: np.ndarray, y: np.ndarray, cfg: DataConfig, seed: int) -> tuple[Split, Split, Split]:
    """Stratified split; validation (model selection) and test (reporting) never overlap."""
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=cfg.test_fraction, random_state=seed, stratify=y)
    val_of_rest = cfg.val_fraction / (1.0 - cfg.test_fraction)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=val_of_rest, random_state=seed, stratify=y_rest)
    return Split(x_train, y_train), Split(x_val, y_val), Split(x_test, y_test)


def load_digits_dataset(cfg: DataConfig, seed: int) -> Dataset:
    """The 1797 8x8 digits; pixel values 0..16 scaled to [0, 1]."""
    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    train, val, test = _split(x, y, cfg, seed)
    return Dataset(train, val, test, image_shape=(1, 8, 8), classes=10)


def load_dataset(cfg: DataConfig, seed: int) -> Dataset:
    if cfg.dataset == "digits":
        return load_digits_dataset(cfg, seed)
    raise ConfigError(f"data.dataset {cfg.dataset!r} is not available; valid: 'digits'")
