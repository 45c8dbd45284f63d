"""Reset in the middle of a row (hw/accelerator.py), in Amaranth simulation: ``rst`` asserted at
seeded random cycles of every phase (loading, streaming the input, the launch edge, each layer's
compute and drain, a logit held back by the host, the clear sweep itself) returns every state to
its initial value. After each reset the design is busy for exactly P x rows-per-PE cycles (the
accumulators' clear sweep), then every port reads its power-on value, and the next run is
bit-exact against the integer reference and cycle-exact against the cycle model, with the event
counts the reference predicts; on the sparse CSC, N:M and dense engines."""

import dataclasses

import numpy as np
import pytest
from amaranth.sim import Simulator

from secateurs.hw.accelerator import COUNTERS, Accelerator
from secateurs.hw.capacity import Capacity
from secateurs.hw.image import network_image
from secateurs.hw.load import load_words
from secateurs.sim.amaranth_host import (CLOCK_PERIOD, Inference, Interrupted, host_ports,
                                         simulate_network)
from secateurs.sw.cycles import DRAIN_LATENCY, network_cycles
from secateurs.sw.formats import container
from tests.helpers.models import packed, random_inputs, random_model
from tests.hw.engines.bench import nm_model
from tests.hw.test_accelerator import _check, _expected_events

SIZES = [12, 20, 9, 5]  # three layers; 20 rows: several local rows per PE
PES, QUEUE_DEPTH, ISSUE_WIDTH = 3, 2, 2
#: engine → (kind, word format)
ENGINES = {"sparse": ("sparse", "csc"), "nm": ("sparse", "nm"), "dense": ("dense", "csc")}


def _initial_ports(outputs: int) -> dict:
    """What a host reads once a design of ``outputs`` logit registers is ready after power-on
    or reset: nothing loaded, nothing run, every logit register and counter zero, ready to load."""
    return {"busy": 0, "done": 0, "predicted": 0, "features": 0, "classes": 0,
            "load_ready": 1, "input_ready": 0, "output_valid": 0, "logits": (0,) * outputs,
            **{name: 0 for name in COUNTERS}}


def _model(fmt, rng):
    """A random CSC or 2:4 model whose shifts are 4 larger than usual, so that most logits do
    not saturate and a corrupted accumulator shows."""
    model = nm_model(rng, SIZES, 2, 4) if fmt == "nm" else random_model(rng, SIZES, 0.35)
    model = dataclasses.replace(model, layers=tuple(
        dataclasses.replace(q, shift=q.shift + 4) for q in model.layers))
    if fmt == "nm":
        return container.decode(container.encode(model, pes=PES, fmt="nm", n=2, m=4))
    return packed(model, pes=PES)


def _points(rng, p, x, kind, words: int) -> list:
    """One ``(phase, cycle)`` reset point per row of ``x``, in turn: inside the power-on clear
    sweep, a load word, an input value, the launch edge, each layer's compute, each layer's
    drain, and the cycle the last layer offers its first logit (which the host holds back)."""
    cycles = network_cycles(p, x, queue_depth=QUEUE_DEPTH, array=kind, issue_width=ISSUE_WIDTH)
    layers = len(SIZES) - 1
    windows = ([("compute", l) for l in range(layers)] + [("drain", l) for l in range(layers)]
               + [("drain", layers - 1)])
    points = [("load", 2), ("load", int(rng.integers(words))),
              ("input", int(rng.integers(SIZES[0]))), ("run", 0)]
    for row, (part, layer) in enumerate(windows, start=len(points)):
        compute, drain = cycles.compute[:, row], cycles.drain[:, row]
        begin = int(compute[:layer].sum() + drain[:layer].sum())
        length = int(compute[layer] if part == "compute" else drain[layer])
        if part == "drain":
            begin += int(compute[layer])
        if row == len(x) - 1:  # the first logit's offer, which a host with idle = 1 holds back
            points.append(("run", begin + DRAIN_LATENCY))
        else:
            points.append(("run", begin + int(rng.integers(length))))
    assert len(points) == len(x)
    return points


