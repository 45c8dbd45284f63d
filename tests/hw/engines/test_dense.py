"""The dense twin's engine alone (hw/engines/dense.py): accumulators equal ``W @ x`` and the
compute phase takes exactly ``sw.cycles.dense_cycles``, zeros and all, for several P."""

import numpy as np
import pytest

from secateurs.hw.engines.dense import DenseEngine
from secateurs.hw.memories import dense_banks
from secateurs.sw.cycles import dense_cycles
from tests.helpers.models import random_inputs, random_model
from tests.hw.engines.bench import (engine_init, engine_signature, nm_model, one_layer_image,
                                    run_engine)

SIZES = [9, 10]


def _image(pes, density=0.5, seed=0):
    return one_layer_image(random_model(np.random.default_rng(seed), SIZES, density), pes=pes)


def _engine(image):
    signature = engine_signature(image, kind="dense")
    return DenseEngine(signature, init=engine_init(image, signature))


def test_init():
    image = _image(pes=3)
    signature = engine_signature(image, kind="dense")
    dut = DenseEngine(signature)
    assert dut.signature is signature
    # every weight of the PE's local rows (padding rows included), one word each
    assert dut.bank_depth == len(dense_banks(image)[0]) == image.rows_per_pe(0) * SIZES[0]


def test_init_wrong_signature():
    image = _image(pes=2)
    with pytest.raises(TypeError) as error:
        DenseEngine(None)
    assert str(error.value) == "Engine signature must be an EngineSignature, not None"
    with pytest.raises(ValueError) as error:
        DenseEngine(engine_signature(image))
    assert str(error.value) == "The signature is of a sparse engine, not a dense one"


def _check(image, x, runs):
    layer = image.layers[0]
    for i, run in enumerate(runs):
        np.testing.assert_array_equal(run.accs, layer.weight @ x[i], err_msg=f"sample {i}")
        assert run.cycles == dense_cycles(layer.rows, layer.cols, image.pes), f"sample {i}"
        assert run.macs == np.count_nonzero(layer.weight[:, x[i] != 0]), f"sample {i} MACs"


@pytest.mark.parametrize("pes", [1, 2, 3, 4, 10, 12])  # 3, 4, 12: padding rows
def test_sim_matches_numpy_and_cycle_model(pes):
    image = _image(pes=pes, seed=pes)
    rng = np.random.default_rng(pes)
    x = random_inputs(rng, 3, SIZES[0])
    x[0] = -128
    x[1] = 0  # no work, yet every weight is walked
    _check(image, x, run_engine(_engine(image), image, x))


def test_sim_nm_image():
    """The dense twin of an N:M design walks the same weights densely."""
    rng = np.random.default_rng(8)
    image = one_layer_image(nm_model(rng, SIZES, 1, 4), pes=3, fmt="nm", n=1, m=4)
    x = random_inputs(rng, 2, SIZES[0])
    _check(image, x, run_engine(_engine(image), image, x))
