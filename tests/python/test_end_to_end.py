"""`make import` on the bundled samples, end to end: files, limits, reconciliation, determinism."""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gladly_import.export import GLADLY_COLUMNS, REJECT_COLUMNS
from gladly_import.summary import TOTAL_KEYS
from tests.python.conftest import PROJECT_DIR, SAMPLES_DIR, ImportResult, run_import, write_config

pytestmark = pytest.mark.slow  # whole imports: make test-fast leaves these out

RFC3339_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def copy_samples(target: Path) -> Path:
    shutil.copytree(SAMPLES_DIR, target / "samples")
    config = target / "samples" / "config.yml"
    return config


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> ImportResult:
    config = copy_samples(tmp_path_factory.mktemp("sample"))
    result = run_import(config)
    assert result.returncode == 0, result.stderr
    return result


def test_the_gladly_csv_has_the_guide_columns_in_order(sample_run: ImportResult) -> None:
    files = sample_run.item_files()
    assert [f.name for f in files] == ["gladly_conversation_items_0001.csv"]
    with open(files[0], encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    assert header == [name for name, _ in GLADLY_COLUMNS]
    assert header[0] == "Conversation Item ID" and header[-1] == "Tags"


def test_every_exported_row_passes_gladlys_rules(sample_run: ImportResult) -> None:
    from gladly_import.email_rules import normalize_email

    items = sample_run.items()
    assert items
    for item in items:
        assert normalize_email(item["Customer Email"]) == item["Customer Email"]
        assert 0 < len(item["Conversation Item Title"]) <= 100
        assert 0 < len(item["Conversation Item Body"]) <= 25_000
        assert RFC3339_MS.match(item["Conversation Item Timestamp"])
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,50}", item["Conversation Item ID"])
    ids = [item["Conversation Item ID"] for item in items]
    assert len(ids) == len(set(ids))


def test_the_samples_ugly_cases_end_where_the_guide_says(sample_run: ImportResult) -> None:
    items = {item["Conversation Item ID"]: item for item in sample_run.items()}
    # A 30,000-character body is cut to 25,000; a blank subject becomes "Zendesk message".
    assert len(items["zendesk-48218-1009"]["Conversation Item Body"]) == 25_000
    assert items["zendesk-48218-1009"]["Conversation Item Title"] == "Zendesk message"
    # A 150-character subject with emoji is cut to 100 characters, the emoji intact.
    assert len(items["zendesk-48214-1004"]["Conversation Item Title"]) == 100
    assert items["zendesk-48214-1004"]["Conversation Item Title"].startswith("Where is my order? 📦")
    assert items["zendesk-48214-1004"]["Customer Email"] == "Zoe.Angstrom@example.org"
    # html_body is missing: plain_body is used.
    assert items["zendesk-48217-1008"]["Conversation Item Body"] == "We received your receipt."
    assert items["zendesk-48217-1008"]["Customer Email"] == "pat.lee@example.net"
    # A body with commas, quotes and a newline survives the CSV round trip.
    assert items["zendesk-48213-1002"]["Conversation Item Body"] == (
        '<div class="zd-comment"><p>So sorry! A replacement ships today, "tracking" to follow.\nThanks, Sam</p></div>')
    assert items["zendesk-48213-1001"]["Tags"] == "damaged,refund"
    # An offset timestamp in the CSV template ends up in UTC.
    csv_item = next(i for i in items.values() if i["Customer Email"] == "li.wei@example.cn")
    assert csv_item["Conversation Item Timestamp"] == "2020-11-02T18:10:00.000Z"
    assert csv_item["Conversation Item Title"] == "Help Scout message"


