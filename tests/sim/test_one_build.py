"""One build serves every model of a hardware configuration: the Verilog of two models of one
network shape at different densities is byte-identical (only their load words differ), and a
model larger than the configured memories is refused with one line naming the memory and both
sizes. No simulator: the Verilog text and the load words are compared."""

import json

import numpy as np
import pytest

from secateurs.config import HardwareConfig
from secateurs.errors import InputError
from secateurs.hw.capacity import Capacity
from secateurs.hw.image import network_image
from secateurs.rtl import LOAD_FILES, capacity_for, write_rtl
from secateurs.sim.network import model_words, prove
from tests.helpers.models import packed, random_inputs, random_model

SIZES = [24, 20, 6]
HW = HardwareConfig(pes=3, queue_depth=2)


def _model(density, seed):
    return packed(random_model(np.random.default_rng(seed), SIZES, density), pes=HW.pes)


def test_two_densities_share_the_verilog_byte_for_byte(tmp_path):
    sparse, dense = _model(0.15, 1), _model(0.7, 2)
    assert capacity_for(sparse, HW) == capacity_for(dense, HW)
    out = {}
    for name, p in (("a", sparse), ("b", dense)):
        out[name] = tmp_path / name
        write_rtl(out[name], network_image(p), HW)
    for kind in ("sparse", "dense"):
        verilog = f"{kind}_accelerator.v"
        assert (out["a"] / verilog).read_bytes() == (out["b"] / verilog).read_bytes()
        assert (out["a"] / LOAD_FILES[kind]).read_text() != (out["b"] / LOAD_FILES[kind]).read_text()
        words = (out["a"] / LOAD_FILES[kind]).read_text().split()
        assert all(len(w) == 8 for w in words)
        assert [int(w, 16) for w in words] == model_words(sparse, capacity_for(sparse, HW),
                                                          kind).tolist()
    described = [json.loads((out[n] / "accelerators.json").read_text()) for n in "ab"]
    assert described[0] == described[1]
    assert described[0]["capacity"] == capacity_for(sparse, HW).as_dict()
    assert described[0]["sparse"]["load"] == LOAD_FILES["sparse"] and not described[0]["baked"]


def test_baked_weights_make_model_dependent_verilog(tmp_path):
    a, b = _model(0.15, 1), _model(0.7, 2)
    for name, p in (("a", a), ("b", b)):
        write_rtl(tmp_path / name, network_image(p), HW, bake=True)
        assert not any((tmp_path / name / f).exists() for f in LOAD_FILES.values())
    assert ((tmp_path / "a" / "sparse_accelerator.v").read_bytes()
            != (tmp_path / "b" / "sparse_accelerator.v").read_bytes())
    assert json.loads((tmp_path / "a" / "accelerators.json").read_text())["baked"]


def test_a_model_larger_than_the_memories_is_refused_in_one_line(tmp_path):
    small, large = _model(0.15, 1), _model(0.9, 2)
    capacity = Capacity.of(network_image(small), kind="sparse", queue_depth=HW.queue_depth)
    with pytest.raises(InputError) as error:
        model_words(large, capacity, "sparse")
    message = str(error.value)
    assert "\n" not in message
    image = network_image(large)
    words = [sum(len(layer.words[p]) for layer in image.layers) for p in range(image.pes)]
    first = next(p for p, w in enumerate(words) if w > capacity.bank_depth)
    assert message == (f"the model does not fit the sparse accelerator: The weight bank of PE "
                       f"{first} needs {words[first]} words; the hardware has "
                       f"{capacity.bank_depth}")
    # prove refuses it before building anything
    with pytest.raises(InputError, match="weight bank of PE"):
        prove(large, random_inputs(np.random.default_rng(0), 2, SIZES[0]), hw=HW,
              build_root=tmp_path / "never", kinds=("sparse",), capacity=capacity)
    assert not (tmp_path / "never").exists()


def test_a_wider_layer_is_refused_naming_both_sizes():
    capacity = capacity_for(_model(0.5, 1), HW)
    wide = packed(random_model(np.random.default_rng(3), [24, 30, 6], 0.5), pes=HW.pes)
    with pytest.raises(InputError) as error:
        model_words(wide, capacity, "dense")
    assert str(error.value) == ("the model does not fit the dense accelerator: Layer 0 has 30 "
                                "rows; the hardware has 20")
