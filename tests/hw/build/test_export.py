"""``secateurs rtl`` and ``secateurs bitstream`` from the command line: artifacts and user errors."""

import json

import numpy as np
from click.testing import CliRunner

from secateurs.cli import main
from secateurs.hw.build.lint import WAIVERS
from secateurs.sw.formats import container
from tests.helpers.models import random_model


def _model(tmp_path, pes):
    path = tmp_path / "model.bin"
    container.save(path, random_model(np.random.default_rng(0), [10, 12, 4], 0.4), pes=pes,
                   index_bits=4)
    return path


def test_rtl_writes_both_designs_lint_clean(tmp_path):
    model = _model(tmp_path, 2)
    out = tmp_path / "rtl"
    result = CliRunner().invoke(main, ["rtl", "--model", str(model), "--set", "hardware.pes=2",
                                       "--set", "hardware.queue_depth=3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    described = json.loads((out / "accelerators.json").read_text())
    for kind in ("sparse", "dense"):
        # Loadable designs: sized by the layer shapes, no model inside.
        assert described[kind]["pes"] == 2 and described[kind]["layers"] is None
        assert (described[kind]["max_layers"], described[kind]["max_rows"],
                described[kind]["max_cols"]) == (2, 12, 12)
        text = (out / f"{kind}_accelerator.v").read_text()
        assert f"module {kind}_accelerator(" in text
    assert described["sparse"]["queue_depth"] == 3
    waivers = (out / "lint_waivers.vlt").read_text()
    assert all(f"lint_off -rule {rule}" in waivers for rule in WAIVERS)


def test_user_errors_are_one_line(tmp_path):
    model = _model(tmp_path, 2)
    runner = CliRunner()
    cases = [
        (["rtl", "--model", str(tmp_path / "none.bin"), "--out", str(tmp_path / "a")],
         "does not exist"),
        (["rtl", "--model", str(model), "--out", str(tmp_path / "b")],
         "packed for 2 PEs but hardware.pes is 4"),
        (["rtl", "--model", str(model), "--set", "hardware.pes=2", "--set", "hardware.acc_bits=16",
          "--out", str(tmp_path / "c")], "Accumulator width 16 can overflow"),
        (["bitstream", "--model", str(model), "--set", "hardware.pes=2", "--target", "xc7",
          "--out", str(tmp_path / "d")], "Invalid value for '--target'"),
    ]
    for args, message in cases:
        result = runner.invoke(main, args)
        assert result.exit_code == 2, result.output
        assert message in result.output
    assert not any((tmp_path / name).exists() for name in "abcd")
