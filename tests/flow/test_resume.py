"""Resume checks what it skips: each artifact's sha256 is recorded in steps.json, and a changed
or missing artifact reruns its step and every step after it (up to pack: no RTL needed)."""

import json

import pytest

from secateurs import config
from secateurs.flow import STEPS_FILE, Reporter, run_flow
from secateurs.sw.formats import container

TINY = ["model.hidden=[16]", "train.epochs=1", "prune.finetune_epochs=1", "hardware.pes=2"]
UNTIL_PACK = ["train", "prune", "quantize", "pack"]


class Log(Reporter):
    def __init__(self):
        self.lines = []

    def log(self, message):
        self.lines.append(message)

    def ran(self):
        return [line.split("]")[0][1:] for line in self.lines if "skipped" not in line]


def flow(out):
    log = Log()
    run_flow(config.load(None, TINY), out, log, until="pack")
    return log.ran()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("resume")
    assert flow(out) == UNTIL_PACK
    return out


def test_hashes_are_recorded_and_an_unchanged_run_skips_all(finished):
    recorded = json.loads((finished / STEPS_FILE).read_text())
    assert set(recorded["pack"]["outputs"]) == {"model.bin"}
    assert len(recorded["pack"]["outputs"]["model.bin"]) == 64
    assert flow(finished) == []


def test_a_truncated_model_reruns_pack(finished):
    model = finished / "model.bin"
    good = model.read_bytes()
    model.write_bytes(good[:len(good) // 2])
    assert flow(finished) == ["pack"]
    assert model.read_bytes() == good
    container.load(model)


def test_a_changed_early_artifact_reruns_it_and_everything_after(finished):
    (finished / "model.pt").write_bytes(b"not a state dict")
    assert flow(finished) == ["prune", "quantize", "pack"]


def test_a_missing_artifact_reruns_its_step(finished):
    (finished / "quantized.npz").unlink()
    assert flow(finished) == ["quantize", "pack"]


@pytest.mark.parametrize("steps_json", ["[1, 2]", "{\"pack\": 3}", "not json", ""])
def test_a_malformed_steps_file_reruns_everything(finished, steps_json):
    (finished / STEPS_FILE).write_text(steps_json)
    assert flow(finished) == UNTIL_PACK
