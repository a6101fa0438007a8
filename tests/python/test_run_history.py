"""The run history: each run's report kept in runs/<id>/, `gladly-import runs`, and the guard on a full run.

The acceptance runs on a copy of the samples: a full run, new records (one of them recent enough
for Gladly's API window), a delta, a push to the simulated Gladly; then a full run nobody asked
for is refused, and one asked for with --mode full says what it replaces. The rest are fast tests
of the pieces on hand-made ledgers.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from gladly_import import cli
from gladly_import.history import RUNS_DIR, delivered_so_far, format_runs, keep_run, list_runs, refusal, replacing
from gladly_import.ledger import (
    CONFIRMED,
    ensure_tables,
    finish_run,
    record_pending_batch,
    settle_batch,
    start_run,
)
from gladly_import.push import ledger as push_ledger
from tests.python.conftest import PROJECT_DIR, SAMPLES_DIR, ImportResult, run_import

NEW_ROWS = ("hs-2001,newcustomer@example.com,New Customer,,2024-02-20T09:30:00Z,Late reply,Any news on my order?,"
            "Help Scout,\r\nhs-2002,maria@example.com,Maria Garcia,,2024-02-21T10:00:00Z,Thanks,Got it.,Help Scout,\r\n")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gladly_import", *args], cwd=PROJECT_DIR, capture_output=True,
                          text=True, timeout=600)


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """full run, 2 new records, delta, push: what each step left."""
    base = tmp_path_factory.mktemp("history")
    shutil.copytree(SAMPLES_DIR, base / "samples")
    config = base / "samples" / "config.yml"
    full = run_import(config)
    assert full.returncode == 0, full.stderr
    after_full = _digests(full.output_dir / RUNS_DIR)
    with open(base / "samples" / "csv" / "other_helpdesk.csv", "a", encoding="utf-8", newline="") as handle:
        handle.write(NEW_ROWS)
    delta = run_import(config, "--mode", "delta")
    assert delta.returncode == 0, delta.stderr
    pushed = _cli("push", "--config", str(config))
    assert pushed.returncode == 0, pushed.stderr
    return {"config": config, "full": full, "delta": delta, "push": pushed, "after_full": after_full}


@pytest.mark.slow
def test_each_run_keeps_its_report_and_the_top_level_one_is_the_latest(history: dict[str, object]) -> None:
    full, delta = history["full"], history["delta"]
    assert isinstance(full, ImportResult) and isinstance(delta, ImportResult)
    output = full.output_dir
    push_id = json.loads((output / "push_summary.json").read_text(encoding="utf-8"))["push_id"]
    runs = output / RUNS_DIR
    full_id = re.search(r"^run (\S+):", full.stdout, re.MULTILINE).group(1)
    delta_id = delta.summary["run_id"]
    kept = sorted(p.name for p in runs.iterdir())
    assert kept == [full_id, delta_id, push_id]  # run ids sort by time
    for run_id in kept:
        assert (runs / run_id / "import_report.html").is_file()
    assert sorted(p.name for p in (runs / full_id).iterdir()) == [
        "gladly_import_rejects.csv", "import_report.html", "import_summary.json", "timeline_preview.html"]
    assert sorted(p.name for p in (runs / push_id).iterdir()) == ["import_report.html", "push_summary.json"]
    # the full run's report, the one a manager may have signed, is as it was: not overwritten
    assert {k: v for k, v in _digests(runs).items() if k.startswith(full_id)} == history["after_full"]
    full_summary = json.loads((runs / full_id / "import_summary.json").read_text(encoding="utf-8"))
    assert full_summary["run_id"] == full_id and full_summary["mode"] == "full" and full_summary["totals"]["exported"] == 480
    # the top-level files are the latest run's: the push's report (the delta's, with the push in it)
    assert (output / "import_report.html").read_bytes() == (runs / push_id / "import_report.html").read_bytes()
    assert f"Push <code>{push_id}</code>" in (output / "import_report.html").read_text(encoding="utf-8")
    assert (output / "import_summary.json").read_bytes() == (runs / delta_id / "import_summary.json").read_bytes()
    assert delta.summary["files"][0]["file"] == "gladly_conversation_items_0002.csv"
    assert delta.summary["totals"]["exported"] == 2
    # output_dir holds what goes to Gladly and the report files: no lock, no logs
    assert sorted(p.name for p in output.iterdir()) == [
        "gladly_conversation_items_0001.csv", "gladly_conversation_items_0002.csv", "gladly_import_rejects.csv",
        "import_report.html", "import_summary.json", "push_summary.json", "runs", "timeline_preview.html"]
    assert len(list((full.work_dir / "logs").glob("import-*.log"))) == 2


@pytest.mark.slow
def test_runs_lists_the_imports_and_the_push(history: dict[str, object]) -> None:
    listed = _cli("runs", "--config", str(history["config"]))
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["run", "kind", "mode", "started", "(UTC)", "ended", "(UTC)", "status", "items", "files",
                                "report", "files"]
    rows = [line.split() for line in lines[2:]]
    delta_id = history["delta"].summary["run_id"]
    assert [(r[1], r[2]) for r in rows] == [("import", "full"), ("import", "delta"), ("push", "of")]
    assert rows[2][3] == delta_id  # the push of the delta's batch
    assert [r[-1] for r in rows] == [f"runs/{r[0]}/" for r in rows]
    assert rows[0][8:10] == ["480", "_0001.csv"] and rows[1][8:10] == ["2", "_0002.csv"]
    assert rows[0][7] == rows[1][7] == "succeeded" and rows[2][8] == "completed"
    push = json.loads((history["full"].output_dir / "push_summary.json").read_text(encoding="utf-8"))
    assert rows[2][9] == f"{push['sent'] + push['already_in_gladly']:,}" and push["sent"] >= 1


@pytest.mark.slow
def test_a_full_run_after_a_delta_and_a_push_must_be_asked_for(history: dict[str, object], tmp_path: Path) -> None:
    shutil.copytree(Path(history["config"]).parent.parent, tmp_path, dirs_exist_ok=True)
    config = tmp_path / "samples" / "config.yml"
    before = _digests(tmp_path / "output")
    refused = run_import(config)
    assert refused.returncode == 2
    line = refused.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    push_id = json.loads((tmp_path / "output" / "push_summary.json").read_text(encoding="utf-8"))["push_id"]
    assert line == (f"import not started: a full run after a delta run {history['delta'].summary['run_id']} and a push "
                    f"{push_id} would export every item again (482 already delivered in CSV files, "
                    f"{_pushed(tmp_path)} through the API) and replace gladly_conversation_items_0001.csv, "
                    "gladly_conversation_items_0002.csv: run with --mode delta for the new items, or say --mode full "
                    "(make import MODE=full) to export everything again")
    assert _digests(tmp_path / "output") == before  # nothing was touched
    with duckdb.connect(str(tmp_path / "work" / "gladly_import.duckdb"), read_only=True) as conn:
        assert conn.execute("select count(*) from ledger.import_runs").fetchone() == (2,)  # not even recorded

    asked = run_import(config, "--mode", "full")
    assert asked.returncode == 0, asked.stderr
    said = asked.stderr.splitlines()[1]
    assert said == (f"full run: replaces gladly_conversation_items_0001.csv, gladly_conversation_items_0002.csv in "
                    f"{tmp_path / 'output'}; 482 items were already delivered by earlier runs, {_pushed(tmp_path)} of "
                    "them through Gladly's API (each earlier run's report stays in runs/)")
    assert [p.name for p in asked.item_files()] == ["gladly_conversation_items_0001.csv"]
    assert len(list((tmp_path / "output" / RUNS_DIR).iterdir())) == 4
    # the next full run: it follows a full run, nothing to ask for
    again = run_import(config)
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines()[1].startswith("full run: replaces gladly_conversation_items_0001.csv in ")


def _pushed(folder: Path) -> int:
    with duckdb.connect(str(folder / "work" / "gladly_import.duckdb"), read_only=True) as conn:
        return conn.execute("select count(distinct conversation_item_id) from ledger.push_ledger "
                            "where status in ('created', 'already_present')").fetchone()[0]


# -- the pieces, on hand-made ledgers --------------------------------------------------------------


def _ledger(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(tmp_path / "gladly_import.duckdb"))
    ensure_tables(conn)
    return conn


def _published(conn: duckdb.DuckDBPyConnection, run_id: str, mode: str, files: list[str], items: int) -> None:
    start_run(conn, run_id, mode, "/srv/imports/acme.yml")
    record_pending_batch(conn, run_id, mode, f".partial-{run_id}", items,
                         [{"file": f, "rows": items, "sha256": "0" * 64} for f in files])
    settle_batch(conn, run_id, CONFIRMED)
    for n in range(items):
        conn.execute("insert into ledger.export_ledger values (?, 'zendesk', ?, ?, now())", [f"{run_id}-{n}", run_id, files[0]])
    finish_run(conn, run_id, "succeeded", items, {}, [{"file": f, "rows": items} for f in files])


def test_only_a_delta_or_a_push_since_the_last_full_run_needs_saying_full(tmp_path: Path) -> None:
    conn = _ledger(tmp_path)
    output = tmp_path / "output"
    output.mkdir()
    assert replacing(delivered_so_far(conn, output), output) is None  # nothing exported yet: nothing to say
    _published(conn, "20260101T000000Z-aaaaaa", "full", ["gladly_conversation_items_0001.csv"], 3)
    (output / "gladly_conversation_items_0001.csv").write_text("x", encoding="utf-8")
    first = delivered_so_far(conn, output)
    assert not first.needs_saying_full and first.items_in_files == 3 and first.files == ["gladly_conversation_items_0001.csv"]
    _published(conn, "20260102T000000Z-bbbbbb", "delta", ["gladly_conversation_items_0002.csv"], 2)
    push_ledger.record_answer(conn, item_id="20260102T000000Z-bbbbbb-0", import_run_id="20260102T000000Z-bbbbbb",
                              push_id="20260102T010000Z-cccccc", status="created", http_status=200)
    push_ledger.record_answer(conn, item_id="20260102T000000Z-bbbbbb-1", import_run_id="20260102T000000Z-bbbbbb",
                              push_id="20260102T010000Z-dddddd", status="refused", http_status=400)
    after = delivered_so_far(conn, output)
    assert after.deltas_since_full == ["20260102T000000Z-bbbbbb"]
    assert after.pushes_since_full == ["20260102T010000Z-cccccc"]  # a push Gladly refused all of delivered nothing
    assert after.needs_saying_full and (after.items_in_files, after.items_pushed) == (5, 1)
    assert refusal(after).startswith("import not started: a full run after a delta run 20260102T000000Z-bbbbbb and a "
                                     "push 20260102T010000Z-cccccc would export every item again (5 already delivered")
    # a full run asked for settles it: what came before it no longer counts
    _published(conn, "20260103T000000Z-eeeeee", "full", ["gladly_conversation_items_0001.csv"], 5)
    assert not delivered_so_far(conn, output).needs_saying_full


def test_a_kept_run_is_a_copy_made_whole(tmp_path: Path) -> None:
    output = tmp_path / "output"
    output.mkdir()
    (output / "import_report.html").write_text("report of run a", encoding="utf-8")
    (output / "import_summary.json").write_text("{}", encoding="utf-8")
    kept = keep_run(output, "20260101T000000Z-aaaaaa", ["import_report.html", "import_summary.json", "absent.csv"])
    assert sorted(p.name for p in kept.iterdir()) == ["import_report.html", "import_summary.json"]
    (output / "import_report.html").write_text("report of run b", encoding="utf-8")  # the next run's, in place
    assert (kept / "import_report.html").read_text(encoding="utf-8") == "report of run a"
    assert keep_run(output, "20260101T000000Z-aaaaaa", ["import_report.html"]) == kept  # again: the newer copy
    assert sorted(p.name for p in kept.iterdir()) == ["import_report.html"]
    assert [p.name for p in (output / RUNS_DIR).iterdir()] == ["20260101T000000Z-aaaaaa"]  # no partial left


def test_runs_lists_what_the_ledger_and_the_kept_summaries_say(tmp_path: Path) -> None:
    conn = _ledger(tmp_path)
    output = tmp_path / "output"
    _published(conn, "20260101T000000Z-aaaaaa", "full", ["gladly_conversation_items_0001.csv",
                                                         "gladly_conversation_items_0002.csv"], 3)
    start_run(conn, "20260102T000000Z-bbbbbb", "delta", "/srv/imports/acme.yml")  # killed, then found dead
    keep_run(output, "20260101T000000Z-aaaaaa", [])
    push_dir = output / RUNS_DIR / "20260103T000000Z-cccccc"
    push_dir.mkdir(parents=True)
    later = datetime.now(UTC) + timedelta(hours=1)  # the push came after the runs recorded just now
    (push_dir / "push_summary.json").write_text(json.dumps({
        "push_id": "20260103T000000Z-cccccc", "import_run_id": "20260101T000000Z-aaaaaa", "status": "interrupted",
        "started_at": f"{later:%Y-%m-%dT%H:%M:%SZ}", "ended_at": f"{later + timedelta(minutes=5):%Y-%m-%dT%H:%M:%SZ}",
        "sent": 1_200, "already_in_gladly": 34}), encoding="utf-8")
    rows = list_runs(conn, output)
    assert [(r.run_id, r.kind, r.status, r.items, r.kept) for r in rows] == [
        ("20260101T000000Z-aaaaaa", "import", "succeeded", 3, "runs/20260101T000000Z-aaaaaa/"),
        ("20260102T000000Z-bbbbbb", "import", "running", None, ""),
        ("20260103T000000Z-cccccc", "push", "interrupted", 1_234, "runs/20260103T000000Z-cccccc/")]
    table = format_runs(rows).splitlines()
    assert len(table) == 5 and table[1].startswith("-----")
    assert re.search(r"20260101T000000Z-aaaaaa\s+import\s+full\s+.*succeeded\s+3\s+_0001\.csv to _0002\.csv \(2\)", table[2])
    assert re.search(rf"push\s+of 20260101T000000Z-aaaaaa\s+{later:%Y-%m-%d %H:%M:%S}\s+"
                     rf"{later + timedelta(minutes=5):%Y-%m-%d %H:%M:%S}\s+interrupted\s+1,234\s+-", table[4])


def test_runs_without_any_run_and_with_the_ledger_in_use(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = tmp_path / "config.yml"
    config.write_text("output_dir: out\nwork_dir: work\nsources:\n  csv:\n    path: items.csv\n", encoding="utf-8")
    (tmp_path / "items.csv").write_text("Customer Email,Conversation Item Timestamp,Conversation Item Body\n",
                                        encoding="utf-8")
    assert cli.main(["runs", "--config", str(config)]) == 0
    assert capsys.readouterr().out == f"no run recorded in work_dir {tmp_path / 'work'} yet\n"
    assert not (tmp_path / "work").exists()  # looking created nothing
    (tmp_path / "work").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); sys.stdin.read()", str(tmp_path / "work" / "gladly_import.duckdb")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        assert cli.main(["runs", "--config", str(config)]) == cli.EXIT_FAILED
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and err.startswith(f"the DuckDB file {tmp_path / 'work' / 'gladly_import.duckdb'} is open "
                                                  f"in another program (process {holder.pid})")
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
