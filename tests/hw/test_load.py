"""The host side of the load port (hw/load.py): the word stream of a model decodes, by the
protocol, back into exactly the memories' contents; wrong arguments and models too big are
refused with exact messages."""

import numpy as np
import pytest

from secateurs.hw.capacity import Capacity
from secateurs.hw.image import network_image
from secateurs.hw.load import (BANK, CODEBOOKS, LAYER_TABLE, PARAMETERS, POINTERS, header,
                               load_words, transfer)
from secateurs.hw.memories import memory_images, memory_map
from tests.helpers.models import packed, random_model
from tests.hw.core.test_loader import protocol_model


def _image(sizes=(12, 20, 5), density=0.4, pes=3):
    return network_image(packed(random_model(np.random.default_rng(2), list(sizes), density),
                                pes=pes))


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_load_words_decode_to_the_memory_images(kind):
    image = _image()
    capacity = Capacity.for_shape([(20, 12), (5, 20)], pes=3, issue_width=4)
    specs = memory_map(capacity, kind)
    words = load_words(image, capacity, kind)
    assert all(0 <= w < 1 << 32 for w in words)
    decoded = {}
    for target, addr, data in protocol_model(words, specs):
        decoded.setdefault(target, {})[addr] = data
    images = memory_images(image, capacity, kind)
    assert {t: [d[a] for a in sorted(d)] for t, d in decoded.items()} == images
    expected = {LAYER_TABLE, PARAMETERS, *(BANK + p for p in range(3))}
    assert set(images) == (expected | {POINTERS} if kind == "sparse" else expected)
    assert CODEBOOKS not in images
    # the block pointer words of W = 4 are wider than one chunk: several per word
    assert specs[POINTERS if kind == "sparse" else LAYER_TABLE].width > 32


def test_transfer_chunks_least_significant_first():
    word = 0x1_2345_6789_ABCD_EF01
    assert transfer(0x83, [word, 1], width=70, address=5) == [
        0x83 << 24 | 5, 2, 0xABCD_EF01, 0x2345_6789, 0x1, 1, 0, 0]


@pytest.mark.parametrize("call,message", [
    (lambda: header(256), "Load target must be an integer in 0..255, not 256"),
    (lambda: header(0, 1 << 24), "Load address must be an integer in 0..16777215, not 16777216"),
    (lambda: transfer(1, [1 << 12], width=12), "Word 0x1000 is wider than 12 bits"),
])
def test_wrong_arguments(call, message):
    with pytest.raises(ValueError) as error:
        call()
    assert str(error.value) == message


def test_load_words_refuses_a_model_that_does_not_fit():
    image = _image(density=0.9)
    capacity = Capacity.of(image, kind="sparse")
    small = Capacity(**{**capacity.as_dict(), "bank_depth": 10})
    banks = [sum(len(layer.words[p]) for layer in image.layers) for p in range(3)]
    p = int(np.argmax(np.array(banks) > 10))
    with pytest.raises(ValueError) as error:
        load_words(image, small, "sparse")
    assert str(error.value) == (f"The weight bank of PE {p} needs {banks[p]} words; the "
                                f"hardware has 10")
