"""Quantization against the float model it came from (torch is the oracle)."""

import copy

import numpy as np
import pytest
import torch

from secateurs.config import DataConfig, ModelConfig, QuantConfig
from secateurs.sw.data import load_dataset
from secateurs.sw.models import build_model, linear_layers
from secateurs.sw.quantize import quantize_model
from secateurs.sw.reference import forward, quantize_input
from secateurs.sw.train import train


@pytest.fixture(scope="module")
def trained():
    data = load_dataset(DataConfig(), seed=3)
    model = build_model(ModelConfig(hidden=(32,)), data.features, data.classes, seed=3)
    train(model, data, epochs=8, lr=3e-3, seed=3)
    with torch.no_grad():  # prune a third of the weights by hand: zeros must survive quantization
        for layer in linear_layers(model):
            layer.weight[layer.weight.abs() < layer.weight.abs().quantile(0.33)] = 0
    return data, model, quantize_model(model, data.train.x, QuantConfig())


def test_weights_are_per_channel_symmetric_and_keep_zeros(trained):
    _, model, q = trained
    for linear, layer in zip(linear_layers(model), q.layers):
        w = linear.weight.detach().double().numpy()
        assert np.array_equal(layer.weight == 0, w == 0)
        assert np.all(np.abs(layer.weight).max(axis=1) == 127)
        assert np.all(np.abs(layer.weight * layer.weight_scale[:, None] - w)
                      <= layer.weight_scale[:, None] / 2 + 1e-12)


def test_multipliers_fit_their_bits(trained):
    _, _, q = trained
    for layer in q.layers:
        assert 0 < layer.multiplier.max() < 1 << QuantConfig().multiplier_bits
        real = layer.weight_scale * layer.in_scale / layer.out_scale
        assert np.allclose(layer.multiplier / 2.0 ** layer.shift, real, rtol=1e-3)


def test_integer_logits_track_the_float_model(trained):
    data, model, q = trained
    with torch.no_grad():
        want = model(torch.from_numpy(data.test.x)).numpy()
    logits = forward(q, quantize_input(data.test.x, q.input_scale))[-1] * q.layers[-1].out_scale
    assert np.abs(logits - want).max() < 0.1 * np.abs(want).max()
    agree = (logits.argmax(1) == want.argmax(1)).mean()
    assert agree > 0.97


def test_a_large_bias_beside_tiny_weights_fits_the_accumulator(trained):
    """A row of tiny weights (1e-9) and an ordinary bias: at the weights' own scale its integer
    bias is ~2^40, past the 32-bit accumulator (the hardware refuses such a model). The row's
    scale grows until the bias fits beside its largest sum, and its output stays the bias's."""
    from secateurs.hw.image import ACT_MAGNITUDE

    data, model, _ = trained
    model = copy.deepcopy(model)  # the fixture's model serves the other tests
    with torch.no_grad():
        first = linear_layers(model)[0]
        first.weight[0] = 1e-9
        first.bias[0] = 0.5
    q = quantize_model(model, data.train.x, QuantConfig())
    layer = q.layers[0]
    bound = (np.abs(layer.weight.astype(np.int64)).sum(axis=1) * ACT_MAGNITUDE
             + np.abs(layer.bias.astype(np.int64)))
    assert bound.max() < 1 << 31
    acc_scale = layer.weight_scale[0] * layer.in_scale
    assert abs(layer.bias[0] * acc_scale - 0.5) <= acc_scale  # the bias kept, not clipped
    # every other row is quantized exactly as before: scales from its own weights
    w = first.weight.detach().double().numpy()
    assert np.allclose(layer.weight_scale[1:], np.abs(w[1:]).max(axis=1) / 127)


@pytest.fixture(scope="module")
def trained_conv():
    """The user's Conv–BatchNorm–ReLU–MaxPool–Conv–ReLU–Linear net, a third of its weights pruned."""
    from secateurs.sw.models import weighted_layers
    from tests.helpers.user_model import ConvNet

    data = load_dataset(DataConfig(), seed=3)
    torch.manual_seed(3)
    model = ConvNet()
    train(model, data, epochs=6, lr=3e-3, seed=3)
    with torch.no_grad():
        for layer in weighted_layers(model):
            layer.weight[layer.weight.abs() < layer.weight.abs().quantile(0.33)] = 0
    return data, model, quantize_model(model, data.train.x, QuantConfig())


def test_conv_layers_keep_geometry_and_zeros(trained_conv):
    _, model, q = trained_conv
    conv = model.features[0]
    assert [l.geometry is not None for l in q.layers] == [True, True, False]
    assert q.layers[0].geometry.pool.kind == "max" and q.layers[0].relu
    # BatchNorm scales each output channel: pruned zeros stay zeros in the folded matrix.
    assert np.array_equal(q.layers[0].weight == 0, conv.weight.detach().reshape(8, -1).numpy() == 0)


def test_integer_conv_logits_track_the_float_model(trained_conv):
    data, model, q = trained_conv
    model.eval()
    with torch.no_grad():
        want = model(torch.from_numpy(data.test.x)).numpy()
    logits = forward(q, quantize_input(data.test.x, q.input_scale))[-1] * q.layers[-1].out_scale
    assert np.abs(logits - want).max() < 0.15 * np.abs(want).max()
    assert (logits.argmax(1) == want.argmax(1)).mean() > 0.95
