"""Worker processes (extract/processes.py): results in order, errors raised where they are read, and
workers that end with the process that started them (a killed import leaves no worker busy for no one
and no dbt holding the DuckDB file)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from extract.processes import WorkerDied, available_cores, ordered_results
from gladly_import.metrics import tree_rss_by_role
from gladly_import.paths import DBT_MODULE, dbt_command
from tests.python.conftest import PROJECT_DIR
from tests.python.processes_helpers import die_on_two, fail_on_three, square_after
from tests.python.whole_import_guard import GUARD_ENV

# A parent whose two workers each take a task of two minutes; once both work, it says their pids.
WORKING_PARENT = """
import sys, threading, time
from extract.processes import ordered_results
from tests.python.processes_helpers import work_two_minutes, working

def say_when_both_work():
    while len(working({folder!r})) < 2:
        time.sleep(0.05)
    print(" ".join(working({folder!r})), flush=True)

if __name__ == "__main__":
    threading.Thread(target=say_when_both_work, daemon=True).start()
    for _ in ordered_results(work_two_minutes, [{folder!r}] * 2, 2, in_flight=1):
        pass
"""
# A stand-in for dbt (first on the path): it says it started, then works for two minutes.
FAKE_DBT = "import os, time\n\ndef cli():\n    print(os.getpid(), flush=True)\n    time.sleep(120)\n"
DBT_PARENT = """
import subprocess, sys, time
from gladly_import.paths import dbt_command
child = subprocess.Popen(dbt_command(), stdout=sys.stdout)
time.sleep(120)
"""


def _killed_parent_leaves_none(parent: subprocess.Popen, pids: list[int]) -> list[int]:
    """Kill ``parent`` (SIGKILL: no clean-up) and return those of ``pids`` still running 10 s later."""
    children = [psutil.Process(pid) for pid in pids]
    parent.kill()
    parent.wait(timeout=10)
    _, alive = psutil.wait_procs(children, timeout=10)
    for process in alive:
        process.kill()
    return [process.pid for process in alive]


def test_busy_workers_die_with_the_process_that_started_them(tmp_path: Path) -> None:
    """Both busy with a long task (a Gmail block of one huge message, say): without it they would work it
    to its end for no one."""
    parent = subprocess.Popen([sys.executable, "-c", WORKING_PARENT.format(folder=str(tmp_path))], cwd=PROJECT_DIR,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pids = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(pids) == 2 and parent.pid not in pids
        assert _killed_parent_leaves_none(parent, pids) == []
    finally:
        if parent.poll() is None:
            parent.kill()


def _workers_of_this_process() -> list[psutil.Process]:
    return [p for p in psutil.Process().children() if "resource_tracker" not in " ".join(p.cmdline())]


def test_results_come_in_the_items_order_and_items_are_pulled_as_handed_out() -> None:
    pulled: list[int] = []

    def items() -> Iterator[tuple[int, float]]:
        for number in range(12):
            pulled.append(number)
            yield number, (0.15 if number % 3 == 0 else 0.0)  # worker 0 gets the slow ones

    results = ordered_results(square_after, items(), 2, in_flight=2)
    assert next(results) == 0
    assert len(pulled) <= 2 * 2 + 1  # 4 handed out, one more when the first answer came
    assert list(results) == [n * n for n in range(1, 12)]
    assert _workers_of_this_process() == []


def test_a_workers_exception_is_raised_here_with_its_type_and_traceback() -> None:
    results = ordered_results(fail_on_three, range(6), 2)
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match="three is not allowed") as raised:
        next(results)
    assert any("in a worker process" in note and "fail_on_three" in note for note in raised.value.__notes__)
    assert _workers_of_this_process() == []


def test_an_error_of_the_items_comes_after_the_results_of_the_items_handed_out() -> None:
    def items() -> Iterator[tuple[int, float]]:
        yield from ((n, 0.0) for n in range(5))
        raise OSError("the gzip stream is truncated")

    seen: list[int] = []
    with pytest.raises(OSError, match="truncated"):
        for result in ordered_results(square_after, items(), 2):
            seen.append(result)
    assert seen == [0, 1, 4, 9, 16]
    assert _workers_of_this_process() == []


def test_a_worker_that_dies_is_an_error_naming_its_signal() -> None:
    with pytest.raises(WorkerDied, match=r"ended without its result \(killed by signal 9 \(SIGKILL\)\)"):
        list(ordered_results(die_on_two, range(8), 2))
    assert _workers_of_this_process() == []


def test_a_caller_that_stops_reading_leaves_no_worker() -> None:
    results = ordered_results(square_after, ((n, 0.5) for n in range(20)), 2)
    assert next(results) == 0
    results.close()
    assert _workers_of_this_process() == []


def test_dbt_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    """The command the runner starts dbt with (``dbt_command``), run with a dbt that would work two
    minutes: killing its parent ends it."""
    fake = tmp_path / "site" / "dbt" / "cli"
    fake.mkdir(parents=True)
    for package in (fake.parent, fake):
        (package / "__init__.py").write_text("", encoding="utf-8")
    (fake / "main.py").write_text(FAKE_DBT, encoding="utf-8")
    # Not a whole import (a stand-in dbt): the fast tests' guard, which refuses any dbt start, is left out.
    env = {key: value for key, value in os.environ.items() if key != GUARD_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path / "site"), str(PROJECT_DIR), env.get("PYTHONPATH")]))
    parent = subprocess.Popen([sys.executable, "-c", DBT_PARENT], cwd=PROJECT_DIR, env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        dbt_pid = int(parent.stdout.readline())
        assert psutil.Process(dbt_pid).ppid() == parent.pid
        # Who holds memory (the bench's peak holders): the parent itself, and dbt told by its command.
        roles = tree_rss_by_role(psutil.Process(parent.pid))
        assert roles["runner"] > 0 and roles["dbt"] > 0 and roles["other processes"] == 0
        assert _killed_parent_leaves_none(parent, [dbt_pid]) == []
    finally:
        if parent.poll() is None:
            parent.kill()


def test_dbt_command_starts_dbt_with_this_interpreter() -> None:
    command = dbt_command()
    assert command[0] == sys.executable and f"from {DBT_MODULE} import cli" in command[-1]
    assert f"die_with_parent({os.getpid()})" in command[-1]


def test_available_cores_is_this_process_share() -> None:
    assert 1 <= available_cores() <= (os.cpu_count() or 1)
