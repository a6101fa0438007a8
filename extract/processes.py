"""Worker processes, the machinery in one place: how many may run, how they start, how they end.

- ``available_cores``: the cores this process may run on (a container's share, not the machine's);
- ``interrupts_ignored``: Ctrl-C goes to the whole process group; a worker that took it while still
  importing would die with its own traceback, so it is ignored while workers start (the parent
  alone handles it, and stops them);
- ``die_with_parent``: a worker (an extraction process, a pool's worker, dbt) is killed when the
  process that started it ends, however it ends (Linux: ``PR_SET_PDEATHSIG``). Without it a killed
  import leaves dbt running its build and holding the DuckDB file (the next import is refused), and
  a pool's busy worker working its task to the end for no one (an idle one ends by itself);
- ``worker_started``: a worker's first steps (the two above), the same in every kind of worker;
- ``ordered_results``: ``function(item)`` for each item, in order, computed by spawned workers that do
  both, a few items each in flight (memory flat). Not ``multiprocessing.Pool``: its helper threads
  cost the parent ~0.5 s of CPU a GB of Gmail (its worker handler wakes on every result waiting in
  the pipe), and a worker killed mid-task (out of memory) leaves ``get()`` waiting forever; here a
  worker's death is an error at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
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


def worker_started(parent_pid: int) -> None:
    """The first steps of every worker process: Ctrl-C ignored (it reaches the whole process group;
    the parent takes it and stops its workers) and an end when the parent ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent_pid)


class WorkerDied(RuntimeError):
    """A worker process ended without sending its result (killed: out of memory, a signal)."""


def picklable_error(error: BaseException) -> BaseException:
    """The error itself when it travels between processes, else a RuntimeError with its words."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 (an exception whose arguments do not travel: its words do)
        return RuntimeError(f"{type(error).__name__}: {error}")


def _serve(tasks: Any, results: Any, function: Callable[[Any], Any], parent_pid: int) -> None:
    """A worker: the parent's items in, ``(ok, result or error, traceback)`` out, in the order received."""
    worker_started(parent_pid)
    received: queue.SimpleQueue[tuple[Any] | None] = queue.SimpleQueue()

    def receive() -> None:  # read at once, so the parent never waits on a send while we send to it
        try:
            while True:
                received.put((tasks.recv(),))
        except (EOFError, OSError):  # the parent closed its end: no more items
            received.put(None)

    threading.Thread(target=receive, daemon=True).start()
    while (task := received.get()) is not None:
        try:
            answer = (True, function(task[0]), None)
        except BaseException as error:  # noqa: BLE001 (raised in the parent)
            answer = (False, picklable_error(error), traceback.format_exc())
        try:
            results.send(answer)
        except OSError:  # the parent stopped listening: it is stopping us
            return


def ordered_results(function: Callable[[Any], Any], items: Iterable[Any], workers: int,
                    in_flight: int = 2) -> Iterator[Any]:
    """``function(item)`` for each item, in the items' order, computed by ``workers`` spawned processes
    (``function`` must be picklable: a module's function, or a ``functools.partial`` of one).

    Item k goes to worker k mod ``workers``, at most ``in_flight`` items a worker at a time, pulled
    from ``items`` as they are handed out. A worker's exception is raised here (its type kept, its
    traceback in a note); an exception from ``items`` itself is raised once the results of the items
    already handed out are yielded; a worker that dies is a ``WorkerDied``. The workers end with the
    generator (closed, exhausted, or on any error), and with this process."""
    context = multiprocessing.get_context("spawn")
    started: list[tuple[Any, Any, Any]] = []  # (process, task sender, result receiver)
    finished = False
    try:
        with interrupts_ignored():
            for _ in range(workers):
                task_receiver, task_sender = context.Pipe(duplex=False)
                result_receiver, result_sender = context.Pipe(duplex=False)
                process = context.Process(target=_serve, args=(task_receiver, result_sender, function, os.getpid()),
                                          daemon=True)
                process.start()
                task_receiver.close()
                result_sender.close()
                started.append((process, task_sender, result_receiver))
        yield from _in_order(started, iter(items), in_flight)
        finished = True
    finally:
        if not finished:  # stopped early (an error, Ctrl-C, the caller stopped reading): not its task's end
            for process, _, _ in started:
                process.kill()
        for process, task_sender, result_receiver in started:
            task_sender.close()  # an idle worker reads an end of file and ends
            result_receiver.close()
            process.join()


def _in_order(started: list[tuple[Any, Any, Any]], items: Iterator[Any], in_flight: int) -> Iterator[Any]:
    waiting: deque[int] = deque()  # the worker of each item handed out, in the items' order
    failure: BaseException | None = None

    def hand_out(worker: int) -> None:
        nonlocal failure
        if failure is not None:
            return
        try:
            item = next(items)
        except StopIteration:
            failure = StopIteration()
            return
        except BaseException as error:  # noqa: BLE001 (raised once the items handed out are yielded)
            failure = error
            return
        try:
            started[worker][1].send(item)
        except OSError:
            pass  # the worker is gone: receiving its result says so
        waiting.append(worker)

    for _ in range(in_flight):
        for worker in range(len(started)):
            hand_out(worker)
    while waiting:
        worker = waiting.popleft()
        process, _, result_receiver = started[worker]
        try:
            ok, value, remote_traceback = result_receiver.recv()
        except (EOFError, OSError):
            process.join(timeout=5)
            raise WorkerDied(f"a worker process ended without its result ({_ended(process.exitcode)})") from None
        hand_out(worker)  # before the result is used: the worker keeps busy meanwhile
        if not ok:
            value.add_note(f"in a worker process:\n{remote_traceback}")
            raise value
        yield value
    if failure is not None and not isinstance(failure, StopIteration):
        raise failure


def _ended(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by signal {-exitcode} ({signal.Signals(-exitcode).name})"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"
