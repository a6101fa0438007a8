"""The run lock: one import at a time per work_dir and output_dir; a killed run's lock is taken over."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from gladly_import.faults import STOP_AT_ENV
from gladly_import.lock import LOCK_FILE, FolderInUse, lock_run_folders
from tests.python.conftest import PROJECT_DIR, item_ids, run_import, write_config

HOLD_LOCK = """
import sys
from pathlib import Path
from gladly_import.lock import lock_run_folders
locks = lock_run_folders(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
print("locked", flush=True)
sys.stdin.read()  # hold the locks until the test closes stdin, or kills us
"""


def hold_lock(run_id: str, work_dir: Path, output_dir: Path) -> subprocess.Popen:
    """Another process that takes the run locks and keeps them."""
    child = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, run_id, str(work_dir), str(output_dir)],
                             cwd=PROJECT_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "locked\n"
    return child


def test_a_held_work_dir_refuses_a_second_run_naming_the_holder(tmp_path: Path) -> None:
    holder = hold_lock("20260101T000000Z-aaaaaa", tmp_path / "work", tmp_path / "out")
    try:
        with pytest.raises(FolderInUse) as refused:
            lock_run_folders("20260101T000001Z-bbbbbb", tmp_path / "work", tmp_path / "elsewhere")
        message = str(refused.value)
        assert "\n" not in message
        assert message.startswith(f"work_dir {tmp_path / 'work'} is in use by import run 20260101T000000Z-aaaaaa "
                                  f"(pid {holder.pid} on host {socket.gethostname()}, since 20")
        assert not (tmp_path / "elsewhere" / LOCK_FILE).exists()  # refused before touching output_dir
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    # the holder ended normally: the folder is free again
    lock_run_folders("20260101T000002Z-cccccc", tmp_path / "work", tmp_path / "elsewhere").release()


def test_a_shared_output_dir_is_locked_too(tmp_path: Path) -> None:
    holder = hold_lock("20260101T000000Z-aaaaaa", tmp_path / "work-a", tmp_path / "out")
    try:
        with pytest.raises(FolderInUse, match=r"^output_dir .*/out is in use by import run 20260101T000000Z-aaaaaa "
                                              rf"\(pid {holder.pid} on host "):
            lock_run_folders("20260101T000001Z-bbbbbb", tmp_path / "work-b", tmp_path / "out")
        # output_dir is what people hand to Gladly: its lock is the folder's own, no file is left in it
        assert list((tmp_path / "out").iterdir()) == []
        assert json.loads((tmp_path / "work-a" / LOCK_FILE).read_text(encoding="utf-8"))["pid"] == holder.pid
        # the refused run let go of the work_dir it had taken
        lock_run_folders("20260101T000002Z-cccccc", tmp_path / "work-b", tmp_path / "out-b").release()
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_the_lock_of_a_killed_run_is_taken_over(tmp_path: Path) -> None:
    holder = hold_lock("20260101T000000Z-aaaaaa", tmp_path / "work", tmp_path / "work")  # one folder, one lock
    holder.kill()
    holder.wait(timeout=30)
    stale = json.loads((tmp_path / "work" / LOCK_FILE).read_text(encoding="utf-8"))
    assert stale["run_id"] == "20260101T000000Z-aaaaaa" and stale["pid"] == holder.pid  # left behind by kill -9
    locks = lock_run_folders("20260101T000001Z-bbbbbb", tmp_path / "work", tmp_path / "work")
    try:
        mine = json.loads((tmp_path / "work" / LOCK_FILE).read_text(encoding="utf-8"))
        assert (mine["run_id"], mine["pid"], mine["host"]) == ("20260101T000001Z-bbbbbb", os.getpid(), socket.gethostname())
    finally:
        locks.release()
    assert (tmp_path / "work" / LOCK_FILE).read_text(encoding="utf-8") == ""  # a run that ends names nobody


def _wait_until_stopped(process: subprocess.Popen) -> None:
    _, status = os.waitpid(process.pid, os.WUNTRACED)
    if not os.WIFSTOPPED(status):
        process.returncode = os.waitstatus_to_exitcode(status)
        pytest.fail(f"the first import ended before its files were staged: {process.stderr.read()}")


@pytest.mark.slow
def test_two_imports_on_one_work_dir_one_runs_the_other_stops_at_once(tmp_path: Path) -> None:
    (tmp_path / "items.csv").write_text(
        "Conversation Item ID,Customer Email,Conversation Item Timestamp,Conversation Item Body\n"
        "a-1,a@example.com,2021-01-01T00:00:00Z,first\n"
        "a-2,b@example.com,2021-01-02T00:00:00Z,second\n", encoding="utf-8")
    config = write_config(tmp_path, {"csv": {"path": "items.csv"}})
    # the first import stops itself (SIGSTOP) once its files are staged in output/.partial-<run id>/
    first = subprocess.Popen([sys.executable, "-m", "gladly_import", "--config", str(config)], cwd=PROJECT_DIR,
                             env={**os.environ, STOP_AT_ENV: "staged"}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        _wait_until_stopped(first)
        staged = sorted(p.relative_to(tmp_path) for p in (tmp_path / "output").glob(".partial-*/*"))
        raw = sorted(p.relative_to(tmp_path) for p in (tmp_path / "work" / "raw").rglob("*"))
        assert staged and raw

        started = time.monotonic()
        second = run_import(config)
        took = time.monotonic() - started
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert re.fullmatch(rf"work_dir {re.escape(str(tmp_path / 'work'))} is in use by import run "
                            rf"\d{{8}}T\d{{6}}Z-[0-9a-f]{{6}} \(pid {first.pid} on host {re.escape(socket.gethostname())}, "
                            r"since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\): wait for it to end, or give this import "
                            r"another work_dir", lines[0]), lines[0]
        assert took < 60  # no extraction, no dbt: it stopped before doing anything
        # nothing of the first run was touched: its staged files and its raw Parquet are all there
        assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "output").glob(".partial-*/*")) == staged
        assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "work" / "raw").rglob("*")) == raw
    finally:
        if first.returncode is None:
            os.kill(first.pid, signal.SIGCONT)
    _, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    run_id = re.search(r"import (\S+): full run", stderr).group(1)
    assert run_id in lines[0]
    assert item_ids(sorted((tmp_path / "output").glob("gladly_conversation_items_*.csv"))) == ["a-1", "a-2"]
    with duckdb.connect(str(tmp_path / "work" / "gladly_import.duckdb"), read_only=True) as conn:
        history = conn.execute("select run_id, status from ledger.import_runs").fetchall()
    assert history == [(run_id, "succeeded")]  # the refused run left no trace, the first is not "abandoned"


FORK_AND_EXIT = """
import os, sys, time
from pathlib import Path
from gladly_import.lock import lock_run_folders
locks = lock_run_folders(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[2]))
if os.fork():
    os._exit(0)  # the run's process ends; the forked one keeps the locked descriptor
