"""A tiny hardware sweep on a local Ray: rows per (point, D), the model's invariants, RTL proof."""

import pytest

from secateurs.errors import ConfigError
from secateurs.hw_sweep import (hardware_figures, load_hardware_sweep, nm_pattern, plan,
                                run_hardware_sweep)
from tests.flow.sweeps import rerun, tiny_sweep_fixture

TINY = """
kind = "hardware"
name = "tiny_hw"
densities = [0.5, 0.25]
structures = ["unstructured", "nm"]
pes = [2]
queue_depths = [1, 4]
formats = ["csc"]
base = ["model.hidden=[16]", "train.epochs=5", "prune.finetune_epochs=2", "sim.samples=0"]
"""


swept = tiny_sweep_fixture("hw_sweep", TINY, load_hardware_sweep, run_hardware_sweep)


def test_one_row_per_point_and_depth(swept):
    _, _, rows, seen = swept
    assert seen[-1] == (4, 4)  # 2 densities × 2 structures, every D evaluated inside a point
    assert len(rows) == 8
    for r in rows:
        assert r["realised_speedup"] == pytest.approx(r["cycles_dense"] / r["cycles_sparse"])
        assert 0 < r["efficiency"] <= 1
        assert r["format"] == ("nm" if r["structure"] == "nm" else "csc")
    nm = {r["density"]: r["measured_density"] for r in rows if r["structure"] == "nm"}
    assert nm[0.5] <= 0.5 + 1e-9 and nm[0.25] <= 0.25 + 1e-9  # N:M keeps at most N of M
    assert nm_pattern(0.05) == (1, 16) and nm_pattern(0.1) == (1, 10)


def test_deeper_queues_never_cost_cycles(swept):
    _, _, rows, _ = swept
    by_point = {}
    for r in rows:
        by_point.setdefault((r["structure"], r["density"]), {})[r["queue_depth"]] = r["cycles_sparse"]
    for cycles in by_point.values():
        assert cycles[4] <= cycles[1]


def test_finished_points_are_not_run_again_and_figures_are_written(swept):
    folder, sweep, rows, _ = swept
    totals, again = rerun(run_hardware_sweep, sweep, folder / "out")
    assert totals == [0] and again == rows
    for path in hardware_figures(rows, folder / "out"):
        assert path.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.rtl
def test_a_point_proved_on_the_rtl(tmp_path):
    path = tmp_path / "one.toml"
    path.write_text(TINY.replace("densities = [0.5, 0.25]", "densities = [0.25]")
                    .replace('structures = ["unstructured", "nm"]', 'structures = ["unstructured"]')
                    .replace("queue_depths = [1, 4]", "queue_depths = [2]") + "rtl_samples = 6\n")
    rows = run_hardware_sweep(load_hardware_sweep(path), tmp_path / "out", workers=1)
    assert [r["rtl_checked"] for r in rows] == [6]


@pytest.mark.parametrize("text, message", [
    (TINY.replace("densities = [0.5, 0.25]", "densities = [1.5]"), "densities must be in"),
    (TINY.replace('formats = ["csc"]', 'formats = ["bitmap"]'), "unknown sweep formats"),
    (TINY + "pez = [3]\n", "'pes'"),
])
def test_bad_sweep_configs(tmp_path, text, message):
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_hardware_sweep(tmp_path / "bad.toml")


def test_rows_balanced_points_are_unstructured_pruning_packed_balanced(tmp_path):
    (tmp_path / "rb.toml").write_text(TINY.replace('["unstructured", "nm"]', '["rows_balanced"]'))
    sweep = load_hardware_sweep(tmp_path / "rb.toml")
    point = plan(sweep, tmp_path / "out")[0]
    cfg = point.flow_config()
    assert (point.structure, cfg.prune.structure, cfg.pack.balance_rows) == \
           ("rows_balanced", "unstructured", True)
