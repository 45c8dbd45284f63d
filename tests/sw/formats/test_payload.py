"""Value payloads: two's-complement integers and codebook codes, and what they refuse."""

import numpy as np
import pytest

from secateurs.errors import InputError
from secateurs.sw.formats import INT4, INT8, Payload, codebook


def test_int_fields_are_twos_complement():
    assert INT4.encode(np.array([-8, -1, 0, 7])).tolist() == [8, 15, 0, 7]
    assert INT4.decode(np.array([8, 15, 0, 7])).tolist() == [-8, -1, 0, 7]
    assert INT8.encode(np.array([-3])).tolist() == [0xFD]
    with pytest.raises(InputError, match="4-bit signed integers"):
        INT4.encode(np.array([8]))


def test_codebook_codes_and_lookup():
    table = codebook([0, 17, -40, 17])
    assert (table.bits, table.name, table.table_bits) == (2, "codebook2", 32)
    assert table.encode(np.array([0, 17, -40])).tolist() == [0, 1, 2]  # the first code of 17
    assert table.decode(np.array([0, 1, 2, 3])).tolist() == [0, 17, -40, 17]
    with pytest.raises(InputError, match="weight 5 is not in the layer's 2-bit codebook"):
        table.encode(np.array([17, 5]))
    with pytest.raises(InputError, match="not in the"):
        table.encode(np.array([1000]))


@pytest.mark.parametrize("make, message", [
    (lambda: codebook([1, 2]), "entry 0 must be 0"),
    (lambda: codebook([0, 2, 3]), "power-of-two"),
    (lambda: codebook([0, 300]), "int8"),
    (lambda: Payload(9), "integer value width"),
    (lambda: Payload(1), "integer value width"),
    (lambda: Payload(2, (0, 1)), "has 4 entries"),
])
def test_bad_payloads(make, message):
    with pytest.raises(InputError, match=message):
        make()
