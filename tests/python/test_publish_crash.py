"""kill -9 at every step of the export and of the publish, then a delta: every item exported exactly once.

Prepared once: a full run (4 items in 2 files), 3 new records, then two imports (a delta, and a
full run of batch_size 10) each SIGKILLed by the fault injection right after all their files are
staged, the last moment before publishing starts. Each case copies one of them, finishes the
killed run's publish in a process that SIGKILLs itself at the case's step (the same
`publish` call on the same database and staging folder, without redoing extraction and dbt), then
runs a normal delta and checks the files against each other, the ledger and the run history.
The steps of the export before it (between two item files, after the item files, the rejects, the
summary) are killed one after the other on one folder, each run dying where the one before died
later. A kill in the middle of an item file is tested in test_delta.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import pytest
import yaml

from gladly_import.faults import KILL_AT_ENV, STOP_AT_ENV
from gladly_import.lock import LOCK_FILE
from tests.python.conftest import PROJECT_DIR, read_items, run_import
from tests.python.test_delta import add_new_records, setup_inputs

pytestmark = pytest.mark.slow  # whole imports: make test-fast leaves these out

EVERY_ITEM = ["x-1", "x-2", "zendesk-1-11", "zendesk-1-12", "zendesk-1-13", "zendesk-2-21", "zendesk-3-31"]

# The killed run's publish, resumed where run.py calls it, in a process that kills itself at a step.
PUBLISH = """
import csv, sys
from pathlib import Path
import duckdb
from gladly_import.publish import publish, staging_dir
work, output, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
with duckdb.connect(str(work / "gladly_import.duckdb")) as conn:
    (run_id,) = conn.execute("select run_id from ledger.import_runs where status = 'running'").fetchone()
    staging = staging_dir(output, run_id)
    rows = {}
    for path in staging.glob("*.csv"):
        with open(path, encoding="utf-8", newline="") as handle:
            rows[path.name] = sum(1 for _ in csv.reader(handle)) - 1
    publish(conn, run_id, staging, output, mode, rows)
