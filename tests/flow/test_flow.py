"""The whole flow on a small config: every artifact and summary key, RTL == reference == model,
and steps that are skipped exactly when their inputs did not change."""

import json
import shutil

import numpy as np
import pytest
import torch

from secateurs import config
from secateurs.flow import STEPS_FILE, SUMMARY_KEYS, run_flow
from secateurs.sw.checkpoint import load_quant_model
from secateurs.sw.cycles import ARGMAX_LATENCY
from secateurs.sw.formats import container
from secateurs.sw.reference import forward

pytestmark = pytest.mark.rtl

SMALL = ["model.hidden=[32, 16]", "train.epochs=12", "prune.finetune_epochs=4",
         "prune.density=0.2", "sim.samples=40", "sim.activity_samples=25", "hardware.pes=3",
         "hardware.queue_depth=2",
         "report.densities=[0.5]", "report.rtl_samples=12"]
STEP_NAMES = ["train", "prune", "quantize", "pack", "rtl", "simulate", "power", "sweep", "report"]


def flow(out, build_cache, *extra):
    return run_flow(config.load("configs/digits_mlp.toml", [*SMALL, *extra]), out,
                    build_root=build_cache)


#: Verilator builds the flow asked for, ``(top module, build folder)`` per call.
BUILDS: list[tuple[str, str]] = []


@pytest.fixture(scope="module")
def run(tmp_path_factory, build_cache):
    from secateurs.sim import network

    out = tmp_path_factory.mktemp("run")
    build = network.runner.build

    def counted(verilog, *, toplevel, **kwargs):
        made = build(verilog, toplevel=toplevel, **kwargs)
        BUILDS.append((toplevel, str(made.directory)))
        return made

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(network.runner, "build", counted)
        return out, flow(out, build_cache)


def test_one_hardware_configuration_is_one_build_per_kind(run):
    """Whole network, every layer alone, the density sweep's models and the SAIF power run all
    load their model into the same build of each kind (SAIF compiled in, on for power only)."""
    assert BUILDS, "the flow built nothing"
    for kind in ("sparse", "dense"):
        folders = {folder for top, folder in BUILDS if top.startswith(f"{kind}_accelerator")}
        assert len(folders) == 1, (kind, sorted(folders))
    assert len(BUILDS) > 4  # many runs (layers, sweep points, power) on those few builds


def test_summary_has_every_contract_key(run):
    out, summary = run
    written = json.loads((out / "summary.json").read_text())
    assert set(SUMMARY_KEYS) <= set(written)
    for key in ("dense_accuracy", "pruned_accuracy", "quantized_accuracy", "hardware_accuracy"):
        assert 0.0 <= written[key] <= 1.0
    assert written["hardware_samples"] == 40
    assert list(written["step_seconds"]) == STEP_NAMES


def test_rtl_agrees_with_reference_and_cycle_model(run):
    _, s = run
    assert s["hardware_accuracy"] == s["quantized_accuracy_on_hardware_samples"]
    assert s["cycles_sparse"] == s["expected_cycles_sparse"] > 0
    assert s["cycles_dense"] == s["expected_cycles_dense"] > 0
    assert s["realised_speedup"] == pytest.approx(s["cycles_dense"] / s["cycles_sparse"])
    for kind in ("sparse", "dense"):  # per-layer model shares add up to the RTL total
        per_layer = sum(layer[f"cycles_{kind}"] for layer in s["layers"])
        assert s[f"cycles_{kind}"] - per_layer == s["hardware_samples"] * ARGMAX_LATENCY


def test_pruned_model_is_a_plain_state_dict_at_the_target_density(run):
    out, s = run
    state = torch.load(out / "model.pt")
    weights = [v for k, v in state.items() if k.endswith("weight")]
    assert not any("parametrizations" in k for k in state)
    density = sum(int(w.count_nonzero()) for w in weights) / sum(w.numel() for w in weights)
    assert density == pytest.approx(0.2, abs=1e-3) and s["density"] == pytest.approx(density)


