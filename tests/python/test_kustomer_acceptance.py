"""Issue 16's acceptance: a Kustomer account far past the 10,000-record cap, killed mid-run and resumed.

25,000 messages over four years (half of them updated more than 2 years ago: only the archive
search has them), 300 sharing one createdAt millisecond, and the simulator's 10,000-record cap on
every query. A clean import and an import killed with SIGKILL mid-extraction then run again must
export the same Gladly CSVs, byte for byte, with every message exported or rejected exactly once.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.generate_kustomer import generate
from extract.simulators.kustomer import KustomerSimulator
from tests.python.conftest import ImportResult, run_import, write_config
from tests.python.kustomer_helpers import KEY, PROJECT_DIR, write_jsonl

pytestmark = pytest.mark.slow  # whole imports: make test-fast leaves these out

N_MESSAGES = 25_000
TIES = 300
SPAN = timedelta(days=4 * 365)


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kustomer-25k")
    mean_gap_ms = SPAN.total_seconds() * 1000 / N_MESSAGES
    generate(folder, N_MESSAGES, seed=16, start=datetime.now(UTC) - SPAN, gap_ms=(1_000, int(2 * mean_gap_ms)),
             ties=TIES)
    return folder


def configure(folder: Path, base_url: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_config(folder, {"kustomer": {"base_url": base_url}})


def test_every_message_once_past_the_cap_and_a_killed_run_resumes_to_the_same_csvs(
        account: Path, tmp_path: Path) -> None:
    env = {"KUSTOMER_API_KEY": KEY}
    with KustomerSimulator(account, api_key=KEY) as sim:
        archived, recent = (len(sim.store.index[side][0]) for side in ("archive", "search"))
        assert archived > 10_000 and recent > 10_000  # both searches are past the cap
        clean = run_import(configure(tmp_path / "clean", sim.base_url), env=env)
        assert clean.returncode == 0, clean.stderr[-3000:]
        assert sim.by_status.get(400, 0) == 0
        searches_of_one_run = sim.by_kind["search"] + sim.by_kind["archive"]

        killed_config = configure(tmp_path / "killed", sim.base_url)
        child = subprocess.Popen([sys.executable, "-m", "gladly_import", "--config", str(killed_config)],
                                 cwd=PROJECT_DIR, env={**_environ(), **env},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        customers_before = sim.by_kind["customer"]
        deadline = time.monotonic() + 120
        while sim.by_kind["customer"] - customers_before < 1_000 and time.monotonic() < deadline \
                and child.poll() is None:
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL, "the run ended before it could be killed"
        state = tmp_path / "killed" / "work" / "state" / "kustomer" / "state.json"
        assert state.exists()
        resumed = run_import(killed_config, env=env)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming the interrupted extraction" in resumed.stderr
    assert "WARNING" not in clean.stderr + resumed.stderr
    _exactly_once(clean)
    files_clean, files_resumed = clean.item_files(), resumed.item_files()
    assert [p.name for p in files_clean] == [p.name for p in files_resumed]
    for a, b in zip(files_clean, files_resumed, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert searches_of_one_run >= 2 * (N_MESSAGES // 100) // 2  # the history was read in capped windows


def _exactly_once(result: ImportResult) -> None:
    counts = result.summary["platforms"]["kustomer"]
    assert counts["records_seen"] == N_MESSAGES
    assert counts["duplicates"] == 0 and result.summary["totals"]["unaccounted"] == 0
    ids = [row["Conversation Item ID"] for row in result.items()]
    assert len(ids) == len(set(ids)) == counts["exported"]
    assert counts["exported"] + counts["rejected"] == N_MESSAGES


def _environ() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "KUSTOMER_API_KEY"}


__all__ = ["write_jsonl"]