print(os.getpid(), flush=True)
time.sleep(60)
"""


def test_a_lock_kept_by_a_forked_process_of_a_dead_run_says_so(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", FORK_AND_EXIT, "20260101T000000Z-aaaaaa", str(tmp_path)],
                             cwd=PROJECT_DIR, stdout=subprocess.PIPE, text=True)
    fork = int(child.stdout.readline())
    child.stdout.close()
    assert child.wait(timeout=30) == 0
    try:
        with pytest.raises(FolderInUse, match=r"that process has exited, a process it started still holds the lock"):
            lock_run_folders("20260101T000001Z-bbbbbb", tmp_path, tmp_path)
    finally:
        os.kill(fork, signal.SIGKILL)


def test_a_file_system_without_locks_stops_the_run_in_one_line(tmp_path: Path, monkeypatch) -> None:
    import errno
    import fcntl

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.raises(FolderInUse, match=rf"^work_dir {re.escape(str(tmp_path))}: cannot lock \.gladly_import\.lock "
                                          r"\(No locks available\); use a folder on a local disk$"):
        lock_run_folders("20260101T000001Z-bbbbbb", tmp_path, tmp_path)


def test_an_output_dir_that_cannot_be_locked_stops_the_run_in_one_line(tmp_path: Path, monkeypatch) -> None:
    import errno
    import fcntl

    real_flock = fcntl.flock

    def no_folder_locks(fd: int, operation: int) -> None:
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOLCK, "No locks available")
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", no_folder_locks)
    with pytest.raises(FolderInUse, match=rf"^output_dir {re.escape(str(tmp_path / 'out'))}: cannot lock it "
                                          r"\(No locks available\); use a folder on a local disk$"):
        lock_run_folders("20260101T000001Z-bbbbbb", tmp_path / "work", tmp_path / "out")
    monkeypatch.undo()
    # the work_dir lock it had taken is free again
    lock_run_folders("20260101T000002Z-cccccc", tmp_path / "work", tmp_path / "out-b").release()
