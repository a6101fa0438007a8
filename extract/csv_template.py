"""Gladly's CSV template, filled in by hand or by another tool, as an input.

The header names the columns (any order, case and surrounding spaces ignored);
``Conversation Item ID`` is optional. A row with the wrong number of fields, or
a file whose header lacks a required column, is rejected row by row with its line.

Each file's encoding and delimiter are detected (extract/readers/csv.py) unless the config forces
them (``encoding``, ``delimiter``), and said in the log, the summary and the report. A record with
bytes the encoding does not decode is set aside (``undecodable_csv_row``), never landed with
replacement characters. The timestamp is read here (extract/timestamps.py: ISO 8601, RFC 2822,
epoch seconds or milliseconds, or ``timestamp_format``) into ``occurred_at_utc``, one canonical
text both engines parse alike; ``occurred_at`` keeps the text as written, for the content id and
for the reject that quotes a value no form reads.

The file is read in bounded pieces and cut into records by ``csv_records`` (the csv
module's own quoting rules: a quote opens a quoted field only at the start of a
field, ``""`` inside one is a quote); each record is then parsed by the csv module.
A record over ``MAX_RECORD_CHARS`` (an unterminated quote runs to the end of the
file) is never held: it is a ``record_too_large`` reject, and the records after it
are read. Lines end at LF, CRLF or a lone CR.

A file may be given as downloaded: a zip or tar (.tgz) of CSV files is read member by member where
it lies (extract/readers/archives.py), each member named ``archive.zip!/name.csv`` in lineage; a
member that is not a CSV, and an Excel workbook saved under a .csv name (a zip of XML parts), are
each a reject row saying what they are.
"""

from __future__ import annotations

import csv
import logging
import re
import zlib
from collections.abc import Callable, Iterator

import pyarrow as pa

from extract import options as opt
from extract.context import SourceContext, tell
from extract.platform import Platform
from extract.raw import PlatformOutput, RawTableWriter, fingerprint, free_text, with_lineage
from extract.readers import archives
from extract.readers.csv import (
    DELIMITER_NAMES,
    DELIMITERS,
    encoding_words,
    known_encoding,
    open_csv_text,
    shown_bytes,
    undecodable,
)
from extract.timestamps import parse_timestamp

logger = logging.getLogger(__name__)
# The config's spelling of a delimiter: the character itself, or its name.
DELIMITER_KEYS = {**{d: d for d in DELIMITERS}, **{name: d for d, name in DELIMITER_NAMES.items()}}


def _encoding_problem(value: str) -> str | None:
    return None if known_encoding(value) else (
        f"{opt.shown(value)} is not an encoding Python knows (e.g. utf-8, windows-1252, latin-1, utf-16)")


def _format_problem(value: str) -> str | None:
    return None if "%" in value else f"{opt.shown(value)} has no strftime field (e.g. %m/%d/%Y %H:%M)"

