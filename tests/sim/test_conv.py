"""``sim conv`` under Verilator: random conv layers (kernels 1, 3, 5; stride 1, 2; padding 0,
1, 2; 1 to 16 channels; maps 5 to 28; densities 0 to 1, all-zero inputs, a fully dense layer)
on one loadable capacity (two builds, the sparse design and its dense twin): outputs exactly
torch's conv2d on the same integers, cycles exactly ``sw.cycles.conv_cycles`` and every
predicted event counter its model (checked inside :func:`prove_conv`). The command itself:
its files, and one-line refusals that write nothing.
"""

import json

import numpy as np
import pytest
import torch

from secateurs.config import HardwareConfig
from secateurs.sim.conv import prove_conv
from secateurs.sim.network import build_accelerator
from tests.helpers.cli import assert_one_line_error, secateurs
from tests.helpers.conv_models import RTL_CAPACITY, RTL_ISSUE_WIDTH, RTL_PES, RTL_QUEUE_DEPTH

HW = HardwareConfig(pes=RTL_PES, queue_depth=RTL_QUEUE_DEPTH, issue_width=RTL_ISSUE_WIDTH)
#: One design for every case (and the conv networks' tests): 16 output and input channels, 5x5
#: kernels, 28x28 maps, 4096 activations a map.
CAPACITY = RTL_CAPACITY

CASES = {  # name: (out channels, in channels, map side, kernel, stride, padding, w / x density)
    "1x1 kernel": (3, 1, 5, 1, 1, 0, 0.6, 0.5),
    "3x3 padded": (8, 3, 12, 3, 1, 1, 0.4, 0.6),
    "5x5 stride 2 padding 2, 16 channels": (16, 16, 10, 5, 2, 2, 0.2, 0.5),
    "3x3 stride 2 on 28x28": (4, 2, 28, 3, 2, 0, 0.5, 0.3),
    "LeNet's first layer": (6, 1, 28, 5, 1, 0, 0.1, 0.25),
    "5x5 padding 1": (5, 6, 14, 5, 1, 1, 0.3, 0.4),
    "all-zero weights": (4, 2, 7, 3, 1, 1, 0.0, 0.7),
    "fully dense": (7, 4, 6, 3, 1, 2, 1.0, 1.0),
}


def torch_conv(w, x, stride, padding):
    """torch's conv2d on the integers (float64 holds every sum here exactly)."""
    out = torch.nn.functional.conv2d(torch.tensor(x, dtype=torch.float64),
                                     torch.tensor(w, dtype=torch.float64),
                                     stride=stride, padding=padding)
    return out.numpy().astype(np.int64)


def case_arrays(name):
    o, c, side, k, stride, padding, w_density, x_density = CASES[name]
    rng = np.random.default_rng(sorted(CASES).index(name))
    w = rng.integers(-128, 128, (o, c, k, k)) * (rng.random((o, c, k, k)) < w_density)
    x = rng.integers(-128, 128, (3, c, side, side)) * (rng.random((3, c, side, side)) < x_density)
    x[1] = 0  # an all-zero input map
    if name == "fully dense":
        w[w == 0], x[x == 0] = -128, 127
        x[1] = -128
    return w, x, stride, padding


@pytest.fixture(scope="module")
def results(build_cache):
    """Every case proved on both designs of the one capacity (two builds)."""
    designs = {kind: build_accelerator(CAPACITY, kind=kind, hw=HW, build_root=build_cache)
               for kind in ("sparse", "dense")}
    out = {}
    for name in CASES:
        w, x, stride, padding = case_arrays(name)
        out[name] = prove_conv(w, x, hw=HW, stride=stride, padding=padding, designs=designs)
    return out


@pytest.mark.rtl
@pytest.mark.parametrize("name", CASES)
def test_outputs_are_torchs_conv2d(results, name):
    w, x, stride, padding = case_arrays(name)
    np.testing.assert_array_equal(results[name].outputs, torch_conv(w, x, stride, padding))


