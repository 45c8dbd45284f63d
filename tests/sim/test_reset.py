"""Reset in the middle of a run, on the generated RTL under Verilator (through the cocotb driver):
every other run of a batch is reset at a seeded edge of its compute or drain (the host holding
logits back), after which ``busy`` stays high for exactly the clear sweep, every port reads its
power-on value, and the run after it, the model loaded again, is bit-exact against the integer
reference and cycle-exact against the cycle model; on the sparse CSC, N:M and dense engines. One
build per engine; the sparse one is test_network's (same shapes, so the same capacity). A job
refuses resets it cannot run."""

import dataclasses

import numpy as np
import pytest

from secateurs.config import HardwareConfig
from secateurs.sim import runner
from secateurs.sim.network import COUNTERS, TEST_MODULE, build_accelerator
from secateurs.sim.tb.job import JOB_ENV, NetworkJob, load_job, load_results, save_job
from secateurs.sim.tb.model import reference_network_cycles
from secateurs.sw.formats import container
from secateurs.sw.reference import classify, forward
from tests.helpers.models import packed, random_inputs, random_model
from tests.hw.engines.bench import nm_model

SIZES = [12, 8, 5]
HW = HardwareConfig(pes=2, queue_depth=2)
#: engine → (kind, word format)
ENGINES = {"sparse": ("sparse", "csc"), "nm": ("sparse", "nm"), "dense": ("dense", "csc")}


def _model(fmt, rng):
    """A random CSC or 2:4 model, its shifts 4 larger than usual so logits rarely saturate."""
    model = nm_model(rng, SIZES, 2, 4) if fmt == "nm" else random_model(rng, SIZES, 0.5)
    model = dataclasses.replace(model, layers=tuple(
        dataclasses.replace(q, shift=q.shift + 4) for q in model.layers))
    if fmt == "nm":
        return container.decode(container.encode(model, pes=HW.pes, fmt="nm", n=2, m=4))
    return packed(model, pes=HW.pes)


def _reset_edges(rng, cycles) -> list[int]:
    """For three runs in turn: an edge of the first layer's compute, one of the last layer's
    drain (where logits are held back), and any edge of the run but the launch edge."""
    first_compute = int(cycles.compute[0, 0])
    before_last = int(cycles.compute[:, 1].sum() + cycles.drain[:-1, 1].sum())
    return [int(rng.integers(1, max(first_compute, 2))),
            before_last + int(rng.integers(cycles.drain[-1, 1])),
            int(rng.integers(1, cycles.total[2]))]


@pytest.mark.rtl
@pytest.mark.parametrize("engine", ENGINES)
def test_a_reset_run_leaves_the_next_run_exact(engine, build_cache, tmp_path):
    kind, fmt = ENGINES[engine]
    rng = np.random.default_rng(11 + list(ENGINES).index(engine))
    p = _model(fmt, rng)
    x = random_inputs(rng, 6, SIZES[0])
    edges = _reset_edges(rng, reference_network_cycles(kind, HW, p, x[0::2]))
    resets = np.full(len(x), -1)
    resets[0::2] = edges
    accelerator = build_accelerator(p, kind=kind, hw=HW, build_root=build_cache)
    job = tmp_path / "job.npz"
    save_job(job, NetworkJob(x, SIZES[-1], COUNTERS, tmp_path / "results.npz", idle_seed=3,
                             driver="per_inference", load=accelerator.words(p), resets=resets))
    runner.run_test(accelerator.built, TEST_MODULE, test_dir=tmp_path,
                    extra_env={JOB_ENV: str(job)})
    result = load_results(tmp_path / "results.npz")

    np.testing.assert_array_equal(result.reset_busy[0::2], accelerator.design.clear_cycles)
    np.testing.assert_array_equal(result.reset_busy[1::2], -1)
    for name in COUNTERS:  # reset, then the sweep: nothing counted, nothing left
        np.testing.assert_array_equal(result.counters[name][0::2], 0, err_msg=name)
    np.testing.assert_array_equal(result.logits[0::2], 0)
    np.testing.assert_array_equal(result.predicted[0::2], 0)

    after = x[1::2]
    logits = forward(p.model, after)[-1]
    np.testing.assert_array_equal(result.logits[1::2], logits)
    np.testing.assert_array_equal(result.predicted[1::2], classify(logits))
    modelled = reference_network_cycles(kind, HW, p, after).total
    np.testing.assert_array_equal(result.cycles[1::2], modelled + result.held_cycles[1::2])
    assert result.held_cycles[1::2].sum() > 0  # the seed held logits back


@pytest.mark.parametrize("resets,driver,message", [
    ([-1, 0], "per_inference", "a reset is an edge of the run from 1 on, or -1, not 0"),
    ([-2], "per_cycle", "a reset is an edge of the run from 1 on, or -1, not -2"),
    ([-1, 5], "feeder", "the feeder runs a batch without resets; reset with a Python driver"),
])
def test_a_job_refuses_resets_it_cannot_run(tmp_path, resets, driver, message):
    job = NetworkJob(np.zeros((2, 4), dtype=np.int64), 3, COUNTERS, tmp_path / "r.npz",
                     driver=driver, resets=np.array(resets))
    with pytest.raises(ValueError, match=f"^{message}$"):
        save_job(tmp_path / "job.npz", job)
    assert not (tmp_path / "job.npz").exists()


def test_a_job_keeps_its_resets(tmp_path):
    job = NetworkJob(np.zeros((3, 4), dtype=np.int64), 3, COUNTERS, tmp_path / "r.npz",
                     driver="per_inference", resets=np.array([7, -1]))
    save_job(tmp_path / "job.npz", job)
    loaded = load_job(tmp_path / "job.npz")
    assert [loaded.reset_at(s) for s in range(3)] == [7, -1, -1]
