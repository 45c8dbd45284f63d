"""The generated accelerators under Verilator on the digits MLP: every layer and the whole network
bit-exact (logits and class) on 50 test images, and every inference's cycles equal to the model's,
the sparse design at several issue widths W (columns broadcast per cycle) and queue depths D.
The simulation wrapper's feeder reports what the Python drivers report, and gives up on a hang.

Builds dominate the cost (one per capacity and kind: every model of the network's shapes and
word format, and every layer alone, runs on it after loading); they are cached across sessions and
shared by the module. The full P x D grid runs in ``make bench`` (bench/hardware.py).
"""

import numpy as np
import pytest

from secateurs.config import HardwareConfig
from secateurs.errors import SimulationError
from secateurs.sim import runner
from secateurs.sim.feeder import fed_wrapper
from secateurs.sim.network import (COUNTERS, DRIVERS, TEST_MODULE, build_accelerator,
                                   capacity_for, prove)
from secateurs.sim.tb.job import JOB_ENV, NetworkJob, save_job
from secateurs.sim.tb.model import reference_network_cycles
from secateurs.sim.tb.scoreboard import Scoreboard
from secateurs.sw.cycles import network_cycles
from secateurs.sw.reference import QuantModel, forward
from tests.helpers.models import digits_model, packed, random_inputs, random_model

pytestmark = pytest.mark.rtl

IMAGES = 50
GRID = [("sparse", 4, 4), ("dense", 4, 4)]  # the default issue width
#: (P, D, W): one column a cycle; W beyond D (a PE may take a block over several cycles).
WIDTHS = [(1, 1, 1), (8, 8, 4), (8, 2, 8)]


@pytest.fixture(scope="module")
def digits():
    model, x, y = digits_model()
    return model, x[:IMAGES], y[:IMAGES]


@pytest.mark.parametrize("kind,pes,queue_depth", GRID)
def test_whole_network(digits, build_cache, kind, pes, queue_depth):
    model, x, y = digits
    proof = prove(packed(model, pes=pes), x, hw=HardwareConfig(pes=pes, queue_depth=queue_depth),
                  build_root=build_cache, kinds=(kind,), idle_seed=pes)[kind]
    result, modelled = proof.result, proof.expected
    assert result.held_cycles.sum() > 0  # the seed held logits back on the output stream
    np.testing.assert_array_equal(result.cycles, modelled + result.held_cycles)
    assert (result.predicted == y).mean() > 0.8  # a trained model, not noise
    if kind == "sparse":
        # A stall is a compute cycle in which a block waited for queue room.
        compute = network_cycles(packed(model, pes=pes), x, queue_depth=queue_depth,
                                 array="sparse").compute.sum(axis=0)
        assert (result.counters["stalls"] <= compute).all()
        assert (result.counters["weight_reads"] < result.counters["macs"] * 2 + 1).all()


@pytest.mark.parametrize("pes,queue_depth,issue_width", WIDTHS)
def test_issue_widths(digits, build_cache, pes, queue_depth, issue_width):
    model, x, y = digits
    p = packed(model, pes=pes)
    hw = HardwareConfig(pes=pes, queue_depth=queue_depth, issue_width=issue_width)
    accelerator = build_accelerator(p, kind="sparse", hw=hw, build_root=build_cache)
    assert accelerator.capacity.issue_width == issue_width
    proof = prove(p, x, hw=hw, build_root=build_cache, kinds=("sparse",), idle_seed=pes)["sparse"]
    np.testing.assert_array_equal(proof.result.logits, forward(p.model, x)[-1])
    np.testing.assert_array_equal(proof.cycles, network_cycles(
        p, x, queue_depth=queue_depth, issue_width=issue_width, array="sparse").total
        + proof.result.held_cycles)
    assert (proof.result.predicted == y).mean() > 0.8


def test_every_layer_alone(digits, build_cache):
    """Each layer as a one-layer network, fed the reference's activations of the layer before,
    loaded into the whole network's build: its int8 outputs (read as logits) equal the
    reference's, in the modelled cycles."""
    model, x, _ = digits
    inputs = [x, *forward(model, x)[:-1]]
    hw = HardwareConfig(pes=4, queue_depth=4)
    capacity = capacity_for(packed(model, pes=4), hw)
    for i, layer in enumerate(model.layers):
        single = QuantModel(model.input_scale, (layer,))
        proof = prove(packed(single, pes=4), inputs[i], hw=hw, capacity=capacity,
                      build_root=build_cache, kinds=("sparse",))["sparse"]
        np.testing.assert_array_equal(proof.result.logits, forward(model, x)[i],
                                      err_msg=f"layer {i}")