SETTINGS = opt.Settings((
    opt.Setting("path", opt.PATHS, "Gladly's CSV template, filled in (plain or .gz; or a zip or .tgz of them, as downloaded)",
                default=opt.REQUIRED, paths=True),
    opt.Setting("source_name", opt.TEXT, 'the "Conversation Item Source" of rows that leave it blank',
                default="CSV"),
    opt.Setting("encoding", opt.Option("a text", opt.TEXT.accepts, check_value=_encoding_problem),
                "the files' encoding (utf-8, windows-1252, latin-1, utf-16, ...)",
                shows="detected per file: UTF-8 (BOM or not), UTF-16 with a BOM, else Windows-1252"),
    opt.Setting("delimiter", opt.Option('one of ",", ";", "tab" (or comma, semicolon)',
                                        lambda v: isinstance(v, str) and v in DELIMITER_KEYS), "the files' field separator",
                shows="detected per file from its header: `,` `;` or tab"),
    opt.Setting("timestamp_format", opt.Option("a text", opt.TEXT.accepts, check_value=_format_problem),
                "the form of day- or month-first timestamps, strftime style (`%m/%d/%Y %H:%M`, `%d.%m.%Y`); "
                "ISO 8601, RFC 2822 and epoch times are read without it"),
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
        # occurred_at read by extract/timestamps.py: canonical UTC ISO text, NULL when no form reads it
        pa.field("occurred_at_utc", pa.string()),
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
FIELD_ENDS = {d: re.compile(f"[{re.escape(d)}\\r\\n]") for d in DELIMITERS}
START_FIELD, IN_FIELD, IN_QUOTED, QUOTE_IN_QUOTED = range(4)


def _line_breaks(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def csv_records(read: Callable[[int], str], max_chars: int = MAX_RECORD_CHARS,
                chunk_chars: int = READ_CHUNK_CHARS, delimiter: str = ",") -> Iterator[tuple[int, str | None, int]]:
    """(line the record starts on, the record's text or None when over ``max_chars``, its size).

    Reads ``chunk_chars`` at a time; a record is held only while it is under ``max_chars``.
    """
    field_end = FIELD_ENDS[delimiter]
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
            found = field_end.search(buf, pos)
            if found is None:
                pos = len(buf)
                continue
            if buf[found.start()] == delimiter:
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


def _normalise(header: str) -> str:
    return " ".join(header.replace("\ufeff", "").strip().lower().split())


WORKBOOK = ("an Excel workbook (.xlsx) saved under a .csv name, not a CSV: open it in Excel and save it "
            "as \"CSV UTF-8 (Comma delimited)\"")


def extract(ctx: SourceContext, out: PlatformOutput) -> None:
    items = out.table("conversation_items")
    settings = SETTINGS.resolve(ctx.options)
    for path in ctx.files:
        if archives.is_office_document(path):
            source_file = ctx.name_of(path)
            out.reject(reason="unexpected_file", source_file=source_file, position="file", detail=WORKBOOK)
            out.likely_causes[source_file] = WORKBOOK
            continue
        for member in archives.export_files(path, ctx.name_of(path), out, FILE_SUFFIXES, "a CSV file"):
            out.files_read += 1
            try:
                _extract_file(member, settings, ctx, out, items)
            except (OSError, EOFError, zlib.error, UnicodeError, *archives.READ_ERRORS) as error:
                out.reject(reason="unreadable_file", source_file=member.location, position="file", row=None,
                           detail=f"{type(error).__name__}: {error}")


def _other_delimiter(header: list[str], record: str, used: str) -> str | None:
    """The delimiter that would give a header with the required columns, when ``used`` does not."""
    for delimiter in DELIMITERS:
        if delimiter != used:
            names = [_normalise(h) for h in next(csv.reader((record,), delimiter=delimiter), [])]
            if all(h in names for h in REQUIRED_HEADERS):
                return delimiter
    return None


def _extract_file(member: archives.Member, settings: dict, ctx: SourceContext,
                  out: PlatformOutput, items: RawTableWriter) -> None:
    """One CSV file, or one CSV member of an archive (gunzipped when gzip)."""
    source_file = member.location
    forced_encoding = known_encoding(settings["encoding"]) if settings["encoding"] else None
    forced_delimiter = DELIMITER_KEYS[settings["delimiter"]] if settings["delimiter"] else None
    timestamp_format = settings["timestamp_format"]
    with member.open() as binary:
        text = open_csv_text(binary, forced_encoding, forced_delimiter)
        delimiter = text.delimiter
        out.file_facts[source_file] = {
            "encoding": encoding_words(text.encoding), "encoding_detected": text.encoding_detected,
            "delimiter": DELIMITER_NAMES.get(delimiter, delimiter), "delimiter_detected": text.delimiter_detected,
        }
        tell(logger, logging.INFO, f"extract csv: {source_file}: {text.describe()}")
        names: list[str] | None = None
        header_problem = None
        undecodable_rows = 0
        for start_line, record, size in csv_records(text.read, MAX_RECORD_CHARS, delimiter=delimiter):
            position = f"line {start_line}"
            if record is None:
                out.reject(reason="record_too_large", source_file=source_file, position=position, row=start_line,
                           detail=f"a record of {size:,} characters (over {MAX_RECORD_CHARS:,}; an unterminated "
                                  f"quote?): not read; the records after it are")
                continue
            if text.marked[0] and (bad := undecodable(record)):
                undecodable_rows += 1
                out.reject(reason="undecodable_csv_row", source_file=source_file, position=position,
                           row=start_line, raw=shown_bytes(record).strip(),
                           detail=f"{bad:,} {'byte' if bad == 1 else 'bytes'} that are not "
                                  f"{encoding_words(text.encoding)} (shown \\xNN in raw_excerpt): set "
                                  f"sources.csv.encoding to the file's encoding (e.g. windows-1252)")
                if names is None:  # the header itself: the rows after it cannot be matched to columns
                    names, header_problem = [], "the header has bytes that did not decode"
                continue
            try:
                fields = next(csv.reader((record,), delimiter=delimiter), [])
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
                if missing and (other := _other_delimiter(names, record, delimiter)):
                    hint = (f"the header splits on {other!r}, not {delimiter!r}"
                            + ("" if text.delimiter_detected else ": remove sources.csv.delimiter or set it to "
                               f"{DELIMITER_NAMES[other]}"))
                    header_problem += f" ({hint})"
                    out.likely_causes[source_file] = hint
                continue
            if not any(f.strip() for f in fields):
                continue
            raw = delimiter.join(fields)
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
            items.write({**row, "occurred_at_utc": parse_timestamp(row["occurred_at"], timestamp_format),
                         "default_source_name": settings["source_name"], "_source_file": source_file,
                         "_source_row": start_line, "_source_position": position})
            ctx.report(f"{source_file}: {items.rows:,} rows")
        if undecodable_rows:
            out.file_facts[source_file]["undecodable_rows"] = undecodable_rows
            out.likely_causes.setdefault(
                source_file, f"{undecodable_rows:,} rows are not {encoding_words(text.encoding)}: "
                             "set sources.csv.encoding to the file's encoding")
            tell(logger, logging.WARNING, f"extract csv: {source_file}: {undecodable_rows:,} rows with bytes that "
                                          f"are not {encoding_words(text.encoding)}, set aside (undecodable_csv_row)")


PLATFORM = Platform("csv", "CSV", "files", SETTINGS, TABLES, RECORD_TABLES, extract, FILE_SUFFIXES,
                    reads_archives=True)
