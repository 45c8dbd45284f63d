"""What the hardware holds, as opposed to what a model needs: the sizes the Verilog is built from.

A :class:`Capacity` fixes the PEs, the memories' depths, the word format and the engine's
parameters. Any model that fits (:meth:`Capacity.check`) runs on the one design, its contents
written through the load port (:mod:`.load`). :meth:`Capacity.of` is the smallest capacity
that holds one model; :meth:`Capacity.for_shape` holds every model of given layer shapes and
word format, whatever its weights (a PE's words of a column never outnumber its local rows).

Plain Python (no Amaranth): a capacity is frozen, hashable and JSON-able (:meth:`as_dict`,
:meth:`from_dict`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .image import accumulator_bound
from .params import (DEFAULT_ACC_BITS, DEFAULT_ISSUE_WIDTH, DEFAULT_QUEUE_DEPTH, MAX_CHANNELS,
                     MAX_KERNEL, MAX_MAP_SIDE, check_acc_bits, check_code_bits, check_group,
                     check_index_bits, check_issue_width, check_kind, check_pes, check_positive,
                     check_queue_depth, check_value_bits)

__all__ = ["FORMATS", "Capacity"]

#: Weight word formats of the sparse banks: CSC (relative row index) or N:M (position in group).
FORMATS = ("csc", "nm")


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class Capacity:
    """The sizes and word format of one accelerator design (both kinds share it)."""

    pes: int  #: processing elements P; rows are interleaved over them
    max_layers: int  #: entries of the layer table: the most layers a model may have
    max_rows: int  #: the widest layer's output rows (accumulators: ceil(max_rows / P) per PE)
    max_cols: int  #: the widest layer's input columns (activation buffer, work list)
    bank_depth: int  #: words of each PE's weight bank (all layers, one after the other)
    pointer_depth: int  #: pointer words: CSC blocks of W columns, or N:M groups, of all layers
    param_depth: int  #: (bias, multiplier) words: output rows of all layers
    format: str = "csc"  #: "csc" or "nm"
    index_bits: int | None = 4  #: CSC: relative row index width (None for N:M)
    n: int | None = None  #: N:M: weights kept per group (None for CSC)
    m: int | None = None  #: N:M: group size M (None for CSC)
    value_bits: int = 8  #: stored value field, or code width when ``codebook``
    codebook: bool = False  #: values are codes into a per-layer codebook of int8 weights
    queue_depth: int = DEFAULT_QUEUE_DEPTH  #: activation queue depth D of each sparse PE
    issue_width: int = DEFAULT_ISSUE_WIDTH  #: columns the CSC engine broadcasts a cycle, W
    acc_bits: int = DEFAULT_ACC_BITS  #: accumulator width
    #: Conv layers (all six 0 when there are none; then no address generator is built):
    max_map: int = 0  #: activations of the largest feature map, C*H*W, a conv layer reads or writes
    max_side: int = 0  #: largest conv input map height or width
    max_channels: int = 0  #: most input channels of a conv layer
    max_kernel: int = 0  #: largest kernel height or width
    patch_depth: int = 0  #: patch table words: the patch columns of all conv layers
    #: output channels of the widest hidden conv layer: the pool unit's registers (0: none)
    pool_rows: int = 0

    def __post_init__(self):
        check_pes(self.pes)
        check_positive("Layer count", self.max_layers)
        check_positive("Row count", self.max_rows)
        check_positive("Column count", self.max_cols)
        check_positive("Bank depth", self.bank_depth)
        check_positive("Pointer depth", self.pointer_depth)
        check_positive("Parameter depth", self.param_depth)
        if self.format not in FORMATS:
            raise ValueError(f"Word format must be one of {', '.join(FORMATS)}, "
                             f"not {self.format!r}")
        if self.format == "csc":
            check_index_bits(self.index_bits)
            if self.n is not None or self.m is not None:
                raise ValueError("A CSC capacity has no N:M group (n and m must be None)")
        else:
            if self.index_bits is not None:
                raise ValueError("An N:M capacity has no index width (index_bits must be None)")
            check_group(self.m)
            if not isinstance(self.n, int) or isinstance(self.n, bool) or not 1 <= self.n <= self.m:
                raise ValueError(f"N of N:M must be an integer in 1..{self.m}, not {self.n!r}")
        if not isinstance(self.codebook, bool):
            raise TypeError(f"Codebook must be a bool, not {self.codebook!r}")
        if self.codebook:
            check_code_bits(self.value_bits)
        else:
            check_value_bits(self.value_bits)
        check_queue_depth(self.queue_depth)
        check_issue_width(self.issue_width)
        check_acc_bits(self.acc_bits)
        conv = (self.max_map, self.max_side, self.max_channels, self.max_kernel, self.patch_depth,
                self.pool_rows)
        if any(conv):
            check_positive("Map size", self.max_map)
            for what, value, high in (("Map side", self.max_side, MAX_MAP_SIDE),
                                      ("Channel count", self.max_channels, MAX_CHANNELS),
                                      ("Kernel side", self.max_kernel, MAX_KERNEL)):
                if not isinstance(value, int) or not 1 <= value <= high:
                    raise ValueError(f"{what} must be an integer in 1..{high}, not {value!r}")
            check_positive("Patch table depth", self.patch_depth)
            if not isinstance(self.pool_rows, int) or not 0 <= self.pool_rows <= MAX_CHANNELS:
                raise ValueError(f"Pool unit rows must be an integer in 0..{MAX_CHANNELS}, not "
                                 f"{self.pool_rows!r}")
            if self.format != "csc":
                raise ValueError("Conv layers run on the CSC engine; an N:M capacity has no "
                                 "address generator (its conv sizes must be 0)")

    # -- derived sizes ---------------------------------------------------------------------

    @property
    def rows_per_pe(self) -> int:
        """Accumulators of each PE: the local rows of the widest layer."""
        return _ceil(self.max_rows, self.pes)

    @property
    def nm(self) -> tuple[int, int] | None:
        return None if self.format == "csc" else (self.n, self.m)

    @property
    def conv(self) -> bool:
        """Whether conv layers run on it (it has an address generator)."""
        return self.max_map > 0

    @property
    def act_depth(self) -> int:
        """Words of each half of the activation buffer: the largest map or vector."""
        return max(self.max_cols, self.max_rows, self.max_map)

    def describe_words(self) -> str:
        """The word format in words, for messages."""
        values = f"{self.value_bits}-bit {'codes' if self.codebook else 'values'}"
        if self.format == "csc":
            return f"CSC with {self.index_bits}-bit indices and {values}"
        return f"{self.n}:{self.m} with {values}"

    def as_dict(self) -> dict:
        """JSON-able fields (:meth:`from_dict` reads them back)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Capacity:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"Unknown capacity field {unknown[0]!r}")
        return cls(**values)

    # -- construction from models and shapes ------------------------------------------------

    @staticmethod
    def _format_of(image) -> dict:
        if image.nm is not None:
            return {"format": "nm", "index_bits": None, "n": image.nm[0], "m": image.nm[1]}
        return {"format": "csc", "index_bits": image.index_bits, "n": None, "m": None}

    @classmethod
    def of(cls, image, *, kind: str | None = None, queue_depth: int = DEFAULT_QUEUE_DEPTH,
           issue_width: int = DEFAULT_ISSUE_WIDTH, acc_bits: int = DEFAULT_ACC_BITS) -> Capacity:
        """The smallest capacity that holds ``image`` (a :class:`~.image.NetworkImage`) for
        ``kind`` ("sparse", "dense", or None: both)."""
        if kind is not None:
            check_kind(kind)
        need = _needs(image, check_issue_width(issue_width))
        banks = {"sparse": max(need["sparse_bank"]), "dense": need["dense_bank"]}
        bank = max(banks.values()) if kind is None else banks[kind]
        return cls(pes=image.pes, max_layers=len(image.layers), max_rows=image.max_rows,
                   max_cols=image.max_cols, bank_depth=max(1, bank),
                   pointer_depth=max(1, need["pointers"]), param_depth=max(1, need["params"]),
                   value_bits=image.value_bits, codebook=image.codebook,
                   queue_depth=queue_depth, issue_width=issue_width, acc_bits=acc_bits,
                   **cls._format_of(image), **_conv_needs(image.layers))

    @classmethod
    def for_shape(cls, shapes, *, pes: int, format: str = "csc", index_bits: int | None = 4,
                  n: int | None = None, m: int | None = None, value_bits: int = 8,
                  codebook: bool = False, queue_depth: int = DEFAULT_QUEUE_DEPTH,
                  issue_width: int = DEFAULT_ISSUE_WIDTH,
                  acc_bits: int = DEFAULT_ACC_BITS, convs=None) -> Capacity:
        """Enough for any model whose layers have ``shapes`` (``(rows, cols)`` each, in order)
        in this word format: each bank as deep as the dense twin's (a PE's CSC words of a column
        never outnumber its local rows; N:M: N words per local row and group). ``convs`` gives
        each layer's :class:`~.image.ConvGeometry` (None for a Linear); a conv layer's cols
        are its patch columns."""
        shapes = [tuple(s) for s in shapes]
        if not shapes:
            raise ValueError("A network needs at least one layer")
        for i, shape in enumerate(shapes):
            if len(shape) != 2 or not all(isinstance(v, int) and v >= 1 for v in shape):
                raise ValueError(f"Layer {i}'s shape must be (rows, cols) of positive integers, "
                                 f"not {shape!r}")
        check_pes(pes)
        issue = check_issue_width(issue_width)
        if format == "nm" and m is not None:
            check_group(m)
        bank = pointers = 0
        for rows, cols in shapes:
            local = _ceil(rows, pes)
            if format == "nm" and m is not None and n is not None:
                bank += max(local * cols, local * _ceil(cols, m) * n)
                pointers += _ceil(cols, m)
            else:
                bank += local * cols
                pointers += _ceil(cols, issue)
        return cls(pes=pes, max_layers=len(shapes), max_rows=max(r for r, _ in shapes),
                   max_cols=max(c for _, c in shapes), bank_depth=bank,
                   pointer_depth=pointers, param_depth=sum(r for r, _ in shapes),
                   format=format, index_bits=index_bits, n=n, m=m, value_bits=value_bits,
                   codebook=codebook, queue_depth=queue_depth, issue_width=issue,
                   acc_bits=acc_bits, **_conv_needs(_ShapedLayer(rows, cols, conv)
                                                    for (rows, cols), conv
                                                    in zip(shapes, convs or [None] * len(shapes))))

    # -- does a model fit? ------------------------------------------------------------------

    def check(self, image, kind: str):
        """Return ``image`` if it fits this hardware as ``kind``, else raise ValueError naming
        the first memory or limit it exceeds and both sizes."""
        check_kind(kind)
        if image.pes != self.pes:
            raise ValueError(f"The model is packed for {image.pes} PEs; the hardware has "
                             f"{self.pes}")
        words = Capacity.of(image, kind=kind, queue_depth=self.queue_depth,
                            issue_width=self.issue_width, acc_bits=self.acc_bits)
        if words.describe_words() != self.describe_words():
            raise ValueError(f"The model's words are {words.describe_words()}; the hardware "
                             f"reads {self.describe_words()}")
        if len(image.layers) > self.max_layers:
            raise ValueError(f"The model has {len(image.layers)} layers; the hardware has "
                             f"{self.max_layers}")
        self._check_conv(image)
        for i, layer in enumerate(image.layers):
            if layer.rows > self.max_rows:
                raise ValueError(f"Layer {i} has {layer.rows} rows; the hardware has "
                                 f"{self.max_rows}")
            if layer.cols > self.max_cols:
                raise ValueError(f"Layer {i} has {layer.cols} columns; the hardware has "
                                 f"{self.max_cols}")
        need = _needs(image, self.issue_width)
        banks = need["sparse_bank"] if kind == "sparse" else [need["dense_bank"]] * image.pes
        for p, depth in enumerate(banks):
            if depth > self.bank_depth:
                raise ValueError(f"The weight bank of PE {p} needs {depth} words; the hardware "
                                 f"has {self.bank_depth}")
        if kind == "sparse" and need["pointers"] > self.pointer_depth:
            raise ValueError(f"The pointer memory needs {need['pointers']} words; the hardware "
                             f"has {self.pointer_depth}")
        if need["params"] > self.param_depth:
            raise ValueError(f"The parameter memory needs {need['params']} words; the hardware "
                             f"has {self.param_depth}")
        for i, layer in enumerate(image.layers):
            bound = accumulator_bound(layer)
            if bound >= 1 << (self.acc_bits - 1):
                raise ValueError(
                    f"Accumulator width {self.acc_bits} can overflow in layer {i}: its largest "
                    f"row sum of |weight| x 128 plus |bias| is {bound}, which needs "
                    f"{bound.bit_length() + 1} bits")
        return image


    def _check_conv(self, image) -> None:
        """Refuse conv layers this hardware cannot walk (its conv limits, one line): a conv
        layer reads the network's input or a conv layer's map (whose write-back marks its
        nonzero map); a hidden one drains through the pool unit, and only a hidden one pools."""
        layers = image.layers
        for i, layer in enumerate(layers):
            geo = layer.conv
            if geo is None:
                continue
            if not self.conv:
                raise ValueError(f"Layer {i} is a conv layer; the hardware has no address "
                                 f"generator (built for Linear layers only)")
            if i > 0 and layers[i - 1].conv is None:
                raise ValueError(f"Layer {i} is a conv layer after a Linear layer; the hardware "
                                 f"runs conv layers only first or after conv layers")
            last = i == len(layers) - 1
            if last and geo.pool is not None:
                raise ValueError(f"Layer {i} is pooled but is the network's last; the hardware "
                                 f"pools hidden conv layers only")
            if not last and layer.rows > self.pool_rows:
                raise ValueError(f"Layer {i} has {layer.rows} output channels; the hardware's "
                                 f"pool unit holds {self.pool_rows}")
            need = _conv_needs([layer])
            for key, what in (("max_side", "map side"), ("max_channels", "input channel count"),
                              ("max_kernel", "kernel side"),
                              ("max_map", "largest map (activations)")):
                if need[key] > getattr(self, key):
                    raise ValueError(f"Layer {i}'s {what} is {need[key]}; the hardware's is at "
                                     f"most {getattr(self, key)}")
        patch = _conv_needs(layers).get("patch_depth", 0)
        if patch > self.patch_depth:
            raise ValueError(f"The patch table needs {patch} words; the hardware has "
                             f"{self.patch_depth}")


