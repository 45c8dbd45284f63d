"""Output folders: secateurs writes only into a new, empty or its own folder, and replaces only
what it wrote there.

A folder secateurs made holds :data:`MANIFEST`, listing the files it wrote. A non-empty folder
without one belongs to someone else and is refused (nothing in it is touched); in one of ours
only the listed files are replaced, so a user's notes beside our artifacts survive. A command's
scratch folder (``.OUT.*.partial``, beside OUT) carries :data:`STAGE_MARKER` with its process id,
so one left by a killed run is recognised as ours and removed by the next run into OUT.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import tempfile
from pathlib import Path

from .errors import InputError

#: Marks a folder secateurs made, and lists what it wrote there.
MANIFEST = ".secateurs-manifest.json"
#: Marks a scratch folder of a running command (its process id).
STAGE_MARKER = ".secateurs-stage"
TOOL = "secateurs"


def read_manifest(folder: Path) -> dict | None:
    """The manifest of ``folder`` if secateurs wrote one there, else None."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("tool") != TOOL:
        return None
    files = manifest.get("files", [])
    manifest["files"] = [f for f in files if isinstance(f, str)] if isinstance(files, list) else []
    return manifest


def check_out_dir(out: str | Path, what: str = "output folder") -> Path:
    """``out`` if secateurs may write there: new, an empty folder, or one of ours; else an
    InputError saying why and how to proceed. Nothing is created."""
    out = Path(out)
    where = f"{what} {str(out)!r}"
    existing = out
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if existing != out and os.path.lexists(existing) and not existing.is_dir():
        raise InputError(f"{where} is under {str(existing)!r}, which is a file, not a folder")
    if os.path.lexists(out):
        if out.is_symlink() and not out.exists():
            raise InputError(f"{where} is a broken symlink or a symlink loop")
        if not out.is_dir():
            raise InputError(f"{where} is a file, not a folder; pass a new or empty folder")
        try:
            empty = next(os.scandir(out), None) is None
        except OSError as e:
            raise InputError(f"cannot read {where}: {e.strerror}") from None
        if not empty and read_manifest(out) is None:
            raise InputError(f"{where} is not empty and was not written by secateurs; pass a new "
                             f"or empty folder (nothing in it was touched)")
    return out


def write_manifest(folder: Path, command: str, files: list[str]) -> None:
    from .atomic import write_json

    write_json(folder / MANIFEST, {"tool": TOOL, "command": command, "files": sorted(files)})


def claim_dir(out: str | Path, command: str, what: str = "output folder",
              legacy: tuple[str, ...] = ()) -> Path:
    """Check ``out`` (:func:`check_out_dir`), create it and mark it ours (a folder that already
    has a manifest keeps it). A folder without one that holds every file named in ``legacy``
    was written by secateurs before manifests, and is adopted."""
    out = Path(out)
    if legacy and read_manifest(out) is None and all((out / n).is_file() for n in legacy):
        write_manifest(out, command, [])
    out = check_out_dir(out, what)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create {what} {str(out)!r}: {e.strerror}") from None
    if read_manifest(out) is None:
        write_manifest(out, command, [])
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_partials(out: Path) -> list[Path]:
    """Remove scratch folders of ``out`` that killed runs left (ours by their marker, their
    process gone); returns them."""
    removed = []
    pattern = os.path.join(glob.escape(str(out.parent)), f".{glob.escape(out.name)}.*.partial")
    for name in glob.glob(pattern):
        stage = Path(name)
        try:
            pid = int((stage / STAGE_MARKER).read_text())
        except (OSError, ValueError):
            continue  # not ours: left alone
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(stage, ignore_errors=True)
            removed.append(stage)
    return removed


def _files(folder: Path) -> list[str]:
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() or p.is_symlink()]


def _remove_ours(out: Path, files: list[str]) -> None:
    """Delete the files the manifest lists (never a path outside ``out``), then the folders
    they leave empty."""
    root = out.resolve()
    parents = set()
    for rel in files:
        path = out / rel
        parent = path.parent.resolve()
        if parent != root and root not in parent.parents:
            continue
        if path.is_symlink() or path.is_file():
            path.unlink()
            parents.update(p for p in path.relative_to(out).parents if str(p) != ".")
    for rel in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            (out / rel).rmdir()  # only if empty: a user's file inside keeps it


def _merge(src: Path, dst: Path) -> None:
    dst.mkdir(exist_ok=True)
    for entry in src.iterdir():
        target = dst / entry.name
        if entry.is_dir() and not entry.is_symlink() and target.is_dir():
            _merge(entry, target)
        else:
            os.replace(entry, target)


@contextlib.contextmanager
def staged_dir(out: str | Path, command: str = "secateurs"):
    """Yield a scratch folder beside ``out``; on success its files move into ``out`` (replacing
    only what secateurs wrote there before), on error it vanishes. ``out`` is checked first."""
    out = check_out_dir(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create output folder {str(out)!r}: {e.strerror}") from None
    clean_partials(out)
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial"))
    try:
        (stage / STAGE_MARKER).write_text(str(os.getpid()))
        yield stage
        (stage / STAGE_MARKER).unlink()
        files = _files(stage)
        write_manifest(stage, command, files)
        if not out.exists():
            os.replace(stage, out)
            return
        old = read_manifest(out)
        _remove_ours(out, old["files"] if old else [])
        _merge(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
