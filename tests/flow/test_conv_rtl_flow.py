"""The whole flow, RTL included, on a user's conv network given by ``model.module`` (a file
outside the package: Conv–BatchNorm–ReLU–MaxPool–Conv–ReLU–Flatten–Linear): the hardware's
classes are the integer reference's on every simulated image, cycles are the model's (whole and
per layer, conv and Linear), power and the density sweep run on the same builds, and the report
shows the conv layers."""

from pathlib import Path

import numpy as np
import pytest

from secateurs import config
from secateurs.flow import run_flow
from secateurs.hw.params import ARGMAX_LATENCY, DRAIN_LATENCY, MAC_LATENCY
from secateurs.sw.data import load_dataset
from secateurs.sw.formats import container
from secateurs.sw.reference import classify, forward, quantize_input

pytestmark = pytest.mark.rtl

USER_MODEL = Path(__file__).parents[1] / "helpers" / "user_model.py"
SAMPLES, ACTIVITY = 16, 4
PES = 2
SMALL = [f'model.module="{USER_MODEL}:ConvNet"', "train.epochs=3", "prune.finetune_epochs=1",
         "prune.density=0.3", "data.train_samples=400", f"sim.samples={SAMPLES}",
         f"sim.activity_samples={ACTIVITY}", f"hardware.pes={PES}", "report.densities=[0.5]",
         "report.rtl_samples=8"]


@pytest.fixture(scope="module")
def run(tmp_path_factory, build_cache):
    cfg = config.load(None, ["name=convnet", *SMALL])
    out = tmp_path_factory.mktemp("convnet")
    summary = run_flow(cfg, out, build_root=build_cache)
    test = load_dataset(cfg.data, cfg.seed).test
    return out, summary, container.load(out / "model.bin"), test


def test_hardware_classes_are_the_integer_reference(run):
    _, s, packed, test = run
    x = quantize_input(test.x[:SAMPLES], packed.model.input_scale)  # (N, 1, 8, 8), as shaped
    classes = classify(forward(packed.model, x)[-1])
    assert s["hardware_samples"] == SAMPLES
    assert s["hardware_accuracy"] == pytest.approx(float((classes == test.y[:SAMPLES]).mean()))
    assert s["hardware_accuracy"] == s["quantized_accuracy_on_hardware_samples"]


def dense_layer_cycles(rows: int, cols: int, positions: int = 1) -> int:
    """The dense twin by hand: each computed position walks every word of its rows (one a
    cycle per PE), then MAC_LATENCY + 1, then drains its rows (sw/cycles.py's docstring)."""
    compute = cols * -(-rows // PES) + MAC_LATENCY + 1
    return positions * (compute + rows + DRAIN_LATENCY)


SHAPES = ["conv 3×3 1→8 on 8×8, padding 1, max pool 2×2", "conv 3×3 8→12 on 4×4",
          "linear 48→10"]


def test_cycles_are_the_model_whole_and_per_layer(run):
    _, s, packed, _ = run
    conv1, conv2, linear = packed.model.layers
    per_layer = [dense_layer_cycles(conv1.rows, conv1.cols, positions=8 * 8),  # 4×4 windows of 2×2
                 dense_layer_cycles(conv2.rows, conv2.cols, positions=2 * 2),
                 dense_layer_cycles(linear.rows, linear.cols)]
    assert s["cycles_dense"] == s["expected_cycles_dense"] == \
           SAMPLES * (sum(per_layer) + ARGMAX_LATENCY)
    assert s["cycles_sparse"] == s["expected_cycles_sparse"] < s["cycles_dense"]
    assert s["realised_speedup"] == pytest.approx(s["cycles_dense"] / s["cycles_sparse"])
    layers = s["layers"]
    assert [(l["kind"], l["rows"], l["cols"]) for l in layers] == \
           [("conv", 8, 9), ("conv", 12, 72), ("linear", 10, 48)]
    assert [l["shape"] for l in layers] == SHAPES
    assert [l["cycles_dense"] for l in layers] == [SAMPLES * c for c in per_layer]
    # The first conv layer's unpooled 8×8×8 map is more than the build's activation buffer
    # holds (the pooled maps size it): it is not run alone, and says so.
    assert "largest map (activations) is 512; the hardware's is at most 128" in layers[0]["alone"]
    for kind in ("sparse", "dense"):
        # every other layer alone on the RTL computes exactly its model share of the inference
        assert "array_cycles_sparse" not in layers[0]
        assert [l[f"array_cycles_{kind}"] for l in layers[1:]] == \
               [l[f"compute_cycles_{kind}"] for l in layers[1:]]
        assert s[f"cycles_{kind}"] - sum(l[f"cycles_{kind}"] for l in layers) == \
               SAMPLES * ARGMAX_LATENCY


def test_power_and_the_density_sweep_run_on_the_conv_network(run):
    _, s, _, _ = run
    assert s["activity_samples"] == ACTIVITY
    for kind in ("sparse", "dense"):
        assert s["energy_pj_per_inference"][kind] == pytest.approx(sum(s["energy"][kind].values()))
        assert sum(s["toggles"][kind].values()) > 0
    assert s["energy_pj_per_inference"]["sparse"] < s["energy_pj_per_inference"]["dense"]
    points = {round(p["target_density"], 3): p for p in s["density_sweep"]}
    assert set(points) == {0.5, 0.3}
    assert points[0.3]["quantized_accuracy"] == s["quantized_accuracy"]
    assert points[0.5]["theoretical_speedup"] < points[0.3]["theoretical_speedup"]
    assert all(p["realised_speedup"] > 1 for p in points.values())


def test_the_report_shows_the_conv_layers(run):
    out, s, _, _ = run
    report = (out / "report.md").read_text()
    first, second = s["layers"][:2]
    assert f"| 0 | {SHAPES[0]} | — | {first['compute_cycles_sparse']:,} | — |" in report
    assert (f"| 1 | {SHAPES[1]} | {second['array_cycles_sparse']:,} | "
            f"{second['compute_cycles_sparse']:,} |") in report
