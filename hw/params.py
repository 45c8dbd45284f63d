"""Every hardware limit, width and latency, in plain Python: the one authority for them.

The RTL (``hw/``) builds from these numbers, the cycle model (``sw/cycles.py``) counts with
them and the flow's configuration validates with the checks below, so none
of them is stated twice. Nothing here imports Amaranth: software that only needs a limit or a
latency reads it without generating hardware.

Latencies are in cycles, numbered as ``sw/cycles.py`` numbers them (cycle 0 is the one whose
closing edge samples ``start``).
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "Kind", "KINDS", "Readout", "READOUTS", "ACT_BITS", "WEIGHT_BITS", "COUNTER_BITS", "PARAM_MULTIPLIER_BITS",
    "SHIFT_BITS", "LOAD_WORD_BITS", "LOAD_TARGET_BITS", "LOAD_ADDRESS_BITS", "LOAD_COUNT_BITS",
    "MIN_VALUE_BITS", "MAX_VALUE_BITS", "check_value_bits",
    "DEFAULT_PES", "DEFAULT_QUEUE_DEPTH", "DEFAULT_ISSUE_WIDTH",
    "DEFAULT_ACC_BITS", "MAX_PES", "MAX_QUEUE_DEPTH", "ISSUE_WIDTHS", "MIN_INDEX_BITS",
    "MAX_INDEX_BITS", "MIN_ACC_BITS", "MAX_ACC_BITS", "MAX_CODE_BITS", "MAX_GROUP", "FIRST_PICK", "BROADCAST_LATENCY",
    "STAGE_HANDOFF",
    "QUEUE_LATENCY", "MAC_LATENCY", "IDLE_CYCLES", "ACC_READ_LATENCY", "REQUANT_LATENCY",
    "DRAIN_LATENCY", "ARGMAX_LATENCY", "NM_FIRST_GROUP", "NM_GROUP_LOAD", "check_positive",
    "check_kind", "check_readout", "check_pes", "check_queue_depth", "check_issue_width", "check_index_bits",
    "check_code_bits", "check_group", "check_acc_bits", "LOADED_ATTR", "loaded_attrs",
    "MAX_KERNEL", "MAX_STRIDE", "MAX_MAP_SIDE", "MAX_CHANNELS", "POOLS", "MAX_POOL",
    "POOL_SUM_BITS", "POOL_SHIFT", "check_conv_geometry",
]

#: The two designs of every hardware configuration: the sparse accelerator and its dense twin.
Kind = Literal["sparse", "dense"]
KINDS: tuple[str, ...] = get_args(Kind)
#: What leaves the last layer: requantized int8 logits (and the class), or its raw accumulators
#: (``sim matmul``: one layer's ``W x`` exactly).
Readout = Literal["logits", "accumulators"]
READOUTS: tuple[str, ...] = get_args(Readout)

# Widths.
ACT_BITS = 8  # activations are int8
WEIGHT_BITS = 8  # decoded weights are int8, whatever the stored value field holds
COUNTER_BITS = 32  # host-visible event counters: ~40 s of cycles at 100 MHz before wrapping
PARAM_MULTIPLIER_BITS = 16  # model.bin stores requantization multipliers as u16
SHIFT_BITS = 6  # model.bin allows requantization shifts up to 63
LOAD_WORD_BITS = 32  # the load port's stream: one host bus word a cycle
LOAD_TARGET_BITS = 8  # a load header's high byte names the memory ...
LOAD_ADDRESS_BITS = 24  # ... and its low 24 bits the first word's address
LOAD_COUNT_BITS = 24  # a load count word's low 24 bits: memory words that follow

# Defaults of a hardware configuration (the flow's hardware section takes them too).
DEFAULT_PES = 4
DEFAULT_QUEUE_DEPTH = 4
DEFAULT_ISSUE_WIDTH = 2
DEFAULT_ACC_BITS = 32

# Limits.
MAX_PES = 64  # the pointer word carries one bank address per PE; wider is impractical
MAX_QUEUE_DEPTH = 16  # deeper queues buy nothing at these layer sizes and cost registers
ISSUE_WIDTHS = (1, 2, 4, 8)  # powers of two: a column's block and lane are slices of its index
MIN_INDEX_BITS, MAX_INDEX_BITS = 1, 8  # relative row index of a CSC word
MIN_ACC_BITS, MAX_ACC_BITS = 16, 48  # accumulators: int8 x int8 sums need 16; wider buys nothing
MAX_CODE_BITS = 8  # Deep Compression's range: 2..8-bit codes (1 is allowed, if useless)
MIN_VALUE_BITS, MAX_VALUE_BITS = 2, 16  # a stored value field; decoded weights are int8
MAX_GROUP = 16  # largest M of N:M: positions fit 4 bits
# Conv layers (hw/core/address.py): the address generator's counters and the layer table's
# geometry fields are sized by a capacity's own limits, which may not exceed these.
MAX_KERNEL = 7  # kernel side KH, KW: a patch row's window is at most this many columns
MAX_STRIDE = 4  # stride: larger strides skip inputs no output ever reads
MAX_MAP_SIDE = 256  # feature map height and width
MAX_CHANNELS = 256  # input and output channels
POOLS = ("max", "avg")  # pools the drain applies to a conv layer's requantized map
MAX_POOL = 4  # pool window side; its stride is its size (windows tile the map, none overlap)
# The pool unit keeps each channel's running max, or sum, of its window's int8 values offset by
# 128 (so nonnegative): at most 255 * MAX_POOL^2, 12 bits.
POOL_SUM_BITS = ACT_BITS + (MAX_POOL * MAX_POOL - 1).bit_length()
# An average divides 2*sum + A by 2A (A the window's area) as ``(numerator * M) >> POOL_SHIFT``:
# numerators are below 2^13, and M = ceil(2^18 / 2A) errs by less than 2A <= 2^5, so 18 bits of
# shift make the quotient exact (the layer table's builder checks every numerator).
POOL_SHIFT = 2 * ACT_BITS + 2

# Latencies of the pipeline (hw/core, hw/engines, hw/accelerator).
FIRST_PICK = 1  # the launch edge latches the work list; cycle 1 picks the first block
STAGE_HANDOFF = 1  # a later block, fetched ahead, is staged on the edge its predecessor leaves
BROADCAST_LATENCY = 2  # the first block's pointer word is read on the pick edge (sync memory)
#                        and registered on the next: the RAM's slow output ends in a flip-flop
QUEUE_LATENCY = 1  # an entry pushed on one edge can leave in the cycle after it
MAC_LATENCY = 3  # issue; next cycle: word registered; next: product registered; next: accumulated
IDLE_CYCLES = 2  # a layer with no work: the launch edge, then cycle 1 already finishes
ACC_READ_LATENCY = 1  # a drained row's accumulator comes out of its RAM a cycle after the read
REQUANT_LATENCY = 5  # add bias; multiply; round; shift; clamp — each ends in a register
DRAIN_LATENCY = ACC_READ_LATENCY + REQUANT_LATENCY  # a row's read to its requantized write
ARGMAX_LATENCY = 1  # the class is registered on the last logit's edge, done one edge later
NM_FIRST_GROUP = 3  # N:M: group 0 is read from the cycle after launch and swapped in 2 later
NM_GROUP_LOAD = 2  # N:M: a group's last read, then its capture, before the swap edge


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_positive(what: str, value: object) -> int:
    """Return ``value`` if it is a positive integer, else raise naming ``what``."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{what} must be a positive integer, not {value!r}")
    return value


