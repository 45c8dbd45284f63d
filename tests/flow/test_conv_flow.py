"""Conv models through the flow's software steps: LeNet-5, the user's model by file and by
module, a checkpoint instead of training; the rtl step refuses, in one line naming the layer,
what the accelerator cannot run (a dilated convolution)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from secateurs import config
from secateurs.errors import ConfigError
from secateurs.flow import run_flow
from secateurs.sw import metrics
from secateurs.sw.data import load_dataset
from secateurs.sw.formats import container
from secateurs.sw.reference import predict
from tests.helpers.cli import assert_one_line_error, secateurs

USER_MODEL = Path(__file__).parents[1] / "helpers" / "user_model.py"
QUICK = ["train.epochs=3", "prune.finetune_epochs=1", "prune.density=0.3", "data.train_samples=400"]


def flow(tmp_path, name, *overrides, until="pack"):
    cfg = config.load(None, [f"name={name}", *QUICK, *overrides])
    out = tmp_path / name
    return cfg, out, run_flow(cfg, out, until=until)


@pytest.fixture(scope="module")
def lenet(tmp_path_factory):
    return flow(tmp_path_factory.mktemp("flow"), "lenet", "model.arch=lenet5", "train.epochs=10",
                "data.train_samples=0")


def test_lenet5_runs_train_prune_quantize_pack(lenet):
    cfg, out, summary = lenet
    packed = container.load(out / "model.bin")
    kinds = [q.geometry is not None for q in packed.model.layers]
    assert kinds == [True, True, False, False, False]
    assert packed.model.layers[1].geometry.in_shape == (6, 4, 4)  # 8×8 digits, 'same' padded
    test = load_dataset(cfg.data, cfg.seed).test
    # The quantized accuracy is model.bin's integer reference on the shaped test images.
    assert summary["quantized_accuracy"] == pytest.approx(float((predict(packed.model, test.x) == test.y).mean()))
    assert summary["theoretical_speedup"] == pytest.approx(metrics.theoretical_speedup(packed.model.layers))
    assert summary["density"] == pytest.approx(0.3, abs=0.01)
    assert summary["dense_accuracy"] > 0.5 and summary["empty_layers"] == []


def test_the_rtl_step_refuses_what_the_accelerator_cannot_run_in_one_line(tmp_path):
    model = tmp_path / "dilated.py"
    model.write_text("from torch import nn\n"
                     "def net():\n"
                     "    return nn.Sequential(nn.Conv2d(1, 4, 3, dilation=2), nn.ReLU(),\n"
                     "                         nn.Flatten(), nn.Linear(4 * 4 * 4, 10))\n")
    cfg, out, _ = flow(tmp_path, "dilated", f'model.module="{model}:net"')
    with pytest.raises(ConfigError, match=r"^model.bin cannot run on the accelerator: Layer 0 "
                                          r"\(conv\): The hardware walks dilation \(1, 1\) only, "
                                          r"not \(2, 2\); train, prune, quantize and pack are "
                                          "done in"):
        run_flow(cfg, out, until="rtl")
    assert json.loads((out / "steps.json").read_text()).keys() == {"train", "prune", "quantize", "pack"}


@pytest.mark.parametrize("spec", [f"{USER_MODEL}:ConvNet", "tests.helpers.user_model:ConvNet"])
def test_the_users_model_by_file_or_module(tmp_path, spec):
    cfg, out, summary = flow(tmp_path, "user", f"model.module={spec!r}".replace("'", '"'))
    packed = container.load(out / "model.bin")
    assert [q.geometry is not None for q in packed.model.layers] == [True, True, False]
    assert packed.model.layers[0].geometry.pool is not None  # BatchNorm folded, pool kept
    dense = torch.load(out / "dense.pt", weights_only=True)
    assert "features.1.running_mean" in dense  # the model trained is the user's own
    assert summary["quantized_accuracy"] > 0.3


def test_a_checkpoint_replaces_training(tmp_path):
    from tests.helpers.user_model import ConvNet

    torch.manual_seed(7)
    start = ConvNet()
    path = tmp_path / "start.pt"
    torch.save(start.state_dict(), path)
    _, out, summary = flow(tmp_path, "ckpt", f'model.module="{USER_MODEL}:ConvNet"',
                           f'model.checkpoint="{path}"', until="train")
    dense = torch.load(out / "dense.pt", weights_only=True)
    assert all(torch.equal(dense[k], v) for k, v in start.state_dict().items())
    assert summary["dense_best_epoch"] == 0


def test_a_checkpoint_that_does_not_match_is_refused(tmp_path):
    path = tmp_path / "wrong.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    with pytest.raises(ConfigError, match="does not match the model"):
        flow(tmp_path, "bad", f'model.module="{USER_MODEL}:ConvNet"', f'model.checkpoint="{path}"')
    assert not (tmp_path / "bad").exists()  # refused before any step finished: no folder left


def test_an_unsupported_model_exits_2_before_training(tmp_path):
    model = tmp_path / "gelu.py"
    model.write_text("from torch import nn\n"
                     "def net():\n"
                     "    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.GELU(), nn.Linear(16, 10))\n")
    result = secateurs("flow", "--out", tmp_path / "run", "--set", f'model.module="{model}:net"',
                       "--set", "train.epochs=1")
    assert_one_line_error(result, "model: layer 2 (GELU) is not supported; supported: Conv2d")
    assert not (tmp_path / "run").exists()


def test_the_mlp_quantizes_as_before(tmp_path):
    """The MLP's integer model through the graph: flat features in, the same Linear layers."""
    cfg, out, summary = flow(tmp_path, "mlp", "model.hidden=[16]")
    packed = container.load(out / "model.bin")
    assert [q.geometry for q in packed.model.layers] == [None, None]
    assert packed.model.layers[0].cols == 64
    test = load_dataset(cfg.data, cfg.seed).test
    flat = predict(packed.model, test.x.reshape(len(test), -1))
    assert np.array_equal(flat, predict(packed.model, test.x))


def test_a_layer_pruned_empty_is_reported(tmp_path):
    from secateurs.flow import Reporter

    class Recorder(Reporter):
        lines: list = []

        def log(self, message):
            self.lines.append(message)

    cfg = config.load(None, ["name=empty", *QUICK, f'model.module="{USER_MODEL}:ConvNet"',
                             "prune.scope=local", "prune.layers=[{layer = 0, density = 0.001}]"])
    summary = run_flow(cfg, tmp_path / "empty", reporter=Recorder(), until="pack")
    assert summary["empty_layers"] == ["features.0"] and summary["empty_packed_layers"] == [0]
    assert "[prune] warning: layer features.0 is pruned empty" in "\n".join(Recorder.lines)
    saved = json.loads((tmp_path / "empty" / "summary.json").read_text())
    assert saved["empty_layers"] == ["features.0"]


def test_an_edited_model_file_reruns_training(tmp_path):
    from secateurs.flow import step_key
    from secateurs.steps import STEPS

    model = tmp_path / "net.py"
    model.write_text(USER_MODEL.read_text())
    cfg = config.load(None, [f'model.module="{model}:ConvNet"'])
    train = next(s for s in STEPS if s.name == "train")
    before = step_key(train, cfg, "")
    model.write_text(USER_MODEL.read_text().replace("nn.Conv2d(8, 12, 3)", "nn.Conv2d(8, 12, 3, bias=False)"))
    assert step_key(train, cfg, "") != before
    plain = config.load(None, [])
    assert step_key(train, plain, "") == step_key(train, plain, "")
