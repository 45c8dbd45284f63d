"""Retraining methods and schedules driving real (tiny) training runs; config reachability."""

import dataclasses

import pytest
import torch

from secateurs import config
from secateurs.config import DataConfig, ModelConfig, PruneConfig, TrainConfig
from secateurs.errors import ConfigError
from secateurs.sw import prune as P
from secateurs.sw import train as train_mod
from secateurs.sw.data import load_dataset
from secateurs.sw.models import build_model
from secateurs.sw.prune import retrain
from secateurs.sw.prune.retrain import (RETRAINING, prune_and_retrain, replay_checkpoints,
                                        rewind_weights, train_dense)
from secateurs.sw.train import lr_factor

DATA = load_dataset(DataConfig(train_samples=200), seed=0)
MODEL = ModelConfig(hidden=(16,))
RECIPE = TrainConfig(epochs=4, lr=2e-3, weight_decay=0.0, lr_schedule="cosine")


def fresh(seed=0):
    return build_model(MODEL, DATA.features, DATA.classes, seed)


@pytest.fixture(scope="module")
def dense():
    model = fresh()
    run = train_dense(model, DATA, RECIPE, seed=0, rewind_epoch=1)
    return model.state_dict(), run


def trained(dense):
    model = fresh()
    model.load_state_dict(dense[0])
    return model


def test_lr_schedules():
    assert lr_factor("constant", 7, 10) == 1.0
    assert lr_factor("cosine", 0, 10) == 1.0 and lr_factor("cosine", 5, 10) == pytest.approx(0.5)
    assert [lr_factor("step", e, 8) for e in (3, 4, 6)] == pytest.approx([1.0, 0.1, 0.01])
    with pytest.raises(ConfigError, match="constant, cosine, step"):
        lr_factor("warm", 0, 1)


def test_lr_rewinding_replays_the_original_schedule_from_epoch_k(dense, monkeypatch):
    calls = []
    monkeypatch.setattr(train_mod, "lr_factor", lambda s, e, n: calls.append((s, e, n)) or 1.0)
    cfg = PruneConfig(density=0.5, retrain="lr_rewind", rewind_epoch=1)
    prune_and_retrain(trained(dense), DATA, cfg, RECIPE, seed=0)
    assert calls[1:] == [("cosine", e, 4) for e in (1, 2, 3)]   # epochs 1..3 of the 4-epoch schedule


def test_finetuning_runs_at_the_constant_finetune_lr(dense, monkeypatch):
    calls = []
    monkeypatch.setattr(train_mod, "lr_factor", lambda s, e, n: calls.append((s, e, n)) or 1.0)
    prune_and_retrain(trained(dense), DATA, PruneConfig(density=0.5, finetune_epochs=2), RECIPE, seed=0)
    assert calls[1:] == [("constant", 0, 2), ("constant", 1, 2)]


def test_rewind_weights_restores_survivors_and_keeps_pruned_zero(dense):
    model = trained(dense)
    masks = P.prune(model, density=0.3)
    rewind_weights(model, dense[1].rewind)
    for name, module in P.prunable(model).items():
        expected = dense[1].rewind[f"{name}.weight"] * masks[name]
        assert torch.equal(module.weight, expected)
        assert torch.equal(module.bias, dense[1].rewind[f"{name}.bias"])


def test_imp_with_weight_rewinding_rewinds_every_round(dense, monkeypatch):
    rewound = []
    real = retrain.rewind_weights
    monkeypatch.setattr(retrain, "rewind_weights", lambda m, s: rewound.append(1) or real(m, s))
    model = trained(dense)
    cfg = PruneConfig(density=0.125, schedule="geometric", steps=3, retrain="weight_rewind", rewind_epoch=2)
    result = prune_and_retrain(model, DATA, cfg, RECIPE, seed=0, rewind=dense[1].rewind)
    assert result.densities == pytest.approx([0.5, 0.25, 0.125])
    assert result.epochs == [0, 2, 4] and len(rewound) == 3
    assert P.density_of(model) == pytest.approx(0.125, abs=1e-3)


