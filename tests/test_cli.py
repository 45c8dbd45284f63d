"""The CLI's contract for bad input: one line on stderr, exit code 2, nothing written."""

import subprocess
import sys

import numpy as np
import pytest

from secateurs.sw.formats import container
from tests.test_container import random_model


def secateurs(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "secateurs.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def arrays(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "w.npy", rng.integers(-128, 128, (6, 5)).astype(np.int8))
    np.save(tmp_path / "x.npy", rng.integers(-128, 128, (3, 5)).astype(np.int8))
    np.save(tmp_path / "x_wide.npy", rng.integers(-128, 128, (3, 4)).astype(np.int8))
    np.save(tmp_path / "w_float.npy", rng.random((6, 5)))
    np.save(tmp_path / "w_1d.npy", np.zeros(5, dtype=np.int8))
    (tmp_path / "garbage.npy").write_bytes(b"not numpy")
    return tmp_path


@pytest.mark.parametrize("weights, inputs, fragments", [
    ("missing.npy", "x.npy", ("weights", "does not exist")),
    ("w.npy", "missing.npy", ("inputs", "does not exist")),
    ("w_float.npy", "x.npy", ("weights must be int8", "float64")),
    ("w_1d.npy", "x.npy", ("2-D",)),
    ("garbage.npy", "x.npy", ("not a .npy",)),
    ("w.npy", "x_wide.npy", ("4 columns", "5")),
])
def test_sim_matmul_bad_input(arrays, weights, inputs, fragments):
    out = arrays / "out"
    result = secateurs("sim", "matmul", "--weights", arrays / weights, "--inputs", arrays / inputs,
                       "--out", out)
    assert_one_line_error(result, *fragments)
    assert not out.exists()
    assert not [p for p in arrays.iterdir() if p.name.startswith(".out")]


def test_sim_matmul_impossible_hardware(arrays):
    result = secateurs("sim", "matmul", "--weights", arrays / "w.npy", "--inputs",
                       arrays / "x.npy", "--out", arrays / "out", "--pes", "0")
    assert_one_line_error(result, "hardware.pes")


def test_inspect_corrupt_model(tmp_path):
    data = container.encode(random_model(), pes=2, index_bits=4)
    (tmp_path / "ok.bin").write_bytes(data)
    (tmp_path / "short.bin").write_bytes(data[:30])
    flipped = bytearray(data)
    flipped[40] ^= 0x10
    (tmp_path / "flipped.bin").write_bytes(bytes(flipped))
    assert_one_line_error(secateurs("inspect", tmp_path / "short.bin"), "checksum")
    assert_one_line_error(secateurs("inspect", tmp_path / "flipped.bin"), "checksum")
    assert_one_line_error(secateurs("inspect", tmp_path / "none.bin"), "does not exist")
    ok = secateurs("inspect", "--json", tmp_path / "ok.bin")
    assert ok.returncode == 0, ok.stderr
    assert '"pes": 2' in ok.stdout


def test_flow_bad_config(tmp_path):
    result = secateurs("flow", "--set", "prune.densty=0.2", "--out", tmp_path / "run")
    assert_one_line_error(result, "prune.densty", "density")
    assert not (tmp_path / "run").exists()
