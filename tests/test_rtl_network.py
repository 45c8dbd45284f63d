"""The generated accelerators under Verilator on the digits MLP: every layer and the whole network
bit-exact (logits and class) on 50 test images, and every inference's cycles equal to the model's,
the sparse design at several issue widths W (columns broadcast per cycle) and queue depths D.

Builds dominate the cost (one per model, kind, P and D); they are cached across sessions and
shared by the module. The full P x D grid runs in ``make bench`` (bench/hardware.py).
"""

import numpy as np
import pytest

from secateurs.config import HardwareConfig
from secateurs.hw.accelerator import Accelerator
from secateurs.sim.network import build_accelerator, run_network
from secateurs.sw.cycles import network_cycles
from secateurs.sw.reference import QuantModel, classify, forward

from .hw_models import digits_model, packed

pytestmark = pytest.mark.rtl

IMAGES = 50
GRID = [("sparse", 4, 4), ("dense", 4, 4)]  # the default issue width
#: (P, D, W): one column a cycle; W beyond D (a PE may take a block over several cycles).
WIDTHS = [(1, 1, 1), (8, 8, 4), (8, 2, 8)]


@pytest.fixture(scope="module")
def build_root(request, tmp_path_factory):
    cache = getattr(request.config, "cache", None)
    return cache.mkdir("rtl-network-builds") if cache else tmp_path_factory.mktemp("builds")


@pytest.fixture(scope="module")
def digits():
    model, x, y = digits_model()
    return model, x[:IMAGES], y[:IMAGES]


@pytest.mark.parametrize("kind,pes,queue_depth", GRID)
def test_whole_network(digits, build_root, kind, pes, queue_depth):
    model, x, y = digits
    results = run_network(packed(model, pes=pes), x, hw=HardwareConfig(pes=pes, queue_depth=queue_depth),
                          build_root=build_root, kinds=(kind,), idle_seed=pes)
    result, modelled = results[kind]
    np.testing.assert_array_equal(result.cycles, modelled)
    assert (result.predicted == y).mean() > 0.8  # a trained model, not noise
    if kind == "sparse":
        assert result.counters["stalls"].sum() >= 0
        assert (result.counters["weight_reads"] < result.counters["macs"] * 2 + 1).all()


@pytest.mark.parametrize("pes,queue_depth,issue_width", WIDTHS)
def test_issue_widths(digits, build_root, monkeypatch, pes, queue_depth, issue_width):
    model, x, y = digits
    p = packed(model, pes=pes)
    hw = HardwareConfig(pes=pes, queue_depth=queue_depth, issue_width=issue_width)
    # The simulation side builds with the accelerator's default issue width: make it W here.
    monkeypatch.setitem(Accelerator.__init__.__kwdefaults__, "issue_width", issue_width)
    accelerator = build_accelerator(p, kind="sparse", hw=hw, build_root=build_root)
    assert accelerator.design.issue_width == issue_width
    result = accelerator.run(x, idle_seed=pes)
    logits = forward(p.model, x)[-1]
    np.testing.assert_array_equal(result.logits, logits)
    np.testing.assert_array_equal(result.predicted, classify(logits))
    np.testing.assert_array_equal(result.cycles, network_cycles(
        p, x, queue_depth=queue_depth, issue_width=issue_width, array="sparse").total)
    assert (result.predicted == y).mean() > 0.8


def test_every_layer_alone(digits, build_root):
    """Each layer as a one-layer network, fed the reference's activations of the layer before:
    its int8 outputs (read as logits) equal the reference's."""
    model, x, _ = digits
    inputs = [x, *forward(model, x)[:-1]]
    for i, layer in enumerate(model.layers):
        single = QuantModel(model.input_scale, (layer,))
        accelerator = build_accelerator(packed(single, pes=4), kind="sparse",
                                        hw=HardwareConfig(pes=4, queue_depth=4),
                                        build_root=build_root)
        result = accelerator.run(inputs[i])
        np.testing.assert_array_equal(result.logits, forward(model, x)[i], err_msg=f"layer {i}")


def test_nm_network(build_root):
    """The digits MLP pruned 2:4 runs on the N:M engine: exact, and about half the dense walk."""
    model, x, y = digits_model(structure="nm", density=0.5)
    nm = packed(model, pes=4, fmt="nm")
    results = run_network(nm, x[:IMAGES], hw=HardwareConfig(pes=4, queue_depth=1),
                          build_root=build_root, kinds=("sparse",))
    sparse, modelled = results["sparse"]
    np.testing.assert_array_equal(sparse.cycles, modelled)
    assert (sparse.predicted == y[:IMAGES]).mean() > 0.8
    dense = network_cycles(nm, x[:IMAGES], queue_depth=1, array="dense").total
    assert 1.5 < dense.mean() / sparse.cycles.mean() < 2
