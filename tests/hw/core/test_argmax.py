"""The streaming argmax against numpy's first argmax (ties to the first index), under idle cycles
and back-pressure on its class output."""

import numpy as np
import pytest

from secateurs.hw.core.argmax import Argmax
from secateurs.sw.reference import classify
from tests.helpers.streams import run_stream


@pytest.mark.parametrize("classes", [1, 2, 10])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_first_argmax(classes, seed):
    rng = np.random.default_rng(seed)
    vectors = rng.integers(-128, 128, (12, classes))
    vectors[0] = 7  # all tied
    vectors[1] = -128
    if classes > 2:
        vectors[2, [1, classes - 1]] = 127  # tie between two maxima
    dut = Argmax(classes=classes)
    payloads = [{"value": int(v), "last": int(k == classes - 1)}
                for row in vectors for k, v in enumerate(row)]
    got = run_stream(dut, dut.i, dut.o, payloads, expect=len(vectors), seed=seed, idle=0.3,
                     stall=0.6)
    assert [int(g) for g in got] == classify(vectors).tolist()
