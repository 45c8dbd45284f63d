"""The UART (hw/build/uart.py) against a naive bit-level model: a frame is a start bit (0), 8
data bits LSB first and a stop bit (1), each ``divisor`` cycles; idle line high."""

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from secateurs.hw.build.uart import UARTReceiver, UARTTransmitter
from tests.helpers.streams import CLOCK_PERIOD


def frame(byte, divisor, stop=1):
    """The line level in each cycle of one frame of ``byte``."""
    bits = [0] + [byte >> i & 1 for i in range(8)] + [stop]
    return [b for b in bits for _ in range(divisor)]


def decode(line, divisor):
    """Naive receiver: a falling edge starts a frame; sample each bit in its middle; keep the
    byte if the stop bit reads 1."""
    got, t = [], 1
    while t < len(line):
        if line[t - 1] == 1 and line[t] == 0:
            middle = [t + divisor // 2 + k * divisor for k in range(10)]
            if middle[-1] >= len(line):
                break
            bits = [line[c] for c in middle]
            if bits[0] == 0 and bits[9] == 1:
                got.append(sum(b << i for i, b in enumerate(bits[1:9])))
            t = middle[-1]
        t += 1
    return got


def _simulate(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("cls", [UARTReceiver, UARTTransmitter])
def test_init(cls):
    dut = cls(divisor=4)
    assert dut.signature.members.keys() == ({"rx", "o"} if cls is UARTReceiver else {"i", "tx"})
    idle = dut.rx if cls is UARTReceiver else dut.tx
    assert idle.init == 1  # the idle line is high


@pytest.mark.parametrize("cls", [UARTReceiver, UARTTransmitter])
@pytest.mark.parametrize("divisor", [0, -3, 2.5, True])
def test_init_wrong_divisor(cls, divisor):
    with pytest.raises(ValueError) as error:
        cls(divisor=divisor)
    assert str(error.value) == f"UART divisor must be a positive integer, not {divisor!r}"


@pytest.mark.parametrize("divisor", [2, 5, 16])
def test_sim_transmit_one_frame(divisor):
    """The cycle after ``i`` is taken the line carries exactly the model's frame, then idles
    high, and ``ready`` returns once the stop bit is done."""
    dut = UARTTransmitter(divisor=divisor)
    line, ready = [], []

    async def bench(ctx):
        ctx.set(dut.i.payload, 0xA5)
        ctx.set(dut.i.valid, 1)
        assert ctx.get(dut.i.ready) and ctx.get(dut.tx) == 1
        await ctx.tick()
        ctx.set(dut.i.valid, 0)
        for _ in range(10 * divisor + 3):
            line.append(ctx.get(dut.tx))
            ready.append(ctx.get(dut.i.ready))
            await ctx.tick()

    _simulate(dut, bench)
    assert line == frame(0xA5, divisor) + [1] * 3
    assert ready == [0] * (10 * divisor) + [1] * 3


@pytest.mark.parametrize("divisor", [3, 8])
def test_sim_transmit_back_to_back(divisor):
    """Bytes offered continuously: frames follow each other, one idle cycle between them, and
    the naive receiver reads every byte."""
    dut = UARTTransmitter(divisor=divisor)
    data = np.random.default_rng(divisor).integers(0, 256, 6).tolist()
    line = []

    async def bench(ctx):
        pending = list(data)
        for _ in range(len(data) * (10 * divisor + 1) + 2 * divisor):
            if pending:
                ctx.set(dut.i.payload, pending[0])
            ctx.set(dut.i.valid, bool(pending))
            if pending and ctx.get(dut.i.ready):
                pending.pop(0)
            line.append(ctx.get(dut.tx))
            await ctx.tick()

    _simulate(dut, bench)
    assert decode(line, divisor) == data
    # first frame from the cycle after the first byte is taken (cycle 0)
    assert line[1:1 + 10 * divisor] == frame(data[0], divisor)
    period = 10 * divisor + 1
    assert line[1 + period:1 + period + 10 * divisor] == frame(data[1], divisor)


def _receive(divisor, line, *, ready=lambda t: 1):
    """Drive ``rx`` with ``line`` (one level a cycle); the bytes taken from ``o``."""
    dut = UARTReceiver(divisor=divisor)
    got = []

    async def bench(ctx):
        for t, level in enumerate(line):
            ctx.set(dut.rx, level)
            ctx.set(dut.o.ready, ready(t))
            if ctx.get(dut.o.valid) and ready(t):
                got.append(ctx.get(dut.o.payload))
            await ctx.tick()

    _simulate(dut, bench)
    return got


@pytest.mark.parametrize("divisor", [4, 5, 16])
def test_sim_receive(divisor):
    """Frames with random idle gaps (and none) between them: every byte, in order."""
    rng = np.random.default_rng(divisor)
    data = rng.integers(0, 256, 8).tolist()
    line = [1] * 3
    for byte in data:
        line += frame(byte, divisor) + [1] * int(rng.integers(0, 2 * divisor))
    line += [1] * (2 * divisor)
    assert decode(line, divisor) == data  # the model reads its own line
    assert _receive(divisor, line) == data


def test_sim_receive_drops_an_untaken_byte():
    """A byte still waiting when the next frame completes is replaced by it."""
    divisor = 4
    line = [1] * 2 + frame(0x3C, divisor) + frame(0xC3, divisor) + [1] * 12
    second_done = 2 + 20 * divisor + 2
    assert _receive(divisor, line, ready=lambda t: int(t >= second_done)) == [0xC3]


@pytest.mark.parametrize("divisor", [3, 4, 9])
def test_sim_loopback(divisor):
    """Transmitter into receiver: the bytes sent come back, in order."""
    m = Module()
    m.submodules.tx = tx = UARTTransmitter(divisor=divisor)
    m.submodules.rx = rx = UARTReceiver(divisor=divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    data = np.random.default_rng(divisor + 1).integers(0, 256, 6).tolist()
    got = []

    async def bench(ctx):
        pending = list(data)
        ctx.set(rx.o.ready, 1)
        for _ in range(len(data) * (10 * divisor + 1) + 3 * divisor):
            if pending:
                ctx.set(tx.i.payload, pending[0])
            ctx.set(tx.i.valid, bool(pending))
            if pending and ctx.get(tx.i.ready):
                pending.pop(0)
            if ctx.get(rx.o.valid):
                got.append(ctx.get(rx.o.payload))
            await ctx.tick()

    _simulate(m, bench)
    assert got == data


def test_sim_receive_drops_a_framing_error():
    """A frame whose stop bit is 0 yields no byte, and nothing else after it."""
    divisor = 4
    line = [1] * 2 + frame(0x5A, divisor, stop=0) + [1] * 60
    assert decode(line, divisor) == []
    assert _receive(divisor, line) == []
