"""Shared fixtures: one Verilator build cache for the whole test run."""

import pytest


@pytest.fixture(scope="session")
def build_cache(request, tmp_path_factory):
    """The one folder every Verilator build of the run lands in.

    Builds are keyed by their parameters and Verilog, so every test may share it; it is pytest's
    cache folder when there is one (a later run reuses what did not change), else a temporary one.
    """
    cache = getattr(request.config, "cache", None)
    if cache is None:
        return tmp_path_factory.mktemp("verilator-builds")
    return cache.mkdir("rtl-builds")
