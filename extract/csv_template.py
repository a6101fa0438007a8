"""Gladly's CSV template, filled in by hand or by another tool, as an input.

The header names the columns (any order, case and surrounding spaces ignored);
``Conversation Item ID`` is optional. A row with the wrong number of fields, or
a file whose header lacks a required column, is rejected row by row with its line.
"""

from __future__ import annotations

import csv
import io
import sys
import zlib
from pathlib import Path

import pyarrow as pa

from extract import options as opt
from extract.context import SourceContext
from extract.files import open_binary
from extract.raw import PlatformOutput, RawTableWriter, with_lineage

NAME = "csv"
CONFIG_KEYS = {"path": True, "source_name": False}
CONFIG_TYPES = {"path": opt.PATHS, "source_name": opt.TEXT}
PATH_KEYS = ("path",)
FILE_SUFFIXES = (".csv",)
DEFAULT_SOURCE_NAME = "CSV"

# Template header -> raw column.
COLUMNS = {
    "conversation item id": "item_id",
    "customer email": "customer_email",
    "customer name": "customer_name",
    "customer phone": "customer_phone",
    "conversation item timestamp": "occurred_at",
    "conversation item title": "title",
    "conversation item body": "body",
    "conversation item source": "source_name",
    "tags": "tags",
}
REQUIRED_HEADERS = ("customer email", "conversation item timestamp", "conversation item body")

TABLES = {
    "conversation_items": with_lineage(
        *(pa.field(column, pa.string()) for column in COLUMNS.values()),
        pa.field("default_source_name", pa.string()),
    )
}
RECORD_TABLES = ("conversation_items",)

csv.field_size_limit(sys.maxsize)


def _normalise(header: str) -> str:
    return " ".join(header.replace("\ufeff", "").strip().lower().split())


def extract(ctx: SourceContext, out: PlatformOutput) -> None:
    items = out.table("conversation_items")
    default_source = ctx.options.get("source_name") or DEFAULT_SOURCE_NAME
    for path in ctx.files:
        source_file = ctx.name_of(path)
        out.files_read += 1
        try:
            _extract_file(path, source_file, default_source, ctx, out, items)
        except (OSError, EOFError, zlib.error, UnicodeError) as error:
            out.reject(reason="unreadable_file", source_file=source_file, position="file", row=None,
                       detail=f"{type(error).__name__}: {error}")


def _extract_file(path: Path, source_file: str, default_source: str, ctx: SourceContext,
                  out: PlatformOutput, items: RawTableWriter) -> None:
    with open_binary(path) as binary:
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace", newline="")
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            out.reject(reason="malformed_csv_row", source_file=source_file, position="line 1", row=1,
                       detail=f"unreadable header: {error}")
            return
        names = [_normalise(h) for h in header]
        missing = [h for h in REQUIRED_HEADERS if h not in names]
        header_problem = f"the header lacks {', '.join(missing)}" if missing else None
        last_line = reader.line_num
        while True:
            start_line = last_line + 1
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as error:
                last_line = reader.line_num
                out.reject(reason="malformed_csv_row", source_file=source_file,
                           position=f"line {start_line}", row=start_line, detail=str(error))
                continue
            last_line = reader.line_num
            if not any(f.strip() for f in fields):
                continue
            position = f"line {start_line}"
            raw = ",".join(fields)
            if header_problem:
                out.reject(reason="csv_header_invalid", source_file=source_file, position=position,
                           row=start_line, detail=header_problem, raw=raw)
                continue
            if len(fields) != len(names):
                out.reject(reason="malformed_csv_row", source_file=source_file, position=position,
                           row=start_line, raw=raw,
                           detail=f"{len(fields)} fields where the header has {len(names)}")
                continue
            row = {column: None for column in COLUMNS.values()}
            for name, value in zip(names, fields, strict=True):
                column = COLUMNS.get(name)
                if column is not None:
                    row[column] = value
            items.write({**row, "default_source_name": default_source, "_source_file": source_file,
                         "_source_row": start_line, "_source_position": position})
            ctx.report(f"{source_file}: {items.rows:,} rows")
