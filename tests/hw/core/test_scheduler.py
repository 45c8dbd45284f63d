"""The column schedulers: the priority encoder, and the network scheduler's block broadcast under
random queue back-pressure against a naive cycle-by-cycle model of the stage."""

import numpy as np
import pytest
from amaranth.hdl import Const, Module, Signal
from amaranth.sim import Simulator

from secateurs.hw.core.broadcast import block_pointer_word
from secateurs.hw.core.priority import lowest_set_bit
from secateurs.hw.core.scheduler import ColumnScheduler
from secateurs.hw.params import BROADCAST_LATENCY, FIRST_PICK, STAGE_HANDOFF
from tests.helpers.streams import CLOCK_PERIOD

POINTER_BITS = 7


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


def block_words(counts, width):
    """The scheduler's pointer ROM for one layer of word ``counts`` (pes x cols), and col_ptr."""
    pes, cols = counts.shape
    col_ptr = np.concatenate([np.zeros((pes, 1), dtype=int), np.cumsum(counts, axis=1)], axis=1)
    layout = block_pointer_word(pes, POINTER_BITS, width)
    words = []
    for first in range(0, cols, width):
        starts = [[int(col_ptr[p, min(first + s, cols)]) for p in range(pes)]
                  for s in range(width + 1)]
        words.append(Const.cast(layout.const(starts)).value)
    return words, col_ptr


def stage_model(counts, work, width, rooms):
    """``(cycle, pe, column)`` of every push, cycles counted from the launch cycle (0), and the
    cycles a block waited for room.

    The lowest block with work is picked in cycle 1 and offered BROADCAST_LATENCY cycles later;
    each cycle every PE takes as many of its columns left in the block as its room; the next
    block, fetched ahead, is offered from the cycle after the last is taken.
    """
    blocks = sorted({j // width for j in work})
    pushes, stalls, t = [], 0, FIRST_PICK
    for k, block in enumerate(blocks):
        t += BROADCAST_LATENCY if k == 0 else STAGE_HANDOFF
        left = [[j for j in work if j // width == block and counts[p, j]]
                for p in range(len(counts))]
        while True:
            for p, columns in enumerate(left):
                pushes += [(t, p, j) for j in columns[:rooms[t][p]]]
                left[p] = columns[rooms[t][p]:]
            if not any(left):
                break
            stalls += 1
            t += 1
    return pushes, stalls


@pytest.mark.parametrize("pes,cols,width,seed", [
    (1, 9, 1, 0), (3, 13, 2, 1), (4, 16, 4, 2), (2, 11, 8, 3), (5, 7, 2, 4), (3, 20, 1, 5),
])
@pytest.mark.parametrize("pressure", [0.0, 0.6])
def test_block_broadcast(pes, cols, width, seed, pressure):
    """Every PE gets exactly its columns with work, lowest first, never more than its room, in
    the cycles the stage model says; events count columns, picks and waiting cycles."""
    rng = np.random.default_rng(seed)
    counts = rng.choice([0, 0, 1, 2, 3], size=(pes, cols))
    x = rng.integers(-128, 128, cols) * (rng.random(cols) < 0.7)
    work = [j for j in range(cols) if x[j] != 0 and counts[:, j].any()]
    horizon = 40 * cols + 10
    rooms = [[width if rng.random() >= pressure else int(rng.integers(0, width + 1))
              for _ in range(pes)] for _ in range(horizon)]
    words, col_ptr = block_words(counts, width)
    dut = ColumnScheduler(pes=pes, cols=cols, issue_width=width, pointer_bits=POINTER_BITS,
                          depth=len(words), init=words)
    pushes, events = [], {"broadcasts": 0, "stall": 0, "picking": 0}

    async def bench(ctx):
        for j in rng.permutation(work):  # marks in any order, with idle cycles between them
            for _ in range(int(rng.integers(0, 3))):
                await ctx.tick()
            ctx.set(dut.pend_en, 1)
            ctx.set(dut.pend_index, int(j))
            await ctx.tick()
        ctx.set(dut.pend_en, 0)
        ctx.set(dut.launch, 1)
        await ctx.tick()
        ctx.set(dut.launch, 0)
        ctx.set(dut.run, 1)
        for t in range(1, horizon):
            for p in range(pes):
                ctx.set(dut.columns[p].room, rooms[t][p])
            for p in range(pes):
                column = dut.columns[p]
                valid = ctx.get(column.valid)
                assert bin(valid).count("1") <= rooms[t][p]
                for s in range(width):
                    if valid >> s & 1:
                        entry = ctx.get(column.entries[s])
                        j = next(j for j in range(cols)
                                 if counts[p, j] and col_ptr[p, j] == entry.start)
                        assert (entry.x, entry.end) == (x[j], col_ptr[p, j + 1])
                        pushes.append((t, p, j))
            for name in events:
                events[name] += ctx.get(getattr(dut, name))
            lanes, addr = ctx.get(dut.act_en), ctx.get(dut.act_addr)
            busy = ctx.get(dut.busy)
            await ctx.tick()
            for s in range(width):  # the activation buffer: a synchronous read per lane
                if lanes >> s & 1:
                    ctx.set(dut.act_data[s], int(x[addr + s]))
            if not busy:
                return
        raise AssertionError("the scheduler did not finish")

    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD)
    sim.add_testbench(bench)
    sim.run()
    want, stalls = stage_model(counts, work, width, rooms)
    assert pushes == want
    assert events == {"broadcasts": len(work), "stall": stalls,
                      "picking": len({j // width for j in work})}
    if pressure == 0:  # no back-pressure: a block a cycle, from cycle 3 on
        assert sorted({t for t, _, _ in want}) == list(range(3, 3 + events["picking"]))
