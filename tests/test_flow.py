"""The whole flow on a small config: every artifact, every summary key, RTL == reference == model."""

import json

import numpy as np
import pytest
import torch

from secateurs import config
from secateurs.flow import SUMMARY_KEYS, run_flow
from secateurs.sw.formats import container

pytestmark = pytest.mark.rtl

SMALL = ["model.hidden=[32, 16]", "train.epochs=12", "prune.finetune_epochs=4",
         "prune.density=0.2", "sim.samples=40", "hardware.pes=3", "hardware.queue_depth=2"]


@pytest.fixture(scope="module")
def run(tmp_path_factory, build_cache):
    out = tmp_path_factory.mktemp("run")
    summary = run_flow(config.load("configs/digits_mlp.toml", SMALL), out, log=lambda _: None,
                       build_root=build_cache)
    return out, summary


def test_summary_has_every_contract_key(run):
    out, summary = run
    written = json.loads((out / "summary.json").read_text())
    assert set(SUMMARY_KEYS) <= set(written)
    for key in ("dense_accuracy", "pruned_accuracy", "quantized_accuracy", "hardware_accuracy"):
        assert 0.0 <= written[key] <= 1.0
    assert written["hardware_samples"] == 40


def test_rtl_agrees_with_reference_and_cycle_model(run):
    _, s = run
    assert s["hardware_accuracy"] == s["quantized_accuracy_on_hardware_samples"]
    assert s["cycles_sparse"] == s["expected_cycles_sparse"] > 0
    assert s["cycles_dense"] == s["expected_cycles_dense"] > 0
    assert s["realised_speedup"] == pytest.approx(s["cycles_dense"] / s["cycles_sparse"])
    assert sum(layer["cycles_sparse"] for layer in s["layers"]) == s["cycles_sparse"]


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


def test_rtl_files_are_written(run):
    out, _ = run
    for kind in ("sparse", "dense"):
        text = (out / "rtl" / f"{kind}_array.v").read_text()
        assert "module" in text and "out_data" in text
