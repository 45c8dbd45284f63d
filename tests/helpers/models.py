"""Models the hardware tests run: small random integer networks, and a quickly trained digits MLP."""

from __future__ import annotations

import numpy as np

from secateurs.sw.formats import container
from secateurs.sw.reference import QuantLayer, QuantModel, quantize_input


def random_model(rng, sizes, density, *, shifts=(14, 20)) -> QuantModel:
    """An integer MLP with layer widths ``sizes``: random int8 weights (about ``density`` kept,
    never -128 so ``|w| <= 127``), biases and multipliers; ReLU on every layer but the last."""
    layers = []
    for i, (cols, rows) in enumerate(zip(sizes, sizes[1:])):
        w = rng.integers(-127, 128, (rows, cols))
        w[w == 0] = 1
        w = w * (rng.random((rows, cols)) < density)
        layers.append(QuantLayer(
            weight=w.astype(np.int8), bias=rng.integers(-3000, 3000, rows).astype(np.int32),
            multiplier=rng.integers(1, 1 << 15, rows).astype(np.int64),
            shift=int(rng.integers(*shifts)), relu=i < len(sizes) - 2, weight_scale=None,
            in_scale=1.0, out_scale=1.0))
    return QuantModel(1.0, tuple(layers))


def packed(model: QuantModel, *, pes: int, index_bits: int = 4, fmt: str = "csc"):
    """``model`` through model.bin and back, packed as CSC (or ``fmt``) for ``pes`` PEs."""
    return container.decode(container.encode(model, pes=pes, index_bits=index_bits, fmt=fmt))


def random_inputs(rng, batch, features, zero_fraction=0.4) -> np.ndarray:
    x = rng.integers(-128, 128, (batch, features))
    return x * (rng.random((batch, features)) >= zero_fraction)


def digits_model(*, seed: int = 0, density: float = 0.1, structure: str = "unstructured",
                 pes: int = 4, epochs: int = 15, finetune_epochs: int = 8):
    """A digits MLP (64-128-64-10), pruned and int8-quantized: ``(QuantModel, test x int8, y)``.

    Shorter training than the default flow: the hardware tests need a real model, not its best
    accuracy.
    """
    import torch  # noqa: F401  (the sw training stack)

    from secateurs import config
    from secateurs.sw import prune
    from secateurs.sw.data import load_dataset
    from secateurs.sw.models import build_model
    from secateurs.sw.quantize import quantize_model
    from secateurs.sw.train import train

    cfg = config.FlowConfig()
    data = load_dataset(cfg.data, seed)
    model = build_model(cfg.model, data.features, data.classes, seed)
    train(model, data, epochs=epochs, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay,
          batch_size=cfg.train.batch_size, seed=seed)
    prune.prune(model, density=density, structure=structure, seed=seed,
                options=prune.options_of(cfg.prune, pes))
    train(model, data, epochs=finetune_epochs, lr=cfg.prune.finetune_lr,
          batch_size=cfg.train.batch_size, seed=seed + 1)
    prune.squash(prune.prunable(model))
    qmodel = quantize_model(model, data.train.x, cfg.quant)
    return qmodel, quantize_input(data.test.x.reshape(len(data.test), -1), qmodel.input_scale), data.test.y
