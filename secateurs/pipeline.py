"""The one pipeline: train → prune → quantize → pack, as a :class:`~.config.FlowConfig` says.

The flow's steps (:mod:`.steps`) are these functions with the run folder between them; the
density sweep, the hardware sweep's points and the benchmarks call the same functions (or the
flow itself), so a model is made one way wherever it is made. Each function takes the config
and the dataset and is deterministic in ``cfg.seed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from .config import FlowConfig
from .errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

    from .sw.data import Dataset, Split
    from .sw.prune.retrain import PruneResult
    from .sw.quantize import Quantized
    from .sw.reference import QuantModel
    from .sw.train import TrainResult


def fresh_model(cfg: FlowConfig, data: Dataset) -> nn.Module:
    """The seeded, untrained model (every run of one config starts from the same weights)."""
    from .sw.models import build_model

    return build_model(cfg.model, data.image_shape, data.classes, cfg.seed)


def checked_model(cfg: FlowConfig, data: Dataset) -> nn.Module:
    """:func:`fresh_model`, traced into its layer graph: ConfigError naming the first op the
    hardware cannot run."""
    from .sw.graph import trace

    model = fresh_model(cfg, data)
    trace(model, data.image_shape)
    return model


def train_model(cfg: FlowConfig, data: Dataset, *,
                on_epoch: Callable[[int, float], None] | None = None) -> tuple[nn.Module, TrainResult]:
    """The dense model trained by ``cfg.train`` from :func:`fresh_model`; best validation epoch
    kept. ``on_epoch(epoch, val_accuracy)`` reports progress. With ``model.checkpoint`` the
    model starts from that state_dict and is not trained (its result says epoch 0).

    The model is traced into its layer graph first: an op the hardware cannot run is refused
    before any training.
    """
    from .sw.graph import trace
    from .sw.train import TrainResult, accuracy, train_by
    from .sw.usermodel import load_checkpoint

    model = checked_model(cfg, data)
    if cfg.model.checkpoint is not None:
        load_checkpoint(model, cfg.model.checkpoint)
        trace(model, data.image_shape)  # the loaded BatchNorm statistics must fold as well
        val = accuracy(model, data.val)
        return model, TrainResult(best_epoch=0, best_val_accuracy=val, history=[val])
    return model, train_by(model, data, cfg.train, seed=cfg.seed, on_epoch=on_epoch)


def prune_model(cfg: FlowConfig, data: Dataset, model: nn.Module) -> PruneResult:
    """Prune the dense ``model`` in place as ``cfg.prune`` says, with its retraining rounds;
    the masks are squashed, so it saves as a plain state_dict."""
    from .sw.prune import prunable, squash
    from .sw.prune.retrain import prune_and_retrain, replay_checkpoints

    init, rewind = replay_checkpoints(cfg.prune, lambda: fresh_model(cfg, data), data, cfg.train,
                                      seed=cfg.seed)
    result = prune_and_retrain(model, data, cfg.prune, cfg.train, seed=cfg.seed, init=init,
                               rewind=rewind, pes=cfg.hardware.pes)
    squash(prunable(model))
    return result


def quantize_model(cfg: FlowConfig, data: Dataset, model: nn.Module) -> Quantized:
    """Integer weights and requantization by ``cfg.quant`` (weight sharing or QAT first, if set);
    ``model`` ends holding the shared or fine-tuned float weights."""
    from .sw.quantize import quantize

    return quantize(model, data, cfg.quant, seed=cfg.seed, batch_size=cfg.train.batch_size)


def reference_accuracy(qmodel: QuantModel, split: Split) -> float:
    """Accuracy of the integer model (bit-exact with the accelerator) on ``split``."""
    from .sw.reference import predict

    return float((predict(qmodel, split.x) == split.y).mean())


@dataclass(frozen=True)
class ModelFile:
    """What :func:`pack_model` made."""

    #: The bytes of model.bin.
    data: bytes
    #: Width of the relative row index of its CSC words (``pack.index_bits``, or the one chosen).
    index_bits: int


def pack_model(cfg: FlowConfig, data: Dataset, qmodel: QuantModel) -> ModelFile:
    """model.bin of ``qmodel`` in ``pack.format`` for ``hardware.pes`` PEs, its hidden neurons
    renumbered first with ``pack.balance_rows`` (calibrated on the training split)."""
    from .sw.balance import balance_rows
    from .sw.formats import container
    from .sw.reference import quantize_input

    pes = cfg.hardware.pes
    if cfg.pack.balance_rows:
        if any(q.geometry is not None for q in qmodel.layers):
            raise ConfigError("pack.balance_rows renumbers Linear neurons; this model has conv "
                              "layers: set pack.balance_rows = false")
        qmodel = balance_rows(qmodel, pes, quantize_input(data.train.x.reshape(len(data.train), -1), qmodel.input_scale))
    index_bits = cfg.pack.index_bits or container.common_index_bits(qmodel, pes=pes)
    return ModelFile(container.encode(qmodel, pes=pes, index_bits=index_bits, fmt=cfg.pack.format,
                                      n=cfg.prune.n, m=cfg.prune.m), index_bits)
