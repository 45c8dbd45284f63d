"""Capacity (hw/capacity.py): construction, exact messages for wrong arguments, the smallest
capacity of a model, the model-independent one of a shape, and the refusal of models too big."""

import json

import numpy as np
import pytest

from secateurs.hw.capacity import Capacity
from secateurs.hw.image import network_image
from secateurs.hw.memories import dense_banks, sparse_banks
from secateurs.sw.formats import container
from tests.helpers.models import packed, random_model
from tests.hw.engines.bench import nm_model

BASE = dict(pes=2, max_layers=2, max_rows=8, max_cols=10, bank_depth=64, pointer_depth=12,
            param_depth=16)


def _image(sizes=(10, 8, 4), density=0.5, pes=2, seed=0, **kw):
    return network_image(packed(random_model(np.random.default_rng(seed), list(sizes), density),
                                pes=pes, **kw))


def test_init():
    capacity = Capacity(**BASE)
    assert (capacity.format, capacity.index_bits, capacity.value_bits) == ("csc", 4, 8)
    assert capacity.rows_per_pe == 4 and capacity.nm is None
    assert hash(capacity) == hash(Capacity(**BASE)) and capacity == Capacity(**BASE)
    text = json.dumps(capacity.as_dict())
    assert Capacity.from_dict(json.loads(text)) == capacity
    nm = Capacity(**BASE, format="nm", index_bits=None, n=2, m=4)
    assert nm.nm == (2, 4) and nm.describe_words() == "2:4 with 8-bit values"
    assert capacity.describe_words() == "CSC with 4-bit indices and 8-bit values"


@pytest.mark.parametrize("changes,error,message", [
    (dict(pes=0), ValueError, "PE count must be an integer in 1..64, not 0"),
    (dict(max_layers=0), ValueError, "Layer count must be a positive integer, not 0"),
    (dict(max_rows=-1), ValueError, "Row count must be a positive integer, not -1"),
    (dict(max_cols=2.0), ValueError, "Column count must be a positive integer, not 2.0"),
    (dict(bank_depth=0), ValueError, "Bank depth must be a positive integer, not 0"),
    (dict(pointer_depth=None), ValueError, "Pointer depth must be a positive integer, not None"),
    (dict(param_depth=True), ValueError, "Parameter depth must be a positive integer, not True"),
    (dict(format="csr"), ValueError, "Word format must be one of csc, nm, not 'csr'"),
    (dict(index_bits=9), ValueError, "Index width must be an integer in 1..8, not 9"),
    (dict(m=4), ValueError, "A CSC capacity has no N:M group (n and m must be None)"),
    (dict(format="nm"), ValueError, "An N:M capacity has no index width (index_bits must be None)"),
    (dict(format="nm", index_bits=None, n=2, m=1), ValueError,
     "Group size M must be an integer in 2..16, not 1"),
    (dict(format="nm", index_bits=None, n=5, m=4), ValueError,
     "N of N:M must be an integer in 1..4, not 5"),
    (dict(value_bits=1), ValueError, "Value width must be an integer in 2..16, not 1"),
    (dict(codebook=True, value_bits=9), ValueError, "Code width must be an integer in 1..8, not 9"),
    (dict(codebook=1), TypeError, "Codebook must be a bool, not 1"),
    (dict(queue_depth=17), ValueError, "Queue depth must be an integer in 1..16, not 17"),
    (dict(issue_width=3), ValueError, "Issue width must be one of 1, 2, 4, 8, not 3"),
    (dict(acc_bits=12), ValueError, "Accumulator width must be an integer in 16..48, not 12"),
])
def test_init_wrong_argument(changes, error, message):
    with pytest.raises(error) as caught:
        Capacity(**{**BASE, **changes})
    assert str(caught.value) == message


def test_from_dict_wrong_field():
    with pytest.raises(ValueError) as caught:
        Capacity.from_dict({**BASE, "layers": 3})
    assert str(caught.value) == "Unknown capacity field 'layers'"


