"""Models: LeNet-300-100 and LeNet-5 shapes and parameter counts, seeded initialisation."""

import pytest
import torch
from torch import nn

from secateurs.config import ModelConfig
from secateurs.errors import ConfigError
from secateurs.sw.models import build_model, linear_layers, weighted_layers

LENET_300_100 = ModelConfig(arch="mlp", hidden=(300, 100))
LENET_5 = ModelConfig(arch="cnn", channels=(6, 16), hidden=(120, 84))


def params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("features,count", [(784, 266_610), (64, 50_610)])
def test_lenet_300_100_adapts_its_input_width(features, count):
    model = build_model(LENET_300_100, features, 10, seed=0)
    assert [l.in_features for l in linear_layers(model)] == [features, 300, 100]
    assert params(model) == count and model(torch.zeros(2, features)).shape == (2, 10)


def test_lenet_5_on_28x28_is_the_classic_network():
    model = build_model(LENET_5, (1, 28, 28), 10, seed=0)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size, c.padding) for c in convs] == [((5, 5), (2, 2)), ((5, 5), (0, 0))]
    assert linear_layers(model)[0].in_features == 16 * 5 * 5
    assert params(model) == 61_706
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_lenet_5_like_on_8x8_digits():
    model = build_model(LENET_5, 64, 10, seed=0)  # a square feature count is taken as 1×8×8
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size, c.padding) for c in convs] == [((3, 3), (1, 1))] * 2
    assert linear_layers(model)[0].in_features == 16 * 2 * 2
    assert len(weighted_layers(model)) == 5 and model(torch.zeros(1, 1, 8, 8)).shape == (1, 10)


def test_initialisation_is_seeded_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b = build_model(LENET_5, 64, 10, seed=3), build_model(LENET_5, 64, 10, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert torch.equal(torch.random.get_rng_state(), state)
    c = build_model(LENET_5, 64, 10, seed=4)
    assert not torch.equal(next(a.parameters()), next(c.parameters()))


@pytest.mark.parametrize("cfg,features,message", [
    (ModelConfig(arch="resnet"), 64, "mlp, cnn"),
    (LENET_5, 60, "square"),
    (ModelConfig(arch="cnn", channels=(4, 4, 4, 4)), 64, "too many"),
])
def test_impossible_models_are_config_errors(cfg, features, message):
    with pytest.raises(ConfigError, match=message):
        build_model(cfg, features, 10, seed=0)
