"""The column walker (hw/core/walker.py): pushed columns come out as bank addresses, one a
cycle, in order, with no bubble between back-to-back columns; checked cycle by cycle against a
naive model of its queue and address counter."""

import numpy as np
import pytest
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from secateurs.hw.core.walker import ColumnWalker, column_entry
from secateurs.hw.params import QUEUE_LATENCY
from tests.helpers.streams import CLOCK_PERIOD

BANK_DEPTH, POINTER_BITS = 64, 7


def _walker(queue_depth=2, issue_width=2):
    return ColumnWalker(queue_depth=queue_depth, issue_width=issue_width,
                        bank_depth=BANK_DEPTH, pointer_bits=POINTER_BITS)


class WalkerModel:
    """Naive walker: a list for the queue (``room`` from the level at the start of the cycle;
    pushes visible the next cycle) and the column being walked."""

    def __init__(self, depth, width):
        self.depth, self.width = depth, width
        self.queue, self.column = [], None  # column: [next address, end, x]

    def room(self):
        return min(self.width, self.depth - len(self.queue))

    def cycle(self, pushed):
        """One cycle: the issue ``(addr, first, x)`` or None; then the pushes land."""
        issue = None
        if self.column is not None:
            addr, end, x = self.column
            issue = (addr, 0, x)
            self.column = None if addr + 1 == end else [addr + 1, end, x]
        elif self.queue:
            x, start, end = self.queue.pop(0)
            issue = (start, 1, x)
            self.column = None if start + 1 == end else [start + 1, end, x]
        self.queue.extend(pushed)
        return issue

    def busy(self):
        return self.column is not None or bool(self.queue)


def _simulate(dut, schedule, cycles):
    """Push ``schedule[t]`` (a list of ``(x, start, end)``, on the lowest lanes) in cycle t;
    returns per cycle ``(room, issue or None, busy)``."""
    trace = []

    async def bench(ctx):
        for t in range(cycles):
            pushed = schedule.get(t, [])
            ctx.set(dut.column.valid, (1 << len(pushed)) - 1)
            for k, (x, start, end) in enumerate(pushed):
                ctx.set(dut.column.entries[k], {"x": x, "start": start, "end": end})
            issue = None
            if ctx.get(dut.issue.valid):
                issue = (ctx.get(dut.issue.addr), ctx.get(dut.issue.first), ctx.get(dut.issue.x))
            trace.append((ctx.get(dut.column.room), issue, ctx.get(dut.busy)))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD)
    sim.add_testbench(bench)
    sim.run()
    return trace


def test_init():
    dut = _walker(queue_depth=3, issue_width=4)
    members = dut.signature.members
    assert (members["column"].flow, members["issue"].flow, members["busy"].flow) == (In, Out, Out)
    assert len(dut.column.valid) == 4 and len(dut.column.entries) == 4
    assert dut.column.entries[0].shape() == column_entry(POINTER_BITS)
    assert len(dut.issue.addr) == (BANK_DEPTH - 1).bit_length()


@pytest.mark.parametrize("arg,value,message", [
    ("queue_depth", 0, "Queue depth must be an integer in 1..16, not 0"),
    ("issue_width", 0, "Issue width must be a positive integer, not 0"),
    ("bank_depth", 0, "Bank depth must be a positive integer, not 0"),
    ("pointer_bits", -1, "Pointer width must be a positive integer, not -1"),
])
def test_init_wrong_args(arg, value, message):
    kwargs = dict(queue_depth=2, issue_width=2, bank_depth=BANK_DEPTH, pointer_bits=POINTER_BITS)
    with pytest.raises(ValueError) as error:
        ColumnWalker(**{**kwargs, arg: value})
    assert str(error.value) == message


def test_sim_back_to_back_columns():
    """Three columns pushed on one edge: their 3 + 1 + 2 words issue in the next six cycles,
    each column's first word the cycle after the previous column's last."""
    columns = [(5, 10, 13), (-7, 20, 21), (127, 40, 42)]
    trace = _simulate(_walker(queue_depth=4, issue_width=4), {0: columns}, 9)
    issues = [issue for _, issue, _ in trace]
    assert issues[:QUEUE_LATENCY] == [None]
    assert issues[QUEUE_LATENCY:QUEUE_LATENCY + 6] == [
        (10, 1, 5), (11, 0, 5), (12, 0, 5), (20, 1, -7), (40, 1, 127), (41, 0, 127)]
    assert issues[QUEUE_LATENCY + 6:] == [None, None]
    assert [busy for _, _, busy in trace] == [0] + [1] * 6 + [0, 0]


@pytest.mark.parametrize("depth,width", [(1, 1), (2, 1), (1, 2), (3, 2), (4, 4), (16, 8)])
@pytest.mark.parametrize("seed", [0, 1])
def test_sim_random_pushes(depth, width, seed):
    """Random columns (1..4 words) pushed as ``room`` allows, random idle cycles: the walker
    matches the naive model in every cycle (room, issue, busy)."""
    rng = np.random.default_rng(seed * 100 + depth * 10 + width)
    model = WalkerModel(depth, width)
    schedule, want, t, left = {}, [], 0, 40
    while left or model.busy():
        room = model.room()
        count = min(left, int(rng.integers(0, room + 1)) if rng.random() < 0.7 else 0)
        pushed = []
        for _ in range(count):
            start = int(rng.integers(0, BANK_DEPTH - 4))
            pushed.append((int(rng.integers(-128, 128)), start,
                           start + int(rng.integers(1, 5))))
        left -= count
        if pushed:
            schedule[t] = pushed
        busy = int(model.busy())  # before this cycle's pushes land
        want.append((room, model.cycle(pushed), busy))
        t += 1
    got = _simulate(_walker(queue_depth=depth, issue_width=width), schedule, t)
    assert got == want
    issued = [issue for _, issue, _ in got if issue is not None]
    assert len(issued) == sum(end - start for cols in schedule.values() for _, start, end in cols)
