"""The power proxies make sense on the RTL, and the hardware counters are the reference's counts.

The build that simulates also traces SAIF, only in the runs that ask for it (the power step
builds nothing of its own). All-zero inputs switch less and spend less than real images; a
model of twice the density does more MACs and spends more; the MAC counter equals the
nonzero-weight x nonzero-activation pairs of the integer reference, exactly; idle cycles in the
input stream change nothing.
"""

import numpy as np
import pytest

from secateurs.errors import SimulationError
from secateurs.sim.events import PREDICTED, network_events
from secateurs.sim.inference import load_run
from secateurs.sim.network import build_accelerator
from secateurs.sim.power.energy import load_table
from secateurs.sim.clock import CLOCK_PERIOD_NS
from secateurs.sim.power.measure import event_energy, switching_activity
from secateurs.sim.power.toggles import read_saif
from secateurs.sim.runner import TIMESCALE
from secateurs.sim.tb.scoreboard import Scoreboard
from secateurs.sw.cycles import network_cycles
from secateurs.sw.data import load_dataset
from secateurs.sw.reference import forward, quantize_input
from tests.helpers.runs import tiny_run

pytestmark = pytest.mark.rtl


DENSITY = 0.3  # the same model as test_simulate's, so its build_cache are reused
SAMPLES = 8


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return {d: load_run(tiny_run(tmp_path_factory.mktemp(f"run-{d}"), d)) for d in (DENSITY, 2 * DENSITY)}


@pytest.fixture(scope="module")
def images(runs):
    cfg, packed = runs[DENSITY]
    test = load_dataset(cfg.data, cfg.seed).test
    return quantize_input(test.x[:SAMPLES].reshape(SAMPLES, -1), packed.model.input_scale).astype(np.int64)


def _design(runs, density, kind, build_cache, trace=None):
    cfg, packed = runs[density]
    return build_accelerator(packed, kind=kind, hw=cfg.hardware, build_root=build_cache, trace=trace)


def _useful_macs(packed, x):
    """Nonzero weight x nonzero activation pairs of every layer, straight from the reference."""
    activations = [x, *forward(packed.model, x)[:-1]]
    return sum(((a != 0).astype(np.int64) @ (q.weight != 0).T.astype(np.int64)).sum(axis=1)
               for q, a in zip(packed.model.layers, activations))


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_counters_are_the_reference_counts(runs, images, build_cache, kind):
    cfg, packed = runs[DENSITY]
    result = _design(runs, DENSITY, kind, build_cache).run(images)
    np.testing.assert_array_equal(result.counters["macs"], _useful_macs(packed, images))
    events = network_events(packed, images, kind=kind, issue_width=cfg.hardware.issue_width)
    Scoreboard(packed, images).check_events(
        kind, result.counters, {k: sum(e[k] for e in events) for k in PREDICTED})


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_idle_input_and_held_output_cost_what_was_injected(runs, images, build_cache, kind):
    """Idle cycles in the input land before ``start`` and cost nothing; every cycle a logit is
    held on the output stream holds the run one cycle: cycles == model + held, exactly."""
    cfg, packed = runs[DENSITY]
    result = _design(runs, DENSITY, kind, build_cache).run(images, idle_seed=5)
    assert result.idle_cycles.sum() > 0 and result.held_cycles.sum() > 0
    board = Scoreboard(packed, images)
    board.check_logits(kind, result.logits, result.predicted)
    model = network_cycles(packed, images, queue_depth=cfg.hardware.queue_depth, array=kind).total
    board.check_cycles(kind, result.counters["cycles"], model, stalls=result.held_cycles)
    with pytest.raises(SimulationError, match="cycles"):
        board.check_cycles(kind, result.counters["cycles"], model, stalls=0)


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_one_build_runs_plain_and_traced(runs, images, build_cache, tmp_path, kind):
    """Asking for SAIF is the build that simulates; a plain run writes no trace, and a traced
    run of the same batch reports the same results and a SAIF whose clock toggled twice a
    cycle over the whole run, as cocotb's simulated time counts them."""
    plain = _design(runs, DENSITY, kind, build_cache)
    assert plain.built.trace == "saif"
    assert _design(runs, DENSITY, kind, build_cache, trace="saif").built == plain.built
    quiet = plain.run(images[:2], run_dir=tmp_path / "plain")
    traced = plain.run(images[:2], run_dir=tmp_path / "traced", trace=True)
    assert not list((tmp_path / "plain").glob("*.saif"))
    for what in ("logits", "predicted", "cycles"):
        np.testing.assert_array_equal(getattr(traced, what), getattr(quiet, what))
    assert traced.total_cycles == quiet.total_cycles
    saif = read_saif(tmp_path / "traced" / plain.built.trace_file)
    assert TIMESCALE[1] == "1ps"  # the SAIF counts time in the simulator's precision
    period = CLOCK_PERIOD_NS * 1000
    assert traced.total_cycles * period <= saif.duration < (traced.total_cycles + 1) * period
    # the first rising edge is at half a period; every half period after it, one more toggle
    assert saif.nets["clk"] == saif.duration // (period // 2)


def test_all_zero_input_switches_less_and_spends_less(runs, images, build_cache):
    design = _design(runs, DENSITY, "sparse", build_cache, trace="saif")
    zeros = np.zeros_like(images[:4])
    quiet = switching_activity(design, zeros, work_dir=build_cache)
    busy = switching_activity(design, images[:4], work_dir=build_cache)
    assert quiet.toggles < busy.toggles
    for block in ("pes", "accumulators", "weight_memories"):
        assert quiet.blocks[block]["toggles"] < busy.blocks[block]["toggles"], block
    table = load_table()
    plain = _design(runs, DENSITY, "sparse", build_cache)
    spent = {name: event_energy(plain.run(x).counters, table)["total"]
             for name, x in (("zeros", zeros), ("images", images[:4]))}
    assert spent["zeros"] < spent["images"]


def test_doubling_density_raises_macs_and_energy(runs, images, build_cache):
    table = load_table()
    macs, pj = {}, {}
    for density in runs:
        counters = _design(runs, density, "sparse", build_cache).run(images).counters
        macs[density], pj[density] = counters["macs"].sum(), event_energy(counters, table)["total"]
    low, high = DENSITY, 2 * DENSITY
    assert macs[high] > 1.5 * macs[low]
    assert pj[high] > pj[low]
