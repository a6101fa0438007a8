"""Worker processes, the machinery in one place: how many may run, how they start, how they end.

- ``available_cores``: the cores this process may run on (a container's share, not the machine's);
- ``interrupts_ignored``: Ctrl-C goes to the whole process group; a worker that took it while still
  importing would die with its own traceback, so it is ignored while workers start (the parent
  alone handles it, and stops them);
- ``die_with_parent``: a worker (an extraction process, a pool's worker, dbt) is killed when the
  process that started it ends, however it ends (Linux: ``PR_SET_PDEATHSIG``). Without it a killed
  import leaves dbt running its build and holding the DuckDB file (the next import is refused), and
  a pool's busy worker working its task to the end for no one (an idle one ends by itself);
- ``worker_pool``: a spawned pool whose workers do both.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

PR_SET_PDEATHSIG = 1


def available_cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count: a container's share)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def interrupts_ignored() -> Iterator[None]:
    """Ctrl-C ignored while worker processes are started. An ignored signal stays ignored in a child
    (Python then installs no handler for it); restored here at once."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main_thread else None
    try:
        yield
    finally:
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)


def die_with_parent(parent_pid: int) -> None:
    """End this process (SIGKILL) when ``parent_pid``, the process that started it, ends.

    Linux only (elsewhere the parent stops its children itself when it can). The kernel sends the
    signal when the parent's *thread* that started this process ends: start workers from a thread
    that outlives them (the main thread, or the one that waits for them)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent ended before the line above: nobody will signal us
        os._exit(1)


def _worker_started(parent_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent takes Ctrl-C and stops the pool
    die_with_parent(parent_pid)


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[Any]:
    """A spawned ``multiprocessing`` pool of ``workers`` that never take Ctrl-C (not even while they
    start) and die with this process; terminated when the block ends."""
    with interrupts_ignored():
        pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_worker_started,
                                                         initargs=(os.getpid(),))
    with pool:
        yield pool
