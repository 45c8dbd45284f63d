"""The same RTL and the same cocotb test on the second simulator, Icarus Verilog.

Whole inferences (every driver: the Verilog feeder and both Python drivers), ``simulate`` and
``sim matmul`` run on Icarus and are held to the same oracles as on Verilator: outputs against
the integer reference and numpy, cycles and event counters against the cycle and event models.
Icarus keeps an undefined bit X where Verilator makes it a number, so these runs also prove
that no unloaded memory word or unreset register reaches a host port.
"""

import json

import numpy as np
import pytest

from secateurs.config import HardwareConfig
from secateurs.errors import InputError, SimulationError
from secateurs.sim import runner
from secateurs.sim.feeder import fed_wrapper, read_results
from secateurs.sim.inference import SUMMARY, simulate
from secateurs.sim.network import COUNTERS, DRIVERS, TEST_MODULE, build_accelerator, prove
from secateurs.sim.tb.job import JOB_ENV, NetworkJob, save_job
from secateurs.sim.tb.model import reference_network_cycles
from secateurs.sim.tb.scoreboard import Scoreboard
from secateurs.sw.reference import forward
from tests.helpers.cli import assert_one_line_error, secateurs
from tests.helpers.models import packed, random_inputs, random_model
from tests.helpers.runs import tiny_run
from tests.sim.test_network import _stuck_design

pytestmark = pytest.mark.rtl

ICARUS = "icarus"
HW = HardwareConfig(pes=2, queue_depth=2)
SAMPLES = 6


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(7)
    return packed(random_model(rng, [12, 8, 5], 0.5), pes=2), random_inputs(rng, 6, 12)


def test_whole_network_on_both_designs(small, build_cache):
    """Logits and classes bit-exact, cycles the model's plus the cycles held, every event
    counter the event model's (``prove`` judges all three), with idle and held cycles."""
    model, x = small
    proofs = prove(model, x, hw=HW, build_root=build_cache, simulator=ICARUS,
                   idle_seed=5, events=True)
    logits = forward(model.model, x)[-1]
    for kind, proof in proofs.items():
        np.testing.assert_array_equal(proof.result.logits, logits, err_msg=kind)
        assert proof.result.held_cycles.sum() > 0
        np.testing.assert_array_equal(proof.cycles, proof.expected + proof.result.held_cycles)
    assert (proofs["sparse"].cycles < proofs["dense"].cycles).all()


def test_every_driver_reports_the_same(small, build_cache):
    """The feeder and the Python drivers (cocotb's triggers under Icarus's scheduler): the same
    results for one seed, the Python drivers checking the streamed logits against the
    registers."""
    model, x = small
    accelerator = build_accelerator(model, kind="sparse", hw=HW,
                                    build_root=build_cache, simulator=ICARUS)
    assert accelerator.built.simulator == ICARUS
    runs = {driver: accelerator.run(model, x, driver=driver, idle_seed=3) for driver in DRIVERS}
    fed = runs["feeder"]
    Scoreboard(model, x).check_logits("sparse", fed.logits, fed.predicted)
    np.testing.assert_array_equal(
        fed.cycles, reference_network_cycles("sparse", HW, model, x).total + fed.held_cycles)
    for driver, ran in runs.items():
        np.testing.assert_array_equal(ran.logits, fed.logits, err_msg=driver)
        np.testing.assert_array_equal(ran.held_cycles, fed.held_cycles, err_msg=driver)
        for name in COUNTERS:
            np.testing.assert_array_equal(ran.counters[name], fed.counters[name], err_msg=name)


def test_the_feeder_gives_up_on_a_design_that_never_finishes(tmp_path, build_cache):
    verilog, top = fed_wrapper(_stuck_design(), "stuck", counters=COUNTERS, hang_cycles=500)
    built = runner.build(verilog, toplevel=top, parameters={"stub": "stuck"},
                         build_root=build_cache, simulator=ICARUS)
    job = tmp_path / "job.npz"
    save_job(job, NetworkJob(np.ones((2, 4), dtype=np.int64), 3, COUNTERS, tmp_path / "r.npz"))
    with pytest.raises(SimulationError, match="sample 0: the accelerator did not finish"):
        runner.run_test(built, TEST_MODULE, test_dir=tmp_path, extra_env={JOB_ENV: str(job)})


def test_a_build_is_cached_and_keeps_only_the_executable(tmp_path):
    counter = ("module counter(input wire clk, input wire rst, output reg [7:0] count);\n"
               "  always @(posedge clk) count <= rst ? 8'd0 : count + 8'd1;\nendmodule\n")
    first = runner.build(counter, toplevel="counter", parameters={}, build_root=tmp_path,
                         simulator=ICARUS)
    assert [p.name for p in first.objects.iterdir()] == [runner.ICARUS_EXECUTABLE]
    built_at = first.executable.stat().st_mtime_ns
    again = runner.build(counter, toplevel="counter", parameters={}, build_root=tmp_path,
                         simulator=ICARUS)
    assert again == first and again.executable.stat().st_mtime_ns == built_at
    changed = runner.build(counter.replace("8'd1", "8'd2"), toplevel="counter", parameters={},
                           build_root=tmp_path, simulator=ICARUS)
    assert changed.executable.stat().st_mtime_ns != built_at


