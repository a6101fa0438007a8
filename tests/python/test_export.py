"""The Gladly CSV's bytes: DuckDB's own CSV writer (the DuckDB engine's export) writes exactly what Python's
csv module writes (Spark's export, and the files before), on values that need every quoting rule."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import duckdb
import pytest

from gladly_import import export
from gladly_import.export import GLADLY_COLUMNS, export_items

HOSTILE = [
    "plain", "", None, "a,b", 'say "hi"', '"', "line\nbreak", "cr\ronly", "crlf\r\nend", "#hashtag", "# 12 – title",
    " leading", "trailing ", "   ", "\t", "tab\there", "NULL", "null", "semi;colon", "pipe|x", "back\\slash",
    "'single'", "=1+2", "café 東京 🎉", "\u00a0nbsp", "x" * 30_000, ",", "\n", "a\"\"b", "ends with quote\"",
]


class Engine:
    """The export's view of an engine: a name and execute(); the same DuckDB file either way."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, name: str) -> None:
        self.conn, self.name = conn, name

    def execute(self, sql: str, params: Any = ()) -> duckdb.DuckDBPyConnection:
        return self.conn.execute(sql, list(params)) if params else self.conn.execute(sql)


@pytest.fixture
def batch(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(tmp_path / "export.duckdb"))
    columns = ", ".join(f"{column} varchar" for _, column in GLADLY_COLUMNS)
    conn.execute(f"create table main.gladly_export_batch ({columns}, file_name varchar, export_row_number bigint)")
    rows = []
    for number in range(len(HOSTILE) * len(GLADLY_COLUMNS)):
        values = [HOSTILE[(number + i * 7) % len(HOSTILE)] for i in range(len(GLADLY_COLUMNS))]
        values[0] = f"item-{number}"
        rows.append([*values, f"gladly_conversation_items_{1 + number // 200:04d}.csv", number])
    rows.reverse()  # stored out of order: the files follow export_row_number
    conn.executemany(f"insert into main.gladly_export_batch values ({', '.join('?' * (len(GLADLY_COLUMNS) + 2))})",
                     rows)
    return conn


def test_duckdbs_csv_writer_gives_the_bytes_of_pythons_csv_module(batch: duckdb.DuckDBPyConnection,
                                                                  tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(export, "COPY_ROWS", 7)  # each file written in slices, as a 500,000-row file is
    by_duckdb = export_items(Engine(batch, "duckdb"), tmp_path / "duckdb")
    by_python = export_items(Engine(batch, "spark"), tmp_path / "python")
    assert by_duckdb == by_python == [{"file": "gladly_conversation_items_0001.csv", "rows": 200},
                                      {"file": "gladly_conversation_items_0002.csv", "rows": 70}]
    for written in by_python:
        duckdb_bytes = (tmp_path / "duckdb" / written["file"]).read_bytes()
        assert duckdb_bytes == (tmp_path / "python" / written["file"]).read_bytes(), written["file"]
    with open(tmp_path / "duckdb" / "gladly_conversation_items_0001.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == [name for name, _ in GLADLY_COLUMNS]
    assert [r[0] for r in rows[1:4]] == ["item-0", "item-1", "item-2"]
    assert {value for r in rows[1:] for value in r} >= {"a,b", 'say "hi"', "crlf\r\nend", "#hashtag", "   "}
    assert sorted(p.name for p in (tmp_path / "duckdb").iterdir()) == [w["file"] for w in by_python]  # no piece left


def test_a_part_of_the_batch_renamed_is_written_the_same_way(batch: duckdb.DuckDBPyConnection, tmp_path: Path,
                                                             monkeypatch) -> None:
    monkeypatch.setattr(export, "COPY_ROWS", 10)
    only, rename = "export_row_number % 3 = 0", lambda name: name.replace("items", "items_not_pushed")
    by_duckdb = export_items(Engine(batch, "duckdb"), tmp_path / "duckdb", only=only, rename=rename)
    by_python = export_items(Engine(batch, "spark"), tmp_path / "python", only=only, rename=rename)
    assert by_duckdb == by_python and [w["rows"] for w in by_duckdb] == [67, 23]
    for written in by_python:
        assert (tmp_path / "duckdb" / written["file"]).read_bytes() == (tmp_path / "python" / written["file"]).read_bytes()

