"""One import (or push) at a time per folder: the run lock on work_dir and on output_dir.

work_dir has a lock file, ``.gladly_import.lock``, that a run locks with ``flock`` for as long as
it lives and in which it writes who holds it (run id, pid, host, since). The lock is the kernel's,
not the file's: when the process ends in any way, ``kill -9`` included, the kernel releases it, so
a lock left by a killed run is simply free again and the next run takes it. The file itself stays
(removing it would let two runs lock two different files of the same name), emptied by a run that
ends normally; its content only matters while it is locked. The file descriptor is not inherited
by the processes a run starts (dbt), so the lock lives exactly as long as the run's own process.

output_dir is locked as well because runs with different work_dirs may share an output folder:
holding both is what makes the start-up clean-up of ``.partial-*`` staging folders safe (none of
them can belong to a live run). output_dir is the folder people hand to Gladly, so no file is
left in it: its lock is a ``flock`` on the folder itself, and a run it refuses finds the holder
through the kernel's lock table (``/proc/locks``) and the holder's work_dir lock file. ``flock``
works on local file systems and on NFSv4; a file system without locks stops the run with one line
rather than running unguarded.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

LOCK_FILE = ".gladly_import.lock"


class FolderInUse(Exception):
    """Another live run holds the folder (or it cannot be locked); ``str()`` is one line."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _describe(holder: dict[str, object]) -> str:
    run_id, pid, host, since = (holder.get(k) for k in ("run_id", "pid", "host", "since"))
    if not run_id:
        if isinstance(pid, int):
            return f"another import run (pid {pid})"
        return "another import run (it has not written its name in the lock file yet)"
    gone = ""
    if host == socket.gethostname() and isinstance(pid, int) and not _pid_alive(pid):
        gone = "; that process has exited, a process it started still holds the lock"
    return f"import run {run_id} (pid {pid} on host {host}, since {since}{gone})"


class FolderLock:
    """The run lock of one folder, held from ``acquire`` until ``release`` or the process ends."""

    def __init__(self, folder: Path, label: str) -> None:
        self.folder = folder
        self.label = label
        self.path = folder / LOCK_FILE
        self._fd: int | None = None

    def acquire(self, run_id: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = _read_holder(fd)
            os.close(fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise FolderInUse(f"{self.label} {self.folder} is in use by {_describe(holder)}: "
                                  f"wait for it to end, or give this import another {self.label}") from None
            raise FolderInUse(f"{self.label} {self.folder}: cannot lock {self.path.name} "
                              f"({error.strerror or error}); use a folder on a local disk") from None
        holder = {"run_id": run_id, "pid": os.getpid(), "host": socket.gethostname(),
                  "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode("utf-8"), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)  # still ours: a free lock names nobody
            finally:
                os.close(self._fd)  # closing the last descriptor releases the flock
                self._fd = None

    def __del__(self) -> None:
        self.release()


def _read_holder(fd: int) -> dict[str, object]:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8", errors="replace") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class FolderItselfLock(FolderLock):
    """The run lock of a folder that must hold no file of ours (output_dir): a flock on the folder."""

    def acquire(self, run_id: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise FolderInUse(f"{self.label} {self.folder} is in use by {_describe(_folder_holder(self.folder))}: "
                                  f"wait for it to end, or give this import another {self.label}") from None
            raise FolderInUse(f"{self.label} {self.folder}: cannot lock it ({error.strerror or error}); "
                              "use a folder on a local disk") from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _folder_holder(folder: Path) -> dict[str, object]:
    """Who holds a folder's flock: its pid from the kernel's lock table, its run from its work_dir lock file.

    Best effort (Linux, a process this user may look at): else what is known, maybe nothing.
    """
    try:
        info = folder.stat()
        device = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
        with open("/proc/locks", encoding="ascii", errors="replace") as table:
            pids = [int(fields[4]) for line in table if len(fields := line.split()) > 5
                    and fields[1] == "FLOCK" and fields[5] == device and fields[4].isdigit()]
    except (OSError, ValueError):
        return {}
    if not pids:
        return {}
    fds = Path(f"/proc/{pids[0]}/fd")
    try:
        for fd in fds.iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.endswith("/" + LOCK_FILE):
                    with open(target, "rb") as handle:
                        holder = json.loads(handle.read(4096).decode("utf-8", errors="replace") or "{}")
                    if isinstance(holder, dict) and holder.get("pid") == pids[0]:
                        return holder
    except (OSError, ValueError):
        pass
    return {"pid": pids[0]}


class RunLocks:
    """The locks of every folder one run writes into (work_dir, output_dir)."""

    def __init__(self, locks: list[FolderLock]) -> None:
        self.locks = locks

    def release(self) -> None:
        for lock in reversed(self.locks):
            lock.release()


def lock_run_folders(run_id: str, work_dir: Path, output_dir: Path) -> RunLocks:
    """Lock work_dir then output_dir for this run, or raise FolderInUse naming the run that holds one.

    (One folder for both takes both locks: the lock file's and the folder's are different flocks.)
    """
    taken: list[FolderLock] = []
    try:
        for lock in (FolderLock(work_dir, "work_dir"), FolderItselfLock(output_dir, "output_dir")):
            lock.acquire(run_id)
            taken.append(lock)
    except BaseException:
        RunLocks(taken).release()
        raise
    return RunLocks(taken)