def test_what_icarus_cannot_do_is_refused(tmp_path):
    with pytest.raises(SimulationError, match="SAIF tracing needs Verilator, not Icarus"):
        runner.build("module m; endmodule\n", toplevel="m", parameters={}, build_root=tmp_path,
                     trace="saif", simulator=ICARUS)
    with pytest.raises(SimulationError, match="simulator must be one of verilator, icarus"):
        runner.build("module m; endmodule\n", toplevel="m", parameters={}, build_root=tmp_path,
                     simulator="modelsim")
    assert not any(tmp_path.iterdir())


def test_a_broken_build_names_the_line(tmp_path):
    broken = "module broken(input clk, input rst);\n  wire w = ;\nendmodule\n"
    with pytest.raises(SimulationError, match=r"Icarus build of broken failed: .*broken\.v:2"):
        runner.build(broken, toplevel="broken", parameters={}, build_root=tmp_path,
                     simulator=ICARUS)


def test_undefined_bits_at_a_host_port_are_named(tmp_path):
    """What the feeder writes for an X (``%0d`` of an undefined value) is refused, naming the
    sample and the port, not parsed into a number."""
    results = tmp_path / "feed_results.txt"
    results.write_text("1 2 30 1 30 5\n3 x 31 0 31 5\n")
    with pytest.raises(SimulationError, match="sample 1: output 1 is 'x'"):
        read_results(results, 2, ("cycles", "macs"), 2)
    results.write_text("1 2 30 1 30 X\n")
    with pytest.raises(SimulationError, match="sample 0: counter macs is 'X'"):
        read_results(results, 1, ("cycles", "macs"), 2)


# --- the command line ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("tiny-run"), 0.3)


def test_simulate_on_icarus(run_dir):
    """``simulate --simulator icarus``: bit-exact, cycles and events the models', event energy
    but no toggles (SAIF is Verilator's), and it says so."""
    done = secateurs("simulate", "--run", run_dir, "--samples", SAMPLES, "--simulator", ICARUS)
    assert done.returncode == 0, done.stderr
    assert "event energy only" in done.stderr
    summary = json.loads((run_dir / SUMMARY).read_text())
    assert summary["simulator"] == ICARUS and summary["bit_exact"]
    assert summary["samples"] == SAMPLES
    for kind in ("sparse", "dense"):
        assert summary[kind]["cycles"] == summary[kind]["expected_cycles"]
        assert summary[kind]["accuracy"] == summary["reference_accuracy"]
        assert summary[kind]["energy_pj"]["total"] > 0
        assert "toggles" not in summary[kind]
        assert all(l[kind]["array_cycles"] == l[kind]["compute_cycles"]
                   for l in summary["layers"])


def test_simulate_refuses_what_icarus_cannot_trace(run_dir, tmp_path):
    before = sorted(p.name for p in run_dir.rglob("*"))
    assert_one_line_error(secateurs("simulate", "--run", run_dir, "--simulator", ICARUS,
                                    "--waves"), "--waves needs --simulator verilator")
    assert_one_line_error(secateurs("simulate", "--run", run_dir, "--simulator", "modelsim"),
                          "--simulator must be one of verilator, icarus, not 'modelsim'")
    assert sorted(p.name for p in run_dir.rglob("*")) == before
    with pytest.raises(InputError, match="traced by Verilator only, not by icarus"):
        simulate(run_dir, samples=1, simulator=ICARUS, log=lambda m: None)


def test_sim_matmul_on_icarus(tmp_path):
    """X @ W.T exactly, and whole-run cycles the model's, on both designs."""
    rng = np.random.default_rng(4)
    w = (rng.integers(-128, 128, (9, 7)) * (rng.random((9, 7)) < 0.5)).astype(np.int8)
    x = (rng.integers(-128, 128, (4, 7)) * (rng.random((4, 7)) < 0.7)).astype(np.int8)
    x[1] = 0
    np.save(tmp_path / "w.npy", w)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out"
    done = secateurs("sim", "matmul", "--weights", tmp_path / "w.npy", "--inputs",
                     tmp_path / "x.npy", "--out", out, "--pes", 2, "--queue-depth", 2,
                     "--simulator", ICARUS)
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(np.load(out / "outputs.npy"),
                                  x.astype(np.int64) @ w.astype(np.int64).T)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["simulator"] == ICARUS
    for kind in ("sparse", "dense"):
        assert summary[f"cycles_{kind}"] == summary[f"expected_cycles_{kind}"] > 0
    assert summary["cycles_sparse"] < summary["cycles_dense"]
    bad = secateurs("sim", "matmul", "--weights", tmp_path / "w.npy", "--inputs",
                    tmp_path / "x.npy", "--out", tmp_path / "never", "--simulator", "xsim")
    assert_one_line_error(bad, "--simulator must be one of verilator, icarus, not 'xsim'")
    assert not (tmp_path / "never").exists()
