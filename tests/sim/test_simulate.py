"""``secateurs simulate`` end to end on a tiny MLP: summary, checks, waves, CLI errors.

One simulation (sparse and dense designs, each layer alone, SAIF and VCD builds) runs per module;
its builds land in the session's build cache, where the power tests find them again.
"""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from secateurs.cli import main
from secateurs.errors import SimulationError
from secateurs.sim.inference import SUMMARY, load_run, simulate
from secateurs.sim.power.toggles import BLOCKS
from secateurs.sim.tb.scoreboard import Scoreboard
from tests.helpers.runs import tiny_run

pytestmark = pytest.mark.rtl


DENSITY = 0.3
SAMPLES = 12


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("tiny-run"), DENSITY)


@pytest.fixture(scope="module")
def summary(run_dir, build_cache):
    return simulate(run_dir, samples=SAMPLES, waves=True, build_root=build_cache, log=lambda m: None)


def test_summary_is_written(run_dir, summary):
    assert json.loads((run_dir / SUMMARY).read_text()) == json.loads(json.dumps(summary))


def test_hardware_accuracy_is_the_reference_accuracy(summary):
    assert summary["bit_exact"] and summary["samples"] == SAMPLES
    assert summary["sparse"]["accuracy"] == summary["dense"]["accuracy"] == summary["reference_accuracy"]


def test_cycles_are_the_model_and_sparse_is_faster(summary):
    for kind in ("sparse", "dense"):
        assert summary[kind]["cycles"] == summary[kind]["expected_cycles"]
    sparse, dense = summary["sparse"]["cycles"], summary["dense"]["cycles"]
    assert sparse["min"] <= sparse["mean"] <= sparse["max"] < dense["min"]
    assert summary["realised_speedup"] == pytest.approx(dense["total"] / sparse["total"])
    assert 1 < summary["realised_speedup"]


def test_power_proxies_favour_sparse(summary):
    sparse, dense = summary["sparse"], summary["dense"]
    assert sparse["energy_pj"]["total"] < dense["energy_pj"]["total"]
    assert sparse["energy_pj"]["total"] == pytest.approx(sum(sparse["energy_pj"]["by_event"].values()))
    assert sparse["events"]["macs"] == dense["events"]["macs"]  # both count useful MACs
    for kind in ("sparse", "dense"):
        toggles = summary[kind]["toggles"]
        assert set(toggles["by_block"]) == set(BLOCKS)
        assert toggles["per_inference"] == pytest.approx(
            sum(b["toggles"] for b in toggles["by_block"].values()))
        assert 0 < toggles["alpha"] < 1
    assert sparse["toggles"]["per_inference"] < dense["toggles"]["per_inference"]


def test_every_layer_is_reported(run_dir, summary):
    _, packed = load_run(run_dir)
    layers = summary["layers"]
    assert [(l["rows"], l["cols"]) for l in layers] == [(q.rows, q.cols) for q in packed.model.layers]
    for kind in ("sparse", "dense"):
        total = sum(l[kind]["energy_pj"]["total"] for l in layers)
        by_layer_macs = sum(l[kind]["events"]["macs"] for l in layers)
        assert by_layer_macs == pytest.approx(summary[kind]["events"]["macs"])
        assert 0 < total <= summary[kind]["energy_pj"]["total"] + 1e-6  # float sums
        # Each layer alone (a one-layer accumulator-readout network): its compute cycles,
        # measured, are the cycle model's share of the layer in the whole inference.
        assert all(l[kind]["array_cycles"] == l[kind]["compute_cycles"] for l in layers)
        assert all(l[kind]["array_cycles"]["total"] > 0 for l in layers)


def test_waves_are_vcd_files_of_the_design(summary, run_dir):
    for kind in ("sparse", "dense"):
        head = (run_dir / summary["waves"][kind]).read_text()[:200_000]
        assert "$timescale" in head and "$enddefinitions" in head
        assert f"$scope module {kind}_accelerator_clocked $end" in head
        assert "$scope module engine $end" in head  # the hierarchy a viewer shows


def test_scoreboard_names_the_first_difference(run_dir):
    _, packed = load_run(run_dir)
    x = np.random.default_rng(0).integers(-20, 21, (4, packed.model.layers[0].cols))
    board = Scoreboard(packed, x)
    logits = board.logits.copy()
    logits[1, 3] += 1
    logits[2, 0] -= 1
    with pytest.raises(SimulationError, match=r"sparse design differs from the reference at "
                                              r"sample 1, layer 1, neuron 3"):
        board.check_logits("sparse", logits, board.classes)
    acc = board.accumulators(0)
    acc[0, 5] += 7
    with pytest.raises(SimulationError, match="sample 0, layer 0, neuron 5"):
        board.check_layer("dense layer 0 alone", 0, acc)
    with pytest.raises(SimulationError, match="sample 2 took 9 cycles, the model says 8"):
        board.check_cycles("dense", np.array([5, 5, 9]), np.array([5, 5, 5]), stalls=np.array([0, 0, 3]))


@pytest.mark.parametrize("args, message", [
    (["--run", "nowhere"], "run folder 'nowhere' does not exist"),
    (["--run", ".", "--samples", "0"], "--samples must be a positive number or 'all'"),
    (["--run", ".", "--samples", "many"], "--samples must be a positive number or 'all'"),
])
def test_cli_errors_are_one_line(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["simulate", *args])
    assert result.exit_code == 2
    assert message in result.output and result.output.count("\n") == 1


def test_cli_refuses_a_folder_without_a_model(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    result = CliRunner().invoke(main, ["simulate", "--run", str(tmp_path)])
    # the run-folder check (secateurs.flow.check_run) names the missing model file
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "model.bin" in result.output and "does not exist" in result.output
