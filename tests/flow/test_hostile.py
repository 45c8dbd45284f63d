"""A hostile user's inputs, each a case: data loss, impossible configs, OS-level oddities, usage
errors, oversized jobs. Every one exits 2 with one line on stderr, starts no work, leaves no
folder behind, and never deletes a file the tool did not write."""

import hashlib
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from numpy.lib import format as npy

from secateurs import atomic, config, outdir
from secateurs.errors import ConfigError, InputError
from secateurs.hw import params
from secateurs.sizes import MAX_MATMUL_WEIGHTS, check_matmul_size
from secateurs.sw.formats import container
from tests.helpers.cli import assert_one_line_error, secateurs
from tests.sw.formats.test_container import random_model


def snapshot(folder):
    """Every file under ``folder`` with its sha256: what must survive byte-identical."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def foreign(tmp_path):
    """A folder of someone else's files, a nested one and a foreign model.bin among them."""
    folder = tmp_path / "theirs"
    (folder / "nested").mkdir(parents=True)
    (folder / "thesis.tex").write_text("six years of work")
    (folder / "nested" / "data.csv").write_bytes(os.urandom(1000))
    (folder / "model.bin").write_bytes(b"their own model, not ours")
    return folder


@pytest.fixture
def arrays(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "w.npy", rng.integers(-128, 128, (6, 5)).astype(np.int8))
    np.save(tmp_path / "x.npy", rng.integers(-128, 128, (3, 5)).astype(np.int8))
    return tmp_path


@pytest.fixture
def model_bin(tmp_path):
    """A model.bin packed for the default hardware (so rtl and bitstream get to their --out)."""
    path = tmp_path / "model.bin"
    container.save(path, random_model(widths=(64, 16, 10)), pes=params.DEFAULT_PES, index_bits=4)
    return path


# ---------------------------------------------------------------- 1. data loss

@pytest.mark.parametrize("command", ["sim matmul", "rtl", "bitstream", "flow", "sweep"])
def test_a_foreign_folder_is_refused_and_survives(command, foreign, arrays, model_bin, tmp_path):
    before = snapshot(foreign)
    args = {"sim matmul": ["sim", "matmul", "--weights", arrays / "w.npy", "--inputs",
                           arrays / "x.npy"],
            "rtl": ["rtl", "--model", model_bin],
            "bitstream": ["bitstream", "--model", model_bin],
            "flow": ["flow", "--set", "train.epochs=1"],
            "sweep": ["sweep", "--config", "configs/hardware_sweep.toml"]}[command]
    result = secateurs(*args, "--out", foreign)
    assert_one_line_error(result, str(foreign), "not written by secateurs", "new or empty folder")
    assert snapshot(foreign) == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_staged_dir_replaces_only_what_it_wrote(tmp_path):
    out = tmp_path / "out"
    with atomic.staged_dir(out, "test") as stage:
        (stage / "a.txt").write_text("first")
        (stage / "build").mkdir()
        (stage / "build" / "obj.o").write_text("first")
        (stage / "old.txt").write_text("goes")
    (out / "notes.txt").write_text("the user's")
    (out / "build" / "mine.txt").write_text("the user's, inside our folder")
    with atomic.staged_dir(out, "test") as stage:
        (stage / "a.txt").write_text("second")
    assert (out / "a.txt").read_text() == "second"
    assert not (out / "old.txt").exists() and not (out / "build" / "obj.o").exists()
    assert (out / "notes.txt").read_text() == "the user's"
    assert (out / "build" / "mine.txt").read_text() == "the user's, inside our folder"
    assert outdir.read_manifest(out)["files"] == ["a.txt"]


