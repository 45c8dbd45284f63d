"""The load port's decoder (hw/core/loader.py) against a naive model of the protocol: wide words in
32-bit chunks, unknown targets and addresses past the end dropped, empty transfers, ``enable``
holding the stream, ``restart`` dropping a partial transfer; with random idle cycles."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from secateurs.hw.core.loader import Loader, WriteSignature
from secateurs.hw.load import header, transfer
from secateurs.hw.memories import MemorySpec
from tests.helpers.streams import CLOCK_PERIOD

SPECS = {0: MemorySpec("wide", 70, 4), 1: MemorySpec("narrow", 12, 9),
         0x81: MemorySpec("bank", 32, 3)}


def protocol_model(words, specs):
    """The writes ``(target, addr, data)`` a stream of ``words`` makes, read naively."""
    writes, i = [], 0
    while i + 1 < len(words):
        target, addr, count = words[i] >> 24, words[i] & 0xFFFFFF, words[i + 1] & 0xFFFFFF
        i += 2
        width = specs[target].width if target in specs else 32
        n = -(-width // 32)
        for _ in range(count):
            chunks = words[i:i + n]
            if len(chunks) < n:
                return writes
            i += n
            data = sum(c << (32 * k) for k, c in enumerate(chunks)) & ((1 << width) - 1)
            if target in specs and addr < specs[target].depth:
                writes.append((target, addr, data))
            addr += 1
    return writes


def simulate(dut, words, *, seed, idle=0.3, enable=None, restart_at=None):
    """Stream ``words``; return the writes seen and, per word, the cycles it waited."""
    writes, waits = [], []

    async def bench(ctx):
        rng = np.random.default_rng(seed)
        ctx.set(dut.enable, 1)
        for k, word in enumerate(words):
            while rng.random() < idle:
                ctx.set(dut.load.valid, 0)
                await ctx.tick()
            if restart_at == k:
                ctx.set(dut.restart, 1)
                assert not ctx.get(dut.load.ready)
                await ctx.tick()
                ctx.set(dut.restart, 0)
            ctx.set(dut.load.payload, word)
            ctx.set(dut.load.valid, 1)
            waited = 0
            while True:
                if enable is not None:
                    ctx.set(dut.enable, int(rng.random() >= enable))
                ready = ctx.get(dut.load.ready)
                if ctx.get(dut.write.en):
                    assert ready
                    writes.append((ctx.get(dut.write.target), ctx.get(dut.write.addr),
                                   ctx.get(dut.write.data)))
                await ctx.tick()
                if ready:
                    break
                waited += 1
            waits.append(waited)
        ctx.set(dut.load.valid, 0)
        await ctx.tick()
        assert not ctx.get(dut.write.en)

    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD)
    sim.add_testbench(bench)
    sim.run()
    return writes, waits


def _data(width, count, rng):
    return [int.from_bytes(rng.bytes(16), "little") % (1 << width) for _ in range(count)]


def test_init():
    dut = Loader(SPECS)
    assert dut.write.signature == WriteSignature(addr_bits=4, data_bits=70)
    with pytest.raises(ValueError) as error:
        Loader({})
    assert str(error.value) == "A loader needs at least one memory"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sim_writes_match_the_protocol(seed):
    """Wide words (3 chunks), narrow ones, an empty transfer, an unknown target and addresses
    past the end, in one stream."""
    rng = np.random.default_rng(seed)
    words = (transfer(0, _data(70, 4, rng), width=70)
             + transfer(1, _data(12, 3, rng), width=12, address=7)  # the third is past the end
             + [header(2, 0), 2, 0xDEAD, 0xBEEF]  # unknown: one chunk a word, dropped
             + [header(0x81, 1), 0]  # empty
             + transfer(0x81, _data(32, 2, rng), width=32, address=1)
             + transfer(0, _data(70, 1, rng), width=70, address=2))
    writes, _ = simulate(Loader(SPECS), words, seed=seed)
    assert writes == protocol_model(words, SPECS)
    assert [w[:2] for w in writes] == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 7), (1, 8),
                                       (0x81, 1), (0x81, 2), (0, 2)]


def test_sim_a_narrow_word_after_a_wide_one_takes_no_stale_chunk():
    ones = (1 << 70) - 1
    words = transfer(0, [ones], width=70) + transfer(0x81, [5], width=32)
    writes, _ = simulate(Loader(SPECS), words, seed=0, idle=0.0)
    assert writes == [(0, 0, ones), (0x81, 0, 5)]


def test_sim_enable_holds_the_stream():
    rng = np.random.default_rng(4)
    words = transfer(0, _data(70, 3, rng), width=70)
    writes, waits = simulate(Loader(SPECS), words, seed=4, idle=0.0, enable=0.5)
    assert writes == protocol_model(words, SPECS)
    assert sum(waits) > 0, "enable never held a word back"


def test_sim_restart_drops_a_partial_transfer():
    """A stream cut in the middle of a wide word; after ``restart`` the next word is a header."""
    rng = np.random.default_rng(5)
    first = transfer(0, _data(70, 2, rng), width=70)[:2 + 3 + 1]  # one word and a chunk
    second = transfer(1, _data(12, 2, rng), width=12)
    writes, _ = simulate(Loader(SPECS), first + second, seed=5, restart_at=len(first))
    assert writes == protocol_model(first, SPECS) + protocol_model(second, SPECS)
    assert [w[:2] for w in writes] == [(0, 0), (1, 0), (1, 1)]
