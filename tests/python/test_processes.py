"""Worker processes end with the process that started them (extract/processes.py): a killed import leaves
no pool worker busy for no one and no dbt holding the DuckDB file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

from extract.processes import available_cores
from gladly_import.paths import dbt_command
from tests.python.conftest import PROJECT_DIR
from tests.python.whole_import_guard import GUARD_ENV

# A parent that starts a pool and hands each worker a task of two minutes; once both work, it says their pids.
POOL_PARENT = """
import sys, time
sys.path.insert(0, {helpers!r})
from extract.processes import worker_pool
from working import work_two_minutes, working
if __name__ == "__main__":
    with worker_pool(2) as pool:
        tasks = [pool.apply_async(work_two_minutes, ({helpers!r},)) for _ in range(2)]
        while len(working({helpers!r})) < 2:
            time.sleep(0.05)
        print(" ".join(working({helpers!r})), flush=True)
        time.sleep(120)
"""
WORKING = """import glob, os, time

def work_two_minutes(folder):
    open(os.path.join(folder, f"working-{os.getpid()}"), "w").close()
    time.sleep(120)

def working(folder):
    return sorted(name.rsplit("-", 1)[1] for name in glob.glob(os.path.join(folder, "working-*")))
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


def test_a_pools_workers_die_with_the_process_that_started_them(tmp_path: Path) -> None:
    """Both busy with a long task (a Gmail block of one huge message, say): without it they would work it
    to its end for no one (an idle worker ends by itself: its task queue reads an end of file)."""
    (tmp_path / "working.py").write_text(WORKING, encoding="utf-8")
    parent = subprocess.Popen([sys.executable, "-c", POOL_PARENT.format(helpers=str(tmp_path))], cwd=PROJECT_DIR,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pids = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(pids) == 2 and parent.pid not in pids
        assert _killed_parent_leaves_none(parent, pids) == []
    finally:
        if parent.poll() is None:
            parent.kill()


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
        assert _killed_parent_leaves_none(parent, [dbt_pid]) == []
    finally:
        if parent.poll() is None:
            parent.kill()


def test_dbt_command_starts_dbt_with_this_interpreter() -> None:
    command = dbt_command()
    assert command[0] == sys.executable and "from dbt.cli.main import cli" in command[-1]
    assert f"die_with_parent({os.getpid()})" in command[-1]


def test_available_cores_is_this_process_share() -> None:
    assert 1 <= available_cores() <= (os.cpu_count() or 1)
