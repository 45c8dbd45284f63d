"""Running a tiny sweep config of either kind (pruning or hardware) and running it again."""

from pathlib import Path
from typing import Callable

import pytest


def run_tiny(folder: Path, text: str, load: Callable, run: Callable) -> tuple[object, list, list]:
    """Write ``text`` to ``folder/tiny.toml``, ``load`` it and ``run`` it into ``folder/out``;
    ``(config, rows, [(done, total), …] as progress reported them)``."""
    (folder / "tiny.toml").write_text(text)
    cfg = load(folder / "tiny.toml")
    seen = []
    rows = run(cfg, folder / "out", progress=lambda done, total, name: seen.append((done, total)))
    return cfg, rows, seen


def rerun(run: Callable, cfg, out: Path) -> tuple[list[int], list]:
    """Run a sweep again: ``(the totals progress reported, rows)``; ``[0]`` when nothing ran."""
    totals = []
    rows = run(cfg, out, progress=lambda done, total, name: totals.append(total))
    return totals, rows


def tiny_sweep_fixture(name: str, text: str, load: Callable, run: Callable):
    """A module-scoped fixture: ``(folder, config, rows, progress)`` of :func:`run_tiny`."""

    @pytest.fixture(scope="module")
    def fixture(tmp_path_factory):
        folder = tmp_path_factory.mktemp(name)
        return (folder, *run_tiny(folder, text, load, run))

    return fixture
