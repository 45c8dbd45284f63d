"""The conv address generator (hw/core/address.py): each output position's scanned work list is
exactly the patch columns whose input is inside the map and nonzero, enumerated naively in
Python, from the nonzero map the ``parity`` selects (the other holds a different map); every
lane's address and inside flag are the naive ones; the walk visits the positions window by
window of the pool (row-major without one), counts the windows and flags each window's first
and last position and the layer's last."""

import numpy as np
import pytest
from amaranth.hdl import Const
from amaranth.sim import Simulator

from secateurs.hw.core.address import AddressGenerator, patch_word
from secateurs.hw.image import ConvGeometry
from tests.helpers.streams import CLOCK_PERIOD

MAX_SIDE, MAX_CHANNELS, MAX_KERNEL, LANES = 9, 3, 5, 2
MAX_MAP = MAX_CHANNELS * MAX_SIDE * MAX_SIDE
MAX_COLS = MAX_CHANNELS * MAX_KERNEL * MAX_KERNEL
PATCH_DEPTH = MAX_COLS + 7  # the layer's table starts at PATCH_BASE
PATCH_BASE = 7


def naive_work(geo: ConvGeometry, x: np.ndarray, oy: int, ox: int) -> set[int]:
    """Patch columns (c, ky, kx) at (oy, ox) whose input is inside the map and nonzero."""
    maps = x.reshape(geo.channels, geo.height, geo.width)
    work, j = set(), 0
    for c in range(geo.channels):
        for ky in range(geo.kernel_h):
            for kx in range(geo.kernel_w):
                iy = oy * geo.stride - geo.padding + ky
                ix = ox * geo.stride - geo.padding + kx
                if 0 <= iy < geo.height and 0 <= ix < geo.width and maps[c, iy, ix]:
                    work.add(j)
                j += 1
    return work


def naive_address(geo: ConvGeometry, oy: int, ox: int, j: int) -> tuple[int, bool] | None:
    """Column j's input ``(flat address, inside)``; None for no column (past the patch)."""
    if j >= geo.patch:
        return None
    c, rest = divmod(j, geo.kernel_h * geo.kernel_w)
    ky, kx = divmod(rest, geo.kernel_w)
    iy = oy * geo.stride - geo.padding + ky
    ix = ox * geo.stride - geo.padding + kx
    inside = 0 <= iy < geo.height and 0 <= ix < geo.width
    return (c * geo.height + iy) * geo.width + ix, inside


def simulate(geo: ConvGeometry, x: np.ndarray, parity: int = 0):
    """Per position: ``(pooled, first, last of window, last, work list, {column: (address,
    inside)})`` read from the generator (addresses only of inside columns: the others are never
    read); ``x`` is marked in map ``parity``, its complement's nonzeros in the other."""
    dut = AddressGenerator(max_map=MAX_MAP, max_side=MAX_SIDE, max_channels=MAX_CHANNELS,
                           max_kernel=MAX_KERNEL, max_cols=MAX_COLS, patch_depth=PATCH_DEPTH,
                           lanes=LANES)
    word = patch_word(max_map=MAX_MAP, max_kernel=MAX_KERNEL)
    fields = {"enabled": 1, "channels": geo.channels, "height": geo.height, "width": geo.width,
              "kernel_h": geo.kernel_h, "kernel_w": geo.kernel_w, "stride": geo.stride,
              "padding": geo.padding, "out_h": geo.out_h, "out_w": geo.out_w,
              "patch_base": PATCH_BASE, "pool_h": geo.pool_h, "pool_w": geo.pool_w,
              "pooled_h": geo.pooled_h, "pooled_w": geo.pooled_w}
    seen = []

    async def bench(ctx):
        ctx.set(dut.geometry, fields)
        for j, (offset, ky, kx) in enumerate(geo.patch_table()):
            ctx.set(dut.write.en, 1)
            ctx.set(dut.write.addr, PATCH_BASE + j)
            ctx.set(dut.write.data, Const.cast(word.const(
                {"offset": offset, "ky": ky, "kx": kx})).value)
            await ctx.tick()
        ctx.set(dut.write.en, 0)
        ctx.set(dut.parity, parity)
        for half, bits in ((parity, x != 0), (1 - parity, x == 0)):
            for a, value in enumerate(bits):
                ctx.set(dut.mark, 1)
                ctx.set(dut.mark_map, half)
                ctx.set(dut.mark_addr, a)
                ctx.set(dut.mark_value, int(value))
                await ctx.tick()
        ctx.set(dut.mark, 0)
        ctx.set(dut.restart, 1)
        await ctx.tick()
        ctx.set(dut.restart, 0)
        for _ in range(geo.positions):
            work, scans = 0, 0
            ctx.set(dut.scan, 1)
            while True:
                scans += 1
                work |= ctx.get(dut.mask)
                if ctx.get(dut.scan_last):
                    break
                await ctx.tick()
            await ctx.tick()
            ctx.set(dut.scan, 0)
            assert scans == geo.scan_rows  # one patch row a cycle, whatever the data
            lanes = {}
            for first in range(0, geo.patch, LANES):
                ctx.set(dut.column, first)
                for s in range(LANES):
                    if first + s < geo.patch:
                        inside = bool(ctx.get(dut.inside[s]))
                        lanes[first + s] = (ctx.get(dut.addr[s]) if inside else None, inside)
            seen.append((ctx.get(dut.pooled), bool(ctx.get(dut.window_first)),
                         bool(ctx.get(dut.window_last)), bool(ctx.get(dut.last)),
                         {j for j in range(MAX_COLS) if work >> j & 1}, lanes))
            ctx.set(dut.advance, 1)
            await ctx.tick()
            ctx.set(dut.advance, 0)

    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD)
    sim.add_testbench(bench)
    sim.run()
    return seen


