"""The scheduler's priority encoder: the lowest pending column, as one-hot and index."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from secateurs.hw.scheduler import lowest_set_bit


@pytest.mark.parametrize("width", [1, 2, 3, 5, 13, 64, 128])
def test_lowest_set_bit(width):
    m = Module()
    vector = Signal(width)
    one_hot, index = lowest_set_bit(m, vector, width)
    rng = np.random.default_rng(width)
    values = [0, 1, (1 << width) - 1, 1 << (width - 1)]
    values += [int.from_bytes(rng.bytes(16), "little") % (1 << width) for _ in range(100)]
    got = []

    async def bench(ctx):
        for value in values:
            ctx.set(vector, value)
            got.append((ctx.get(one_hot), ctx.get(index)))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    want = [(v & -v, (v & -v).bit_length() - 1 if v else 0) for v in values]
    assert got == want
