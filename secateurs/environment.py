"""Environment variables set for the length of a block: the project's one patch of os.environ.

Tools that read their configuration from the environment (cocotb's runner and the simulators it
starts, Amaranth's build scripts and the YoWASP tools) get it here, and it is put back after.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Apply ``values`` to ``os.environ`` (an empty string unsets the variable) inside the block,
    then restore every variable it touched, set or unset, as it was."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value:
                os.environ[name] = value
            else:
                os.environ.pop(name, None)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
