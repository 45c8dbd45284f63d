"""A conv layer's geometry and its integer arithmetic: what the accelerator computes, in numpy.

A Conv2d is the matrix product of its ``(out_channels, in_channels/groups · kh · kw)`` weight
matrix, columns in ``(c, ky, kx)`` order (torch's ``weight.reshape(out, -1)``), with the input
patch of each output position; taps that land on the zero padding read 0. Per output position
and channel the accelerator then does exactly what it does for a Linear row: ``acc + bias``,
requantize (multiply, round half up, shift), clamp (ReLU on hidden layers), and last the pool
over the requantized int8 map:

* max pool: the largest value of each window;
* avg pool: ``⌊(2·Σ window + A) / (2·A)⌋`` with A = the window's area, i.e. the mean rounded
  half up (towards +∞, as the requantizer rounds), computed exactly in integers.

Pools have no padding and drop a partial last window (torch's defaults, ``ceil_mode=False``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Pool kinds by their id in model.bin (0: no pool).
POOL_KINDS = ("max", "avg")
#: Samples convolved at a time: bounds the patch matrix the reference builds.
SAMPLE_CHUNK = 64


def out_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length of a convolution (or a pool, with dilation 1 and no padding) along one axis;
    below 1 means the kernel does not fit."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@dataclass(frozen=True)
class Pool:
    """A pool applied to a conv layer's requantized output map."""

    kind: str  #: "max" or "avg"
    size: tuple[int, int]  #: window (height, width)
    stride: tuple[int, int]

    def out_shape(self, height: int, width: int) -> tuple[int, int]:
        return (out_size(height, self.size[0], self.stride[0], 0, 1),
                out_size(width, self.size[1], self.stride[1], 0, 1))


@dataclass(frozen=True)
class ConvGeometry:
    """Everything about a conv layer besides its weights: input map, kernel, the pool after it.

    Output channels are the weight matrix's rows; its columns are
    ``in_channels // groups · kernel[0] · kernel[1]`` in ``(c, ky, kx)`` order.
    """

    in_channels: int
    in_height: int
    in_width: int
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    pool: Pool | None = None

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.in_height, self.in_width)

    @property
    def cols(self) -> int:
        """Columns of the weight matrix: one per (c, ky, kx) of a group's input channels."""
        return self.in_channels // self.groups * self.kernel[0] * self.kernel[1]

    @property
    def conv_shape(self) -> tuple[int, int]:
        """(height, width) of the map before the pool."""
        return tuple(out_size(n, k, s, p, d) for n, k, s, p, d in zip(
            (self.in_height, self.in_width), self.kernel, self.stride, self.padding, self.dilation))

    def out_shape(self, out_channels: int) -> tuple[int, int, int]:
        """(channels, height, width) of the layer's output, after the pool."""
        height, width = self.conv_shape
        if self.pool is not None:
            height, width = self.pool.out_shape(height, width)
        return (out_channels, height, width)

    def problem(self, out_channels: int) -> str | None:
        """Why this geometry cannot be computed (None if it can)."""
        if min(self.in_shape) < 1 or min(self.kernel + self.stride + self.dilation) < 1:
            return "sizes, kernel, stride and dilation must be at least 1"
        if min(self.padding) < 0:
            return "padding must not be negative"
        if self.groups < 1 or self.in_channels % self.groups or out_channels % self.groups:
            return (f"groups={self.groups} must divide the {self.in_channels} input and "
                    f"{out_channels} output channels")
        if min(self.conv_shape) < 1:
            return f"a {self.kernel} kernel does not fit the padded {self.in_height}x{self.in_width} map"
        if self.pool is not None:
            if self.pool.kind not in POOL_KINDS or min(self.pool.size + self.pool.stride) < 1:
                return f"pool {self.pool} is not a max or avg pool of positive size and stride"
            if min(self.pool.out_shape(*self.conv_shape)) < 1:
                return f"a {self.pool.size} pool does not fit the {self.conv_shape} map"
        return None


