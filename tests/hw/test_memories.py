"""The accelerator's memory images decode back to the integer model they were laid out from."""

import numpy as np
from amaranth.lib import data

from secateurs.hw.capacity import Capacity
from secateurs.hw.image import network_image
from secateurs.hw.layout import pointer_word
from secateurs.hw.memories import (dense_banks, layer_entries, param_image, param_word,
                                   pointer_image, sparse_banks)
from secateurs.sw.formats.csc import CSCLayer, unpack_csc
from tests.helpers.models import packed, random_model


def _image(pes=3):
    rng = np.random.default_rng(4)
    model = random_model(rng, [70, 20, 9], 0.3)
    model.layers[0].weight[:, [2, 64, 69]] = 0  # empty columns, two past bit 63
    return model, network_image(packed(model, pes=pes))


def test_sparse_banks_and_pointers_rebuild_every_layer():
    model, image = _image()
    banks, base = sparse_banks(image)
    bits = max(len(b) for b in banks).bit_length() + 1
    layout = pointer_word(image.pes, bits)
    words = pointer_image(image, bits)
    entries = layer_entries(image, Capacity.of(image))
    ptr_base = np.concatenate([[0], np.cumsum([layer.cols + 1 for layer in image.layers])])
    for l, (q, layer) in enumerate(zip(model.layers, image.layers)):
        ptr = [data.Const(layout, w) for w in words[ptr_base[l]:ptr_base[l] + layer.cols + 1]]
        col_ptr = np.array([[int(p.start[pe]) - base[pe, l] for p in ptr]
                            for pe in range(image.pes)])
        own = tuple(np.array(banks[pe][base[pe, l]:base[pe, l] + col_ptr[pe, -1]], dtype=np.uint32)
                    for pe in range(image.pes))
        csc = CSCLayer(rows=q.rows, cols=q.cols, pes=image.pes, value_bits=8, index_bits=4,
                       words=own, col_ptr=col_ptr)
        np.testing.assert_array_equal(unpack_csc(csc), q.weight)
        nonempty = [bool(p.nonempty) for p in ptr[:-1]]
        assert nonempty == (q.weight != 0).any(axis=0).tolist()
        assert [bool(entries[l]["nonempty"] >> j & 1) for j in range(q.cols)] == nonempty


def test_dense_banks_hold_every_weight_column_major():
    model, image = _image(pes=4)
    banks = dense_banks(image)
    offset = 0
    for l, q in enumerate(model.layers):
        rpp = image.rows_per_pe(l)
        for pe, bank in enumerate(banks):
            raw = np.array(bank[offset:offset + rpp * q.cols]).reshape(q.cols, rpp).T
            values = np.where(raw >= 128, raw - 256, raw)
            rows = np.arange(pe, rpp * image.pes, image.pes)
            want = np.zeros((rpp, q.cols), dtype=np.int64)
            want[rows < q.rows] = q.weight[rows[rows < q.rows]]
            np.testing.assert_array_equal(values, want)
        offset += rpp * q.cols


def test_parameter_words_hold_bias_and_multiplier():
    model, image = _image()
    layout = param_word(32)
    words = [data.Const(layout, w) for w in param_image(image, 32)]
    assert [int(w.bias) for w in words] == np.concatenate([q.bias for q in model.layers]).tolist()
    assert [int(w.multiplier) for w in words] == \
        np.concatenate([q.multiplier for q in model.layers]).tolist()