@pytest.mark.parametrize("engine", ENGINES)
def test_a_reset_at_any_cycle_leaves_the_next_run_exact(engine):
    kind, fmt = ENGINES[engine]
    rng = np.random.default_rng(list(ENGINES).index(engine))
    p = _model(fmt, rng)
    image = network_image(p)
    capacity = Capacity.of(image, kind=kind, queue_depth=QUEUE_DEPTH, issue_width=ISSUE_WIDTH)
    dut = Accelerator(capacity, kind=kind)
    words = load_words(image, capacity, kind)
    interrupted = random_inputs(rng, 11, SIZES[0])
    points = _points(rng, p, interrupted, kind, len(words))
    x = random_inputs(rng, 2 * len(points), SIZES[0])
    x[0::2] = interrupted  # even rows are reset, odd rows run after a reset
    x[1] = 0  # no work in the first layer
    runs = simulate_network(dut, x, seed=7, idle=1.0, load={r: words for r in range(len(x))},
                            reset={2 * i: point for i, point in enumerate(points)})

    resets = runs[0::2]
    assert all(isinstance(r, Interrupted) for r in resets)
    assert [(r.phase, r.cycle) for r in resets] == points
    assert any(r.held_back for r in resets), "no reset landed on a logit held back"
    for i, r in enumerate(resets):
        assert r.busy_cycles == capacity.pes * capacity.rows_per_pe, f"reset {i}"
        assert r.ports == _initial_ports(capacity.max_rows), f"reset {i} at {points[i]}"
    _check(p, x[1::2], runs[1::2], queue_depth=QUEUE_DEPTH, kind=kind, issue_width=ISSUE_WIDTH)
    for name, values in _expected_events(p, x[1::2], kind, ISSUE_WIDTH).items():
        assert [run.counters[name] for run in runs[1::2]] == values.tolist(), name


def test_power_on_is_busy_for_the_clear_sweep_then_reads_the_initial_ports():
    """From power-on, exactly ``clear_cycles`` cycles of busy in which a load word, an input
    value and ``start`` are all refused; then the initial ports, and a load word is taken."""
    dut = Accelerator(Capacity.for_shape([(20, 12), (5, 20)], pes=PES), kind="sparse")
    seen = {"busy": 0}

    async def bench(ctx):
        for port in (dut.load, dut.input):
            ctx.set(port.valid, 1)
        ctx.set(dut.start, 1)
        while ctx.get(dut.busy):
            assert not ctx.get(dut.load.ready) and not ctx.get(dut.input.ready)
            await ctx.tick()
            seen["busy"] += 1
        ctx.set(dut.start, 0)
        for port in (dut.load, dut.input):
            ctx.set(port.valid, 0)
        seen["ports"] = host_ports(ctx, dut)

    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD)
    sim.add_testbench(bench)
    sim.run()
    assert seen["busy"] == dut.clear_cycles == PES * 7  # 20 rows over 3 PEs: 7 local rows each
    assert seen["ports"] == _initial_ports(20)


def test_a_baked_design_runs_again_after_a_reset_without_loading():
    """A baked model survives reset (its table starts with it): no load, and the run after each
    reset is exact."""
    rng = np.random.default_rng(5)
    p = _model("csc", rng)
    image = network_image(p)
    capacity = Capacity.of(image, kind="dense", queue_depth=QUEUE_DEPTH, issue_width=ISSUE_WIDTH)
    dut = Accelerator(capacity, kind="dense", image=image)
    interrupted = random_inputs(rng, 11, SIZES[0])
    points = _points(rng, p, interrupted, "dense", words=1)[3:]  # the run's: nothing to load
    x = random_inputs(rng, 2 * len(points), SIZES[0])
    x[0::2] = interrupted[3:]
    runs = simulate_network(dut, x, seed=2, idle=0.5,
                            reset={2 * i: point for i, point in enumerate(points)})
    assert [type(r) for r in runs] == [Interrupted, Inference] * len(points)
    assert all(r.ports["features"] == SIZES[0] and r.ports["input_ready"] for r in runs[0::2])
    _check(p, x[1::2], runs[1::2], queue_depth=QUEUE_DEPTH, kind="dense")


def test_rejects_a_bad_reset_point():
    dut = Accelerator(Capacity.for_shape([(5, 12)], pes=2), kind="sparse")
    with pytest.raises(ValueError, match=r"Row 0: a reset needs a phase of .* not \('idle', 3\)"):
        simulate_network(dut, np.zeros((1, 12), dtype=int), reset={0: ("idle", 3)})
