"""Issue 23's acceptance: Zendesk through its API, against the simulator as Zendesk's reference describes it.

One account (240 tickets; archived and deleted tickets, requesters without email, a ticket of 130
comments) written as a JSON export and served by the simulator with Zendesk's limits: the plan's
700 requests a minute (announced in X-Rate-Limit; over it 429 with Retry-After and a text body), 10
requests a minute to the incremental exports, three more injected 429s. The export's import and the
API's import must write the same Gladly CSV, byte for byte; an API import killed with SIGKILL
mid-extraction then run again must write the same CSVs as a clean one (items and rejects), every
comment of every non-deleted ticket exported exactly once and each deleted ticket counted; a delta
after new comments exports exactly those. The 10-a-minute rule is measured by the server over a run
of many export pages, killed and resumed.

Time: about 3 minutes here (the imports' dbt builds, and the export pages at 9 a minute).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from extract import zendesk_api
from extract.simulators.harness import max_in_any_window
from extract.simulators.zendesk import Faults, ZendeskSimulator
from tests.python import zendesk_api_helpers as zd
from tests.python.conftest import ImportResult, run_import, write_config

pytestmark = pytest.mark.slow  # whole imports and a real 10-a-minute pace: make test-fast leaves these out
N_TICKETS = 240


@pytest.fixture(scope="module")
def tickets() -> list[dict[str, Any]]:
    return zd.account(N_TICKETS, seed=230)


def configure(folder: Path, block: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_config(folder, {"zendesk": block})


def test_the_api_writes_the_exports_csv_and_a_killed_run_resumes_to_the_same_csvs(tickets: list,
                                                                                   tmp_path: Path) -> None:
    export = zd.write_export(tickets, tmp_path / "from-export" / "exports" / "tickets.json")
    from_export = run_import(configure(tmp_path / "from-export", {"path": str(export)}))
    assert from_export.returncode == 0, from_export.stderr[-3000:]
    faults = Faults(by_request={4: "429", 60: "429", 200: "429"}, retry_after_seconds=2)
    with ZendeskSimulator(tickets, email=zd.EMAIL, api_token=zd.TOKEN, rate_limit=700, faults=faults, latency=0.01) as sim:
        block = {"base_url": sim.base_url}
        clean = run_import(configure(tmp_path / "clean", block), env=zd.ENV)
        assert clean.returncode == 0, clean.stderr[-3000:]
        killed_config = configure(tmp_path / "killed", block)
        comments_before = len(sim.comment_request_times())
        child = subprocess.Popen([sys.executable, "-m", "gladly_import", "--config", str(killed_config)],
                                 cwd=zd.PROJECT_DIR, env={**os.environ, **zd.ENV},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while len(sim.comment_request_times()) - comments_before < 90 and time.monotonic() < deadline \
                and child.poll() is None:
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL, "the run ended before it could be killed"
        assert (tmp_path / "killed" / "work" / "state" / "zendesk" / "state.json").exists()
        resumed = run_import(killed_config, env=zd.ENV)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        statuses = dict(sim.by_status)
        incremental = sim.incremental_times()
    print(f"\nissue 23 acceptance: answers {statuses}, {len(incremental)} export requests,"
          f" most in any 60 s {max_in_any_window(incremental, 60.0)}")
    assert statuses.get(429, 0) >= 3 and max_in_any_window(incremental, 60.0) <= 10
    assert "resuming the interrupted extraction" in resumed.stderr
    _exactly_once(tickets, clean)
    # the same Gladly items whichever way the tickets were read: the export's CSV, byte for byte
    assert [p.read_bytes() for p in clean.item_files()] == [p.read_bytes() for p in from_export.item_files()]
    for name in ("gladly_conversation_items_0001.csv", "gladly_import_rejects.csv"):
        assert (clean.output_dir / name).read_bytes() == (resumed.output_dir / name).read_bytes(), name
    assert zd.TOKEN not in clean.stderr + clean.stdout + resumed.stderr


def _exactly_once(tickets: list[dict[str, Any]], result: ImportResult) -> None:
    counts = result.summary["platforms"]["zendesk"]
    comments = sum(len(t["comments"]) for t in zd.exported(tickets))
    deleted = sum(t["status"] == "deleted" for t in tickets)
    without = sum(not t["comments"] for t in zd.exported(tickets))
    assert counts["rejected_by_reason"]["deleted_ticket"] == deleted
    assert counts["records_seen"] == comments + deleted + without  # every comment, and one row per ticket set aside
    assert counts["duplicates"] == 0 and result.summary["totals"]["unaccounted"] == 0
    ids = [row["Conversation Item ID"] for row in result.items()]
    assert len(ids) == len(set(ids)) == counts["exported"]
    rejected_comments = counts["rejected"] - deleted - without
    assert counts["exported"] + rejected_comments == comments


def test_a_delta_after_new_comments_exports_exactly_those(tickets: list, tmp_path: Path) -> None:
    with ZendeskSimulator(tickets, email=zd.EMAIL, api_token=zd.TOKEN) as sim:
        config = configure(tmp_path, {"base_url": sim.base_url})
        full = run_import(config, env=zd.ENV)
        assert full.returncode == 0, full.stderr[-3000:]
        full_files = {p.name for p in full.item_files()}
        new = []
        for n, ticket_id in enumerate((90_001, 90_017, 90_007)):
            comment = {"id": 80_000_000 + n, "type": "Comment", "author_id": 7, "body": f"Follow-up {n}",
                       "html_body": f"<p>Follow-up {n}</p>", "plain_body": f"Follow-up {n}", "public": True,
                       "created_at": f"2023-05-0{n + 1}T12:00:00Z"}
            sim.add_comment(ticket_id, comment)
            new.append(f"zendesk-{ticket_id}-{comment['id']}")
        delta = run_import(config, "--mode", "delta", env=zd.ENV)
        assert delta.returncode == 0, delta.stderr[-3000:]
        asked = [e for e in sim.entries if e.path == zendesk_api.EXPORT_PATH]
    assert "cursor" in asked[-1].params  # the delta started from the saved cursor
    new_files = [p for p in delta.item_files() if p.name not in full_files]
    from tests.python.conftest import read_items

    exported_ids = sorted(row["Conversation Item ID"] for row in read_items(new_files))
    customers = {f"zendesk-{t['id']}" for t in tickets if t["requester"]["email"]}
    assert exported_ids == sorted(i for i in new if i.rsplit("-", 1)[0] in customers)
    assert delta.summary["platforms"]["zendesk"]["duplicates"] == 0 and delta.summary["totals"]["unaccounted"] == 0


def test_the_incremental_exports_never_see_more_than_10_requests_in_any_60_s(tmp_path: Path) -> None:
    """Measured by the server: 60 tickets, 4 a page (16 export pages), the real pace, a run killed and resumed."""
    small = zd.account(60, seed=5)
    helper = zd.PROJECT_DIR / "tests" / "python" / "zendesk_api_helpers.py"
    with ZendeskSimulator(small, email=zd.EMAIL, api_token=zd.TOKEN, incremental_rate_limit=10) as sim:
        child = subprocess.Popen([sys.executable, str(helper), sim.base_url, str(tmp_path), "4", "4", "paced"],
                                 cwd=zd.PROJECT_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while len(sim.incremental_times()) < 6 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        pages_killed = len(sim.incremental_times())
        original = zendesk_api.CLIENT_OPTIONS, zendesk_api.PER_PAGE
        zendesk_api.CLIENT_OPTIONS, zendesk_api.PER_PAGE = {**zendesk_api.CLIENT_OPTIONS, **zd.FAST_CLIENT}, 4
        try:
            result = zd.extract_api(sim.base_url, tmp_path, incremental_requests_per_minute=9)
        finally:
            zendesk_api.CLIENT_OPTIONS, zendesk_api.PER_PAGE = original
        times = sim.incremental_times()
        throttled = [e for e in sim.entries if e.status == 429]
    print(f"\nincremental exports: {len(times)} requests ({pages_killed} before the kill), most in any 60 s"
          f" {max_in_any_window(times, 60.0)}, 429s {len(throttled)}")
    assert pages_killed >= 6 and len(times) >= 16
    assert max_in_any_window(times, 60.0) <= 10 and not throttled
    assert len(result.rows) == sum(len(t["comments"]) for t in zd.exported(small))


def test_the_bundled_api_demo_imports_through_the_simulator(tmp_path: Path) -> None:
    """`make import CONFIG=samples/zendesk-api.yml`, in a copy (a test never writes into the checkout)."""
    import shutil

    samples = tmp_path / "samples"
    shutil.copytree(zd.PROJECT_DIR / "samples" / "zendesk_api", samples / "zendesk_api")
    shutil.copy(zd.PROJECT_DIR / "samples" / "zendesk-api.yml", samples)
    result = run_import(samples / "zendesk-api.yml", env={"ZENDESK_EMAIL": "", "ZENDESK_API_TOKEN": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "using the local Zendesk API simulator at http://127.0.0.1:" in result.stderr
    counts = result.summary["platforms"]["zendesk"]
    assert counts["rejected_by_reason"]["deleted_ticket"] == 1 and counts["unaccounted"] == 0
    assert result.output_dir == (tmp_path / "output-zendesk-api").resolve() and counts["exported"] == len(result.items())
    assert {row["Conversation Item ID"] for row in result.items()} >= {"zendesk-77102-9100010", "zendesk-77105-9100041"}
