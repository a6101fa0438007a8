"""The whole sample import with secrets planted in every platform (tests/python/redaction_helpers.py)
and every kind of redaction on: no planted value is left in the Gladly CSV, the rejects file, the
report, the summary, the logs, the raw Parquet or the DuckDB file; the summary counts what was
planted; ids do not move (a delta run after it exports nothing).
"""

from __future__ import annotations

import shutil
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.python.conftest import SAMPLES_DIR, ImportResult, run_import
from tests.python.redaction_helpers import CSV_ROW_WITHOUT_ID, Planted, plant, totals

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[ImportResult, Planted]:
    folder = tmp_path_factory.mktemp("planted")
    shutil.copytree(SAMPLES_DIR, folder / "samples")
    planted = plant(folder / "samples")
    result = run_import(folder / "samples" / "config.yml")
    assert result.returncode == 0, result.stderr[-3000:]
    return result, planted


def _found(text: str, planted: Planted) -> list[str]:
    return [value for value in planted.forms() if value in text]


def test_no_planted_value_is_left_in_any_file_or_output(planted_run: tuple[ImportResult, Planted]) -> None:
    result, planted = planted_run
    assert _found(result.stdout + result.stderr, planted) == []
    files = [p for p in [*result.output_dir.rglob("*"), *result.work_dir.rglob("*")] if p.is_file()]
    # text files: the Gladly CSV, the rejects file, the summary, the report, the run's log, dbt's
    # logs and compiled SQL; the API sources' spools (work_dir/state/<platform>/) hold the pages as
    # the API sent them (docs/redaction.md), and the binary files are read below
    spools = [result.work_dir / "state"]
    text_files = [p for p in files if p.suffix not in (".parquet", ".duckdb", ".wal")
                  and not any(s in p.parents for s in spools)]
    names = {p.name for p in text_files}
    assert {"gladly_conversation_items_0001.csv", "gladly_import_rejects.csv", "import_summary.json",
            "import_report.html"} <= names
    assert any(p.parent.name == "logs" and p.suffix == ".log" for p in text_files)
    for path in text_files:
        assert _found(path.read_bytes().decode("utf-8", errors="replace"), planted) == [], path


def test_no_planted_value_is_in_the_raw_parquet(planted_run: tuple[ImportResult, Planted]) -> None:
    result, planted = planted_run
    tables = sorted((result.work_dir / "raw").rglob("*.parquet"))
    assert len(tables) > 20
    for path in tables:
        table = pq.read_table(path)
        for name in table.column_names:
            if pa.types.is_string(table.schema.field(name).type):
                text = "\n".join(v for v in table.column(name).to_pylist() if v)
                assert _found(text, planted) == [], (path, name)


def test_no_planted_value_is_in_the_staged_history(planted_run: tuple[ImportResult, Planted]) -> None:
    """Every relation of the DuckDB file (raw views, staging, intermediate, marts, ledger), every text."""
    result, planted = planted_run
    conn = duckdb.connect(str(result.work_dir / "gladly_import.duckdb"), read_only=True)
    relations = conn.execute("select table_schema, table_name from information_schema.tables").fetchall()
    assert {"gladly_conversation_items", "gladly_import_rejects", "import_redactions"} <= {r[1] for r in relations}
    for schema, name in relations:
        columns = conn.execute("select column_name from information_schema.columns where table_schema = ? and "
                               "table_name = ? and data_type = 'VARCHAR'", [schema, name]).fetchall()
        for (column,) in columns:
            values = conn.execute(f'select "{column}" from "{schema}"."{name}" where "{column}" is not null').fetchall()
            assert _found("\n".join(v[0] for v in values), planted) == [], (schema, name, column)


def test_the_summary_counts_what_was_planted(planted_run: tuple[ImportResult, Planted]) -> None:
    result, planted = planted_run
    summary = result.summary
    for platform, counts in summary["platforms"].items():
        assert counts["redacted"] == planted.expected.get(platform, {}), platform
    assert summary["redaction"] == {"kinds": ["card_number", "iban", "us_ssn", "order_token"],
                                    "totals": totals(planted.expected)}
    assert summary["totals"]["unaccounted"] == 0


