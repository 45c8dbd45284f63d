"""Shared fixtures: one Verilator build cache for the whole test session."""

import pytest


@pytest.fixture(scope="session")
def build_cache(tmp_path_factory):
    """Builds are keyed by their parameters, so every test may share this folder."""
    return tmp_path_factory.mktemp("verilator-builds")