def test_rejects_say_why_and_where(sample_run: ImportResult) -> None:
    rejects = sample_run.rejects()
    with open(sample_run.output_dir / "gladly_import_rejects.csv", encoding="utf-8", newline="") as handle:
        assert next(csv.reader(handle)) == REJECT_COLUMNS
    by_id = {(r["source_platform"], r["reject_reason"], r["source_file"], r["source_position"]) for r in rejects}
    assert ("zendesk", "malformed_json", "zendesk/tickets-2021-03.json", "line 4") in by_id
    assert ("zendesk", "not_a_ticket", "zendesk/tickets-2021-03.json", "line 1") in by_id
    assert ("zendesk", "missing_email", "zendesk/tickets-2021-03.json", "line 5, comment 1") in by_id
    assert ("zendesk", "invalid_email", "zendesk/tickets-2021-03.json", "line 8, comment 1") in by_id
    assert ("zendesk", "empty_body", "zendesk/tickets-2021-03.json", "line 6, comment 1") in by_id
    assert ("zendesk", "missing_timestamp", "zendesk/tickets-2021-03.json", "line 9, comment 1") in by_id
    assert ("csv", "malformed_csv_row", "csv/other_helpdesk.csv", "line 10") in by_id
    assert all(r["reject_reason"] and r["source_file"] for r in rejects)


def test_reconciliation_every_record_is_exported_rejected_or_a_duplicate(sample_run: ImportResult) -> None:
    summary = sample_run.summary
    items = sample_run.items()
    rejects = sample_run.rejects()
    native_prefixes = tuple(f"{p}-" for p in summary["platforms"] if p != "csv")
    for platform, counts in summary["platforms"].items():
        exported = sum(1 for i in items if i["Conversation Item ID"].startswith(f"{platform}-")
                       or (platform == "csv" and not i["Conversation Item ID"].startswith(native_prefixes)))
        rejected = sum(1 for r in rejects if r["source_platform"] == platform)
        assert counts["exported"] == exported
        assert counts["rejected"] == rejected == sum(counts["rejected_by_reason"].values())
        assert counts["records_seen"] == counts["exported"] + counts["rejected"] + counts["duplicates"]
        assert counts["unaccounted"] == 0
    assert summary["platforms"]["zendesk"]["duplicates"] == 3  # ticket 48213 in both files
    assert summary["platforms"]["csv"]["duplicates"] == 1
    assert summary["platforms"]["zendesk"]["titles_truncated"] == 1
    assert summary["platforms"]["zendesk"]["bodies_truncated"] == 1
    item_file = sample_run.output_dir / "gladly_conversation_items_0001.csv"
    assert summary["files"] == [{"file": item_file.name, "rows": len(items),
                                 "sha256": hashlib.sha256(item_file.read_bytes()).hexdigest()}]


def test_the_summary_table_is_printed(sample_run: ImportResult) -> None:
    totals = sample_run.summary["totals"]
    total_line = next(line for line in sample_run.stdout.splitlines() if line.startswith("total"))
    assert total_line.split()[1:] == [f"{totals[k]:,}" for k in TOTAL_KEYS]


def test_a_second_run_on_the_same_input_writes_byte_identical_files(sample_run: ImportResult, tmp_path: Path) -> None:
    config = copy_samples(tmp_path)
    again = run_import(config)
    assert again.returncode == 0, again.stderr

    def digests(result: ImportResult) -> dict[str, str]:
        # The summary and the report name their run (id, start, finish, duration, config file, its
        # work_dir's engine): the rest is identical.
        summary = result.summary
        run = [summary["run_id"], summary["started_at"], summary["finished_at"], summary["config"], summary["engine"],
               summary["started_at"][:10]]

        def content(p: Path) -> bytes:
            data = p.read_bytes()
            if p.suffix == ".html":
                data = re.sub(rb"<header>.*?</header>", b"", data, flags=re.DOTALL)
            if p.suffix == ".json":
                data = re.sub(rb'"duration_seconds": \d+', b'"duration_seconds": <run>', data)
            for value in run if p.suffix in (".json", ".html") else []:
                data = data.replace(value.encode(), b"<run>")
            return data
        # Files only: logs/ holds each run's own log.
        return {p.name: hashlib.sha256(content(p)).hexdigest() for p in sorted(result.output_dir.iterdir())
                if p.is_file()}

    assert digests(again) == digests(sample_run)