def test_the_table_and_the_report_say_what_was_removed(planted_run: tuple[ImportResult, Planted]) -> None:
    result, planted = planted_run
    card_total = totals(planted.expected)["card_number"]
    lines = result.stdout.splitlines()
    start = lines.index("removed from titles and bodies before anything was written (redact:):")
    assert lines[start + 1].split() == ["csv", "3", "card", "numbers", "from", "3", "items"]
    assert sum(1 for line in lines[start + 1:] if "from" in line and line.startswith("  ")) == sum(
        len(kinds) for kinds in planted.expected.values())
    report = (result.output_dir / "import_report.html").read_text(encoding="utf-8")
    assert (f"{card_total['values']} card numbers removed from {card_total['items']} items") in report
    assert "card numbers, IBANs, US social security numbers, order_token matches" in report


def test_the_exported_items_show_the_replacement(planted_run: tuple[ImportResult, Planted]) -> None:
    result, _ = planted_run
    items = {row["Conversation Item ID"]: row for row in result.items()}
    assert items["zendesk-990001-1"]["Conversation Item Title"] == "Card [redacted card_number] charged twice"
    assert items["zendesk-990001-1"]["Conversation Item Body"] == (
        "<p>My Mastercard [redacted card_number] was charged twice.</p>")
    assert items["zendesk-990001-2"]["Conversation Item Body"] == "<p>Refund sent to [redacted iban].</p>"
    gmail = [i for i in items.values() if i["Customer Email"] == "gil.planted@example.com"]
    assert [(i["Conversation Item Title"], i["Conversation Item Body"]) for i in gmail] == [(
        "Card [redacted card_number]", "My JCB card [redacted card_number] again; refund to [redacted iban] please.")]
    assert items["gorgias-99990002"]["Conversation Item Title"] == "Charged twice on [redacted card_number]"
    rejects = {(r["source_platform"], r["reject_reason"], r["conversation_item_id"]): r for r in result.rejects()}
    assert rejects["csv", "missing_email", "pl-2"]["raw_excerpt"] == "Pay with [redacted card_number]"
    malformed = [r for r in result.rejects() if r["source_file"].endswith("planted.json")]
    assert [r["reject_reason"] for r in malformed] == ["malformed_json"]
    assert "[redacted card_number]" in malformed[0]["raw_excerpt"]


def test_a_redacted_csv_row_keeps_the_id_it_has_without_redaction(planted_run: tuple[ImportResult, Planted]) -> None:
    """The id of a row without an ID is the models' fingerprint of the row as written, secrets included."""
    result, _ = planted_run
    row = CSV_ROW_WITHOUT_ID
    values = [row["email"], row["occurred_at"], row["title"], row["body"], row["source_name"]]
    expected = "csv-" + duckdb.connect().execute("select md5(concat_ws('|', ?, ?, ?, ?, ?))", values).fetchone()[0]
    exported = [i for i in result.items() if i["Customer Email"] == row["email"]]
    assert [i["Conversation Item ID"] for i in exported] == [expected]
    assert exported[0]["Conversation Item Body"] == "SSN [redacted us_ssn], token [redacted order_token]"


def test_a_delta_after_it_finds_every_item_already_exported(planted_run: tuple[ImportResult, Planted]) -> None:
    result, _ = planted_run
    config = result.output_dir.parent / "samples" / "config.yml"
    delta = run_import(config, "--mode", "delta")
    assert delta.returncode == 0, delta.stderr[-3000:]
    summary: dict[str, Any] = delta.summary
    assert summary["totals"]["exported"] == 0
    assert summary["totals"]["already_exported"] == len(result.items())
    assert summary["redaction"]["totals"] == result.summary["redaction"]["totals"]  # the same landing, counted again
