"""Tracing models into the layer graph: shapes, folding, and one exact line for what is refused."""

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from secateurs.config import ModelConfig
from secateurs.errors import ConfigError
from secateurs.sw.conv import ConvGeometry, Pool
from secateurs.sw.graph import SUPPORTED, trace
from secateurs.sw.models import build_model


def test_lenet5_on_mnist_is_the_classic_network():
    model = build_model(ModelConfig(arch="lenet5"), (1, 28, 28), 10, seed=0)
    graph = trace(model, (1, 28, 28))
    maxpool = Pool("max", (2, 2), (2, 2))
    assert [l.geometry for l in graph.layers[:2]] == [
        ConvGeometry(1, 28, 28, (5, 5), padding=(2, 2), pool=maxpool),
        ConvGeometry(6, 14, 14, (5, 5), pool=maxpool)]
    assert [tuple(l.matrix.shape) for l in graph.layers] == [
        (6, 25), (16, 150), (120, 400), (84, 120), (10, 84)]
    assert [l.relu for l in graph.layers] == [True, True, True, True, False]
    assert sum(p.numel() for p in model.parameters()) == 61_706  # LeCun et al.'s count at 28×28


@pytest.mark.parametrize("shape,head", [((1, 8, 8), 16 * 2 * 2), ((3, 32, 32), 16 * 5 * 5)])
def test_lenet5_shapes_follow_the_data_set(shape, head):
    model = build_model(ModelConfig(arch="lenet5"), shape, 10, seed=0)
    graph = trace(model, shape)
    assert graph.layers[2].matrix.shape[1] == head
    assert model(torch.zeros(2, *shape)).shape == (2, 10)


class ConvBN(nn.Module):
    """Conv–BatchNorm–ReLU–MaxPool–Conv–ReLU–Flatten–Linear, with trained BN statistics."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4),
                                      nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.2),
                                      nn.Conv2d(4, 6, 3, stride=2, dilation=1), nn.ReLU())
        self.classifier = nn.Linear(6 * 1 * 1, 3)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def test_batchnorm_is_folded_and_the_graph_computes_the_model():
    model = ConvBN()
    with torch.no_grad():
        bn = model.features[1]
        bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 2), bn.bias.uniform_(-1, 1)
    graph = trace(model, (1, 6, 6))
    assert len(graph.layers) == 3 and graph.layers[0].relu and graph.layers[0].geometry.pool
    x = torch.rand(5, 1, 6, 6)
    model.eval()
    assert torch.allclose(graph.forward(x), model(x), atol=1e-5)
    assert not torch.equal(graph.layers[0].weight, model.features[0].weight)
    assert graph.layers[0].module is model.features[0] and model.training is False


class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=2, dilation=2, groups=3)  # depthwise, dilated
        self.conv2 = nn.Conv2d(3, 4, 1)
        self.fc = nn.Linear(4 * 3 * 3, 2)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        x = F.avg_pool2d(self.conv2(x).relu(), kernel_size=2, stride=1)
        return self.fc(x.view(x.size(0), -1))


def test_functional_ops_and_view():
    model = Functional()
    graph = trace(model, (3, 8, 8))
    g0, g1 = graph.layers[0].geometry, graph.layers[1].geometry
    assert (g0.groups, g0.dilation, g0.padding, g0.pool) == (3, (2, 2), (2, 2), Pool("max", (2, 2), (2, 2)))
    assert g1.pool == Pool("avg", (2, 2), (1, 1)) and g1.in_shape == (3, 4, 4)
    x = torch.rand(4, 3, 8, 8)
    assert torch.allclose(graph.forward(x), model(x), atol=1e-6)


def refused(path, op):
    return re.escape(f"model: layer {path} ({op}) is not supported")


@pytest.mark.parametrize("model,shape,message", [
    (nn.Sequential(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.GELU()), nn.Linear(72, 2)),
     (1, 8, 8), refused("0.3", "GELU") + re.escape(f"; supported: {SUPPORTED}") + "$"),
    (nn.Sequential(nn.Conv3d(1, 2, 3)), (1, 4, 4, 4), refused("0", "Conv3d")),
    (nn.Sequential(nn.Conv2d(4, 4, 3, groups=2), nn.Flatten(), nn.Linear(16, 2)), (4, 4, 4),
     refused("0", "Conv2d") + r" \(groups=2: only 1 or depthwise\)"),
    (nn.Sequential(nn.Conv2d(1, 2, 3, padding_mode="reflect", padding=1), nn.Flatten(), nn.Linear(32, 2)),
     (1, 4, 4), "padding_mode='reflect'"),
    (nn.Sequential(nn.Flatten(), nn.BatchNorm1d(16), nn.Linear(16, 2)), (1, 4, 4),
     refused("1", "BatchNorm1d") + " .a BatchNorm must directly follow"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2, padding=1), nn.Flatten(), nn.Linear(18, 2)),
     (1, 6, 6), refused("1", "MaxPool2d") + " .pools take no padding"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.AvgPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2)),
     (1, 6, 6), refused("2", "ReLU")),
    (nn.Sequential(nn.Flatten(), nn.Linear(16, 4), nn.Sigmoid(), nn.Linear(4, 2)), (1, 4, 4),
     refused("2", "Sigmoid")),
    (nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4, 2)), (1, 4, 4),
     refused("0", "MaxPool2d") + " .a pool must follow a conv layer"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Linear(2, 2)), (1, 4, 4),
     refused("1", "Linear") + " .its input is"),
    (nn.Sequential(nn.Conv2d(1, 2, 3)), (1, 4, 4), r"model: its output is \(2, 2, 2\) per sample"),
])
def test_unsupported_models_get_one_line(model, shape, message):
    with pytest.raises(ConfigError, match=message) as e:
        trace(model, shape)
    assert "\n" not in str(e.value)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.fc = nn.Linear(32, 2)

    def forward(self, x):
        return self.fc(torch.flatten(self.conv(x) + x, 1))


class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(self.fc(x.flatten(1)))


class Lstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(4, 4, batch_first=True)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        out, _ = self.rnn(x.flatten(2))
        return self.fc(out[:, -1])


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 2)

    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
            return self.a(x.flatten(1))
        return self.a(x.flatten(1)) * 2


@pytest.mark.parametrize("model,shape,message", [
    (Residual(), (2, 4, 4), refused("add", "add")),
    (Twice(), (1, 2, 2), refused("fc", "Linear") + " .a layer called twice"),
    (Lstm(), (1, 4, 4), refused("rnn", "LSTM")),
    (Branchy(), (1, 2, 2), "model: torch.fx cannot trace it"),
])
def test_unsupported_structures_get_one_line(model, shape, message):
    with pytest.raises(ConfigError, match=message) as e:
        trace(model, shape)
    assert "\n" not in str(e.value)


def test_the_model_is_left_in_its_training_mode():
    model = build_model(ModelConfig(arch="cnn"), (1, 8, 8), 10, seed=0)
    model.train()
    trace(model, (1, 8, 8))
    assert model.training
