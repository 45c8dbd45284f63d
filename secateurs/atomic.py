"""Atomic writes: a reader sees the old artifact or the new one, never half of either.

The project's one writer of files (sw, hw, sim and the flow all write through it). Each write
gets its own temp name, so concurrent writers of one path never collide: the last rename wins,
whole.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np


#: Mode of a written file: mkstemp makes temp files private, an artifact is an ordinary file.
FILE_MODE = 0o644


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a unique temp file in the same folder, flush it to disk, then rename
    it over ``path`` (creating the folder); returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode())


def write_json(path: str | Path, obj: object) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_npy(path: str | Path, array: np.ndarray) -> Path:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return write_bytes(path, buffer.getvalue())


def staged_dir(out: str | Path, command: str = "secateurs"):
    """Yield a scratch folder beside ``out``; on success its files replace what secateurs wrote
    in ``out`` before, on error it vanishes (:func:`secateurs.outdir.staged_dir`)."""
    from .outdir import staged_dir as staged

    return staged(out, command)
