"""A push killed with SIGKILL mid-flight, run again: every item in Gladly exactly once; a third run sends nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from tests.python.conftest import PROJECT_DIR
from tests.python.test_push import (  # noqa: F401 - the fixtures
    RECENT,
    TOKEN,
    USER,
    configure,
    imported,
    project,
    recent_ids,
    simulator,
    summary,
)

pytestmark = pytest.mark.slow  # a whole import (test_push's fixture): make test-fast leaves these out


def start_push(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "gladly_import.push", "--config", str(config)], cwd=PROJECT_DIR,
                            env={**os.environ, "GLADLY_API_USER": USER, "GLADLY_API_TOKEN": TOKEN},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def ledger_statuses(project_dir: Path) -> Counter[str]:
    with duckdb.connect(str(project_dir / "work" / "gladly_import.duckdb"), read_only=True) as conn:
        return Counter(dict(conn.execute("select status, count(*) from ledger.push_ledger group by all").fetchall()))


def test_kill_mid_push_then_rerun_completes_without_doubles_and_a_third_run_sends_nothing(
        project: Path) -> None:  # noqa: F811 - the fixture
    with simulator(rate_limit=20, latency=0.15) as sim:
        config = configure(project, base_url=sim.base_url, requests_per_second=20, concurrency=6)
        first = start_push(config)
        try:
            deadline = time.monotonic() + 60
            while len(sim.items) < RECENT // 3 and first.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            assert first.poll() is None, first.communicate()
            first.send_signal(signal.SIGKILL)  # at an arbitrary instant: requests in flight, answers unrecorded
        finally:
            first.wait(timeout=30)
        assert first.returncode == -signal.SIGKILL
        time.sleep(0.3)  # the server finishes the requests that were in flight
        created_before_kill = len(sim.items)
        recorded_before_kill = sum(ledger_statuses(project).values())
        assert 0 < created_before_kill < RECENT

        second = start_push(config)
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
        assert set(sim.items) == recent_ids()
        assert all(n == 1 for n in sim.creations.values())     # nothing created twice
        statuses = ledger_statuses(project)
        assert statuses["created"] + statuses["already_present"] == RECENT
        # what was created but not recorded before the kill came back as 409 "already in Gladly"
        assert statuses["already_present"] == created_before_kill - recorded_before_kill
        s = summary(project)
        assert s["sent"] + s["already_in_gladly"] == RECENT - recorded_before_kill
        assert s["delivered_before"] == recorded_before_kill

        requests = len(sim.log)
        third = start_push(config)
        out, err = third.communicate(timeout=120)
        assert third.returncode == 0, err
        assert len(sim.log) == requests                        # not one request
        assert summary(project)["delivered_before"] == RECENT and "0 requests" in out
