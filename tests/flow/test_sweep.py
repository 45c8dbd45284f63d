"""A tiny sweep end to end: CSV and figures, resumed without rerunning; CLI `sweep` and `list`."""

import csv
import json

import pytest
from click.testing import CliRunner

from secateurs.cli import main
from secateurs.errors import ConfigError
from secateurs.sw.formats import FORMATS
from secateurs.sw.prune import catalogue
from secateurs.sweep import load_sweep, run_sweep
from secateurs.sweep_report import accuracy_table, write_report
from tests.flow.sweeps import rerun, tiny_sweep_fixture

TINY = """
name = "tiny"
seeds = [0]
compressions = [1, 4]
workers = 2
[data]
train_samples = 150
[train]
epochs = 2
[prune]
finetune_epochs = 1
[models.mlp]
hidden = [16]
[strategies.global_magnitude]
score = "magnitude"
scope = "global"
[strategies.random]
score = "random"
"""
PNG = b"\x89PNG\r\n\x1a\n"


sweep = tiny_sweep_fixture("sweep", TINY, load_sweep, run_sweep)


def test_one_row_per_run_with_config_and_metrics(sweep):
    folder, _, rows, seen = sweep
    assert seen[-1] == (5, 5)                         # one dense model + 2 strategies × 2 compressions
    paths = write_report(rows, folder / "out")
    with open(folder / "out" / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 4
    assert {(r["strategy"], float(r["compression"])) for r in table} == {
        (s, c) for s in ("global_magnitude", "random") for c in (1.0, 4.0)}
    for row in table:
        assert row["prune.score"] in ("magnitude", "random") and row["model.hidden"] == "[16]"
        assert 0.0 <= float(row["accuracy"]) <= 1.0
        assert float(row["density"]) == pytest.approx(1 / float(row["compression"]), abs=1e-3)
        assert float(row["theoretical_speedup"]) >= 1.0 and float(row["compression_ratio"]) >= 1.0
        assert 0 <= int(row["classes_reachable"]) <= 10
    for png in paths[1:]:
        assert png.read_bytes()[:8] == PNG
    assert "| global_magnitude |" in accuracy_table(rows, "mlp")


def test_a_finished_sweep_is_not_run_again(sweep):
    folder, cfg, rows, _ = sweep
    results = sorted((folder / "out" / "results").glob("*.json"))
    stamps = [p.stat().st_mtime_ns for p in results]
    totals, again = rerun(run_sweep, cfg, folder / "out")
    assert totals == [0] and again == rows
    assert [p.stat().st_mtime_ns for p in results] == stamps


def test_a_changed_or_missing_run_is_run_again(sweep):
    folder, cfg, _, _ = sweep
    victim = folder / "out" / "results" / "mlp-random-c4-s0.json"
    victim.unlink()
    totals, _ = rerun(run_sweep, cfg, folder / "out")
    assert totals[-1] == 1 and json.loads(victim.read_text())["config"]["strategy"] == "random"


@pytest.mark.parametrize("text, message", [
    (TINY.replace('score = "random"', 'scor = "random"'), "strategies.random.scor.*'score'"),
    (TINY.replace('[strategies.random]\nscore = "random"', '[strategies.random]\nstructure = "nm"'),
     "'random' at compression 1"),
    ("name = 'x'\n", r"\[models.LABEL\]"),
])
def test_sweep_config_errors_name_the_key(tmp_path, text, message):
    (tmp_path / "s.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_sweep(tmp_path / "s.toml")


def test_cli_sweep_reports_bad_config_in_one_line(tmp_path):
    result = CliRunner().invoke(main, ["sweep", "--config", str(tmp_path / "missing.toml")])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "does not exist" in result.stderr


def test_cli_list_prints_every_registered_name_with_its_citation():
    result = CliRunner(env={"COLUMNS": "300"}).invoke(main, ["list"])
    assert result.exit_code == 0
    for kind, entries in catalogue().items():
        assert kind in result.output
        for name, (description, citation) in entries.items():
            assert name in result.output and citation.split(",")[0] in result.output
    assert all(name in result.output for name in FORMATS)


def test_data_dir_switches_the_sweep_to_mnist_and_lenet_5_runs_on_it(tmp_path):
    from secateurs.sweep import plan, run_dense, run_one
    from tests.sw.test_data import write_mnist

    write_mnist(tmp_path, side=28, per_class=4)
    lenet_5 = '[models.cnn]\narch = "cnn"\nhidden = [120, 84]'
    (tmp_path / "s.toml").write_text(TINY.replace('[models.mlp]\nhidden = [16]', lenet_5))
    cfg = load_sweep(tmp_path / "s.toml", ["data.train_samples=0", "data.val_fraction=0.25"],
                     data_dir=str(tmp_path))
    assert cfg.settings.data.dataset == "mnist" and cfg.settings.data.data_dir == str(tmp_path)
    dense, runs = plan(cfg, tmp_path / "out")
    run_dense(dense[0])
    run_one(runs[1])                                    # global magnitude at 4×
    metrics = json.loads(runs[1].path.read_text())["metrics"]
    assert metrics["macs_dense"] == 416_520             # LeNet-5 on 28×28
    assert metrics["density"] == pytest.approx(0.25, abs=1e-3)
