"""The user's own model by ``model.module``, and ``model.checkpoint``: every mistake one line."""

import textwrap

import pytest
import torch
from torch import nn

from secateurs.errors import ConfigError
from secateurs.sw.usermodel import load_checkpoint, load_module, user_model

MODEL_PY = """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.fc = nn.Linear(3 * 4 * 4, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv(x)), 2)
        return self.fc(x.flatten(1))

def make():
    return Net()

instance = Net()
not_a_model = 42

def returns_int():
    return 3

def raises():
    raise ValueError("no weights here")

def gelu():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.GELU(), nn.Linear(8, 10))
"""


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(textwrap.dedent(MODEL_PY))
    return path


@pytest.mark.parametrize("name", ["Net", "make", "instance"])
def test_a_class_factory_or_instance(model_file, name):
    model = user_model(f"{model_file}:{name}", (1, 8, 8), seed=1)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_callables_are_seeded_and_instances_copied(model_file):
    a, b = (load_module(f"{model_file}:make", seed=5) for _ in range(2))
    c = load_module(f"{model_file}:make", seed=6)
    assert torch.equal(a.conv.weight, b.conv.weight) and not torch.equal(a.conv.weight, c.conv.weight)
    i, j = (load_module(f"{model_file}:instance", seed=0) for _ in range(2))
    assert i is not j and torch.equal(i.fc.weight, j.fc.weight)


def test_a_package_module():
    model = user_model("tests.helpers.user_model:ConvNet", (1, 8, 8), seed=0)
    assert model(torch.zeros(1, 1, 8, 8)).shape == (1, 10)
    with pytest.raises(ConfigError, match="model: it has no Conv2d or Linear layer"):
        user_model("torch.nn:Flatten", (1, 2, 2), seed=0)


@pytest.mark.parametrize("spec,message", [
    ("{file}", "must be 'path/to/file.py:NAME' or 'package.module:NAME'"),
    ("{file}:", "must be 'path/to/file.py:NAME'"),
    ("{dir}/missing.py:Net", "missing.py' is not a file"),
    ("no_such_package_xyz:Net", "cannot import 'no_such_package_xyz'"),
    ("{file}:Nope", "has no 'Nope'"),
    ("{file}:not_a_model", "'not_a_model' is a int, not an nn.Module"),
    ("{file}:returns_int", r"returns_int\(\) returned a int"),
    ("{file}:raises", r"raises\(\) raised ValueError: no weights here"),
    ("{file}:gelu", r"model: layer 2 \(GELU\) is not supported"),
    ("{broken}:Net", "raised ZeroDivisionError on import: division by zero"),
])
def test_mistakes_are_one_line(model_file, tmp_path, spec, message):
    broken = tmp_path / "broken.py"
    broken.write_text("x = 1 / 0\n")
    spec = spec.format(file=model_file, dir=tmp_path, broken=broken)
    with pytest.raises(ConfigError, match=message) as e:
        user_model(spec, (1, 8, 8), seed=0)
    assert "\n" not in str(e.value)


def test_checkpoint_loads_and_mismatches_are_refused(model_file, tmp_path):
    model = load_module(f"{model_file}:Net", seed=0)
    good = tmp_path / "good.pt"
    torch.save(load_module(f"{model_file}:Net", seed=9).state_dict(), good)
    load_checkpoint(model, str(good))
    assert torch.equal(model.conv.weight, torch.load(good)["conv.weight"])

    wrong = tmp_path / "wrong.pt"
    torch.save(nn.Linear(3, 3).state_dict(), wrong)
    with pytest.raises(ConfigError, match="does not match the model: Missing key"):
        load_checkpoint(model, str(wrong))
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="is not a PyTorch state_dict"):
        load_checkpoint(model, str(garbage))
    with pytest.raises(ConfigError, match="it is a folder"):
        load_checkpoint(model, str(tmp_path))
    shaped = tmp_path / "shaped.pt"
    state = model.state_dict()
    state["fc.weight"] = torch.zeros(10, 47)
    torch.save(state, shaped)
    with pytest.raises(ConfigError, match="size mismatch for fc.weight"):
        load_checkpoint(model, str(shaped))