@dataclass(frozen=True)
class _ShapedLayer:
    """A layer's shape and geometry, for :meth:`Capacity.for_shape`."""

    rows: int
    cols: int
    conv: object = None

    @property
    def outputs(self) -> int:
        return self.rows if self.conv is None else self.rows * self.conv.out_positions


def _conv_needs(layers) -> dict:
    """The conv fields of a capacity that holds the network of ``layers`` (all 0 without a conv
    layer): the pool unit holds the rows of every conv layer but a last one."""
    layers = list(layers)
    convs = [(layer, layer.conv) for layer in layers if layer.conv is not None]
    if not convs:
        return {}
    return {
        "pool_rows": max((layer.rows for layer in layers[:-1] if layer.conv is not None),
                         default=0),
        "max_map": max(max(geo.inputs, layer.outputs) for layer, geo in convs),
        "max_side": max(max(geo.height, geo.width) for _, geo in convs),
        "max_channels": max(geo.channels for _, geo in convs),
        "max_kernel": max(max(geo.kernel_h, geo.kernel_w) for _, geo in convs),
        "patch_depth": sum(geo.patch for _, geo in convs),
    }


def _needs(image, issue_width: int) -> dict:
    """Words ``image`` needs in each memory: per-PE sparse bank, dense bank, pointers, params."""
    sparse = [sum(len(layer.words[p]) for layer in image.layers) for p in range(image.pes)]
    dense = sum(image.rows_per_pe(l) * layer.cols for l, layer in enumerate(image.layers))
    if image.nm is not None:
        pointers = sum(layer.groups for layer in image.layers)
    else:
        pointers = sum(_ceil(layer.cols, issue_width) for layer in image.layers)
    return {"sparse_bank": sparse, "dense_bank": dense, "pointers": pointers,
            "params": sum(layer.rows for layer in image.layers)}
