"""Quantization-aware fine-tuning: straight-through gradients, the mask holds, and the integer
model it leaves is at least as accurate as post-training quantization."""

import copy

import numpy as np
import pytest
import torch

from secateurs.config import QuantConfig
from secateurs.sw.models import linear_layers
from secateurs.sw.qat import fake_quantize, qat_finetune
from secateurs.sw.quantize import quantize
from secateurs.sw.reference import predict
from tests.helpers.quantized import trained_mlp


@pytest.fixture(scope="module")
def trained():
    return trained_mlp()


def test_fake_quantize_rounds_half_up_clamps_and_passes_gradients_straight_through():
    x = torch.tensor([0.24, 0.25, -0.25, -0.26, 3.0, -3.0], requires_grad=True)
    y = fake_quantize(x, torch.tensor(0.5), -4, 3)
    assert y.tolist() == [0.0, 0.5, 0.0, -0.5, 1.5, -2.0]
    y.sum().backward()
    assert x.grad.tolist() == [1.0] * 6


def test_qat_keeps_the_mask_and_leaves_a_plain_model(trained):
    data, model = trained
    m = copy.deepcopy(model)
    qat_finetune(m, data, bits=4, granularity="tensor", epochs=2, lr=1e-3, seed=0)
    for before, after in zip(linear_layers(model), linear_layers(m)):
        assert not torch.nn.utils.parametrize.is_parametrized(after)
        assert not after._forward_hooks and not after._forward_pre_hooks
        assert torch.all(after.weight[before.weight == 0] == 0)
        assert not torch.equal(after.weight, before.weight)  # it trained


def test_qat_helps_int4(trained):
    data, model = trained
    ptq = quantize(copy.deepcopy(model), data, QuantConfig(weight_bits=4, granularity="tensor"))
    qat = quantize(copy.deepcopy(model), data, QuantConfig(weight_bits=4, granularity="tensor",
                                                          qat_epochs=5, qat_lr=1e-3))
    assert set(qat.steps) == {"qat_accuracy"}
    both = np.concatenate([data.val.x, data.test.x]), np.concatenate([data.val.y, data.test.y])
    accuracy = [(predict(q.model, both[0]) == both[1]).mean() for q in (ptq, qat)]
    assert accuracy[1] >= accuracy[0]
