"""The CLI's contract for bad input: one line on stderr, exit code 2, nothing written."""


import numpy as np
import pytest

from secateurs.sw.formats import container
from tests.helpers.cli import assert_one_line_error, secateurs
from tests.sw.formats.test_container import random_model


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


@pytest.mark.parametrize("options, fragments", [
    (["--format", "dense"], ("format must be one of csc, nm", "'dense'")),
    (["--payload", "int2"], ("payload must be one of int8, int4, codebook",)),
    (["--format", "nm", "--nm", "2-4"], ("--nm must be N:M",)),
    (["--format", "nm", "--nm", "4:4"], ("1 <= N < M",)),
    (["--format", "nm", "--nm", "1:4"], ("not 1:4 sparse", "row 0")),
    (["--nm", "2:4"], ("--nm applies to --format nm only",)),
    (["--payload", "int4"], ("weights must fit 4-bit signed integers (-8..7)",)),
])
def test_sim_matmul_bad_packing(arrays, options, fragments):
    out = arrays / "out"
    result = secateurs("sim", "matmul", "--weights", arrays / "w.npy", "--inputs",
                       arrays / "x.npy", "--out", out, *options)
    assert_one_line_error(result, *fragments)
    assert not out.exists()
    assert not [p for p in arrays.iterdir() if p.name.startswith(".out")]


@pytest.mark.rtl
def test_sim_matmul_nm_codebook_is_exact(tmp_path):
    """N:M (inferred 2:4) with a codebook of the weights' 6 values, both designs: outputs.npy
    is exactly X @ W.T, and the summary's cycles are the model's."""
    import json

    rng = np.random.default_rng(5)
    w = rng.choice([-128, -40, -1, 3, 77, 127], (7, 12)) * np.resize([1, 1, 0, 0], 12)
    x = rng.integers(-128, 128, (4, 12)) * (rng.random((4, 12)) < 0.7)
    np.save(tmp_path / "w.npy", w.astype(np.int8))
    np.save(tmp_path / "x.npy", x.astype(np.int8))
    result = secateurs("sim", "matmul", "--weights", tmp_path / "w.npy", "--inputs",
                       tmp_path / "x.npy", "--out", tmp_path / "out", "--pes", "2",
                       "--queue-depth", "2", "--format", "nm", "--payload", "codebook")
    assert result.returncode == 0, result.stderr
    outputs = np.load(tmp_path / "out" / "outputs.npy")
    assert outputs.dtype == np.int32
    np.testing.assert_array_equal(outputs, x @ w.T)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["exact"] and summary["max_weight_error"] == 0 and summary["nm"] == "2:4"
    assert summary["format"] == "nm" and summary["payload"] == "codebook"
    for kind in ("sparse", "dense"):
        assert summary[f"cycles_{kind}"] == summary[f"expected_cycles_{kind}"] > 0
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == [".secateurs-manifest.json", "outputs.npy", "summary.json"]  # + manifest


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
    assert_one_line_error(secateurs("inspect", tmp_path / "short.bin"), "truncated", "layer 0 header")
    assert_one_line_error(secateurs("inspect", tmp_path / "flipped.bin"), "checksum", "layer 0 header")
    assert_one_line_error(secateurs("inspect", tmp_path / "none.bin"), "does not exist")


def test_inspect_reports_every_layer(tmp_path):
    """--json per layer: shape, density, format, bits per nonzero adding up to the file, compression."""
    import json

    model = random_model(widths=(40, 30, 7), codebook=True)
    size = container.save(tmp_path / "m.bin", model, pes=2, index_bits=None)
    result = secateurs("inspect", "--json", tmp_path / "m.bin")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["bytes"] == size and len(report["layers"]) == 2
    for q, layer in zip(model.layers, report["layers"]):
        nonzeros = int(np.count_nonzero(q.weight))
        assert layer["shape"] == [q.rows, q.cols] and layer["nonzeros"] == nonzeros
        assert layer["format"] == "csc" and layer["payload"] == "codebook3" and layer["pes"] == 2
        per = layer["bits_per_nonzero"]
        assert per["values"] == 3.0 and per["index"] == layer["index_bits"]
        parts = sum(per[k] for k in ("values", "index", "fillers", "metadata"))
        assert parts == pytest.approx(per["total"]) == pytest.approx(8 * layer["bytes"] / nonzeros)
        assert layer["compression"] == pytest.approx(32 * (q.rows * q.cols + q.rows) / (8 * layer["bytes"]))
    dense = 32 * sum(q.rows * q.cols + q.rows for q in model.layers)
    assert report["compression"] == pytest.approx(dense / (8 * size))
    table = secateurs("inspect", tmp_path / "m.bin")
    assert table.returncode == 0 and "csc codebook3" in table.stdout and "bits/nz" in table.stdout


def test_flow_bad_config(tmp_path):
    result = secateurs("flow", "--set", "prune.densty=0.2", "--out", tmp_path / "run")
    assert_one_line_error(result, "prune.densty", "density")
    assert not (tmp_path / "run").exists()


@pytest.mark.rtl
def test_rtl_writes_the_capacity_and_the_model_load_words(tmp_path):
    """``secateurs rtl``: the capacity's Verilog, the same for two models of one shape, and each
    model's load words; ``--bake-weights`` writes the ROM-initialised variant (no load files)."""
    import json

    from secateurs.hw import params

    outs = {}
    for seed in (1, 2):
        model = tmp_path / f"m{seed}.bin"
        container.save(model, random_model(seed, widths=(20, 12, 5)),
                       pes=params.DEFAULT_PES, index_bits=4)
        outs[seed] = tmp_path / f"rtl{seed}"
        result = secateurs("rtl", "--model", model, "--out", outs[seed])
        assert result.returncode == 0, result.stderr
    for name in ("sparse_accelerator.v", "dense_accelerator.v"):
        assert (outs[1] / name).read_bytes() == (outs[2] / name).read_bytes()
    assert (outs[1] / "model.sparse.load").read_text() != (outs[2] / "model.sparse.load").read_text()
    described = json.loads((outs[1] / "accelerators.json").read_text())
    assert described["capacity"]["max_cols"] == 20 and described["sparse"]["load"] == "model.sparse.load"
    baked = tmp_path / "baked"
    result = secateurs("rtl", "--model", tmp_path / "m1.bin", "--out", baked, "--bake-weights")
    assert result.returncode == 0, result.stderr
    assert not (baked / "model.sparse.load").exists()
    assert json.loads((baked / "accelerators.json").read_text())["baked"]
    assert (baked / "sparse_accelerator.v").read_bytes() != (outs[1] / "sparse_accelerator.v").read_bytes()
