"""Structure: which weights are pruned together, and which patterns a layer's mask must follow.

A *group* structure rates units (rows, channels, blocks …) by a norm of their weights' scores;
the scope then keeps whole units. A *constrained* structure (N:M, PE-balanced) instead rewrites
the mask the scope chose for a layer into a fixed pattern that keeps about as many weights.

Scores arrive with pruned weights at ``-inf``. Layouts: a Linear weight is ``[out, in]``, a Conv2d
weight ``[out, in / groups, kh, kw]``; the "input dimension" of a Conv2d is ``(kh, kw, in)``
channels-last, as NVIDIA's sparse tensor cores read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ...errors import ConfigError

NORMS = {"l1": 1.0, "l2": 2.0}


@dataclass(frozen=True)
class StructureOptions:
    """Parameters of the structures; each structure reads only its own."""

    #: N of N:M: weights kept in every group of M consecutive inputs.
    n: int = 2
    #: M of N:M.
    m: int = 4
    #: Processing elements of the array: output row r lives in PE r mod pes.
    pes: int = 4
    #: Consecutive columns over which every PE keeps the same number of nonzeros.
    column_block: int = 1
    #: Side b of the b×b blocks.
    block: int = 4
    #: Norm of a group's scores: "l1" or "l2" (size-normalised, so groups of any size compare).
    group_norm: str = "l2"

    def __post_init__(self):
        if not 1 <= self.n <= self.m:
            raise ConfigError(f"N:M needs 1 <= n <= m, not n={self.n}, m={self.m}")
        for name in ("pes", "column_block", "block"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, not {getattr(self, name)!r}")
        if self.group_norm not in NORMS:
            raise ConfigError(f"group_norm must be one of {', '.join(NORMS)}, not {self.group_norm!r}")


def group_score(values: torch.Tensor, norm: str) -> torch.Tensor:
    """Size-normalised Lp norm over the last dim: (mean |s|^p)^(1/p), signed scores keep their sign.

    NaN marks padding (not part of the group); ``-inf`` marks pruned weights, which count as 0; a
    group with no live weight scores ``-inf``.
    """
    p = NORMS[norm]
    present = ~values.isnan()
    live = values.isfinite()
    v = torch.where(live, values, torch.zeros_like(values))
    mean = (v.sign() * v.abs() ** p).sum(-1) / present.sum(-1).clamp(min=1)
    score = mean.sign() * mean.abs() ** (1.0 / p)
    return torch.where(live.any(-1), score, torch.full_like(score, -torch.inf))


def _matrix(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1)


def _input_major(t: torch.Tensor) -> torch.Tensor:
    """``[out, fan_in]`` with a Conv2d's fan-in ordered (kh, kw, in) channels-last."""
    return _matrix(t.permute(0, 2, 3, 1) if t.dim() == 4 else t)