GEOMETRIES = [
    ConvGeometry(1, 5, 5, 3, 3),
    ConvGeometry(2, 6, 7, 3, 3, stride=2, padding=1),
    ConvGeometry(3, 9, 9, 5, 5, stride=1, padding=2),
    ConvGeometry(1, 5, 8, 1, 1, stride=2),
    ConvGeometry(2, 7, 5, 5, 3, stride=1, padding=2),
    ConvGeometry(3, 5, 5, 5, 5, stride=2, padding=4),  # corner patches all padding
    ConvGeometry(2, 7, 8, 3, 3, stride=1, padding=1, pool="max", pool_h=2, pool_w=2),
    ConvGeometry(1, 9, 9, 3, 3, stride=1, padding=0, pool="avg", pool_h=3, pool_w=2),
    ConvGeometry(1, 9, 7, 1, 1, stride=1, padding=0, pool="max", pool_h=4, pool_w=4),
]


@pytest.mark.parametrize("density", [0.0, 0.4, 1.0])
@pytest.mark.parametrize("geo", GEOMETRIES, ids=str)
def test_sim_scan_and_addresses(geo, density):
    rng = np.random.default_rng(geo.patch * 7 + int(density * 10))
    x = rng.integers(-128, 128, geo.inputs) * (rng.random(geo.inputs) < density)
    seen = simulate(geo, x, parity=int(density * 10) % 2)
    # the positions some pool window keeps, window by window, each window's row-major
    windows = [[(py * geo.pool_h + wy, px * geo.pool_w + wx)
                for wy in range(geo.pool_h) for wx in range(geo.pool_w)]
               for py in range(geo.out_h // geo.pool_h) for px in range(geo.out_w // geo.pool_w)]
    walk = [(w, i, yx) for w, window in enumerate(windows) for i, yx in enumerate(window)]
    assert len(seen) == len(walk) == geo.positions
    for k, ((pooled, first, window_last, last, work, lanes), (w, i, (oy, ox))) in enumerate(
            zip(seen, walk)):
        assert (pooled, first, window_last) == (w, i == 0, i == geo.pool_h * geo.pool_w - 1)
        assert last == (k == geo.positions - 1)
        assert work == naive_work(geo, x, oy, ox), f"position ({oy}, {ox})"
        for j, (addr, inside) in lanes.items():
            want_addr, want_inside = naive_address(geo, oy, ox, j)
            assert inside == want_inside, f"position ({oy}, {ox}) column {j}"
            if inside:
                assert addr == want_addr, f"position ({oy}, {ox}) column {j}"


def test_init_wrong_size():
    with pytest.raises(ValueError, match=r"^Kernel side must be a positive integer, not 0$"):
        AddressGenerator(max_map=4, max_side=2, max_channels=1, max_kernel=0, max_cols=4,
                         patch_depth=4)
