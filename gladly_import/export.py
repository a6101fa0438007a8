"""Writes the Gladly files from the marts: the conversation-item CSVs and the rejects CSV.

RFC 4180 CSV (UTF-8, a header row, CRLF, quotes only where needed), rows in a fixed
order, split into files of at most batch_size rows. Files are written to a
``.partial`` name and renamed when complete.
"""

from __future__ import annotations

import csv
import os
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

FETCH_ROWS = 10_000


def _rows(conn: Engine, query: str) -> Iterator[tuple[Any, ...]]:
    result = conn.execute(query)
    while True:
        chunk = result.fetchmany(FETCH_ROWS)
        if not chunk:
            return
        yield from chunk


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
    columns = ", ".join(column for _, column in GLADLY_COLUMNS)
    header = [name for name, _ in GLADLY_COLUMNS]
    query = (f"select {columns}, file_name from main.gladly_export_batch{f' where {only}' if only else ''}"
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
            current = _CsvFile(directory / file_name, header)
        current.write(row[:-1])
    if current is not None:
        current.close()
        written.append({"file": current.path.name, "rows": current.rows})
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