def test_the_staged_history_is_queryable_in_duckdb(sample_run: ImportResult) -> None:
    import duckdb

    with duckdb.connect(str(sample_run.work_dir / "gladly_import.duckdb"), read_only=True) as conn:
        staged = conn.execute("select count(*) from intermediate.int_conversation_items_unioned").fetchone()[0]
        exported = conn.execute("select count(*) from main.gladly_conversation_items").fetchone()[0]
        raw = conn.execute("select count(*) from raw.zendesk_ticket_comments").fetchone()[0]
    assert exported == len(sample_run.items())
    assert staged >= exported and raw > 0


def test_files_are_split_at_batch_size(tmp_path: Path) -> None:
    config = copy_samples(tmp_path)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["batch_size"] = 3
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = run_import(config)
    assert result.returncode == 0, result.stderr
    counts = [sum(1 for _ in csv.DictReader(open(f, encoding="utf-8", newline=""))) for f in result.item_files()]
    total = result.summary["totals"]["exported"]
    assert counts == [3] * (total // 3) + ([total % 3] if total % 3 else [])
    assert [f.name for f in result.item_files()][:2] == ["gladly_conversation_items_0001.csv",
                                                         "gladly_conversation_items_0002.csv"]


def test_no_rejects_means_a_header_only_rejects_file(tmp_path: Path) -> None:
    export = tmp_path / "t.json"
    export.write_text('{"id": 5, "subject": "Hi", "requester": {"email": "a@example.com"}, "comments": '
                      '[{"id": 9, "body": "hello", "created_at": "2021-01-01T00:00:00Z"}]}\n', encoding="utf-8")
    result = run_import(write_config(tmp_path, {"zendesk": {"path": "t.json"}}))
    assert result.returncode == 0, result.stderr
    assert (result.output_dir / "gladly_import_rejects.csv").read_bytes() == (
        ",".join(REJECT_COLUMNS) + "\r\n").encode()
    assert len(result.items()) == 1


def test_nothing_to_export_writes_no_item_file_and_says_so(tmp_path: Path) -> None:
    export = tmp_path / "t.json"
    export.write_text("garbage\n", encoding="utf-8")
    result = run_import(write_config(tmp_path, {"zendesk": {"path": "t.json"}}))
    # a full run of a source that exports nothing needs review (gladly_import/review.py): exit 3
    assert result.returncode == 3, result.stderr
    assert result.item_files() == []
    assert "no conversation item to export" in result.stdout
    assert [r["reject_reason"] for r in result.rejects()] == ["malformed_json"]
    assert "WARNING: needs review: zendesk: no exportable item (1 record seen)" in result.stderr
    assert result.summary["status"] == "needs_review"


def test_dbt_unit_tests_pass(sample_run: ImportResult) -> None:
    unit_tests = sum(len(yaml.safe_load(p.read_text(encoding="utf-8")).get("unit_tests") or [])
                     for p in (PROJECT_DIR / "models").rglob("*.yml"))
    assert unit_tests >= 10
    dbt = Path(sys.executable).with_name("dbt")
    completed = subprocess.run(
        [str(dbt), "test", "--select", "test_type:unit", "--project-dir", str(PROJECT_DIR),
         "--profiles-dir", str(PROJECT_DIR)],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600,
        env={**os.environ, "GLADLY_DUCKDB_PATH": str(sample_run.work_dir / "gladly_import.duckdb")},
    )
    assert completed.returncode == 0, completed.stdout[-4000:]
    assert f"PASS={unit_tests} " in completed.stdout


def test_make_import_runs_a_users_config(tmp_path: Path) -> None:
    export = tmp_path / "exports" / "t.json"
    export.parent.mkdir()
    export.write_text('{"id": 5, "subject": "Hi", "requester": {"email": "a@example.com"}, "comments": '
                      '[{"id": 9, "body": "hello", "created_at": "2021-01-01T00:00:00Z"}]}\n{broken\n', encoding="utf-8")
    config = write_config(tmp_path, {"zendesk": {"path": "exports/"}})
    completed = subprocess.run(["make", "-s", "import", f"CONFIG={config}"], cwd=PROJECT_DIR,
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    assert "1 malformed_json" in completed.stderr
    assert (tmp_path / "output" / "gladly_conversation_items_0001.csv").exists()