"""


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("base")
    config = setup_inputs(base)
    full = run_import(config)
    assert full.returncode == 0, full.stderr
    assert len(full.item_files()) == 2
    add_new_records(base)
    states = {"base": base}
    for mode, batch_size in (("delta", 2), ("full", 10)):
        state = tmp_path_factory.mktemp(mode)
        shutil.copytree(base, state, dirs_exist_ok=True)
        settings = yaml.safe_load((state / "config.yml").read_text(encoding="utf-8"))
        (state / "config.yml").write_text(yaml.safe_dump({**settings, "batch_size": batch_size}), encoding="utf-8")
        killed = run_import(state / "config.yml", "--mode", mode, env={KILL_AT_ENV: "staged"})
        assert killed.returncode == -9, killed.stderr
        states[mode] = state
    return states


# (the killed run's mode, the step it is killed at, the status the run history gives it after the
# next run, what became of its batch). The steps in order: staged, batch recorded, published 1..N
# (right after the Nth file is renamed into place), old files removed (full runs), items recorded,
# run kept (its report files copied to runs/<run id>/), confirmed. The delta stages 6 files: items
# _0003 and _0004, the rejects, the report, the summary, the timeline preview. The full run stages
# _0001 (7 items) and must remove the earlier _0002.
CASES = [
    ("delta", "staged", "abandoned", None),  # every file staged, nothing recorded
    ("delta", "batch recorded", "recovered", "confirmed"),  # pending, nothing renamed yet
    ("delta", "published 1", "recovered", "confirmed"),  # _0003 in place, _0004 still staged
    ("delta", "published 5", "recovered", "confirmed"),  # all but the last file in place, no item recorded
    ("delta", "published 6", "recovered", "confirmed"),  # every file in place, no item recorded
    ("delta", "items recorded", "recovered", "confirmed"),  # recorded, not kept in runs/, not confirmed
    ("delta", "run kept", "recovered", "confirmed"),  # recorded and kept, not confirmed
    ("delta", "confirmed", "recovered", "confirmed"),  # confirmed, the run not finished
    ("full", "published 1", "recovered", "confirmed"),  # _0001 replaced, the old _0002 still there
    ("full", "old files removed", "recovered", "confirmed"),
    # a staged file lost after the kill: the batch cannot be finished, so it is rolled back
    ("delta, a staged file lost", "published 1", "abandoned", "dropped"),
    # an engine whose insert is not atomic (Spark) left part of the items: the rest are added
    ("delta, items partly recorded", "items recorded", "recovered", "confirmed"),
]


def _query(work_dir: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(work_dir / "gladly_import.duckdb"), read_only=True) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.parametrize(("case", "step", "killed_status", "batch_status"), CASES,
                         ids=[f"{case}: killed at {step}" for case, step, *_ in CASES])
def test_kill_at_each_step_then_a_delta_exports_every_item_exactly_once(
        prepared: dict[str, Path], tmp_path: Path, case: str, step: str, killed_status: str,
        batch_status: str | None) -> None:
    mode = case.split(",")[0]
    shutil.copytree(prepared[mode], tmp_path, dirs_exist_ok=True)
    config = tmp_path / "config.yml"
    work, output = tmp_path / "work", tmp_path / "output"
    if step != "staged":
        killed = subprocess.run([sys.executable, "-c", PUBLISH, str(work), str(output), mode], cwd=PROJECT_DIR,
                                env={**os.environ, KILL_AT_ENV: step}, capture_output=True, text=True, timeout=120)
        assert killed.returncode == -9, killed.stderr
    holder = json.loads((work / LOCK_FILE).read_text(encoding="utf-8"))  # the dead run's lock file
    if "lost" in case:
        (staged,) = output.glob(".partial-*/gladly_conversation_items_0004.csv")
        staged.unlink()
    if "partly" in case:
        with duckdb.connect(str(work / "gladly_import.duckdb")) as conn:
            conn.execute("delete from ledger.export_ledger where run_id = ? and file_name like '%_0004.csv'",
                         [holder["run_id"]])

    delta = run_import(config, "--mode", "delta")
    assert delta.returncode == 0, delta.stderr

    files = delta.item_files()
    ids = Counter(row["Conversation Item ID"] for row in read_items(files))
    assert sorted(ids) == EVERY_ITEM
    assert set(ids.values()) == {1}, f"sent twice: {[i for i, n in ids.items() if n > 1]}"
    assert not list(delta.output_dir.glob(".partial-*"))

    # the ledger says exactly what the files hold: every (item, file) published is recorded
    ledger = set(_query(delta.work_dir, "select conversation_item_id, file_name from ledger.export_ledger"))
    published = {(row["Conversation Item ID"], path.name) for path in files for row in read_items([path])}
    assert published <= ledger
    assert {item for item, _ in ledger} == set(ids)

    history = _query(delta.work_dir, "select run_id, status from ledger.import_runs order by started_at")
    assert [status for _, status in history] == ["succeeded", killed_status, "succeeded"]
    assert history[1][0] == holder["run_id"]  # the lock file named the run that was killed
    batches = dict(_query(delta.work_dir, "select run_id, status from ledger.export_batches"))
    assert batches.get(holder["run_id"]) == batch_status
    assert batches[history[2][0]] == "confirmed"
    # the run history keeps the report files of every published run, the killed one's once settled
    kept = sorted(p.name for p in (output / "runs").iterdir())
    assert kept == sorted(run_id for run_id, status in batches.items() if status == "confirmed")
    killed_kept = output / "runs" / holder["run_id"]
    if batch_status == "confirmed":
        summary = json.loads((killed_kept / "import_summary.json").read_text(encoding="utf-8"))
        assert summary["run_id"] == holder["run_id"]
        assert sorted(p.name for p in killed_kept.iterdir()) == [
            "gladly_import_rejects.csv", "import_report.html", "import_summary.json", "timeline_preview.html"]


def test_ctrl_c_while_publishing_waits_for_the_confirmation(prepared: dict[str, Path], tmp_path: Path) -> None:
    shutil.copytree(prepared["delta"], tmp_path, dirs_exist_ok=True)
    work, output = tmp_path / "work", tmp_path / "output"
    publishing = subprocess.Popen([sys.executable, "-c", PUBLISH, str(work), str(output), "delta"], cwd=PROJECT_DIR,
                                  env={**os.environ, STOP_AT_ENV: "batch recorded"}, stderr=subprocess.PIPE, text=True)
    _, status = os.waitpid(publishing.pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status)
    os.kill(publishing.pid, signal.SIGINT)  # Ctrl-C, delivered as soon as it runs again
    os.kill(publishing.pid, signal.SIGCONT)
    _, stderr = publishing.communicate(timeout=120)
    assert publishing.returncode == 0, stderr
    assert "Ctrl-C while publishing: the files are put in place first" in stderr
    assert sorted(p.name for p in output.glob("gladly_conversation_items_*.csv"))[-2:] == [
        "gladly_conversation_items_0003.csv", "gladly_conversation_items_0004.csv"]
    assert [status for (status,) in _query(work, "select status from ledger.export_batches order by recorded_at")] == [
        "confirmed", "confirmed"]


# The export's steps, in order, before publish's first ("staged": after the report).
EXPORT_STEPS = ["exported file 1", "items exported", "rejects exported", "summary written"]


def test_kill_at_each_step_of_the_export_then_a_delta_exports_every_item_exactly_once(
        prepared: dict[str, Path], tmp_path: Path) -> None:
    shutil.copytree(prepared["base"], tmp_path, dirs_exist_ok=True)
    config, output = tmp_path / "config.yml", tmp_path / "output"
    published = sorted(p.name for p in output.iterdir())
    before = _query(tmp_path / "work", "select conversation_item_id, file_name from ledger.export_ledger")
    killed_runs = []
    for step in EXPORT_STEPS:
        killed = run_import(config, "--mode", "delta", env={KILL_AT_ENV: step})
        assert killed.returncode == -9, (step, killed.stderr)
        killed_runs.append(json.loads((tmp_path / "work" / LOCK_FILE).read_text(encoding="utf-8"))["run_id"])
        # nothing reached the output folder or the ledger: only this run's staging folder is new
        assert sorted(p.name for p in output.iterdir() if not p.name.startswith(".partial-")) == published
        assert [p.name for p in output.glob(".partial-*")] == [f".partial-{killed_runs[-1]}"]
        assert _query(tmp_path / "work", "select conversation_item_id, file_name from ledger.export_ledger") == before

    delta = run_import(config, "--mode", "delta")
    assert delta.returncode == 0, delta.stderr
    ids = Counter(row["Conversation Item ID"] for row in read_items(delta.item_files()))
    assert sorted(ids) == EVERY_ITEM
    assert set(ids.values()) == {1}, f"sent twice: {[i for i, n in ids.items() if n > 1]}"
    assert not list(output.glob(".partial-*"))
    history = _query(delta.work_dir, "select run_id, status from ledger.import_runs order by started_at")
    assert history[1:-1] == [(run_id, "abandoned") for run_id in killed_runs]
    assert [status for _, status in history[::len(history) - 1]] == ["succeeded", "succeeded"]