def _check_range(what: str, value: object, low: int, high: int) -> int:
    if not _is_int(value) or not low <= value <= high:
        raise ValueError(f"{what} must be an integer in {low}..{high}, not {value!r}")
    return value


def check_kind(kind: object) -> str:
    """Return ``kind`` if it is one of :data:`KINDS`, else raise."""
    if kind not in KINDS:
        raise ValueError(f"Kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return kind


def check_readout(readout: object) -> str:
    """Return ``readout`` if it is one of :data:`READOUTS`, else raise."""
    if readout not in READOUTS:
        raise ValueError(f"Readout must be one of {', '.join(READOUTS)}, not {readout!r}")
    return readout


def check_pes(pes: object) -> int:
    """Return ``pes`` if it is an integer in 1..MAX_PES, else raise."""
    return _check_range("PE count", pes, 1, MAX_PES)


def check_queue_depth(queue_depth: object) -> int:
    """Return ``queue_depth`` if it is an integer in 1..MAX_QUEUE_DEPTH, else raise."""
    return _check_range("Queue depth", queue_depth, 1, MAX_QUEUE_DEPTH)


def check_issue_width(issue_width: object) -> int:
    """Return ``issue_width`` if it is one of ISSUE_WIDTHS, else raise."""
    if not _is_int(issue_width) or issue_width not in ISSUE_WIDTHS:
        raise ValueError(f"Issue width must be one of {', '.join(map(str, ISSUE_WIDTHS))}, "
                         f"not {issue_width!r}")
    return issue_width


def check_index_bits(index_bits: object) -> int:
    """Return ``index_bits`` if it is an integer in MIN_INDEX_BITS..MAX_INDEX_BITS, else raise."""
    return _check_range("Index width", index_bits, MIN_INDEX_BITS, MAX_INDEX_BITS)


def check_value_bits(value_bits: object) -> int:
    """Return ``value_bits`` if it is an integer in MIN_VALUE_BITS..MAX_VALUE_BITS, else raise."""
    return _check_range("Value width", value_bits, MIN_VALUE_BITS, MAX_VALUE_BITS)


def check_code_bits(code_bits: object) -> int:
    """Return ``code_bits`` if it is an integer in 1..MAX_CODE_BITS, else raise."""
    return _check_range("Code width", code_bits, 1, MAX_CODE_BITS)


def check_group(m: object) -> int:
    """Return ``m`` if it is a valid N:M group size (2..MAX_GROUP), else raise."""
    return _check_range("Group size M", m, 2, MAX_GROUP)


def check_acc_bits(acc_bits: object) -> int:
    """Return ``acc_bits`` if it is an integer in MIN_ACC_BITS..MAX_ACC_BITS, else raise."""
    return _check_range("Accumulator width", acc_bits, MIN_ACC_BITS, MAX_ACC_BITS)


#: The attribute (name, value) that marks a memory whose contents only the load port writes.
#: Its Verilog declares no initial contents (:func:`..build.export.export_verilog` drops the zeros
#: Amaranth gives every memory): a 64k-word bank would otherwise be 64k lines of Verilog for every
#: tool to read and Verilator to compile, and a block RAM the synthesis must initialise.
LOADED_ATTR = ("contents", "loaded")


def loaded_attrs(init) -> dict:
    """Attributes of a memory with initial contents ``init``: :data:`LOADED_ATTR` when it has
    none (a loadable design), else none (a baked design keeps its contents)."""
    return {} if len(init) else dict([LOADED_ATTR])


def check_conv_geometry(*, channels, height, width, kernel_h, kernel_w, stride, padding,
                        pool=None, pool_h=1, pool_w=1) -> None:
    """Raise ValueError naming the first geometry value of a conv layer outside the limits
    above: padding at most ``kernel - 1`` (more would only add all-padding outputs), at
    least one output position and, with a pool, at least one pooled output."""
    _check_range("Input channels", channels, 1, MAX_CHANNELS)
    _check_range("Map height", height, 1, MAX_MAP_SIDE)
    _check_range("Map width", width, 1, MAX_MAP_SIDE)
    _check_range("Kernel height", kernel_h, 1, MAX_KERNEL)
    _check_range("Kernel width", kernel_w, 1, MAX_KERNEL)
    _check_range("Stride", stride, 1, MAX_STRIDE)
    _check_range("Padding", padding, 0, min(kernel_h, kernel_w) - 1)
    if height + 2 * padding < kernel_h or width + 2 * padding < kernel_w:
        raise ValueError(f"A {kernel_h}x{kernel_w} kernel does not fit a {height}x{width} map "
                         f"padded by {padding}")
    if pool is None:
        if (pool_h, pool_w) != (1, 1):
            raise ValueError(f"A layer without a pool has a 1x1 window, not {pool_h}x{pool_w}")
        return
    if pool not in POOLS:
        raise ValueError(f"Pool must be one of {', '.join(POOLS)} or None, not {pool!r}")
    _check_range("Pool height", pool_h, 1, MAX_POOL)
    _check_range("Pool width", pool_w, 1, MAX_POOL)
    out_h = (height + 2 * padding - kernel_h) // stride + 1
    out_w = (width + 2 * padding - kernel_w) // stride + 1
    if out_h < pool_h or out_w < pool_w:
        raise ValueError(f"A {pool_h}x{pool_w} pool does not fit the {out_h}x{out_w} map")