def test_of_is_the_smallest_that_holds_the_model():
    image = _image()
    banks, _ = sparse_banks(image)
    sparse = Capacity.of(image, kind="sparse", issue_width=4)
    assert sparse.bank_depth == max(len(b) for b in banks)
    assert sparse.pointer_depth == 3 + 2  # blocks of 4 columns: 10 -> 3, 8 -> 2
    assert (sparse.max_layers, sparse.max_rows, sparse.max_cols) == (2, 8, 10)
    assert sparse.param_depth == 12
    dense = Capacity.of(image, kind="dense")
    assert dense.bank_depth == len(dense_banks(image)[0]) == 4 * 10 + 2 * 8
    assert Capacity.of(image).bank_depth == dense.bank_depth  # both kinds: the larger
    for kind, capacity in (("sparse", sparse), ("dense", dense)):
        assert capacity.check(image, kind) is image
    smaller = Capacity(**{**sparse.as_dict(), "bank_depth": sparse.bank_depth - 1})
    with pytest.raises(ValueError, match="^The weight bank of PE"):
        smaller.check(image, "sparse")


def test_of_nm_format():
    model = nm_model(np.random.default_rng(1), [8, 6], 1, 4)
    nm = network_image(container.decode(container.encode(model, pes=2, fmt="nm", n=1, m=4)))
    capacity = Capacity.of(nm, kind="sparse")
    assert (capacity.format, capacity.nm, capacity.index_bits) == ("nm", (1, 4), None)
    assert capacity.pointer_depth == 2  # one pointer word per group


@pytest.mark.parametrize("density", [0.05, 0.5, 1.0])
@pytest.mark.parametrize("index_bits", [1, 4])
def test_for_shape_holds_any_model_of_the_shape(density, index_bits):
    """The dense bound: every model of these shapes fits, whatever its weights and fillers."""
    capacity = Capacity.for_shape([(20, 12), (9, 20), (5, 9)], pes=3, index_bits=index_bits)
    for seed in range(3):
        image = _image((12, 20, 9, 5), density, pes=3, seed=seed, index_bits=index_bits)
        for kind in ("sparse", "dense"):
            assert capacity.check(image, kind) is image


def test_for_shape_wrong_shapes():
    with pytest.raises(ValueError) as caught:
        Capacity.for_shape([], pes=2)
    assert str(caught.value) == "A network needs at least one layer"
    with pytest.raises(ValueError) as caught:
        Capacity.for_shape([(4, 0)], pes=2)
    assert str(caught.value) == ("Layer 0's shape must be (rows, cols) of positive integers, "
                                 "not (4, 0)")


def test_check_refuses_a_model_that_does_not_fit():
    image = _image((10, 8, 4), 0.9)
    fits = Capacity.of(image)
    banks, _ = sparse_banks(image)
    p = int(np.argmax([len(b) for b in banks]))
    cases = [
        (dict(pes=3), "The model is packed for 2 PEs; the hardware has 3"),
        (dict(index_bits=2), "The model's words are CSC with 4-bit indices and 8-bit values; "
                             "the hardware reads CSC with 2-bit indices and 8-bit values"),
        (dict(max_layers=1), "The model has 2 layers; the hardware has 1"),
        (dict(max_rows=7), "Layer 0 has 8 rows; the hardware has 7"),
        (dict(max_cols=9), "Layer 0 has 10 columns; the hardware has 9"),
        (dict(bank_depth=len(banks[p]) - 1),
         f"The weight bank of PE {p} needs {len(banks[p])} words; the hardware has "
         f"{len(banks[p]) - 1}"),
        (dict(pointer_depth=8), "The pointer memory needs 9 words; the hardware has 8"),
        (dict(param_depth=11), "The parameter memory needs 12 words; the hardware has 11"),
    ]
    for changes, message in cases:
        with pytest.raises(ValueError) as caught:
            Capacity(**{**fits.as_dict(), **changes}).check(image, "sparse")
        assert str(caught.value) == message
    dense_bank = len(dense_banks(image)[0])
    with pytest.raises(ValueError) as caught:
        Capacity(**{**fits.as_dict(), "bank_depth": dense_bank - 1}).check(image, "dense")
    assert str(caught.value) == (f"The weight bank of PE 0 needs {dense_bank} words; the "
                                 f"hardware has {dense_bank - 1}")
    # the dense twin has no pointer memory
    assert Capacity(**{**fits.as_dict(), "pointer_depth": 1}).check(image, "dense") is image
    with pytest.raises(ValueError) as caught:
        fits.check(image, "systolic")
    assert str(caught.value) == "Kind must be one of sparse, dense, not 'systolic'"


def test_check_refuses_accumulators_that_can_overflow():
    image = _image((40, 8, 4), 0.9)
    with pytest.raises(ValueError) as caught:
        Capacity.of(image, acc_bits=16).check(image, "sparse")
    assert str(caught.value).startswith("Accumulator width 16 can overflow in layer 0: its "
                                        "largest row sum of |weight| x 128 plus |bias| is ")
