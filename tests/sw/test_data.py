"""Data: IDX files (raw and gzipped) that the test writes, MNIST-style folders, seeded splits."""

import gzip
import struct

import numpy as np
import pytest

from secateurs.config import DataConfig
from secateurs.errors import InputError
from secateurs.sw.data import load_dataset, read_idx


def idx_bytes(array: np.ndarray) -> bytes:
    code = {np.dtype(np.uint8): 0x08, np.dtype(np.int16): 0x0B, np.dtype(np.float32): 0x0D}[array.dtype]
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path, dtype, compress):
    array = (np.arange(24).reshape(2, 3, 4) * 7 % 251).astype(dtype)
    data = idx_bytes(array)
    path = tmp_path / "a.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    got = read_idx(path)
    assert got.dtype == dtype and np.array_equal(got, array)


@pytest.mark.parametrize("mangle,message", [
    (lambda b: b"\x01" + b[1:], "bad magic"),
    (lambda b: b[:-1], "header says"),
    (lambda b: b[:6], "truncated"),
    (lambda b: gzip.compress(b)[:-9], "gzip"),
])
def test_broken_idx_files_are_input_errors(tmp_path, mangle, message):
    path = tmp_path / "bad"
    path.write_bytes(mangle(idx_bytes(np.zeros((2, 2), np.uint8))))
    with pytest.raises(InputError, match=message):
        read_idx(path)


def write_mnist(folder, *, side=6, per_class=4, classes=10, gz=False, dotted=False):
    rng = np.random.default_rng(0)
    for prefix, count in (("train", per_class), ("t10k", 2)):
        labels = np.repeat(np.arange(classes, dtype=np.uint8), count)
        images = rng.integers(0, 256, (len(labels), side, side), dtype=np.uint8)
        for kind, array, dims in (("images", images, 3), ("labels", labels, 1)):
            name = f"{prefix}-{kind}-idx{dims}-ubyte"
            if dotted:
                name = f"{prefix}-{kind}.idx{dims}-ubyte"
            data = idx_bytes(array)
            (folder / (name + (".gz" if gz else ""))).write_bytes(gzip.compress(data) if gz else data)


@pytest.mark.parametrize("gz,dotted", [(False, False), (True, False), (False, True)])
def test_mnist_folder(tmp_path, gz, dotted):
    write_mnist(tmp_path, gz=gz, dotted=dotted)
    data = load_dataset(DataConfig(dataset="mnist", data_dir=str(tmp_path), val_fraction=0.25), seed=1)
    assert data.image_shape == (1, 6, 6) and data.classes == 10
    assert (len(data.train), len(data.val), len(data.test)) == (30, 10, 20)
    assert sorted(data.val.y.tolist()) == list(range(10))          # stratified
    assert data.train.x.dtype == np.float32 and 0.0 <= data.train.x.min() and data.train.x.max() <= 1.0


def test_mnist_missing_file_names_it(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(InputError, match="t10k-labels-idx1-ubyte"):
        load_dataset(DataConfig(dataset="mnist", data_dir=str(tmp_path)), seed=0)


def test_digits_split_is_seeded_and_stratified():
    a = load_dataset(DataConfig(), seed=0)
    b = load_dataset(DataConfig(), seed=0)
    assert np.array_equal(a.train.x, b.train.x)
    assert len(a.train) + len(a.val) + len(a.test) == 1797
    assert len(a.test) == 360 and len(a.val) == 270
    assert np.bincount(a.val.y).min() >= 26
    c = load_dataset(DataConfig(), seed=1)
    assert not np.array_equal(a.test.y, c.test.y)


def test_train_samples_takes_a_stratified_subset():
    data = load_dataset(DataConfig(train_samples=100), seed=0)
    assert len(data.train) == 100 and np.bincount(data.train.y).min() >= 9
    assert len(data.val) == 270  # validation and test are untouched