@pytest.mark.rtl
@pytest.mark.parametrize("name", CASES)
def test_cycles_are_the_model_s(results, name):
    result = results[name]
    for kind in ("sparse", "dense"):
        np.testing.assert_array_equal(result.cycles[kind], result.expected_cycles[kind])
    # The dense twin walks every weight at every position, the padding too; the sparse design
    # skips zeros and padding but pays its scan and pipeline, which a one-entry patch (1x1,
    # one channel) does not earn back but on the all-zero map (sample 1). The fully dense
    # layer's padding of 2 is skipped.
    sparse, dense = result.cycles["sparse"], result.cycles["dense"]
    if name == "1x1 kernel":
        assert (sparse[[0, 2]] > dense[[0, 2]]).all() and sparse[1] < dense[1]
    else:
        assert (sparse < dense).all()


@pytest.mark.rtl
def test_sim_conv_command(tmp_path):
    rng = np.random.default_rng(3)
    w = (rng.integers(-128, 128, (3, 2, 3, 3)) * (rng.random((3, 2, 3, 3)) < 0.5)).astype(np.int8)
    x = (rng.integers(-128, 128, (2, 2, 6, 5)) * (rng.random((2, 2, 6, 5)) < 0.5)).astype(np.int8)
    np.save(tmp_path / "w.npy", w)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out"
    result = secateurs("sim", "conv", "--weights", tmp_path / "w.npy", "--inputs",
                       tmp_path / "x.npy", "--out", out, "--stride", "2", "--padding", "1",
                       "--pes", "2")
    assert result.returncode == 0, result.stderr
    outputs = np.load(out / "outputs.npy")
    assert outputs.dtype == np.int32 and outputs.shape == (2, 3, 3, 3)
    np.testing.assert_array_equal(outputs, torch_conv(w.astype(np.int64), x.astype(np.int64),
                                                      2, 1))
    summary = json.loads((out / "summary.json").read_text())
    for kind in ("sparse", "dense"):
        assert summary[f"cycles_{kind}"] == summary[f"expected_cycles_{kind}"] > 0
    assert summary["cycles_sparse"] < summary["cycles_dense"]


@pytest.mark.parametrize("weights, inputs, options, fragment", [
    ((3, 2, 3, 3), (2, 2, 6, 6), ["--stride", "0"], "Stride must be an integer in 1..4, not 0"),
    ((3, 2, 3, 3), (2, 2, 6, 6), ["--padding", "3"],
     "Padding must be an integer in 0..2, not 3"),
    ((3, 2, 3, 3), (2, 1, 6, 6), [], "inputs have 1 channels but the weights take 2"),
    ((3, 2, 3, 3), (2, 2, 2, 2), [], "A 3x3 kernel does not fit a 2x2 map padded by 0"),
    ((3, 2, 9, 9), (2, 2, 12, 12), [], "Kernel height must be an integer in 1..7, not 9"),
    ((3, 18), (2, 2, 6, 6), [], "weights must be a non-empty 4-D array, not shape (3, 18)"),
])
def test_sim_conv_refuses_bad_input(tmp_path, weights, inputs, options, fragment):
    np.save(tmp_path / "w.npy", np.ones(weights, dtype=np.int8))
    np.save(tmp_path / "x.npy", np.ones(inputs, dtype=np.int8))
    out = tmp_path / "out"
    result = secateurs("sim", "conv", "--weights", tmp_path / "w.npy", "--inputs",
                       tmp_path / "x.npy", "--out", out, *options)
    assert_one_line_error(result, fragment)
    assert not out.exists()


def test_sim_conv_refuses_wider_than_int8(tmp_path):
    np.save(tmp_path / "w.npy", np.ones((3, 2, 3, 3), dtype=np.int16))
    np.save(tmp_path / "x.npy", np.ones((2, 2, 6, 6), dtype=np.int8))
    result = secateurs("sim", "conv", "--weights", tmp_path / "w.npy", "--inputs",
                       tmp_path / "x.npy", "--out", tmp_path / "out")
    assert_one_line_error(result, "weights must be int8, not int16")
    assert not (tmp_path / "out").exists()
