"""What a whole-network accelerator holds: every layer's weights, pointers and requantization.

A :class:`NetworkImage` is read from a decoded ``model.bin`` (:func:`network_image`); its
contents go into the accelerator's memories (:mod:`.memories`) through the load port
(:mod:`.load`) or baked in. It also carries what proves the accumulators wide enough: the largest
``|W x|`` any int8 input can reach (:func:`accumulator_bound`, checked by
:meth:`~.capacity.Capacity.check`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import ACT_BITS, PARAM_MULTIPLIER_BITS, POOL_SHIFT, check_conv_geometry, check_pes

__all__ = ["ConvGeometry", "NetworkLayer", "NetworkImage", "network_image", "accumulator_bound"]

ACT_MAGNITUDE = 1 << (ACT_BITS - 1)  # the largest |x| of an int8 activation


@dataclass(frozen=True)
class ConvGeometry:
    """Where a conv layer's patches lie: a ``channels x height x width`` input map (flat in that
    order, NCHW without N), a ``kernel_h x kernel_w`` kernel moved by ``stride`` over the map
    padded by ``padding`` zeros on every side (torch's ``conv2d``, dilation 1, groups 1), and
    the ``pool`` ("max", "avg" or None) of ``pool_h x pool_w`` windows, stride = size, applied
    to the requantized map (``secateurs.sw.conv``'s arithmetic; a partial last window dropped).

    The layer's weight matrix has one column per patch entry, in (c, ky, kx) order; its output
    map is ``rows x pooled_h x pooled_w``, flat in that order. The hardware computes only the
    output positions some window keeps (:attr:`positions`), window by window (:meth:`walk`).
    """

    channels: int
    height: int
    width: int
    kernel_h: int
    kernel_w: int
    stride: int = 1
    padding: int = 0
    pool: str | None = None
    pool_h: int = 1
    pool_w: int = 1

    def __post_init__(self):
        check_conv_geometry(channels=self.channels, height=self.height, width=self.width,
                            kernel_h=self.kernel_h, kernel_w=self.kernel_w, stride=self.stride,
                            padding=self.padding, pool=self.pool, pool_h=self.pool_h,
                            pool_w=self.pool_w)

    @classmethod
    def of(cls, geometry) -> ConvGeometry:
        """The hardware geometry of a model.bin layer's (``secateurs.sw.conv.ConvGeometry``);
        ValueError naming what the hardware does not walk (dilation, groups, unequal strides or
        paddings, overlapping or gapped pool windows) or a limit it exceeds."""
        g = geometry
        for what, value, want in (("dilation", g.dilation, (1, 1)), ("groups", g.groups, 1)):
            if value != want:
                raise ValueError(f"The hardware walks {what} {want} only, not {value}")
        for what, (a, b) in (("stride", g.stride), ("padding", g.padding)):
            if a != b:
                raise ValueError(f"The hardware walks one {what} on both axes, not {(a, b)}")
        pool = {}
        if g.pool is not None:
            if tuple(g.pool.stride) != tuple(g.pool.size):
                raise ValueError(f"The hardware pools with stride = window size only, not "
                                 f"window {tuple(g.pool.size)} stride {tuple(g.pool.stride)}")
            pool = {"pool": g.pool.kind, "pool_h": g.pool.size[0], "pool_w": g.pool.size[1]}
        return cls(channels=g.in_channels, height=g.in_height, width=g.in_width,
                   kernel_h=g.kernel[0], kernel_w=g.kernel[1], stride=g.stride[0],
                   padding=g.padding[0], **pool)

    @property
    def out_h(self) -> int:
        """Height of the conv map, before the pool."""
        return (self.height + 2 * self.padding - self.kernel_h) // self.stride + 1

    @property
    def out_w(self) -> int:
        return (self.width + 2 * self.padding - self.kernel_w) // self.stride + 1

    @property
    def pooled_h(self) -> int:
        """Height of the output map: whole pool windows (the conv map's without a pool)."""
        return self.out_h // self.pool_h

    @property
    def pooled_w(self) -> int:
        return self.out_w // self.pool_w

    @property
    def out_positions(self) -> int:
        """Outputs of each channel: ``pooled_h * pooled_w``."""
        return self.pooled_h * self.pooled_w

    @property
    def window(self) -> int:
        """Positions of a pool window (1 without a pool)."""
        return self.pool_h * self.pool_w

    @property
    def positions(self) -> int:
        """Output positions computed: one column walk each, every one a window keeps."""
        return self.out_positions * self.window

    @property
    def pool_multiplier(self) -> int:
        """M of the average pool's division: ``(2*S + A) * M >> POOL_SHIFT == (2*S + A) // 2A``
        for every sum S of a window's A offset values (0..255 each), checked here; 0 for a max
        pool or none."""
        if self.pool != "avg":
            return 0
        area = self.window
        multiplier = -(-(1 << POOL_SHIFT) // (2 * area))
        numerators = 2 * np.arange(255 * area + 1, dtype=np.int64) + area
        if not np.array_equal(numerators * multiplier >> POOL_SHIFT, numerators // (2 * area)):
            raise ValueError(f"No {POOL_SHIFT}-bit shift divides a {self.pool_h}x{self.pool_w} "
                             f"window's sums exactly")
        return multiplier

    def walk(self) -> list[tuple[int, int]]:
        """``(oy, ox)`` of the computed positions in the hardware's order: pooled outputs
        row-major, each window's positions row-major (without a pool: the map row-major)."""
        return [(py * self.pool_h + wy, px * self.pool_w + wx)
                for py in range(self.pooled_h) for px in range(self.pooled_w)
                for wy in range(self.pool_h) for wx in range(self.pool_w)]

    @property
    def patch(self) -> int:
        """Entries of a patch: the weight matrix's columns."""
        return self.channels * self.kernel_h * self.kernel_w

    @property
    def inputs(self) -> int:
        return self.channels * self.height * self.width

    @property
    def scan_rows(self) -> int:
        """Patch rows ``(c, ky)``: the address generator scans one a cycle per position."""
        return self.channels * self.kernel_h

    def patch_table(self) -> list[tuple[int, int, int]]:
        """``(offset, ky, kx)`` of each patch column j = (c, ky, kx): its input's flat address
        relative to the position's top-left corner, ``c*H*W + ky*W + kx``."""
        return [(c * self.height * self.width + ky * self.width + kx, ky, kx)
                for c in range(self.channels) for ky in range(self.kernel_h)
                for kx in range(self.kernel_w)]

    def patches(self, x: np.ndarray) -> np.ndarray:
        """``(batch, positions, patch)`` the input each patch column reads at each computed
        output position (in :meth:`walk` order), 0 where it falls in the padding; ``x`` is
        ``(batch, inputs)`` flat maps."""
        x = np.asarray(x).reshape(-1, self.channels, self.height, self.width)
        p, s = self.padding, self.stride
        padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        walk = self.walk()
        out = np.empty((len(x), len(walk), self.channels, self.kernel_h, self.kernel_w),
                       dtype=x.dtype)
        for k, (oy, ox) in enumerate(walk):
            out[:, k] = padded[:, :, oy * s:oy * s + self.kernel_h, ox * s:ox * s + self.kernel_w]
        return out.reshape(len(x), self.positions, self.patch)


@dataclass(frozen=True, eq=False)
class NetworkLayer:
    """One Linear layer, or with ``conv`` one conv layer, as the hardware stores it."""

    weight: np.ndarray  #: int (rows, cols), the decoded weights (dense twin's banks, reference)
    bias: np.ndarray  #: int (rows,), accumulator units
    multiplier: np.ndarray  #: int (rows,), unsigned requantization multiplier M
    shift: int  #: requantization right shift s
    relu: bool
    words: tuple[np.ndarray, ...]  #: per PE, raw ``csc_word`` bits of this layer's CSC words
    col_ptr: np.ndarray | None  #: (pes, cols + 1) start of each CSC column in each PE's words
    #: Weight of each code for codebook layers (the word's value field is an index), else None.
    codebook: tuple[int, ...] | None = None
    #: ``(n, m)`` of an N:M layer (its words are group-major, no pointers), else None.
    nm: tuple[int, int] | None = None
    #: A conv layer's geometry (its weight matrix is ``out_channels x patch``), else None.
    conv: ConvGeometry | None = None

    def __post_init__(self):
        if self.conv is not None and self.conv.patch != self.cols:
            raise ValueError(f"A conv layer of {self.conv.patch} patch entries cannot have "
                             f"{self.cols} weight columns")

    @property
    def rows(self) -> int:
        return self.weight.shape[0]

    @property
    def cols(self) -> int:
        return self.weight.shape[1]

    @property
    def inputs(self) -> int:
        """Activations the layer reads: its columns, or a conv layer's whole input map."""
        return self.cols if self.conv is None else self.conv.inputs

    @property
    def outputs(self) -> int:
        """Activations the layer writes: its rows, or a conv layer's whole output map."""
        return self.rows if self.conv is None else self.rows * self.conv.out_positions

    def counts(self) -> np.ndarray:
        """``(pes, cols)`` words each PE walks in each column."""
        return np.diff(self.col_ptr, axis=1)

    def nonempty(self) -> np.ndarray:
        """``(cols,)`` whether any PE has a word in each column (N:M: every column)."""
        if self.nm is not None:
            return np.ones(self.cols, dtype=bool)
        return self.counts().any(axis=0)

    @property
    def groups(self) -> int:
        """Groups of M inputs of an N:M layer."""
        return -(-self.cols // self.nm[1])


@dataclass(frozen=True, eq=False)
class NetworkImage:
    """Every layer of a network (Linear and conv layers), packed for ``pes`` PEs with ``index_bits``-bit relative indices."""

    pes: int
    index_bits: int
    value_bits: int
    layers: tuple[NetworkLayer, ...]

    def __post_init__(self):
        check_pes(self.pes)
        if not self.layers:
            raise ValueError("A network needs at least one layer")
        for i, (a, b) in enumerate(zip(self.layers, self.layers[1:])):
            if a.outputs != b.inputs:
                raise ValueError(f"Layer {i} has {a.outputs} outputs but layer {i + 1} has "
                                 f"{b.inputs} inputs")
        for i, layer in enumerate(self.layers):
            if layer.nm is None and layer.col_ptr.shape != (self.pes, layer.cols + 1):
                raise ValueError(f"Layer {i} is packed for {layer.col_ptr.shape[0]} PEs, "
                                 f"not {self.pes}")
            if np.any(layer.multiplier < 0) or np.any(layer.multiplier >> PARAM_MULTIPLIER_BITS):
                raise ValueError(f"Layer {i} has a multiplier outside 0..2^16 - 1")

    @property
    def inputs(self) -> int:
        return self.layers[0].inputs

    @property
    def outputs(self) -> int:
        return self.layers[-1].outputs

    @property
    def max_rows(self) -> int:
        return max(layer.rows for layer in self.layers)

    @property
    def max_cols(self) -> int:
        return max(layer.cols for layer in self.layers)

    @property
    def codebook(self) -> bool:
        return any(layer.codebook is not None for layer in self.layers)

    @property
    def nm(self) -> tuple[int, int] | None:
        """``(n, m)`` if the layers are N:M (all of them are, then), else None."""
        return self.layers[0].nm

    def rows_per_pe(self, layer: int) -> int:
        return -(-self.layers[layer].rows // self.pes)


def accumulator_bound(layer: NetworkLayer) -> int:
    """The largest ``|acc + bias|`` an int8 input can produce in any row of ``layer``."""
    fan_in = np.abs(layer.weight.astype(np.int64)).sum(axis=1) * ACT_MAGNITUDE
    return int((fan_in + np.abs(layer.bias.astype(np.int64))).max())


def network_image(packed) -> NetworkImage:
    """The image of a decoded ``model.bin`` (:class:`~secateurs.sw.formats.container.PackedModel`).

    Every layer must have the same word layout, since the PEs' banks have one: CSC with one
    relative index width, or N:M with one N and M; values int8, int4 or codebook codes of one
    width.
    """
    layers, kinds = [], set()
    for i, (q, packed_layer) in enumerate(zip(packed.model.layers, packed.layers)):
        nm = (packed_layer.n, packed_layer.m) if hasattr(packed_layer, "m") else None
        if nm is None and not hasattr(packed_layer, "col_ptr"):
            raise ValueError(f"Layer {i} is stored as {type(packed_layer).__name__}; the "
                             f"accelerator reads CSC or N:M layers")
        codebook = getattr(packed_layer, "codebook", None)
        conv = None
        if q.geometry is not None:
            try:
                conv = ConvGeometry.of(q.geometry)
            except ValueError as e:
                raise ValueError(f"Layer {i} (conv): {e}") from None
        index_bits = None if nm else packed_layer.index_bits
        kinds.add((packed_layer.pes, packed_layer.value_bits, index_bits, nm,
                   codebook is not None))
        layers.append(NetworkLayer(
            weight=np.asarray(q.weight, dtype=np.int64), bias=np.asarray(q.bias, dtype=np.int64),
            multiplier=np.asarray(q.multiplier, dtype=np.int64), shift=int(q.shift),
            relu=bool(q.relu), words=tuple(np.asarray(w, dtype=np.int64) for w in packed_layer.words),
            col_ptr=None if nm else np.asarray(packed_layer.col_ptr, dtype=np.int64),
            codebook=None if codebook is None else tuple(int(v) for v in codebook), nm=nm,
            conv=conv))
    if len(kinds) != 1:
        raise ValueError("All layers must share one word layout (PEs, value width, index width "
                         f"or N:M, codebook or not); this model has {sorted(kinds, key=str)}")
    pes, value_bits, index_bits, _, _ = kinds.pop()
    return NetworkImage(pes=pes, index_bits=index_bits or 0, value_bits=value_bits,
                        layers=tuple(layers))