def test_nm_network(build_cache):
    """The digits MLP pruned 2:4 runs on the N:M engine: exact, and about half the dense walk."""
    model, x, y = digits_model(structure="nm", density=0.5)
    nm = packed(model, pes=4, fmt="nm")
    proof = prove(nm, x[:IMAGES], hw=HardwareConfig(pes=4, queue_depth=1),
                  build_root=build_cache, kinds=("sparse",))["sparse"]
    sparse = proof.result
    np.testing.assert_array_equal(sparse.cycles, proof.expected)
    assert (sparse.predicted == y[:IMAGES]).mean() > 0.8
    dense = network_cycles(nm, x[:IMAGES], queue_depth=1, array="dense").total
    assert 1.5 < dense.mean() / sparse.cycles.mean() < 2


def test_every_driver_reports_the_same(build_cache):
    """The Verilog feeder and both Python drivers: the same logits, classes, counters, idle and
    held cycles for one seed, and cycles equal to the model's plus the cycles logits were held
    on the output stream (idle input cycles land before start). The Python drivers also check
    the streamed logits against the logits' registers."""
    rng = np.random.default_rng(7)
    small = packed(random_model(rng, [12, 8, 5], 0.5), pes=2)
    hw = HardwareConfig(pes=2, queue_depth=2)
    x = random_inputs(rng, 6, 12)
    accelerator = build_accelerator(small, kind="sparse", hw=hw, build_root=build_cache)
    runs = {driver: accelerator.run(small, x, driver=driver, idle_seed=3) for driver in DRIVERS}
    board = Scoreboard(small, x)
    fed = runs["feeder"]
    assert fed.idle_cycles.sum() > 0 and fed.held_cycles.sum() > 0
    board.check_logits("sparse", fed.logits, fed.predicted)
    board.check_cycles("sparse", fed.cycles, reference_network_cycles("sparse", hw, small, x).total,
                       stalls=fed.held_cycles)
    for driver, ran in runs.items():
        np.testing.assert_array_equal(ran.logits, fed.logits, err_msg=driver)
        np.testing.assert_array_equal(ran.predicted, fed.predicted, err_msg=driver)
        np.testing.assert_array_equal(ran.idle_cycles, fed.idle_cycles, err_msg=driver)
        np.testing.assert_array_equal(ran.held_cycles, fed.held_cycles, err_msg=driver)
        for name in COUNTERS:
            np.testing.assert_array_equal(ran.counters[name], fed.counters[name], err_msg=name)
    assert accelerator.run(small, x[:0]).logits.shape == (0, 5)


def _stuck_design() -> str:
    """A module with the accelerator's ports that takes every input and never finishes."""
    ports = [("input", 1, "clk"), ("input", 1, "rst"), ("input", 1, "input__valid"),
             ("input", 8, "input__payload"), ("output", 1, "input__ready"), ("input", 1, "start"),
             ("output", 1, "busy"), ("output", 1, "done"), ("output", 4, "predicted"),
             ("input", 4, "logit_addr"), ("output", 8, "logit"), ("output", 1, "output__valid"),
             ("output", 8, "output__payload"), ("input", 1, "output__ready"),
             ("input", 1, "load__valid"), ("input", 32, "load__payload"),
             ("output", 1, "load__ready"), *(("output", 32, f"counters__{c}") for c in COUNTERS)]
    lines = [f"module stuck({', '.join(name for _, _, name in ports)});"]
    lines += [f"  {d} {f'[{w - 1}:0] ' if w > 1 else ''}{name};" for d, w, name in ports]
    lines += [f"  assign {name} = {1 if name in ('input__ready', 'load__ready') else 0};"
              for d, _, name in ports if d == "output"]
    return "\n".join([*lines, "endmodule", ""])


def test_failed_build_reports_the_error_line(tmp_path):
    broken = "module broken(input clk, input rst);\n  wire w = ;\nendmodule\n"
    with pytest.raises(SimulationError, match=r"broken\.v:2:.*syntax error"):
        runner.build(broken, toplevel="broken", parameters={}, build_root=tmp_path)


def test_the_feeder_gives_up_on_a_design_that_never_finishes(tmp_path, build_cache):
    verilog, top = fed_wrapper(_stuck_design(), "stuck", counters=COUNTERS, hang_cycles=500)
    built = runner.build(verilog, toplevel=top, parameters={"stub": "stuck"},
                         build_root=build_cache, timing=True)
    job = tmp_path / "job.npz"
    save_job(job, NetworkJob(np.ones((2, 4), dtype=np.int64), 3, COUNTERS, tmp_path / "r.npz"))
    with pytest.raises(SimulationError, match="sample 0: the accelerator did not finish"):
        runner.run_test(built, TEST_MODULE, test_dir=tmp_path, extra_env={JOB_ENV: str(job)})
