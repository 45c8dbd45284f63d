"""The user's own model: ``model.module = "path/to/file.py:NAME"`` or ``"package.module:NAME"``.

NAME is a callable returning an ``nn.Module`` (a class, a factory) or a module instance (copied,
so every build starts from the same weights). A file is executed afresh for each build, and
its import and the callable are seeded by the config's seed: the same config, the same weights. The model is traced into the layer graph at once,
so an op the hardware cannot run is refused before any training. ``model.checkpoint`` is a
state_dict to start from instead of training (:func:`load_checkpoint`).
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

import torch
from torch import nn

from ..errors import ConfigError


def check_spec(spec: str) -> None:
    """ConfigError unless ``spec`` has the form of a module spec (nothing is imported)."""
    _split_spec(spec)


def _split_spec(spec: str) -> tuple[str, str]:
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise ConfigError(f"model.module must be 'path/to/file.py:NAME' or 'package.module:NAME', "
                          f"not {spec!r}")
    return where, name


def _import(where: str):
    """The module a spec names: a .py file by path, or an importable dotted name."""
    try:
        if where.endswith(".py"):
            path = Path(where)
            if not path.is_file():
                raise ConfigError(f"model.module: {where!r} is not a file")
            # A private name per file, so two users' model.py never shadow each other.
            unique = "_secateurs_user_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
            spec = importlib.util.spec_from_file_location(unique, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[unique] = module  # dataclasses and pickling look their module up
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[unique]
                raise
            return module
        return importlib.import_module(where)
    except ConfigError:
        raise
    except ModuleNotFoundError as e:
        raise ConfigError(f"model.module: cannot import {where!r} ({e})") from None
    except Exception as e:  # a user's file can raise anything while it runs
        raise ConfigError(f"model.module: {where!r} raised {type(e).__name__} on import: {e}") from None


def load_module(spec: str, *, seed: int) -> nn.Module:
    """A fresh instance of the user's model (a callable's initialisation seeded by ``seed``)."""
    where, name = _split_spec(spec)
    with torch.random.fork_rng(devices=[]):  # an instance made on import is seeded too
        torch.manual_seed(seed)
        module = _import(where)
    if not hasattr(module, name):
        raise ConfigError(f"model.module: {where!r} has no {name!r}")
    target = getattr(module, name)
    if isinstance(target, nn.Module):
        return copy.deepcopy(target)
    if not callable(target):
        raise ConfigError(f"model.module: {name!r} is a {type(target).__name__}, not an "
                          f"nn.Module or a callable returning one")
    with torch.random.fork_rng(devices=[]):  # seed the init without touching global state
        torch.manual_seed(seed)
        try:
            model = target()
        except Exception as e:
            raise ConfigError(f"model.module: {name}() raised {type(e).__name__}: {e}") from None
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model.module: {name}() returned a {type(model).__name__}, not an nn.Module")
    return model


def user_model(spec: str, image_shape: tuple[int, int, int], *, seed: int) -> nn.Module:
    """The user's model, checked to trace into the layer graph for ``image_shape`` inputs."""
    from .graph import trace

    model = load_module(spec, seed=seed)
    trace(model, image_shape)
    return model


def load_checkpoint(model: nn.Module, path: str) -> None:
    """Load the state_dict at ``path`` into ``model``; ConfigError unless it matches exactly."""
    from ..inputs import problem

    if (why := problem(Path(path))[0]):
        raise ConfigError(f"model.checkpoint {path!r}: {why}")
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # a truncated or foreign file fails inside torch's unpickler
        raise ConfigError(f"model.checkpoint {path!r} is not a PyTorch state_dict "
                          f"({type(e).__name__})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"model.checkpoint {path!r} does not hold a state_dict of tensors")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        detail = " ".join(line.strip() for line in first[1:3]) or first[0]
        raise ConfigError(f"model.checkpoint {path!r} does not match the model: {detail}") from None
