"""Weight scales (int8/int4, per channel/per tensor) and activation calibration (min/max, percentile)."""

import numpy as np
import pytest
import torch

from secateurs.config import QuantConfig
from secateurs.errors import ConfigError
from secateurs.sw.formats import container
from secateurs.sw.models import linear_layers
from secateurs.sw.quantize import quantize_model
from secateurs.sw.reference import forward, predict, quantize_input
from secateurs.sw.scales import activation_ranges, qmax, weight_scales
from secateurs.sw.train import accuracy
from tests.helpers.quantized import trained_mlp


@pytest.fixture(scope="module")
def trained():
    return trained_mlp()


def test_weight_scales_by_hand():
    w = np.array([[1.0, -4.0], [0.5, 0.0], [0.0, 0.0]])
    assert np.allclose(weight_scales(w, 8, "channel"), [4 / 127, 0.5 / 127, 1.0])
    assert np.allclose(weight_scales(w, 4, "tensor"), [4 / 7] * 3)
    assert (qmax(8), qmax(4)) == (127, 7)
    with pytest.raises(ConfigError, match="granularity"):
        weight_scales(w, 8, "row")


@pytest.mark.parametrize("bits, granularity", [(8, "channel"), (8, "tensor"), (4, "channel"), (4, "tensor")])
def test_weights_fit_their_range_and_keep_zeros(trained, bits, granularity):
    data, model = trained
    q = quantize_model(model, data.train.x, QuantConfig(weight_bits=bits, granularity=granularity))
    for linear, layer in zip(linear_layers(model), q.layers):
        w = linear.weight.detach().double().numpy()
        assert layer.weight_bits == bits
        assert np.array_equal(layer.weight == 0, w == 0)
        peak = np.abs(layer.weight).max(axis=1)
        assert peak.max() == qmax(bits)
        if granularity == "channel":
            assert np.all(peak[np.abs(w).max(axis=1) > 0] == qmax(bits))
        else:
            assert np.all(layer.multiplier == layer.multiplier[0])  # one scale: one multiplier
        error = np.abs(layer.weight * layer.weight_scale[:, None] - w)
        assert np.all(error <= layer.weight_scale[:, None] / 2 + 1e-12)


def test_int4_per_tensor_packs_in_4_bits(trained):
    data, model = trained
    q = quantize_model(model, data.train.x, QuantConfig(weight_bits=4, granularity="tensor"))
    packed = container.decode(container.encode(q, pes=2, index_bits=3))
    assert all(l.value_bits == 4 for l in packed.layers)
    x = quantize_input(data.test.x, q.input_scale)
    assert np.array_equal(forward(q, x)[-1], forward(packed.model, x)[-1])


def test_percentile_calibration_is_numpys_percentile(trained):
    data, model = trained
    x = data.train.x
    hidden = torch.relu(linear_layers(model)[0](torch.from_numpy(x).flatten(1))).detach().numpy()
    in_max, (hidden_max, _) = activation_ranges(model, x, "minmax")
    in_p, (hidden_p, _) = activation_ranges(model, x, "percentile", 99.0)
    assert in_max == pytest.approx(np.abs(x).max()) and hidden_max == pytest.approx(hidden.max())
    assert in_p == pytest.approx(np.percentile(np.abs(x), 99.0))
    assert hidden_p == pytest.approx(np.percentile(hidden, 99.0), rel=1e-5)
    assert hidden_p < hidden_max
    with pytest.raises(ConfigError, match="calibration"):
        activation_ranges(model, x, "entropy")


def test_percentile_model_clips_outliers_and_stays_accurate(trained):
    data, model = trained
    minmax = quantize_model(model, data.train.x, QuantConfig())
    clipped = quantize_model(model, data.train.x, QuantConfig(calibration="percentile", percentile=99.9))
    assert all(c.out_scale <= m.out_scale for c, m in zip(clipped.layers[:-1], minmax.layers[:-1]))
    float_accuracy = accuracy(model, data.test)
    for q in (minmax, clipped):
        assert (predict(q, data.test.x) == data.test.y).mean() > float_accuracy - 0.03