def tap_positions(g: ConvGeometry, *, skip_padding: bool) -> np.ndarray:
    """Output positions at which each (ky, kx) tap is computed, shape (kh, kw): all of them, or
    with ``skip_padding`` only those whose input lies inside the map."""
    counts = []
    for axis, size in enumerate((g.in_height, g.in_width)):
        out = g.conv_shape[axis]
        if not skip_padding:
            counts.append(np.full(g.kernel[axis], out, dtype=np.int64))
            continue
        pos = (np.arange(out)[:, None] * g.stride[axis] - g.padding[axis]
               + np.arange(g.kernel[axis])[None, :] * g.dilation[axis])
        counts.append(((pos >= 0) & (pos < size)).sum(0))
    return counts[0][:, None] * counts[1][None, :]


def macs_per_weight(g: ConvGeometry, rows: int, *, skip_padding: bool = False) -> np.ndarray:
    """MACs each entry of the (rows, cols) weight matrix performs for one sample."""
    taps = tap_positions(g, skip_padding=skip_padding).reshape(-1)
    return np.tile(taps, g.in_channels // g.groups)[None, :].repeat(rows, axis=0)


def patches(x: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """Input patches, shape (N, groups, cols, OH·OW): column (c, ky, kx) of each output position,
    zero where the tap lands on padding."""
    n = len(x)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = g.kernel, g.stride, g.padding, g.dilation
    oh, ow = g.conv_shape
    padded = np.zeros((n, g.in_channels, g.in_height + 2 * ph, g.in_width + 2 * pw), x.dtype)
    padded[:, :, ph:ph + g.in_height, pw:pw + g.in_width] = x
    taps = np.empty((n, g.in_channels, kh, kw, oh, ow), x.dtype)
    for ky in range(kh):
        for kx in range(kw):
            taps[:, :, ky, kx] = padded[:, :, ky * dh:ky * dh + sh * (oh - 1) + 1:sh,
                                        kx * dw:kx * dw + sw * (ow - 1) + 1:sw]
    return taps.reshape(n, g.groups, g.cols, oh * ow)


def conv_accumulate(weight: np.ndarray, x: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """Exact integer accumulators (int64, shape (N, out_channels, OH, OW)) of the convolution.

    Products are summed in float64, exact while |acc| < 2^53 (int8 × int8 over at most 2^22
    columns is below 2^37), which keeps the reference fast.
    """
    rows = weight.shape[0]
    oh, ow = g.conv_shape
    w = np.asarray(weight, dtype=np.float64).reshape(g.groups, rows // g.groups, g.cols)
    x = np.asarray(x).reshape(len(x), *g.in_shape)
    out = np.empty((len(x), rows, oh, ow), dtype=np.int64)
    for start in range(0, len(x), SAMPLE_CHUNK):
        p = patches(x[start:start + SAMPLE_CHUNK].astype(np.float64), g)
        acc = np.einsum("gok,ngkp->ngop", w, p, optimize=True)
        out[start:start + SAMPLE_CHUNK] = np.rint(acc).reshape(-1, rows, oh, ow).astype(np.int64)
    return out


def pool(x: np.ndarray, p: Pool) -> np.ndarray:
    """Max or integer-average pool of int maps (N, C, H, W); see the module docstring."""
    n, c, height, width = x.shape
    oh, ow = p.out_shape(height, width)
    (kh, kw), (sh, sw) = p.size, p.stride
    windows = np.empty((n, c, kh * kw, oh, ow), dtype=np.int64)
    for ky in range(kh):
        for kx in range(kw):
            windows[:, :, ky * kw + kx] = x[:, :, ky:ky + sh * (oh - 1) + 1:sh,
                                            kx:kx + sw * (ow - 1) + 1:sw]
    if p.kind == "max":
        return windows.max(axis=2).astype(x.dtype)
    area = kh * kw
    return ((2 * windows.sum(axis=2) + area) // (2 * area)).astype(x.dtype)
