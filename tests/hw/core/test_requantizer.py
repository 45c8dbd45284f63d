"""The requantizer against sw/reference.py's requantize, under idle cycles and back-pressure."""

import numpy as np
import pytest

from secateurs.hw.core.requantizer import Requantizer
from secateurs.sw.reference import requantize
from tests.helpers.streams import run_stream

ROWS = 64


def _cases(rng, n):
    acc = rng.integers(-(1 << 22), 1 << 22, n)
    bias = rng.integers(-(1 << 20), 1 << 20, n)
    mult = rng.integers(0, 1 << 16, n)
    shift = rng.integers(0, 40, n)
    relu = rng.integers(0, 2, n)
    # Extremes: no shift, the widest shift, full-scale sums, zero multiplier, exact halves.
    acc[:6] = [(1 << 31) - 1 - (1 << 20), -(1 << 31) + (1 << 20), 0, 3, -3, 5]
    bias[:6] = [0, 0, 0, 0, 0, 0]
    mult[:6] = [65535, 65535, 65535, 1, 1, 0]
    shift[:6] = [63, 0, 5, 1, 1, 0]
    return acc, bias, mult, shift, relu


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_reference(seed):
    rng = np.random.default_rng(seed)
    n = 120
    acc, bias, mult, shift, relu = _cases(rng, n)
    dut = Requantizer(acc_bits=32, rows=ROWS)
    payloads = [{"acc": int(acc[i]), "bias": int(bias[i]), "multiplier": int(mult[i]),
                 "shift": int(shift[i]), "relu": int(relu[i]), "index": i % ROWS,
                 "last": int(i == n - 1)} for i in range(n)]
    got = run_stream(dut, dut.i, dut.o, payloads, expect=n, seed=seed, idle=0.3, stall=0.4)
    want = [int(requantize(np.array([acc[i]]), np.array([bias[i]]), np.array([mult[i]]),
                           int(shift[i]), bool(relu[i]))[0]) for i in range(n)]
    assert [int(g.value) for g in got] == want
    assert [int(g.index) for g in got] == [i % ROWS for i in range(n)]
    assert [int(g.last) for g in got] == [int(i == n - 1) for i in range(n)]


def test_latency_is_requant_latency():
    """With the output always ready, a row taken on one edge is offered REQUANT_LATENCY edges
    later, and rows taken back to back leave back to back (the drain's timing relies on it)."""
    from amaranth.sim import Simulator

    from secateurs.hw.params import REQUANT_LATENCY

    dut = Requantizer(acc_bits=32, rows=ROWS)
    accs = [100, -7, 0, 50_000]
    seen = []

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        for edge in range(len(accs) + REQUANT_LATENCY + 2):
            k = edge if edge < len(accs) else None
            ctx.set(dut.i.valid, k is not None)
            if k is not None:  # multiplier 1, shift 0: the value is the clamped sum
                ctx.set(dut.i.payload, {"acc": accs[k], "bias": 3, "multiplier": 1, "shift": 0,
                                        "relu": 0, "index": k, "last": 0})
            assert ctx.get(dut.i.ready)
            await ctx.tick()
            if ctx.get(dut.o.valid):
                seen.append((edge, ctx.get(dut.o.payload.index), ctx.get(dut.o.payload.value)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    # row k is taken on edge k and offered after edge k + REQUANT_LATENCY - 1
    want = [(k + REQUANT_LATENCY - 1, k, max(-128, min(127, a + 3))) for k, a in enumerate(accs)]
    assert seen == want
