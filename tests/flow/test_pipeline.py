"""The one pipeline: seeded training, pruning to the density, and a model.bin that computes
exactly what the quantized model computes (also with its rows renumbered)."""

import dataclasses

import numpy as np
import pytest
import torch

from secateurs import config, pipeline
from secateurs.sw.data import load_dataset
from secateurs.sw.formats import container
from secateurs.sw.prune import density_of
from secateurs.sw.reference import predict

CFG = config.load(None, ["model.hidden=[16]", "train.epochs=2", "prune.finetune_epochs=1",
                         "data.train_samples=150", "prune.density=0.3"])


@pytest.fixture(scope="module")
def made():
    data = load_dataset(CFG.data, CFG.seed)
    model, trained = pipeline.train_model(CFG, data)
    dense = {k: v.clone() for k, v in model.state_dict().items()}
    pruned = pipeline.prune_model(CFG, data, model)
    quantized = pipeline.quantize_model(CFG, data, model)
    return data, dense, trained, model, pruned, quantized


def test_training_is_seeded_by_the_config(made):
    data, dense, trained, *_ = made
    again, result = pipeline.train_model(CFG, data)
    assert result.best_epoch == trained.best_epoch
    assert all(torch.equal(dense[k], v) for k, v in again.state_dict().items())


def test_pruning_reaches_the_density_and_leaves_a_plain_state_dict(made):
    _, dense, _, model, pruned, _ = made
    assert pruned.densities == [0.3]
    assert density_of(model) == pytest.approx(0.3, abs=1e-3)
    assert set(model.state_dict()) == set(dense)  # masks squashed, no parametrizations


@pytest.mark.parametrize("overrides", [{}, {"balance_rows": True}, {"index_bits": 0}])
def test_model_bin_computes_what_the_quantized_model_computes(made, overrides):
    data, *_, quantized = made
    cfg = dataclasses.replace(CFG, pack=dataclasses.replace(CFG.pack, **overrides))
    made_file = pipeline.pack_model(cfg, data, quantized.model)
    packed = container.decode(made_file.data)
    expected_bits = CFG.pack.index_bits if "index_bits" not in overrides else \
        container.common_index_bits(quantized.model, pes=CFG.hardware.pes)
    assert made_file.index_bits == expected_bits
    assert np.array_equal(predict(packed.model, data.test.x), predict(quantized.model, data.test.x))
    assert pipeline.reference_accuracy(packed.model, data.test) == \
        pipeline.reference_accuracy(quantized.model, data.test)
