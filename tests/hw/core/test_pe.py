"""A network PE alone: CSC words issued with random idle cycles, accumulators drained and cleared,
against numpy; back-to-back words on one row; codebook decode."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from secateurs.hw.core.pe import ProcessingElement
from secateurs.hw.layout import csc_code_word, csc_word
from secateurs.sw.formats.csc import pack_csc
from secateurs.sw.formats.payload import Payload


async def _issue(ctx, pe, columns, rng=None):
    """Issue every word of ``columns`` (``[(x, [addr...])]``), with random idle cycles when
    ``rng`` is given; then wait for the last accumulate to land."""
    for x, addrs in columns:
        for k, addr in enumerate(addrs):
            while rng is not None and rng.random() < 0.3:
                ctx.set(pe.issue.valid, 0)
                await ctx.tick()
            ctx.set(pe.issue.valid, 1)
            ctx.set(pe.issue.addr, addr)
            ctx.set(pe.issue.first, k == 0)
            ctx.set(pe.issue.x, x)
            await ctx.tick()
    ctx.set(pe.issue.valid, 0)
    await ctx.tick().repeat(2)  # the last accumulate lands


def _simulate(pe, columns, rows, *, seed, rounds=2, codebook=None):
    """Issue ``columns`` (``[(x, [addr...])]``), drain all rows, clear; twice. Returns sums."""
    sums = []

    async def bench(ctx):
        rng = np.random.default_rng(seed)
        if codebook is not None:
            ctx.set(pe.codebook, list(codebook))
        for _ in range(rounds):
            await _issue(ctx, pe, columns, rng)
            got = []
            for r in range(rows):
                ctx.set(pe.drain_en, 1)
                ctx.set(pe.drain_addr, r)
                await ctx.tick()
                ctx.set(pe.drain_en, 0)
                got.append(ctx.get(pe.acc))
                ctx.set(pe.clear_en, 1)
                ctx.set(pe.clear_addr, r)
                await ctx.tick()
                ctx.set(pe.clear_en, 0)
            sums.append(got)

    sim = Simulator(pe)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return sums


def _columns(layer, x):
    ptr = layer.col_ptr[0]
    return [(int(x[j]), list(range(ptr[j], ptr[j + 1]))) for j in range(layer.cols)
            if x[j] != 0 and ptr[j + 1] > ptr[j]]


@pytest.mark.parametrize("rows,index_bits,seed", [(9, 2, 0), (9, 1, 1), (1, 4, 2), (3, 4, 3)])
def test_accumulates_csc_words(rows, index_bits, seed):
    rng = np.random.default_rng(seed)
    w = rng.integers(-128, 128, (rows, 14)) * (rng.random((rows, 14)) < 0.5)
    x = rng.integers(-128, 128, 14) * (rng.random(14) < 0.8)
    layer = pack_csc(w, pes=1, index_bits=index_bits)
    words = [int(v) for v in layer.words[0]]
    pe = ProcessingElement(word=csc_word(8, index_bits), bank_depth=len(words), init=words,
                           local_rows=rows, acc_bits=32)
    sums = _simulate(pe, _columns(layer, x), rows, seed=seed)
    # The second round starts from the cleared accumulators: the same sums again.
    assert sums == [(w @ x).tolist()] * 2


def test_codebook_words_decode_through_the_table():
    rng = np.random.default_rng(5)
    book = (0, -100, -3, 1, 8, 50, 99, 127)
    codes = rng.integers(1, 8, (6, 10)) * (rng.random((6, 10)) < 0.6)
    x = rng.integers(-128, 128, 10)
    layer = pack_csc(np.array(book)[codes], pes=1, index_bits=3, payload=Payload(3, book))
    words = [int(v) for v in layer.words[0]]
    pe = ProcessingElement(word=csc_code_word(3, 3), bank_depth=len(words), init=words,
                           local_rows=6, acc_bits=32, codebook=True)
    sums = _simulate(pe, _columns(layer, x), 6, seed=5, rounds=1, codebook=book)
    assert sums == [(np.array(book)[codes] @ x).tolist()]


def test_bank_written_through_its_write_port():
    """An empty bank, written word by word, then walked: the same sums as a baked one."""
    rng = np.random.default_rng(9)
    w = rng.integers(-128, 128, (5, 8)) * (rng.random((5, 8)) < 0.6)
    x = rng.integers(-128, 128, 8)
    layer = pack_csc(w, pes=1, index_bits=4)
    words = [int(v) for v in layer.words[0]]
    pe = ProcessingElement(word=csc_word(8, 4), bank_depth=len(words) + 3, local_rows=5,
                           acc_bits=32)
    sums = []

    async def bench(ctx):
        for addr, word in enumerate(words):
            ctx.set(pe.write.en, 1)
            ctx.set(pe.write.addr, addr)
            ctx.set(pe.write.data, word)
            await ctx.tick()
        ctx.set(pe.write.en, 0)
        await _issue(ctx, pe, _columns(layer, x))
        for r in range(5):
            ctx.set(pe.drain_en, 1)
            ctx.set(pe.drain_addr, r)
            await ctx.tick()
            ctx.set(pe.drain_en, 0)
            sums.append(ctx.get(pe.acc))

    sim = Simulator(pe)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert sums == (w @ x).tolist()


def test_init_wrong_bank():
    with pytest.raises(ValueError) as error:
        ProcessingElement(word=csc_word(8, 4), bank_depth=0, local_rows=2, acc_bits=32)
    assert str(error.value) == "Bank depth must be a positive integer, not 0"
    with pytest.raises(ValueError) as error:
        ProcessingElement(word=csc_word(8, 4), bank_depth=2, init=[1, 2, 3], local_rows=2,
                          acc_bits=32)
    assert str(error.value) == "A bank of 2 words cannot start with 3"