def _from_input_major(m: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    if len(shape) == 4:
        out, cin, kh, kw = shape
        return m.reshape(out, kh, kw, cin).permute(0, 3, 1, 2).contiguous()
    return m.reshape(shape)


def _by_group(t: torch.Tensor, groups: int) -> torch.Tensor:
    """``[groups, out / groups, in / groups, kh·kw]`` view of a weight-shaped tensor."""
    return t.reshape(groups, t.shape[0] // groups, t.shape[1], -1)


def _sizes(units: torch.Tensor, size: int) -> torch.Tensor:
    return torch.full(units.shape, size, dtype=torch.long)


# --- group structures: (scores, groups, options) -> (unit scores, unit sizes); expand back -----

def elements(scores, groups, opts):
    flat = scores.flatten()
    return flat, _sizes(flat, 1)


def expand_elements(keep, shape, groups, opts):
    return keep.reshape(shape)


def rows(scores, groups, opts):
    m = _matrix(scores)
    return group_score(m, opts.group_norm), _sizes(m[:, 0], m.shape[1])


def expand_rows(keep, shape, groups, opts):
    return keep.reshape(-1, *([1] * (len(shape) - 1))).expand(shape).clone()


def columns(scores, groups, opts):
    g = _by_group(scores, groups)
    values = g.permute(0, 2, 1, 3).reshape(g.shape[0], g.shape[2], -1)
    return group_score(values, opts.group_norm).flatten(), _sizes(values[..., 0].flatten(), values.shape[-1])


def expand_columns(keep, shape, groups, opts):
    out, cin = shape[0], shape[1]
    keep = keep.reshape(groups, 1, cin, 1).expand(groups, out // groups, cin, int(torch.Size(shape[2:]).numel()))
    return keep.reshape(shape).clone()


def _tiles(m: torch.Tensor, b: int) -> torch.Tensor:
    """``[row blocks, col blocks, b·b]`` tiles of a matrix, NaN-padded at the edges."""
    rows_, cols_ = m.shape
    padded = torch.full((-(-rows_ // b) * b, -(-cols_ // b) * b), torch.nan, dtype=m.dtype)
    padded[:rows_, :cols_] = m
    r, c = padded.shape[0] // b, padded.shape[1] // b
    return padded.reshape(r, b, c, b).permute(0, 2, 1, 3).reshape(r, c, b * b)


def blocks(scores, groups, opts):
    tiles = _tiles(_matrix(scores).float(), opts.block)
    return group_score(tiles, opts.group_norm).flatten(), (~tiles.isnan()).sum(-1).flatten()


def expand_blocks(keep, shape, groups, opts):
    b = opts.block
    rows_, cols_ = shape[0], int(torch.Size(shape[1:]).numel())
    r, c = -(-rows_ // b), -(-cols_ // b)
    full = keep.reshape(r, c, 1, 1).expand(r, c, b, b).permute(0, 2, 1, 3).reshape(r * b, c * b)
    return full[:rows_, :cols_].reshape(shape).clone()


# --- constrained structures: (scores, the scope's mask, options) -> mask ------------------------

def _keep_ranked(values: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Keep the ``k`` highest of each row of ``values`` (k broadcast over rows)."""
    order = values.argsort(dim=-1, descending=True, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(-1, order, torch.arange(values.shape[-1]).expand_as(order).contiguous())
    return rank < k


def n_of_m(scores, chosen, opts):
    """In every M consecutive inputs of a row keep the N best (a tail of r < M keeps min(N, r))."""
    m = _input_major(scores).float()
    fan_in = m.shape[1]
    width = -(-fan_in // opts.m) * opts.m
    padded = torch.full((m.shape[0], width), -torch.inf)
    padded[:, :fan_in] = m
    keep = _keep_ranked(padded.reshape(m.shape[0], -1, opts.m), torch.tensor(opts.n))
    return _from_input_major(keep.reshape(m.shape[0], width)[:, :fan_in], scores.shape)


def _pe_cells(m: torch.Tensor, pes: int, cb: int, fill) -> torch.Tensor:
    """``[pes, column blocks, rows per PE · cb]``: PE p holds rows p, p + P, …; ragged parts filled."""
    out, fan_in = m.shape
    rows_per_pe = -(-out // pes)
    n_blocks = -(-fan_in // cb)
    grid = torch.full((rows_per_pe * pes, n_blocks * cb), fill, dtype=m.dtype)
    grid[:out, :fan_in] = m
    # row r = i·P + p  →  [i, p]; columns [block, c]
    cells = grid.reshape(rows_per_pe, pes, n_blocks, cb).permute(1, 2, 0, 3)
    return cells.reshape(pes, n_blocks, rows_per_pe * cb)


def _from_pe_cells(cells: torch.Tensor, shape: tuple[int, int], pes: int, cb: int) -> torch.Tensor:
    out, fan_in = shape
    n_blocks = cells.shape[1]
    rows_per_pe = cells.shape[2] // cb
    grid = cells.reshape(pes, n_blocks, rows_per_pe, cb).permute(2, 0, 1, 3)
    return grid.reshape(rows_per_pe * pes, n_blocks * cb)[:out, :fan_in]


def _largest_remainder(share: torch.Tensor) -> torch.Tensor:
    """Integers with the same (rounded) sum as ``share``, each its floor or floor + 1."""
    base = torch.floor(share)
    remainder = share - base
    extra = int(torch.round(remainder.sum()))
    if extra:
        base[torch.topk(remainder, k=extra).indices] += 1
    return base


def pe_balanced(scores, chosen, opts):
    """Rows r of PE r mod P: in each column block every PE keeps the same count, its best weights.

    The count of a block is the PEs' mean count in the scope's mask, rounded by largest
    remainder over the blocks (so a layer with less than one weight per PE per block still keeps
    its share, in the blocks that wanted most), capped by the smallest PE's share of the block:
    the layer keeps about the density the scope chose.
    """
    m = _matrix(scores).float()
    pes, cb = opts.pes, opts.column_block
    real = _pe_cells(torch.ones_like(m), pes, cb, 0.0)
    holding = real.sum((1, 2)) > 0                     # PEs that hold at least one row
    counts = _pe_cells(_matrix(chosen).float(), pes, cb, 0.0).sum(-1)[holding]
    capacity = real.sum(-1)[holding].min(0).values
    k = torch.minimum(_largest_remainder(counts.mean(0)), capacity).long()
    keep = _keep_ranked(_pe_cells(m, pes, cb, -torch.inf), k[None, :, None])
    return _from_pe_cells(keep, m.shape, pes, cb).reshape(scores.shape)


@dataclass(frozen=True)
class Structure:
    group: Callable
    expand: Callable
    description: str
    citation: str
    #: Rewrites the mask the scope chose for a layer into the pattern; None for group structures.
    constrain: Callable | None = None
    #: The only density the structure allows (N:M), or None.
    fixed_density: Callable[[StructureOptions], float] | None = None


STRUCTURES: dict[str, Structure] = {
    "unstructured": Structure(elements, expand_elements, "individual weights",
                              "LeCun et al. 1990, Optimal Brain Damage; Han et al. 2015"),
    "rows": Structure(rows, expand_rows, "whole rows of a Linear (output neurons; filters of a Conv2d)",
                      "Hu et al. 2016, Network Trimming"),
    "columns": Structure(columns, expand_columns,
                         "whole columns of a Linear (input features; input channels of a Conv2d)",
                         "He et al. 2017, Channel Pruning"),
    "filters": Structure(rows, expand_rows, "whole filters of a Conv2d (rows of a Linear), by L1/L2 norm",
                         "Li et al. 2017, Pruning Filters for Efficient ConvNets"),
    "channels": Structure(columns, expand_columns,
                          "whole input channels of a Conv2d (columns of a Linear), groups respected",
                          "He et al. 2017, Channel Pruning"),
    "blocks": Structure(blocks, expand_blocks, "b x b blocks of the [out, fan-in] weight matrix",
                        "Narang et al. 2017, Block-Sparse Recurrent Neural Networks"),
    "nm": Structure(elements, expand_elements, "N of every M consecutive inputs kept (2:4, 1:4 ...)",
                    "Mishra et al. 2021, Accelerating Sparse Deep Neural Networks (NVIDIA 2:4)",
                    constrain=n_of_m, fixed_density=lambda o: o.n / o.m),
    "pe_balanced": Structure(elements, expand_elements,
                             "every PE (rows r mod P) keeps the same nonzeros per column block",
                             "Han et al. 2016, EIE; Yao et al. 2019, Balanced Sparsity",
                             constrain=pe_balanced),
}


def get_structure(name: str) -> Structure:
    try:
        return STRUCTURES[name]
    except KeyError:
        raise ConfigError(f"unknown structure {name!r}; valid: {', '.join(sorted(STRUCTURES))}") from None
