"""Writes the Gladly files from the marts: the conversation-item CSVs and the rejects CSV.

RFC 4180 CSV (UTF-8, a header row, CRLF, quotes only where needed), rows in a fixed
order, split into files of at most batch_size rows. Files are written to a
``.partial`` name and renamed when complete.

On DuckDB the item files are written by DuckDB's own CSV writer (``COPY ... TO``), with the
options that give the bytes of Python's ``csv`` writer (``QUOTE_MINIMAL``, CRLF): a field is
quoted only when it holds a comma, a quote, CR or LF (``comment ''``: DuckDB's writer would also
quote a ``#``), a quote doubled, NULL and the empty string both empty. It is several times faster
than a row at a time through Python (docs/performance.md); tests prove both give the same bytes
(tests/python/test_export.py). Spark, and the rejects file (its cells neutralised for spreadsheets),
are written by the ``csv`` module.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gladly_import import faults
from gladly_import.engines import Engine
from gladly_import.spreadsheet import neutralise_row

GLADLY_COLUMNS = [
    ("Conversation Item ID", "conversation_item_id"),
    ("Customer Email", "customer_email"),
    ("Customer Name", "customer_name"),
    ("Customer Phone", "customer_phone"),
    ("Conversation Item Timestamp", "occurred_at_rfc3339"),
    ("Conversation Item Title", "title"),
    ("Conversation Item Body", "body"),
    ("Conversation Item Source", "source_name"),
    ("Tags", "tags"),
]

REJECT_COLUMNS = [
    "conversation_item_id", "source_platform", "reject_reason", "reject_detail",
    "customer_email_raw", "source_file", "source_row", "source_position", "raw_excerpt",
]
REJECTS_ORDER = "source_platform, source_file, source_row, source_position, conversation_item_id, reject_reason"
REJECTS_FILE = "gladly_import_rejects.csv"
BATCH_TABLE = "main.gladly_export_batch"
# DuckDB's CSV writer set to write what csv.writer(lineterminator="\r\n") writes (module docstring)
DUCKDB_CSV_OPTIONS = "header false, delimiter ',', quote '\"', escape '\"', new_line '\\r\\n', comment ''"

FETCH_ROWS = 10_000
COPY_ROWS = 50_000  # rows a COPY writes (DuckDB's export): its sort and buffers stay well inside the memory limit


def _rows(conn: Engine, query: str) -> Iterator[tuple[Any, ...]]:
    result = conn.execute(query)
    while True:
        chunk = result.fetchmany(FETCH_ROWS)
        if not chunk:
            return
        yield from chunk


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class _CsvFile:
    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.handle = open(self.partial, "w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.handle, lineterminator="\r\n")
        self.writer.writerow(header)
        self.rows = 0

    def write(self, row: tuple[Any, ...]) -> None:
        self.writer.writerow(["" if v is None else v for v in row])
        self.rows += 1

    def close(self) -> None:
        self.handle.close()
        os.replace(self.partial, self.path)


def export_items(conn: Engine, directory: Path, only: str = "", rename: Callable[[str], str] = str) -> list[dict[str, Any]]:
    """Write this run's batch (main.gladly_export_batch) to its numbered files in ``directory``.

    The batch table already says which file each row goes to (at most batch_size rows each);
    returns [{file, rows}] in order. ``only`` (a SQL condition on the batch's rows) and ``rename``
    (a file's name from the batch's) write a part of it the same way: the push's CSV of the items
    it did not push.
    """
    directory.mkdir(parents=True, exist_ok=True)
    if getattr(conn, "name", None) == "duckdb":
        return _export_items_duckdb(conn, directory, only, rename)
    columns = ", ".join(column for _, column in GLADLY_COLUMNS)
    header = [name for name, _ in GLADLY_COLUMNS]
    query = (f"select {columns}, file_name from {BATCH_TABLE}{f' where {only}' if only else ''}"
             " order by export_row_number")
    written: list[dict[str, Any]] = []
    current: _CsvFile | None = None
    for number, row in enumerate(_rows(conn, query), start=1):
        if faults.ARMED:
            faults.checkpoint(f"item row {number}")
        file_name = rename(row[-1])
        if current is None or current.path.name != file_name:
            if current is not None:
                current.close()
                written.append({"file": current.path.name, "rows": current.rows})
                faults.checkpoint(f"exported file {len(written)}")
            faults.checkpoint(f"item file {len(written) + 1}")
            current = _CsvFile(directory / file_name, header)
        current.write(row[:-1])
    if current is not None:
        current.close()
        written.append({"file": current.path.name, "rows": current.rows})
    return written


def _export_items_duckdb(conn: Engine, directory: Path, only: str, rename: Callable[[str], str]) -> list[dict[str, Any]]:
    """export_items by DuckDB's CSV writer: each file in slices of COPY_ROWS rows (export_row_number ranges),
    appended in order, so memory stays flat whatever a file's size (one COPY of a 500,000-row file sorted its
    wide rows in memory: out of memory at 1M items)."""
    condition = f" and ({only})" if only else ""
    files = conn.execute(f"select file_name, count(*), min(export_row_number), max(export_row_number)"
                         f" from {BATCH_TABLE} where true{condition} group by file_name"
                         " order by min(export_row_number)").fetchall()
    # NULL and '' both written empty (csv.writer writes None as ''; DuckDB would quote an empty string)
    columns = ", ".join(f"nullif(cast({column} as varchar), '') as \"{name}\"" for name, column in GLADLY_COLUMNS)
    written: list[dict[str, Any]] = []
    for number, (file_name, rows, first, last) in enumerate(files, start=1):
        if number > 1:
            faults.checkpoint(f"exported file {number - 1}")
        faults.checkpoint(f"item file {number}")
        path = directory / rename(file_name)
        partial = path.with_name(path.name + ".partial")
        piece = path.with_name(path.name + ".piece")
        with open(partial, "w", encoding="utf-8", newline="") as handle:
            csv.writer(handle, lineterminator="\r\n").writerow([name for name, _ in GLADLY_COLUMNS])
        with open(partial, "ab") as out:
            for start in range(first, last + 1, COPY_ROWS):
                conn.execute(f"copy (select {columns} from {BATCH_TABLE} where file_name = {_quote(file_name)}"
                             f" and export_row_number between {start} and {start + COPY_ROWS - 1}{condition}"
                             f" order by export_row_number) to {_quote(piece.as_posix())} ({DUCKDB_CSV_OPTIONS})")
                with open(piece, "rb") as part:
                    shutil.copyfileobj(part, out, 1 << 20)
        piece.unlink(missing_ok=True)
        os.replace(partial, path)
        written.append({"file": path.name, "rows": rows})
    return written


def export_rejects(conn: Engine, output_dir: Path) -> dict[str, Any]:
    """Write gladly_import_rejects.csv: a header, then one row per rejected record (maybe none).

    A file for people: cells a spreadsheet would run as a formula are neutralised (spreadsheet.py).
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    query = f"select {', '.join(REJECT_COLUMNS)} from main.gladly_import_rejects order by {REJECTS_ORDER}"
    out = _CsvFile(output_dir / REJECTS_FILE, REJECT_COLUMNS)
    for row in _rows(conn, query):
        out.write(neutralise_row(row))
    out.close()
    return {"file": out.path.name, "rows": out.rows}
