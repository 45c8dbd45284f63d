"""The conv address generator: walks a conv layer's output positions and, for each, finds the
patch columns the sparse engine must broadcast and where their activations are.

A conv layer is its weight matrix W (out channels x C*KH*KW, columns in (c, ky, kx) order) and
a geometry (:class:`~..image.ConvGeometry`, loaded in the layer table). At output position
(oy, ox) patch column j = (c, ky, kx) reads input (c, iy0 + ky, ix0 + kx), where
``iy0 = oy * stride - padding`` and ``ix0 = ox * stride - padding``; outside the map it reads
the padding's 0. So each position is one column walk of the engine over W, its work list the
columns whose input is inside the map and nonzero.

The positions are walked window by window of the layer's pool (``pool_h x pool_w``, stride =
size; 1 x 1 without a pool): the pooled outputs row-major, each window's positions row-major,
and only the positions some window keeps (the walk ends at the last whole window). ``pooled`` is
the running window's index, ``window_first`` and ``window_last`` flag its first and last
position, and ``last`` the layer's last position.

The generator keeps two *nonzero maps*, one per half of the activation buffer: one bit per
activation (``mark`` into map ``mark_map``, written as the activation is); a layer scans the
map of the half it reads (``parity``) while the write-back marks the other for a conv layer
after it. It finds a position's work list by scanning its patch one row (c, ky) a cycle
(``scan``, C*KH cycles whatever the data): the row's KW bits of the nonzero map, less those
in the padding, are its pending columns ``(c*KH + ky)*KW + kx`` (``mask``). Padding, zero
activations and zero weights never reach the engine; the scan's cost is the geometry's alone.

The engine reads an activation by its patch column (``column`` + s on lane s); ``addr[s]`` is
that input's flat address in the map and ``inside[s]`` whether it lies inside the map (the
dense twin reads every column and multiplies the padding by 0). The columns' offsets from the
position's corner (``c*H*W + ky*W + kx``, ky and kx) come from the *patch table*, a memory the
load port writes (one word per column of every conv layer, a layer's first at ``patch_base``),
so no division by a loaded kernel size is built.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from ..params import MAX_POOL, MAX_STRIDE, POOL_SHIFT, check_positive, loaded_attrs
from .pe import BankWriteSignature

__all__ = ["geometry_layout", "patch_word", "AddressGenerator"]


def geometry_layout(*, max_side: int, max_channels: int, max_kernel: int,
                    patch_depth: int) -> data.StructLayout:
    """A conv layer's geometry as the layer table holds it (``enabled`` is 0 for a Linear):
    its map, kernel and walk, and its pool: window ``pool_h x pool_w`` (1 x 1: none), the
    pooled map ``pooled_h x pooled_w``, and for an average ``pool_avg`` with the multiplier of
    its exact division (:attr:`~..image.ConvGeometry.pool_multiplier`)."""
    side, out_side = range(max_side + 1), range(max_side + max_kernel)
    return data.StructLayout({
        "enabled": unsigned(1),
        "channels": range(max_channels + 1),
        "height": side,
        "width": side,
        "kernel_h": range(max_kernel + 1),
        "kernel_w": range(max_kernel + 1),
        "stride": range(MAX_STRIDE + 1),
        "padding": range(max_kernel),
        "out_h": out_side,  # at most side + 2 * padding - kernel + 1
        "out_w": out_side,
        "patch_base": range(patch_depth + 1),
        "pool_h": range(MAX_POOL + 1),
        "pool_w": range(MAX_POOL + 1),
        "pooled_h": out_side,
        "pooled_w": out_side,
        "pool_avg": unsigned(1),
        "pool_multiplier": unsigned(POOL_SHIFT),
    })


def patch_word(*, max_map: int, max_kernel: int) -> data.StructLayout:
    """A patch table word: the column's ``offset`` from the position's corner, ky and kx."""
    return data.StructLayout({"offset": range(max_map), "ky": range(max_kernel),
                              "kx": range(max_kernel)})


class AddressGenerator(wiring.Component):
    """Output-position walk, nonzero map, patch scan and column-address translation.

    Parameters
    ----------
    max_map : int
        Input activations of the largest map (bits of the nonzero map).
    max_side, max_channels, max_kernel : int
        Largest map height or width, channel count and kernel side.
    max_cols : int
        Patch columns the engine's work list has (at least the largest C*KH*KW).
    patch_depth : int
        Words of the patch table.
    lanes : int
        Activations the engine reads a cycle (its columns ``column`` .. ``column + lanes - 1``).
    init : list of int
        Raw patch table words it starts with (a baked design).
    """

    def __init__(self, *, max_map, max_side, max_channels, max_kernel, max_cols, patch_depth,
                 lanes=1, init=()):
        for what, value in (("Map size", max_map), ("Map side", max_side),
                            ("Channel count", max_channels), ("Kernel side", max_kernel),
                            ("Column count", max_cols), ("Patch table depth", patch_depth),
                            ("Lane count", lanes)):
            check_positive(what, value)
        self._max_map, self._max_kernel, self._max_cols = max_map, max_kernel, max_cols
        self._patch_depth, self._lanes, self._init = patch_depth, lanes, list(init)
        self._geometry = geometry_layout(max_side=max_side, max_channels=max_channels,
                                         max_kernel=max_kernel, patch_depth=patch_depth)
        self._word = patch_word(max_map=max_map, max_kernel=max_kernel)
        super().__init__({
            "geometry": In(self._geometry),
            "write": In(BankWriteSignature(depth=patch_depth, width=self._word.size)),
            "restart": In(1),
            "advance": In(1),
            "pooled": Out(range((max_side + max_kernel - 1) ** 2)),
            "window_first": Out(1),
            "window_last": Out(1),
            "last": Out(1),
            "parity": In(1),
            "mark": In(1),
            "mark_map": In(1),
            "mark_addr": In(range(max_map)),
            "mark_value": In(1),
            "scan": In(1),
            "scan_last": Out(1),
            "mask": Out(max_cols),
            "column": In(range(max_cols)),
            "addr": Out(data.ArrayLayout(range(max_map), lanes)),
            "inside": Out(lanes),
        })

    @property
    def word(self) -> data.StructLayout:
        return self._word

    def elaborate(self, platform):
        m = Module()
        g, k = self.geometry, self._max_kernel
        wide = signed(2 * max(self._max_map, self._max_cols).bit_length() + 4)

        # The position walk, window by window; (iy0, ix0) is its patch's top-left input.
        oy, ox = Signal.like(g.out_h), Signal.like(g.out_w)
        wy, wx = Signal.like(g.pool_h), Signal.like(g.pool_w)  # the position in its window
        py, px = Signal.like(g.pooled_h), Signal.like(g.pooled_w)  # the window
        iy0, ix0, corner = Signal(wide), Signal(wide), Signal(wide)
        row_end, window_end = wx + 1 == g.pool_w, wy + 1 == g.pool_h
        m.d.comb += [
            iy0.eq(oy * g.stride - g.padding),
            ix0.eq(ox * g.stride - g.padding),
            corner.eq(iy0 * g.width + ix0),
            self.window_first.eq((wy == 0) & (wx == 0)),
            self.window_last.eq(row_end & window_end),
            self.last.eq(row_end & window_end & (px + 1 == g.pooled_w) & (py + 1 == g.pooled_h)),
        ]
        with m.If(self.restart):
            m.d.sync += [oy.eq(0), ox.eq(0), wy.eq(0), wx.eq(0), py.eq(0), px.eq(0),
                         self.pooled.eq(0)]
        with m.Elif(self.advance):
            with m.If(~row_end):  # along the window's row
                m.d.sync += [wx.eq(wx + 1), ox.eq(ox + 1)]
            with m.Elif(~window_end):  # the window's next row
                m.d.sync += [wx.eq(0), ox.eq(ox + 1 - g.pool_w), wy.eq(wy + 1), oy.eq(oy + 1)]
            with m.Else():  # the next window
                m.d.sync += [wx.eq(0), wy.eq(0), self.pooled.eq(self.pooled + 1)]
                with m.If(px + 1 != g.pooled_w):
                    m.d.sync += [px.eq(px + 1), ox.eq(ox + 1), oy.eq(oy + 1 - g.pool_h)]
                with m.Else():
                    m.d.sync += [px.eq(0), ox.eq(0), py.eq(py + 1), oy.eq(oy + 1)]

        # The nonzero maps, and the scan of the patch's rows (c, ky), one a cycle.
        maps = [Signal(self._max_map, name=f"nonzero{half}") for half in range(2)]
        for half, bits in enumerate(maps):
            with m.If(self.mark & (self.mark_map == half)):
                m.d.sync += bits.bit_select(self.mark_addr, 1).eq(self.mark_value)
        nonzero = Signal(self._max_map)
        m.d.comb += nonzero.eq(Mux(self.parity, maps[1], maps[0]))
        c, ky = Signal.like(g.channels), Signal.like(g.kernel_h)
        first = Signal(range(self._max_cols + k))  # the row's first patch column
        iy, start = Signal(wide), Signal(wide)
        m.d.comb += [
            iy.eq(iy0 + ky),
            start.eq(c * (g.height * g.width) + iy * g.width + ix0),
            self.scan_last.eq((c + 1 == g.channels) & (ky + 1 == g.kernel_h)),
        ]
        # ``k`` zeros below the map keep the window's offset nonnegative (padding < k).
        window = Cat(Const(0, k), nonzero, Const(0, k)).bit_select((start + k)[:len(start) - 1], k)
        row_inside = (iy >= 0) & (iy < g.height)
        kept = Cat((kx < g.kernel_w) & (ix0 + kx >= 0) & (ix0 + kx < g.width) & row_inside
                   for kx in range(k))
        with m.If(self.scan):
            m.d.comb += self.mask.eq(((window & kept) << first)[:self._max_cols])
            m.d.sync += [ky.eq(ky + 1), first.eq(first + g.kernel_w)]
            with m.If(ky + 1 == g.kernel_h):
                m.d.sync += [ky.eq(0), c.eq(c + 1)]
        with m.If(self.restart | self.advance | (self.scan & self.scan_last)):
            m.d.sync += [c.eq(0), ky.eq(0), first.eq(0)]

        # The patch table and each lane's input address.
        m.submodules.table = table = memory.Memory(
            shape=unsigned(self._word.size), depth=self._patch_depth, init=self._init,
            attrs=loaded_attrs(self._init))
        write = table.write_port()
        m.d.comb += [write.en.eq(self.write.en), write.addr.eq(self.write.addr),
                     write.data.eq(self.write.data)]
        for s in range(self._lanes):
            port = table.read_port(domain="comb")
            entry = data.View(self._word, port.data)
            m.d.comb += [
                port.addr.eq(g.patch_base + self.column + s),
                self.addr[s].eq(corner + entry.offset),
                self.inside[s].eq((iy0 + entry.ky >= 0) & (iy0 + entry.ky < g.height)
                                  & (ix0 + entry.kx >= 0) & (ix0 + entry.kx < g.width)),
            ]
        return m
