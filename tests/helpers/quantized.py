"""One small trained, half-pruned digits MLP shared by the quantization tests (trained once)."""

import copy
import functools

import torch

from secateurs.config import DataConfig, ModelConfig
from secateurs.sw.data import load_dataset
from secateurs.sw.models import build_model, linear_layers
from secateurs.sw.train import train

SEED = 5


@functools.cache
def _trained():
    data = load_dataset(DataConfig(), seed=SEED)
    model = build_model(ModelConfig(hidden=(32,)), data.features, data.classes, seed=SEED)
    train(model, data, epochs=8, lr=3e-3, seed=SEED)
    with torch.no_grad():
        for layer in linear_layers(model):
            layer.weight[layer.weight.abs() < layer.weight.abs().quantile(0.5)] = 0
    return data, model


def trained_mlp():
    """``(data, model)``; the model is a fresh copy each call, so tests may change it."""
    data, model = _trained()
    return data, copy.deepcopy(model)
