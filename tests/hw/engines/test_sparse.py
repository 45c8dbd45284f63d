"""The sparse CSC engine alone (hw/engines/sparse.py): accumulators equal ``W @ x`` and the
compute phase takes exactly ``sw.cycles.sparse_cycles``, for several P, D and W."""

import numpy as np
import pytest

from secateurs.hw.engines.sparse import SparseEngine
from secateurs.hw.memories import address_width, sparse_banks
from secateurs.hw.params import IDLE_CYCLES
from secateurs.sw.cycles import sparse_cycles
from tests.helpers.models import random_inputs, random_model
from tests.hw.engines.bench import engine_signature, nm_model, one_layer_image, run_engine

SIZES = [13, 10]  # 13 columns: a last block narrower than W; 10 rows: several per PE


def _image(pes, density=0.35, seed=0, index_bits=4, fmt="csc"):
    rng = np.random.default_rng(seed)
    model = random_model(rng, SIZES, density)
    if fmt == "nm":
        return one_layer_image(nm_model(rng, SIZES, 2, 4), pes=pes, fmt="nm", n=2, m=4)
    return one_layer_image(model, pes=pes, index_bits=index_bits)


def _engine(image, *, queue_depth=2, issue_width=2, lanes=None):
    return SparseEngine(engine_signature(image, lanes=issue_width if lanes is None else lanes),
                        image, queue_depth=queue_depth, issue_width=issue_width, acc_bits=32)


def test_init():
    image = _image(pes=3)
    signature = engine_signature(image, lanes=4)
    dut = SparseEngine(signature, image, queue_depth=2, issue_width=4, acc_bits=32)
    assert dut.signature is signature
    banks, _ = sparse_banks(image)
    assert dut.bank_depth == max(len(b) for b in banks)
    assert dut.pointer_bits == address_width(dut.bank_depth)


@pytest.mark.parametrize("queue_depth,message", [
    (0, "Queue depth must be an integer in 1..16, not 0"),
    (17, "Queue depth must be an integer in 1..16, not 17"),
])
def test_init_wrong_queue_depth(queue_depth, message):
    with pytest.raises(ValueError) as error:
        _engine(_image(pes=2), queue_depth=queue_depth)
    assert str(error.value) == message


def test_init_wrong_issue_width():
    with pytest.raises(ValueError) as error:
        _engine(_image(pes=2), issue_width=3, lanes=3)
    assert str(error.value) == "Issue width must be one of 1, 2, 4, 8, not 3"


def test_init_wrong_lanes():
    with pytest.raises(ValueError) as error:
        _engine(_image(pes=2), issue_width=2, lanes=1)
    assert str(error.value) == "The engine reads 2 activations a cycle, but its signature has 1 lanes"


def test_init_wrong_signature():
    image = _image(pes=2)
    with pytest.raises(TypeError) as error:
        SparseEngine("ports", image, queue_depth=2, issue_width=2, acc_bits=32)
    assert str(error.value) == "Engine signature must be an EngineSignature, not 'ports'"
    with pytest.raises(ValueError) as error:
        SparseEngine(engine_signature(_image(pes=3), lanes=2), image, queue_depth=2,
                     issue_width=2, acc_bits=32)
    assert str(error.value) == "The signature has 3 PEs, but the image is packed for 2"
    with pytest.raises(ValueError) as error:
        SparseEngine(engine_signature(image, lanes=2), image, queue_depth=2, issue_width=2,
                     acc_bits=24)
    assert str(error.value) == "The signature's accumulators are 32 bits wide, not 24"


def test_init_wrong_image():
    image = _image(pes=2, fmt="nm")
    with pytest.raises(ValueError) as error:
        _engine(image)
    assert str(error.value) == "The sparse CSC engine needs a CSC image, not an N:M one"


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
