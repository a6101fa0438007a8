"""Gladly's CSV template, filled in by hand or by another tool, as an input.

The header names the columns (any order, case and surrounding spaces ignored);
``Conversation Item ID`` is optional. A row with the wrong number of fields, or
a file whose header lacks a required column, is rejected row by row with its line.

The file is read in bounded pieces and cut into records by ``csv_records`` (the csv
module's own quoting rules: a quote opens a quoted field only at the start of a
field, ``""`` inside one is a quote); each record is then parsed by the csv module.
A record over ``MAX_RECORD_CHARS`` (an unterminated quote runs to the end of the
file) is never held: it is a ``record_too_large`` reject, and the records after it
are read. Lines end at LF, CRLF or a lone CR.
"""

from __future__ import annotations

import codecs
import csv
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from extract import options as opt
from extract.context import SourceContext
from extract.files import open_binary
from extract.platform import Platform
from extract.raw import PlatformOutput, RawTableWriter, fingerprint, free_text, with_lineage

SETTINGS = opt.Settings((
    opt.Setting("path", opt.PATHS, "Gladly's CSV template, filled in", default=opt.REQUIRED, paths=True),
    opt.Setting("source_name", opt.TEXT, 'the "Conversation Item Source" of rows that leave it blank',
                default="CSV"),
))
FILE_SUFFIXES = (".csv",)

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

FREE_TEXT_COLUMNS = {"title": "title", "body": "body"}
# The columns a row without an ID gets its id from (models/staging/csv/).
CONTENT_ID_COLUMNS = ("customer_email", "occurred_at", "title", "body", "source_name")

TABLES = {
    "conversation_items": with_lineage(
        *(free_text(column, FREE_TEXT_COLUMNS[column]) if column in FREE_TEXT_COLUMNS
          else pa.field(column, pa.string()) for column in COLUMNS.values()),
        pa.field("default_source_name", pa.string()),
        # for the rows redaction changed: the id's fingerprint as it was before, so it stays the same
        fingerprint("fingerprint_before_redaction", *CONTENT_ID_COLUMNS),
    )
}
RECORD_TABLES = ("conversation_items",)

# The longest record held in memory; longer fields than this cannot be read either.
MAX_RECORD_CHARS = 32 * 1024 * 1024
READ_CHUNK_CHARS = 1024 * 1024
csv.field_size_limit(MAX_RECORD_CHARS + 1)

LINE_END = re.compile(r"[\r\n]")
FIELD_END = re.compile(r"[,\r\n]")
START_FIELD, IN_FIELD, IN_QUOTED, QUOTE_IN_QUOTED = range(4)


def _line_breaks(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def csv_records(read: Callable[[int], str], max_chars: int = MAX_RECORD_CHARS,
                chunk_chars: int = READ_CHUNK_CHARS) -> Iterator[tuple[int, str | None, int]]:
    """(line the record starts on, the record's text or None when over ``max_chars``, its size).

    Reads ``chunk_chars`` at a time; a record is held only while it is under ``max_chars``.
    """
    line = 1
    parts: list[str] = []
    size = breaks = 0
    state = START_FIELD
    buf, pos, start = "", 0, 0  # start: where the current record's unsaved text begins in buf
    while True:
        if pos >= len(buf):
            if start < len(buf):
                rest = buf[start:]
                if size <= max_chars:
                    parts.append(rest)
                size += len(rest)
                breaks += _line_breaks(rest)
                if size > max_chars:
                    parts = []
            buf = read(chunk_chars)
            pos = start = 0
            if not buf:
                break
            while buf.endswith("\r"):  # is it CRLF? decide with the next character in hand
                more = read(1)
                if not more:
                    break
                buf += more
        end = -1
        if state == START_FIELD and start == pos and not parts and not size:
            # a record's first character: the common case, a line with no quote, in one step
            found = LINE_END.search(buf, pos)
            if found is not None and buf.find('"', pos, found.start()) < 0:
                end = found.start()
        if end < 0:
            if state == START_FIELD:
                if buf[pos] == '"':
                    state, pos = IN_QUOTED, pos + 1
                else:
                    state = IN_FIELD
                continue
            if state == IN_QUOTED:
                quote = buf.find('"', pos)
                if quote < 0:
                    pos = len(buf)
                else:
                    state, pos = QUOTE_IN_QUOTED, quote + 1
                continue
            if state == QUOTE_IN_QUOTED:  # '""' is a quote; anything else ends the quoting
                if buf[pos] == '"':
                    state, pos = IN_QUOTED, pos + 1
                else:
                    state = IN_FIELD
                continue
            found = FIELD_END.search(buf, pos)
            if found is None:
                pos = len(buf)
                continue
            if buf[found.start()] == ",":
                state, pos = START_FIELD, found.start() + 1
                continue
            end = found.start()
        # a record ends at buf[end], a line break outside quotes
        stop = end + 2 if buf.startswith("\r\n", end) else end + 1
        piece = buf[start:stop]
        size += len(piece)
        record = None
        if size <= max_chars:
            record = "".join(parts) + piece if parts else piece
        yield line, record, size
        line += breaks + _line_breaks(piece)
        parts, size, breaks, state = [], 0, 0, START_FIELD
        pos = start = stop
    if size:
        record = "".join(parts) if size <= max_chars else None
        yield line, record, size


def _decoded(binary: BinaryIO) -> Callable[[int], str]:
    """``read(n)``: the text of at most ``n`` more bytes, "" at the end; UTF-8, a BOM dropped, line
    ends as written. One ``read1`` (one decompression step) per call, unlike TextIOWrapper.read,
    which gathers several: a gzip that breaks off then raises only after every byte before the
    damage was handed over, so every complete record before it is kept."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")

    def read(size: int) -> str:
        while data := binary.read1(size):
            if text := decoder.decode(data):
                return text
        return decoder.decode(b"", final=True)

    return read


def _normalise(header: str) -> str:
    return " ".join(header.replace("\ufeff", "").strip().lower().split())


def extract(ctx: SourceContext, out: PlatformOutput) -> None:
    items = out.table("conversation_items")
    default_source = SETTINGS.resolve(ctx.options)["source_name"]
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
        text = _decoded(binary)
        names: list[str] | None = None
        header_problem = None
        for start_line, record, size in csv_records(text, MAX_RECORD_CHARS):
            position = f"line {start_line}"
            if record is None:
                out.reject(reason="record_too_large", source_file=source_file, position=position, row=start_line,
                           detail=f"a record of {size:,} characters (over {MAX_RECORD_CHARS:,}; an unterminated "
                                  f"quote?): not read; the records after it are")
                continue
            try:
                fields = next(csv.reader((record,)), [])
            except csv.Error as error:
                out.reject(reason="malformed_csv_row", source_file=source_file, position=position,
                           row=start_line, detail=str(error), raw=record)
                continue
            if names is None:
                if not fields:
                    continue
                names = [_normalise(h) for h in fields]
                missing = [h for h in REQUIRED_HEADERS if h not in names]
                header_problem = f"the header lacks {', '.join(missing)}" if missing else None
                continue
            if not any(f.strip() for f in fields):
                continue
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


PLATFORM = Platform("csv", "CSV", "files", SETTINGS, TABLES, RECORD_TABLES, extract, FILE_SUFFIXES)
