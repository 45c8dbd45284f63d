"""How big a job the RTL simulator is given: refused with an estimate before minutes pass silently."""

from __future__ import annotations

from .errors import InputError

#: Largest weight matrix (rows × cols) a single-layer simulation builds into the RTL's banks.
MAX_MATMUL_WEIGHTS = 1 << 18
#: Largest rows × cols × batch simulated: each multiply-accumulate costs the dense twin a cycle.
MAX_MATMUL_MACS = 1 << 24
#: Simulated cycles per second Verilator reaches on these designs (measured on one core, rounded
#: down), for the estimate in the error.
SIM_CYCLES_PER_SECOND = 100_000


def matmul_seconds(rows: int, cols: int, batch: int, pes: int = 4) -> float:
    """Rough seconds of simulation: the dense twin's cycles (every weight, P at a time)."""
    return batch * cols * -(-rows // max(pes, 1)) / SIM_CYCLES_PER_SECOND


def check_matmul_size(rows: int, cols: int, batch: int, pes: int = 4) -> None:
    """InputError, with an estimate of the time it would take, past the stated limits."""
    weights, macs = rows * cols, rows * cols * batch
    if weights <= MAX_MATMUL_WEIGHTS and macs <= MAX_MATMUL_MACS:
        return
    minutes = matmul_seconds(rows, cols, batch, pes) / 60
    raise InputError(
        f"a {rows}x{cols} matmul over {batch} inputs ({macs} multiply-accumulates) would simulate "
        f"for about {minutes:.0f} minutes or more; the limits are {MAX_MATMUL_WEIGHTS} weights "
        f"and {MAX_MATMUL_MACS} multiply-accumulates (split the matrix or the batch)")
