"""The N:M engine alone (hw/engines/nm.py): accumulators equal ``W @ x`` and the compute phase
takes exactly ``sw.cycles.nm_cycles`` of the groups holding a nonzero activation."""

import numpy as np
import pytest

from secateurs.hw.engines.nm import NMEngine
from secateurs.hw.memories import POINTERS, sparse_banks
from secateurs.hw.params import IDLE_CYCLES
from secateurs.sw.cycles import nm_cycles
from tests.helpers.models import random_inputs, random_model
from tests.hw.engines.bench import (engine_init, engine_signature, nm_model, one_layer_image,
                                    run_engine)

SIZES = [14, 10]  # 14 inputs: a narrower last group for M = 4


def _image(pes, n=2, m=4, seed=0):
    rng = np.random.default_rng(seed)
    return one_layer_image(nm_model(rng, SIZES, n, m), pes=pes, fmt="nm", n=n, m=m)


def _active_groups(x, m):
    """Groups of ``m`` inputs holding a nonzero activation (a naive count)."""
    return sum(any(v != 0 for v in x[g:g + m]) for g in range(0, len(x), m))


def _engine(image):
    signature = engine_signature(image)
    return NMEngine(signature, init=engine_init(image, signature))


def test_init():
    image = _image(pes=3)
    signature = engine_signature(image)
    dut = NMEngine(signature)
    assert dut.signature is signature and signature.lanes == 1
    banks, _ = sparse_banks(image)
    assert dut.bank_depth == max(len(b) for b in banks)
    # one pointer word per group
    assert len(engine_init(image, signature)[POINTERS]) == image.layers[0].groups


def test_init_wrong_capacity():
    image = one_layer_image(random_model(np.random.default_rng(0), SIZES, 0.5), pes=2)
    with pytest.raises(ValueError) as error:
        NMEngine(engine_signature(image))
    assert str(error.value) == "The N:M engine needs an N:M capacity, not a CSC one"


def test_init_wrong_signature():
    image = _image(pes=2)
    with pytest.raises(TypeError) as error:
        NMEngine(object)
    assert str(error.value) == ("Engine signature must be an EngineSignature, "
                                "not <class 'object'>")
    with pytest.raises(ValueError) as error:
        NMEngine(engine_signature(image, kind="dense"))
    assert str(error.value) == "The signature is of a dense engine, not a sparse one"


@pytest.mark.parametrize("n,m,pes", [(2, 4, 1), (2, 4, 3), (1, 4, 4), (1, 2, 2), (3, 8, 2),
                                     (1, 4, 10)])
def test_sim_matches_numpy_and_cycle_model(n, m, pes):
    image = _image(pes=pes, n=n, m=m, seed=n * 10 + m + pes)
    layer = image.layers[0]
    rng = np.random.default_rng(pes)
    x = random_inputs(rng, 4, SIZES[0])
    x[0] = -128
    x[1, m:3 * m] = 0  # groups of zeros amid groups with work
    x[2] = 0  # no group has work
    runs = run_engine(_engine(image), image, x)
    for i, run in enumerate(runs):
        np.testing.assert_array_equal(run.accs, layer.weight @ x[i], err_msg=f"sample {i}")
        groups = _active_groups(x[i], m)
        assert run.cycles == nm_cycles(layer.rows, layer.cols, pes, n, m, groups), f"sample {i}"
        assert run.macs == np.count_nonzero(layer.weight[:, x[i] != 0]), f"sample {i} MACs"
    assert runs[2].cycles == IDLE_CYCLES