def test_model_bin_matches_the_metrics(run):
    out, s = run
    packed = container.load(out / "model.bin")
    weights = sum(l.weight.size for l in packed.model.layers)
    biases = sum(l.rows for l in packed.model.layers)
    size = (out / "model.bin").stat().st_size
    assert s["compression_ratio"] == pytest.approx(32 * (weights + biases) / (8 * size))
    nonzero = sum(int(np.count_nonzero(l.weight)) for l in packed.model.layers)
    assert s["theoretical_speedup"] == pytest.approx(weights / nonzero)
    assert packed.pes == 3


def test_power_proxies_and_sweep_points(run):
    _, s = run
    for kind in ("sparse", "dense"):
        assert s["energy_pj_per_inference"][kind] == pytest.approx(sum(s["energy"][kind].values()))
        assert sum(s["toggles"][kind].values()) > 0
    assert s["activity_samples"] == 25  # SAIF on the first 25 of the 40 simulated images
    assert s["energy_pj_per_inference"]["sparse"] < s["energy_pj_per_inference"]["dense"]
    points = {round(p["target_density"], 3): p for p in s["density_sweep"]}
    assert set(points) == {0.5, 0.2}
    assert points[0.2]["theoretical_speedup"] == pytest.approx(s["theoretical_speedup"])
    for key in ("pruned_accuracy", "quantized_accuracy", "compression_ratio"):  # the run's model
        assert points[0.2][key] == s[key], key
    assert points[0.5]["theoretical_speedup"] < points[0.2]["theoretical_speedup"]
    assert points[0.5]["realised_speedup"] < points[0.2]["realised_speedup"]


def test_rtl_and_report_files_are_written(run):
    out, s = run
    described = json.loads((out / "rtl" / "accelerators.json").read_text())
    for kind in ("sparse", "dense"):
        assert "module" in (out / "rtl" / described[kind]["file"]).read_text()
        words = (out / "rtl" / described[kind]["load"]).read_text().split()
        assert words and all(len(w) == 8 for w in words)
    assert described["capacity"]["pes"] == 3 and described["capacity"]["max_rows"] == 32
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(s["report_figures"]) == 6


def test_an_unchanged_flow_skips_every_step(run, build_cache):
    out, first = run
    stamps = {p: p.stat().st_mtime_ns for p in (out / "model.bin", out / "report.html")}
    again = flow(out, build_cache)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert {k: v for k, v in again.items() if k != "step_seconds"} == \
           {k: v for k, v in first.items() if k != "step_seconds"}


def test_a_changed_setting_reruns_only_the_steps_after_it(run, build_cache):
    out, _ = run
    before = json.loads((out / STEPS_FILE).read_text())
    model_stamp = (out / "model.bin").stat().st_mtime_ns
    changed = flow(out, build_cache, "sim.samples=20")
    after = json.loads((out / STEPS_FILE).read_text())
    assert (out / "model.bin").stat().st_mtime_ns == model_stamp
    for name in ("train", "prune", "quantize", "pack", "rtl"):
        assert after[name] == before[name]
    for name in ("simulate", "power", "sweep", "report"):
        assert after[name]["key"] != before[name]["key"]
    assert changed["hardware_samples"] == 20


def test_balanced_rows_pack_the_same_network(run, build_cache, tmp_path):
    """``pack.balance_rows`` renumbers hidden neurons in model.bin: the logits stay exactly those
    of the quantized model, and only pack (and what follows) reruns."""
    out, _ = run
    copy = tmp_path / "balanced"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("build"))
    before = json.loads((copy / STEPS_FILE).read_text())
    run_flow(config.load("configs/digits_mlp.toml", [*SMALL, "pack.balance_rows=true"]), copy,
             build_root=build_cache, until="pack")
    after = json.loads((copy / STEPS_FILE).read_text())
    assert [after[n] == before[n] for n in ("train", "prune", "quantize", "pack")] == \
           [True, True, True, False]
    quantized = load_quant_model(copy / "quantized.npz")
    balanced = container.load(copy / "model.bin").model
    x = np.random.default_rng(0).integers(-128, 128, (30, quantized.layers[0].cols))
    np.testing.assert_array_equal(forward(balanced, x)[-1], forward(quantized, x)[-1])
    assert any((b.weight != q.weight).any() for b, q in zip(balanced.layers, quantized.layers))