def test_imp_masks_are_nested(dense, monkeypatch):
    model = trained(dense)
    seen = []

    def spy(*args, **kwargs):
        seen.append({k: v.clone() for k, v in P.prune(*args, **kwargs).items()})
        return seen[-1]

    monkeypatch.setattr(retrain, "prune", spy)
    prune_and_retrain(model, DATA, PruneConfig(density=0.2, schedule="linear", steps=3,
                                               finetune_epochs=1), RECIPE, seed=0)
    assert len(seen) == 3
    for earlier, later in zip(seen, seen[1:]):
        assert all(not bool((later[n] & ~earlier[n]).any()) for n in earlier)


def test_agp_prunes_inside_one_training_run(dense):
    model = trained(dense)
    cfg = PruneConfig(density=0.1, schedule="agp", steps=3, finetune_epochs=2)
    result = prune_and_retrain(model, DATA, cfg, RECIPE, seed=0)
    assert result.epochs == [0, 2, 4]                 # every Δt = 2 epochs of one 6-epoch run
    assert len(result.val_accuracy) == 1
    assert P.density_of(model) == pytest.approx(0.1, abs=1e-3)


def test_replayed_checkpoints_equal_the_recorded_ones(dense):
    cfg = PruneConfig(score="movement", retrain="weight_rewind", rewind_epoch=1)
    init, rewind = replay_checkpoints(cfg, fresh, DATA, RECIPE, seed=0)
    for key, value in dense[1].rewind.items():
        assert torch.allclose(rewind[key], value, atol=1e-6)
    assert torch.equal(P.prunable(init)["1"].weight, dense[1].init["1.weight"])


@pytest.mark.parametrize("key,registry", [
    ("score", "SCORES"), ("structure", "STRUCTURES"), ("scope", "SCOPES"), ("schedule", "SCHEDULES")])
def test_every_registered_name_is_reachable_from_the_flow_config(key, registry):
    import secateurs.sw.prune.schedules as schedules
    import secateurs.sw.prune.scopes as scopes
    import secateurs.sw.prune.scores as scores
    import secateurs.sw.prune.structures as structures

    names = {**vars(scores), **vars(structures), **vars(scopes), **vars(schedules)}[registry]
    for name in names:
        extra = ["prune.density=0.5"] if name == "nm" else []
        cfg = config.load(None, [f"prune.{key}={name}", *extra])
        assert getattr(cfg.prune, key) == name
    with pytest.raises(ConfigError, match=f"unknown {key}"):
        config.load(None, [f"prune.{key}=nonsense"])


def test_retraining_and_overrides_from_toml(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[prune]\nretrain = "lr_rewind"\n[[prune.layers]]\nlayer = -1\ndensity = 0.5\n')
    cfg = config.load(path)
    assert cfg.prune.retrain == "lr_rewind" and cfg.prune.layers == (config.LayerDensity(-1, 0.5),)
    assert set(RETRAINING) == {"finetune", "lr_rewind", "weight_rewind"}


@pytest.mark.parametrize("overrides,message", [
    (["prune.structure=nm"], "exactly n/m = 0.5"),
    (["prune.structure=nm", "prune.density=0.5", "prune.schedule=agp"], "oneshot"),
    (["prune.steps=0"], "prune.steps"),
    (["prune.retrain=rewind"], "finetune, lr_rewind, weight_rewind"),
    (["model.arch=resnet"], "model.arch must be one of .mlp., .cnn., .lenet5."),
])
def test_impossible_prune_configs_are_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        config.load(None, overrides)


def test_rewinding_past_the_dense_run_is_an_error(dense):
    cfg = dataclasses.replace(PruneConfig(), retrain="lr_rewind", rewind_epoch=9)
    with pytest.raises(ConfigError, match="rewind_epoch"):
        prune_and_retrain(trained(dense), DATA, cfg, RECIPE, seed=0)
