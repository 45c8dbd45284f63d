"""The sparse CSC engine alone (hw/engines/sparse.py): accumulators equal ``W @ x`` and the
compute phase takes exactly ``sw.cycles.sparse_cycles``, for several P, D and W."""

import numpy as np
import pytest

from secateurs.hw.engines.sparse import SparseEngine
from secateurs.hw.memories import address_width, sparse_banks
from secateurs.hw.params import IDLE_CYCLES
from secateurs.sw.cycles import sparse_cycles
from tests.helpers.models import random_inputs, random_model
from tests.hw.engines.bench import (engine_init, engine_signature, nm_model, one_layer_image,
                                    run_engine)

SIZES = [13, 10]  # 13 columns: a last block narrower than W; 10 rows: several per PE


def _image(pes, density=0.35, seed=0, index_bits=4, fmt="csc"):
    rng = np.random.default_rng(seed)
    model = random_model(rng, SIZES, density)
    if fmt == "nm":
        return one_layer_image(nm_model(rng, SIZES, 2, 4), pes=pes, fmt="nm", n=2, m=4)
    return one_layer_image(model, pes=pes, index_bits=index_bits)


def _engine(image, *, queue_depth=2, issue_width=2):
    signature = engine_signature(image, queue_depth=queue_depth, issue_width=issue_width)
    return SparseEngine(signature, init=engine_init(image, signature))


def test_init():
    image = _image(pes=3)
    signature = engine_signature(image, issue_width=4)
    dut = SparseEngine(signature)
    assert dut.signature is signature and signature.lanes == 4
    banks, _ = sparse_banks(image)
    assert dut.bank_depth == max(len(b) for b in banks)
    assert dut.pointer_bits == address_width(dut.bank_depth)


def test_init_wrong_signature():
    image = _image(pes=2)
    with pytest.raises(TypeError) as error:
        SparseEngine("ports")
    assert str(error.value) == "Engine signature must be an EngineSignature, not 'ports'"
    with pytest.raises(ValueError) as error:
        SparseEngine(engine_signature(image, kind="dense"))
    assert str(error.value) == "The signature is of a dense engine, not a sparse one"


def test_init_wrong_capacity():
    image = _image(pes=2, fmt="nm")
    with pytest.raises(ValueError) as error:
        SparseEngine(engine_signature(image))
    assert str(error.value) == "The sparse CSC engine needs a CSC capacity, not an N:M one"


def _check(image, x, runs, *, queue_depth, issue_width):
    layer = image.layers[0]
    want = sparse_cycles(layer.counts(), x != 0, queue_depth=queue_depth,
                         issue_width=issue_width)
    for i, run in enumerate(runs):
        np.testing.assert_array_equal(run.accs, layer.weight @ x[i], err_msg=f"sample {i}")
        assert run.cycles == want[i], f"sample {i} cycles"
        assert run.macs == np.count_nonzero(layer.weight[:, x[i] != 0]), f"sample {i} MACs"


@pytest.mark.parametrize("pes,queue_depth,issue_width", [
    (1, 1, 1), (2, 1, 2), (3, 2, 2), (4, 4, 4), (2, 3, 8), (5, 1, 1)])
def test_sim_matches_numpy_and_cycle_model(pes, queue_depth, issue_width):
    image = _image(pes=pes, seed=pes)
    rng = np.random.default_rng(pes * 10 + queue_depth)
    x = random_inputs(rng, 4, SIZES[0])
    x[0, :] = -128  # every column has work
    dut = _engine(image, queue_depth=queue_depth, issue_width=issue_width)
    _check(image, x, run_engine(dut, image, x), queue_depth=queue_depth,
           issue_width=issue_width)


def test_sim_fillers_and_empty_columns():
    """1 index bit: gaps of two or more rows cost filler words; empty columns cost nothing."""
    rng = np.random.default_rng(5)
    model = random_model(rng, SIZES, 0.2)
    model.layers[0].weight[:, [1, 6]] = 0
    image = one_layer_image(model, pes=2, index_bits=1)
    layer = image.layers[0]
    assert layer.counts().sum() > np.count_nonzero(layer.weight), "the case has no filler"
    x = random_inputs(rng, 3, SIZES[0], zero_fraction=0.1)
    dut = _engine(image, queue_depth=2, issue_width=2)
    _check(image, x, run_engine(dut, image, x), queue_depth=2, issue_width=2)


def test_sim_no_work():
    image = _image(pes=2)
    x = np.zeros((1, SIZES[0]), dtype=np.int64)
    (run,) = run_engine(_engine(image), image, x)
    assert run.cycles == IDLE_CYCLES
    assert not run.accs.any() and run.macs == 0
