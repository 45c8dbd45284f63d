"""The one patch of os.environ: set and unset inside the block, everything restored after."""

import os

import pytest

from secateurs.environment import environment


def test_sets_unsets_and_restores(monkeypatch):
    monkeypatch.setenv("SECATEURS_KEPT", "before")
    monkeypatch.setenv("SECATEURS_UNSET", "present")
    monkeypatch.delenv("SECATEURS_NEW", raising=False)
    with environment({"SECATEURS_KEPT": "inside", "SECATEURS_UNSET": "", "SECATEURS_NEW": "1"}):
        assert os.environ["SECATEURS_KEPT"] == "inside"
        assert "SECATEURS_UNSET" not in os.environ
        assert os.environ["SECATEURS_NEW"] == "1"
    assert os.environ["SECATEURS_KEPT"] == "before"
    assert os.environ["SECATEURS_UNSET"] == "present"
    assert "SECATEURS_NEW" not in os.environ


def test_restores_after_an_error(monkeypatch):
    monkeypatch.delenv("SECATEURS_NEW", raising=False)
    with pytest.raises(RuntimeError):
        with environment({"SECATEURS_NEW": "1"}):
            raise RuntimeError("tool failed")
    assert "SECATEURS_NEW" not in os.environ
