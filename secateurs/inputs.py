"""Reading a user's file: a regular file of a sane size, or one line saying what it is instead.

A FIFO or a device (``/dev/zero``) would block or never end, a folder or a symlink loop would
raise an OSError, and a header may claim more data than any machine holds: each is refused
*before* the file is read.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import numpy as np

from .errors import InputError

#: Largest .npy array a command reads (bytes of its data); the accelerator's layers are far smaller.
MAX_ARRAY_BYTES = 256 << 20
#: Largest text file (config, TOML, JSON) read.
MAX_TEXT_BYTES = 16 << 20


def problem(path: str | Path) -> tuple[str | None, int]:
    """Why ``path`` is not a readable regular file (None if it is), and its size."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "it does not exist", 0
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "it is a symlink loop", 0
        if e.errno == errno.ENOTDIR:
            return "it does not exist (a part of its path is a file)", 0
        return e.strerror or str(e), 0
    if stat.S_ISDIR(st.st_mode):
        return "it is a folder, not a file", 0
    if stat.S_ISFIFO(st.st_mode):
        return "it is a FIFO, not a regular file", 0
    if not stat.S_ISREG(st.st_mode):
        return "it is a device or socket, not a regular file", 0
    return None, st.st_size


def check_regular(path: str | Path, what: str, error: type = InputError) -> int:
    """The size of ``path`` if it is a regular file (symlinks followed); else ``error`` saying
    what it is: missing, a folder, a FIFO or device, a symlink loop, unreadable."""
    reason, size = problem(path)
    if reason:
        raise error(f"cannot read {what} {str(path)!r}: {reason}")
    return size


def read_bytes(path: str | Path, what: str, max_bytes: int, error: type = InputError) -> bytes:
    """The bytes of the regular file ``path``, refusing one over ``max_bytes`` before reading it."""
    size = check_regular(path, what, error)
    if size > max_bytes:
        raise error(f"cannot read {what} {str(path)!r}: it is {size} bytes, at most "
                    f"{max_bytes} are read")
    try:
        with open(path, "rb") as f:
            return f.read(max_bytes + 1)
    except OSError as e:
        raise error(f"cannot read {what} {str(path)!r}: {e.strerror or e}") from None


def read_text(path: str | Path, what: str, error: type = InputError) -> str:
    """The UTF-8 text of the regular file ``path`` (at most :data:`MAX_TEXT_BYTES`)."""
    data = read_bytes(path, what, MAX_TEXT_BYTES, error)
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise error(f"cannot read {what} {str(path)!r}: it is not UTF-8 text") from None


def load_npy(path: str | Path, what: str, max_bytes: int = MAX_ARRAY_BYTES) -> np.ndarray:
    """A .npy array, its header read first: an .npz, a pickle, a header claiming more data than
    ``max_bytes`` or than the file holds is refused before any data is read."""
    from numpy.lib import format as npy

    size = check_regular(path, f"{what} file", InputError)
    where = f"{what} file {str(path)!r}"
    try:
        with open(path, "rb") as f:
            head = f.read(6)
            if head[:2] == b"PK":
                raise InputError(f"{where} is an .npz archive; pass one .npy array")
            f.seek(0)
            version = npy.read_magic(f)
            read_header = {(1, 0): npy.read_array_header_1_0,
                           (2, 0): npy.read_array_header_2_0}.get(version)
            if read_header is None:
                raise InputError(f"{where} is .npy version {version}, not 1.0 or 2.0")
            shape, _fortran, dtype = read_header(f, max_header_size=10_000)
            if dtype.hasobject:
                raise InputError(f"{where} holds Python objects, not numbers")
            count = 1
            for n in shape:
                count *= n
            nbytes = count * dtype.itemsize
            if nbytes > max_bytes:
                raise InputError(f"{where} claims a {'x'.join(map(str, shape))} {dtype} array "
                                 f"({nbytes} bytes); at most {max_bytes} are read")
            if f.tell() + nbytes > size:
                raise InputError(f"{where} is truncated: its header claims {nbytes} bytes of "
                                 f"data, the file holds {size - f.tell()}")
            f.seek(0)
            return np.load(f, allow_pickle=False)
    except InputError:
        raise
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"{where} is not a .npy array ({e})") from None
