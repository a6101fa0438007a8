"""Delta imports: run before launch, run again after, send nothing twice; the ledger and run history."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from gladly_import.faults import KILL_AT_ENV
from tests.python.conftest import ImportResult, item_ids, run_import, write_config

pytestmark = pytest.mark.slow  # whole imports: make test-fast leaves these out

HEADER = ("Conversation Item ID,Customer Email,Customer Name,Customer Phone,Conversation Item Timestamp,"
          "Conversation Item Title,Conversation Item Body,Conversation Item Source,Tags\n")


def zendesk_ticket(ticket_id: int, comment_ids: list[int]) -> str:
    return json.dumps({
        "id": ticket_id, "subject": f"Ticket {ticket_id}", "tags": ["t"],
        "requester": {"name": "Jane", "email": "jane@example.com"},
        "comments": [{"id": c, "html_body": f"<p>comment {c}</p>", "created_at": f"2021-03-{c % 28 + 1:02d}T10:00:00Z"}
                     for c in comment_ids],
    }) + "\n"


def setup_inputs(tmp_path: Path) -> Path:
    (tmp_path / "zendesk").mkdir()
    (tmp_path / "zendesk" / "tickets.json").write_text(
        zendesk_ticket(1, [11, 12]) + zendesk_ticket(2, [21]) + "{broken\n", encoding="utf-8")
    (tmp_path / "items.csv").write_text(
        HEADER + "x-1,a@example.com,A,,2021-01-01T00:00:00Z,T,first,Front,\n", encoding="utf-8")
    return write_config(tmp_path, {"zendesk": {"path": "zendesk/"}, "csv": {"path": "items.csv"}}, batch_size=2)



def ledger(result: ImportResult) -> list[tuple]:
    with duckdb.connect(str(result.work_dir / "gladly_import.duckdb"), read_only=True) as conn:
        return conn.execute("select run_id, conversation_item_id, file_name from ledger.export_ledger "
                            "order by file_name, conversation_item_id").fetchall()


def runs(result: ImportResult) -> list[tuple]:
    with duckdb.connect(str(result.work_dir / "gladly_import.duckdb"), read_only=True) as conn:
        return conn.execute("select run_id, mode, status, items_exported, files_written, platform_counts, "
                            "started_at <= ended_at from ledger.import_runs order by started_at").fetchall()


def add_new_records(tmp_path: Path) -> None:
    with open(tmp_path / "zendesk" / "tickets.json", "a", encoding="utf-8") as handle:
        handle.write(zendesk_ticket(1, [11, 12, 13]))  # ticket 1 again, one new comment
        handle.write(zendesk_ticket(3, [31]))
    with open(tmp_path / "items.csv", "a", encoding="utf-8") as handle:
        handle.write("x-2,b@example.com,B,,2021-05-01T00:00:00Z,T,second,Front,\n")


def test_a_delta_exports_exactly_the_new_records_and_a_second_delta_nothing(tmp_path: Path) -> None:
    config = setup_inputs(tmp_path)
    full = run_import(config)
    assert full.returncode == 0, full.stderr
    full_files = full.item_files()
    assert [p.name for p in full_files] == ["gladly_conversation_items_0001.csv", "gladly_conversation_items_0002.csv"]
    full_digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in full_files}
    assert sorted(item_ids(full_files)) == ["x-1", "zendesk-1-11", "zendesk-1-12", "zendesk-2-21"]

    add_new_records(tmp_path)
    delta = run_import(config, "--mode", "delta")
    assert delta.returncode == 0, delta.stderr
    new_files = [p for p in delta.item_files() if p.name not in full_digests]
    assert [p.name for p in new_files] == ["gladly_conversation_items_0003.csv", "gladly_conversation_items_0004.csv"]
    assert sorted(item_ids(new_files)) == ["x-2", "zendesk-1-13", "zendesk-3-31"]
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in full_files} == full_digests
    summary = delta.summary
    assert summary["mode"] == "delta"
    assert summary["platforms"]["zendesk"]["already_exported"] == 3  # 1-11, 1-12, 2-21
    assert summary["platforms"]["zendesk"]["duplicates"] == 2  # ticket 1's old comments, read twice
    assert summary["platforms"]["csv"]["already_exported"] == 1
    assert summary["totals"]["unaccounted"] == 0
    assert [f["file"] for f in summary["files"]] == [p.name for p in new_files]

    again = run_import(config, "--mode", "delta")
    assert again.returncode == 0, again.stderr
    assert "no new conversation item to export" in again.stdout
    assert len(again.item_files()) == 4
    assert again.summary["files"] == []
    assert again.summary["totals"]["exported"] == 0

    history = runs(again)
    assert [(mode, status, exported) for _, mode, status, exported, *_ in history] == [
        ("full", "succeeded", 4), ("delta", "succeeded", 3), ("delta", "succeeded", 0)]
    assert json.loads(history[2][4]) == []
    digests = [hashlib.sha256(p.read_bytes()).hexdigest() for p in new_files]
    assert json.loads(history[1][4]) == [{"file": "gladly_conversation_items_0003.csv", "rows": 2, "sha256": digests[0]},
                                         {"file": "gladly_conversation_items_0004.csv", "rows": 1, "sha256": digests[1]}]
    assert json.loads(history[1][5])["zendesk"]["exported"] == 2
    assert all(row[6] for row in history)
    rows = ledger(again)
    assert len(rows) == 7
    assert {run for run, *_ in rows} == {history[0][0], history[1][0]}
    assert sorted(i for _, i, _ in rows) == sorted(item_ids(again.item_files()))


def test_config_mode_delta_is_the_same_as_the_flag(tmp_path: Path) -> None:
    config = setup_inputs(tmp_path)
    assert run_import(config).returncode == 0
    text = config.read_text(encoding="utf-8")
    config.write_text("mode: delta\n" + text, encoding="utf-8")
    result = run_import(config)
    assert result.returncode == 0, result.stderr
    assert result.summary["mode"] == "delta" and result.summary["totals"]["exported"] == 0


def test_a_killed_export_leaves_the_ledger_unchanged_and_the_next_run_exports_its_items(tmp_path: Path) -> None:
    config = setup_inputs(tmp_path)
    first = run_import(config)
    assert first.returncode == 0, first.stderr
    before = ledger(first)
    add_new_records(tmp_path)

    killed = run_import(config, "--mode", "delta", env={KILL_AT_ENV: "item file 1"})
    assert killed.returncode == -9
    assert ledger(killed) == before
    assert len(killed.item_files()) == 2  # nothing of the killed run reached the output folder
    assert [p.name for p in killed.output_dir.iterdir() if p.name.startswith(".partial-")]

    retry = run_import(config, "--mode", "delta")
    assert retry.returncode == 0, retry.stderr
    new_files = retry.item_files()[2:]
    assert sorted(item_ids(new_files)) == ["x-2", "zendesk-1-13", "zendesk-3-31"]
    assert not [p for p in retry.output_dir.iterdir() if p.name.startswith(".partial-")]
    statuses = [status for _, _, status, *_ in runs(retry)]
    assert statuses == ["succeeded", "abandoned", "succeeded"]


def test_a_ledger_from_before_export_batches_counts_as_confirmed(tmp_path: Path) -> None:
    """A work_dir written by a version without ledger.export_batches: its items stay exported."""
    from gladly_import.publish import settle_earlier_runs

    database = tmp_path / "gladly_import.duckdb"
    with duckdb.connect(str(database)) as conn:
        conn.execute("create schema ledger")
        conn.execute("create table ledger.export_ledger (conversation_item_id varchar not null, source_platform "
                     "varchar not null, run_id varchar not null, file_name varchar not null, exported_at timestamp not null)")
        conn.execute("insert into ledger.export_ledger values ('x-1', 'csv', 'old-run', "
                     "'gladly_conversation_items_0001.csv', timestamp '2026-01-01 00:00:00')")
        (tmp_path / "output" / ".partial-old-run").mkdir(parents=True)
        assert settle_earlier_runs(conn, tmp_path / "output") == []
        assert conn.execute("select conversation_item_id from ledger.export_ledger").fetchall() == [("x-1",)]
        assert conn.execute("select count(*) from ledger.export_batches").fetchone() == (0,)
    assert not (tmp_path / "output" / ".partial-old-run").exists()
