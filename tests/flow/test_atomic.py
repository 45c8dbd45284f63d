"""The one atomic writer: concurrent writers of one path, readers meanwhile, failures, mode."""

import multiprocessing
import os
import stat
import threading

import pytest

from secateurs import atomic

#: Big enough that a write takes many syscalls, so a torn or interleaved write would show.
SIZE = 1 << 20
WRITES = 40


def _payloads() -> tuple[bytes, bytes]:
    return b"a" * SIZE, b"b" * (SIZE + 7)


def _write_many(path, data: bytes, times: int) -> None:
    for _ in range(times):
        atomic.write_bytes(path, data)


def _assert_whole_and_alone(path, payloads) -> None:
    assert path.read_bytes() in payloads
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp file left


def test_concurrent_threads_leave_one_whole_file_and_readers_never_see_half(tmp_path):
    path = tmp_path / "out.bin"
    payloads = _payloads()
    atomic.write_bytes(path, payloads[0])
    seen, errors, done = set(), [], threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.add(path.read_bytes())

    def write(data: bytes) -> None:
        try:
            _write_many(path, data, WRITES)
        except Exception as e:  # a thread's exception would otherwise only be printed
            errors.append(e)

    reader = threading.Thread(target=read)
    writers = [threading.Thread(target=write, args=(p,)) for p in payloads]
    reader.start()
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    done.set()
    reader.join()
    assert errors == []
    assert seen <= set(payloads)
    _assert_whole_and_alone(path, payloads)


def test_concurrent_processes_leave_one_whole_file(tmp_path):
    path = tmp_path / "out.bin"
    payloads = _payloads()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(path, p, WRITES)) for p in payloads]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert [w.exitcode for w in workers] == [0, 0]
    _assert_whole_and_alone(path, payloads)


def test_a_failed_write_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "out.txt"
    atomic.write_text(path, "old")

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic.write_text(path, "new")
    monkeypatch.undo()
    assert path.read_text() == "old"
    _assert_whole_and_alone(path, (b"old",))


def test_written_files_are_ordinary_artifacts(tmp_path):
    path = atomic.write_json(tmp_path / "deep" / "x.json", {"a": 1})
    assert path.read_text() == '{\n  "a": 1\n}\n'
    assert stat.S_IMODE(os.stat(path).st_mode) == atomic.FILE_MODE == 0o644
