"""Data sets, split train / val / test by a config seed: scikit-learn's 8x8 digits, or MNIST.

MNIST is read from the four IDX files (raw or gzipped) in ``data.data_dir``; nothing is
downloaded. Its own test files are the test split; validation is carved out of its training files.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from ..config import DataConfig
from ..errors import ConfigError, InputError


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


def _stratified(x, y, size, seed):
    """(rest, held out) with ``size`` (fraction or count) held out, class proportions kept."""
    try:
        x_rest, x_out, y_rest, y_out = train_test_split(x, y, test_size=size, random_state=seed, stratify=y)
    except ValueError as e:
        raise ConfigError(f"cannot split {len(y)} samples stratified by class: {e}") from None
    return Split(x_rest, y_rest), Split(x_out, y_out)


def _subset(train: Split, cfg: DataConfig, seed: int) -> Split:
    if cfg.train_samples == 0 or cfg.train_samples >= len(train):
        return train
    _, kept = _stratified(train.x, train.y, cfg.train_samples, seed)
    return kept


def _split(x: np.ndarray, y: np.ndarray, cfg: DataConfig, seed: int) -> tuple[Split, Split, Split]:
    """Stratified split; validation (model selection) and test (reporting) never overlap."""
    rest, test = _stratified(x, y, cfg.test_fraction, seed)
    val_of_rest = cfg.val_fraction / (1.0 - cfg.test_fraction)
    train, val = _stratified(rest.x, rest.y, val_of_rest, seed)
    return _subset(train, cfg, seed), val, test


def load_digits_dataset(cfg: DataConfig, seed: int) -> Dataset:
    """The 1797 8x8 digits; pixel values 0..16 scaled to [0, 1]."""
    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    train, val, test = _split(x, y, cfg, seed)
    return Dataset(train, val, test, image_shape=(1, 8, 8), classes=10)


#: IDX element types by their magic byte (LeCun's MNIST page), big-endian.
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (raw or gzipped) as a numpy array of its declared type and shape."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise InputError(f"IDX file {str(path)!r} is a broken gzip stream ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise InputError(f"{str(path)!r} is not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise InputError(f"IDX file {str(path)!r} is truncated in its header")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_TYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise InputError(f"IDX file {str(path)!r} holds {len(raw)} bytes; its header says {expected}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


#: The four MNIST files by role; each may also be named "…-images.idx3-ubyte", or end in ".gz".
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte",
}


def _find(folder: Path, stem: str) -> Path:
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, dotted):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise InputError(f"MNIST file {stem!r} (or {stem}.gz) is not in {str(folder)!r}")


def _images_and_labels(folder: Path, which: str) -> tuple[Split, tuple[int, int]]:
    images = read_idx(_find(folder, MNIST_FILES[f"{which}_images"]))
    labels = read_idx(_find(folder, MNIST_FILES[f"{which}_labels"]))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise InputError(f"MNIST {which} files disagree: images {images.shape}, labels {labels.shape}")
    x = (images.reshape(len(images), -1) / 255.0).astype(np.float32)
    return Split(x, labels.astype(np.int64)), images.shape[1:]


def load_mnist_dataset(cfg: DataConfig, seed: int) -> Dataset:
    """MNIST (or any IDX data set laid out like it) from ``cfg.data_dir``; pixels scaled to [0, 1]."""
    folder = Path(cfg.data_dir or "")
    if not folder.is_dir():
        raise InputError(f"data.data_dir {str(folder)!r} is not a folder")
    train_all, (height, width) = _images_and_labels(folder, "train")
    test, test_size = _images_and_labels(folder, "test")
    if test_size != (height, width):
        raise InputError(f"MNIST train images are {height}x{width} but test images {test_size[0]}x{test_size[1]}")
    train, val = _stratified(train_all.x, train_all.y, cfg.val_fraction, seed)
    classes = int(max(train_all.y.max(), test.y.max())) + 1
    return Dataset(_subset(train, cfg, seed), val, test, image_shape=(1, height, width), classes=classes)


def load_dataset(cfg: DataConfig, seed: int) -> Dataset:
    if cfg.dataset == "digits":
        return load_digits_dataset(cfg, seed)
    if cfg.dataset == "mnist":
        return load_mnist_dataset(cfg, seed)
    raise ConfigError(f"data.dataset {cfg.dataset!r} is not available; valid: 'digits', 'mnist'")
