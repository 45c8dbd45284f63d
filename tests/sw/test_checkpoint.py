"""quantized.npz: the integer model between quantize and pack, conv geometry included."""

import numpy as np

from secateurs.sw.checkpoint import load_quant_model, save_quant_model
from tests.sw.formats.test_conv_layers import conv_model


def test_conv_model_round_trips(tmp_path):
    model = conv_model()
    save_quant_model(tmp_path / "q.npz", model)
    again = load_quant_model(tmp_path / "q.npz")
    assert again.input_scale == model.input_scale
    for a, b in zip(model.layers, again.layers):
        assert a.geometry == b.geometry and (a.shift, a.relu) == (b.shift, b.relu)
        assert np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)
    assert again.layers[0].geometry.pool.kind == "max" and again.layers[2].geometry is None