def test_a_failed_stage_leaves_no_trace(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic.staged_dir(out) as stage:
        (stage / "half.txt").write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_an_empty_folder_is_taken(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    with atomic.staged_dir(out) as stage:
        (stage / "x").write_text("x")
    assert (out / "x").read_text() == "x" and outdir.read_manifest(out) is not None


def test_a_manifest_cannot_point_outside_the_folder(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    out = tmp_path / "out"
    out.mkdir()
    (out / outdir.MANIFEST).write_text(json.dumps({"tool": "secateurs", "files": ["../victim.txt"]}))
    with atomic.staged_dir(out) as stage:
        (stage / "x").write_text("x")
    assert victim.read_text() == "keep"


def test_a_symlink_loop_as_out(tmp_path):
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    with pytest.raises(InputError, match="symlink loop"):
        outdir.check_out_dir(tmp_path / "a")


def test_a_run_folder_from_before_manifests_is_adopted(tmp_path):
    for name in ("steps.json", "config.json", "summary.json"):
        (tmp_path / name).write_text("{}")
    outdir.claim_dir(tmp_path, "flow", legacy=("steps.json", "config.json", "summary.json"))
    assert outdir.read_manifest(tmp_path) is not None


# ---------------------------------------------------------------- 8. killed runs, big jobs

def test_killed_runs_partials_are_cleaned_but_not_others(tmp_path):
    out = tmp_path / "out"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ours = tmp_path / ".out.abc123.partial"
    ours.mkdir()
    (ours / outdir.STAGE_MARKER).write_text(str(dead.pid))
    (ours / "half.v").write_text("half")
    running = tmp_path / ".out.def456.partial"
    running.mkdir()
    (running / outdir.STAGE_MARKER).write_text(str(os.getppid()))
    theirs = tmp_path / ".out.zzz.partial"
    theirs.mkdir()
    (theirs / "keep").write_text("not ours: no marker")
    with atomic.staged_dir(out) as stage:
        (stage / "x").write_text("x")
    assert not ours.exists()
    assert running.exists() and (theirs / "keep").read_text() == "not ours: no marker"


def test_check_matmul_size():
    check_matmul_size(64, 64, 8)
    with pytest.raises(InputError, match="4096x4096 matmul .* minutes"):
        check_matmul_size(4096, 4096, 1)
    with pytest.raises(InputError, match="multiply-accumulates"):
        check_matmul_size(256, 256, 1000)
    assert 4096 * 4096 > MAX_MATMUL_WEIGHTS


def test_a_4096_square_matmul_is_refused_at_once(tmp_path):
    np.save(tmp_path / "w.npy", np.ones((4096, 4096), np.int8))
    np.save(tmp_path / "x.npy", np.ones((1, 4096), np.int8))
    start = time.perf_counter()
    result = secateurs("sim", "matmul", "--weights", tmp_path / "w.npy", "--inputs",
                       tmp_path / "x.npy", "--out", tmp_path / "out")
    assert_one_line_error(result, "4096x4096", "minutes")
    assert time.perf_counter() - start < 60 and not (tmp_path / "out").exists()


# ---------------------------------------------------------------- 5. impossible configs

@pytest.mark.parametrize("override, message", [
    ("train.lr=inf", "train.lr must be a finite number"),
    ("train.weight_decay=nan", "train.weight_decay must be a finite number"),
    ("train.weight_decay=inf", "train.weight_decay must be a finite number"),
    ("prune.finetune_lr=inf", "prune.finetune_lr must be a finite number"),
    ("model.hidden=[100000,100000]", "model.hidden must be widths in 1..4096"),
    ("model.hidden=[4096,4096]", "more than the"),
    ("seed=-1", "seed must be in 0..4294967295"),
    (f"seed={2**66}", "seed must be in 0..4294967295"),
    ('name=""', "name must be"),
    ('name="../../escape"', "name must be"),
    ('name=".hidden"', "name must be"),
])
def test_impossible_config_is_refused_before_any_work(override, message, tmp_path):
    out = tmp_path / "run"
    start = time.perf_counter()
    result = secateurs("flow", "--set", override, "--out", out, cwd=tmp_path)
    assert_one_line_error(result, message)
    assert not out.exists() and not (tmp_path / "runs").exists() and not (tmp_path / "escape").exists()
    assert time.perf_counter() - start < 60
    with pytest.raises(ConfigError, match=message.split(" must")[0]):
        config.load(None, [override])


def test_a_bitstream_bank_too_small_for_the_model_is_refused(model_bin, tmp_path):
    """--bank-depth below the model's words a PE: one line naming the bank and both sizes,
    before any synthesis, nothing written."""
    from secateurs.rtl import capacity_for

    packed = container.load(model_bin)
    need = max(len(bank) for layer in packed.layers for bank in layer.words)  # one layer's, at least
    result = secateurs("bitstream", "--model", model_bin, "--bank-depth", "1",
                       "--out", tmp_path / "bit")
    assert_one_line_error(result, "weight bank of PE", "the hardware has 1")
    assert need > 1 and not (tmp_path / "bit").exists()
    assert capacity_for(packed, config.load(None, []).hardware).bank_depth > 1


def test_hardware_sweep_with_queue_depth_zero(tmp_path):
    (tmp_path / "hw.toml").write_text('kind = "hardware"\nqueue_depths = [0]\n')
    result = secateurs("sweep", "--config", tmp_path / "hw.toml", "--out", tmp_path / "out")
    assert_one_line_error(result, "queue_depths", "Queue depth")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- 6. OS errors

@pytest.fixture
def odd_files(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "binary.toml").write_bytes(bytes(range(256)))
    (tmp_path / "plain").write_text("a file")
    os.mkfifo(tmp_path / "fifo")
    os.symlink(tmp_path / "loop_a", tmp_path / "loop_b")
    os.symlink(tmp_path / "loop_b", tmp_path / "loop_a")
    np.savez(tmp_path / "w.npz", w=np.zeros((2, 2), np.int8))
    with open(tmp_path / "huge.npy", "wb") as f:  # a valid header claiming 2^20 x 2^20
        npy.write_array_header_1_0(f, {"descr": "|i1", "fortran_order": False,
                                       "shape": (1 << 20, 1 << 20)})
        f.write(bytes(64))
    with open(tmp_path / "short.npy", "wb") as f:
        npy.write_array_header_1_0(f, {"descr": "|i1", "fortran_order": False, "shape": (6, 5)})
        f.write(bytes(7))
    np.save(tmp_path / "x.npy", np.zeros((3, 5), np.int8))
    return tmp_path


@pytest.mark.parametrize("config_file, message", [
    ("folder", "is a folder"),
    ("binary.toml", "not UTF-8"),
    ("fifo", "is a FIFO"),
    ("/dev/zero", "is a device"),
    ("loop_a", "symlink loop"),
])
def test_config_that_is_not_a_text_file(odd_files, config_file, message):
    path = config_file if config_file.startswith("/") else odd_files / config_file
    assert_one_line_error(secateurs("config", "--show", "--config", path), "config file", message)


@pytest.mark.parametrize("weights, message", [
    ("w.npz", "is an .npz archive"),
    ("huge.npy", "claims a 1048576x1048576 int8 array"),
    ("short.npy", "is truncated"),
    ("fifo", "is a FIFO"),
    ("/dev/zero", "is a device"),
    ("loop_a", "symlink loop"),
    ("folder", "is a folder"),
])
def test_weights_that_are_not_an_npy_array(odd_files, weights, message):
    path = weights if weights.startswith("/") else odd_files / weights
    out = odd_files / "out"
    result = secateurs("sim", "matmul", "--weights", path, "--inputs", odd_files / "x.npy",
                       "--out", out)
    assert_one_line_error(result, "weights", message)
    assert not out.exists()


@pytest.mark.parametrize("model, message", [
    ("fifo", "is a FIFO"), ("/dev/zero", "is a device"), ("loop_a", "symlink loop"),
    ("folder", "is a folder"), ("binary.toml", "not a secateurs model"),
])
def test_model_that_is_not_a_regular_file(odd_files, model, message):
    path = model if model.startswith("/") else odd_files / model
    assert_one_line_error(secateurs("inspect", path), message)


@pytest.mark.parametrize("out, message", [
    ("plain", "is a file, not a folder"),
    ("plain/run", "is under"),
    ("plain/deeper/run", "is under"),
])
def test_out_that_is_or_is_under_a_file(odd_files, out, message):
    before = (odd_files / "plain").read_bytes()
    result = secateurs("flow", "--set", "train.epochs=1", "--out", odd_files / out)
    assert_one_line_error(result, message)
    assert (odd_files / "plain").read_bytes() == before


def test_matmul_out_under_a_file(odd_files, arrays):
    result = secateurs("sim", "matmul", "--weights", arrays / "w.npy", "--inputs",
                       arrays / "x.npy", "--out", odd_files / "plain" / "out")
    assert_one_line_error(result, "is under")


def _run_folder(tmp_path, config_json, model=None):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(config_json)
    container.save(run / "model.bin", model or random_model(widths=(64, 16, 10)), pes=4)
    return run


def test_run_folder_with_a_json_list_config(tmp_path):
    run = _run_folder(tmp_path, "[1, 2, 3]")
    assert_one_line_error(secateurs("simulate", "--run", run), "JSON object", "list")


def test_run_folder_config_that_is_a_fifo(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    os.mkfifo(run / "config.json")
    assert_one_line_error(secateurs("simulate", "--run", run), "FIFO")


def test_run_folder_whose_model_does_not_fit_the_dataset(tmp_path):
    run = _run_folder(tmp_path, json.dumps(config.to_dict(config.load(None, ["hardware.pes=4"]))),
                      random_model(widths=(20, 16, 10)))
    assert_one_line_error(secateurs("simulate", "--run", run), "takes 20 inputs", "has 64")


def test_a_json_list_is_no_config():
    with pytest.raises(ConfigError, match="must be a table of keys, not list"):
        config.from_dict(config.FlowConfig, [1, 2])


# ---------------------------------------------------------------- 7. usage errors

@pytest.mark.parametrize("args, fragment", [
    (["sim", "matmul"], "Missing option '--weights'"),
    (["nosuch"], "No such command 'nosuch'"),
    (["sim", "matmul", "--weights", "w", "--inputs", "x", "--out", "o", "--pes", "many"],
     "'many' is not a valid integer"),
    (["inspect"], "Missing argument 'MODEL.BIN'"),
    (["inspect", "a", "b"], "unexpected extra argument"),
    (["flow", "--bogus"], "No such option '--bogus'"),
])
def test_usage_errors_are_one_line(args, fragment):
    result = secateurs(*args)
    assert_one_line_error(result, fragment, "--help")
    assert "Usage:" not in result.stderr and result.stdout == ""


def test_help_still_works():
    result = secateurs("--help")
    assert result.returncode == 0 and "Usage:" in result.stdout


def test_a_flow_that_fails_before_its_first_step_leaves_no_folder(tmp_path):
    out = tmp_path / "run"
    result = secateurs("flow", "--set", "data.dataset=mnist", "--set",
                       f"data.data_dir={tmp_path / 'absent'}", "--out", out)
    assert_one_line_error(result, "data.data_dir", "is not a folder")
    assert not out.exists()


def test_a_step_failing_in_a_new_folder_takes_the_folder_with_it(tmp_path, monkeypatch):
    import dataclasses

    from secateurs import steps
    from secateurs.flow import run_flow

    def fail(run):
        raise InputError("the dataset went away")

    failing = (dataclasses.replace(steps.STEPS[0], fn=fail), *steps.STEPS[1:])
    monkeypatch.setattr(steps, "STEPS", failing)
    with pytest.raises(InputError):
        run_flow(config.load(None), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_bare_group_prints_its_help_and_one_error_line():
    result = secateurs("sim")
    assert result.returncode == 2 and "matmul" in result.stdout
    assert result.stderr.strip().splitlines() == ["error: missing command (see `python -m "
                                                  "secateurs.cli sim --help`)"]
