"""The one Parquet writer shared by every extractor, and the per-platform output it feeds.

Rows are buffered a batch at a time, written as row groups as they fill, to a
``.partial`` file that is renamed into place only when the table is complete:
a crash never leaves a half file that looks whole.

Every landed string goes through this writer, so the rules for hostile values live here, once:

- a batch is flushed when it holds ``batch_rows`` rows *or* about ``batch_bytes`` of text,
  whichever comes first, so memory stays flat whatever one row weighs;
- a platform's fields are capped at ``FIELD_CAP_CHARS`` characters (a prefix is kept: ten times
  Gladly's 25,000-character body limit, so the 100 / 25,000 cuts downstream and their
  ``is_*_truncated`` flags stay exact); each cut is a row of ``extract_truncations`` with the
  value's real length and where it came from;
- NUL and the other C0 control characters except tab, CR and LF are removed, and lone surrogates
  (``\\ud800`` escapes in JSON) become U+FFFD, so they never reach the Gladly CSV;
- the columns a platform declares as free text (``free_text``: what becomes a title or a body) are
  redacted (``extract.redact``: card numbers and the other kinds the config turns on) before a row
  group is written, and so are the rejects' excerpts: no copy of a value reaches the work dir. What
  was removed is counted per table and kind in ``extract_redactions``, never the value itself.
"""

from __future__ import annotations

import os
import re
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable
from itertools import accumulate, chain
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from extract.redact import NO_REDACTION, Redactor
from extract.values import Clipped


def strings(*names: str) -> list[pa.Field]:
    """Text columns: most raw columns are the source's values as text, typed by the staging models."""
    return [pa.field(name, pa.string()) for name in names]


LINEAGE_FIELDS = [
    pa.field("_source_file", pa.string(), nullable=False),
    pa.field("_source_row", pa.int64()),
    pa.field("_source_position", pa.string()),
]

REJECTS_SCHEMA = pa.schema(
    [
        pa.field("source_platform", pa.string(), nullable=False),
        pa.field("reject_reason", pa.string(), nullable=False),
        *strings("reject_detail", "record_id", "customer_email_raw", "raw_excerpt"),
        *LINEAGE_FIELDS,
    ]
)

MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("source_platform", pa.string(), nullable=False),
        pa.field("is_configured", pa.bool_(), nullable=False),
        pa.field("files_read", pa.int64(), nullable=False),
        pa.field("records_seen", pa.int64(), nullable=False),
        pa.field("records_extracted", pa.int64(), nullable=False),
        pa.field("records_rejected", pa.int64(), nullable=False),
    ]
)

TRUNCATIONS_SCHEMA = pa.schema(
    [
        pa.field("source_platform", pa.string(), nullable=False),
        pa.field("table_name", pa.string(), nullable=False),
        pa.field("column_name", pa.string(), nullable=False),
        # The whole value's length: in characters when the writer cut it; in bytes of the source
        # file ("source bytes", escapes included) when a reader had to cut it while reading.
        pa.field("original_length", pa.int64(), nullable=False),
        pa.field("length_unit", pa.string(), nullable=False),
        pa.field("kept_chars", pa.int64(), nullable=False),
        *LINEAGE_FIELDS,
    ]
)

REDACTIONS_SCHEMA = pa.schema(
    [
        pa.field("source_platform", pa.string(), nullable=False),
        pa.field("table_name", pa.string(), nullable=False),
        # A row of a record table (or a reject) is one record seen: its count is of items.
        pa.field("is_record_table", pa.bool_(), nullable=False),
        pa.field("redaction_kind", pa.string(), nullable=False),
        pa.field("rows_redacted", pa.int64(), nullable=False),
        pa.field("values_redacted", pa.int64(), nullable=False),
    ]
)
REJECTS_TABLE = "extract_rejects"

# Field metadata: a column that becomes (part of) an item's title or body (its value says which),
# redacted as it is landed; a column holding the fingerprint of other columns as they were before
# redaction (see fingerprint).
FREE_TEXT = b"gladly_import.free_text"
FREE_TEXT_PARTS = ("title", "body")
FINGERPRINT_OF = b"gladly_import.fingerprint_of"

EXCERPT_CHARS = 500
# A value cut at the field cap is cut before a value to redact that the cut would split: looked
# for this far on either side of the cut.
CUT_WINDOW_CHARS = 256
# The longest text a raw field keeps (a prefix); ten times Gladly's body limit.
FIELD_CAP_CHARS = 262_144
# Text buffered by a writer before it writes a row group (counted in characters).
BATCH_BYTES = 8 * 2**20
# Removed from every landed string: C0 controls except tab (09), LF (0a), CR (0d).
CONTROL_CHARS = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"
LONE_SURROGATE = re.compile("[\ud800-\udfff]")

OnTruncate = Callable[[str, str, int, str, int, dict[str, Any]], None]


def with_lineage(*fields: pa.Field) -> pa.Schema:
    """A raw table schema: the platform's fields, then the lineage columns every row carries."""
    return pa.schema([*fields, *LINEAGE_FIELDS])


def free_text(name: str, part: str = "body") -> pa.Field:
    """A text column that becomes an item's title or (part of) its body: redacted as it is landed.

    ``part`` says which: the columns of one part are renderings of one text (a body as text and as
    HTML), so a value found in several of them counts once for the row, and the row's count is the
    sum of its parts' (a card in the subject and one in the body are two)."""
    assert part in FREE_TEXT_PARTS, part
    return pa.field(name, pa.string(), metadata={FREE_TEXT: part.encode()})


def fingerprint(name: str, *columns: str) -> pa.Field:
    """A column the writer fills, for the rows redaction changed, with the md5 of ``columns`` as they
    were landed before redaction, joined the way the ``stable_hash`` macro joins them ('|', NULL as
    ``<null>``): an id made from a row's text stays the id it was before redaction."""
    return pa.field(name, pa.string(), metadata={FINGERPRINT_OF: ",".join(columns).encode()})


def free_text_part(field: pa.Field) -> str | None:
    """The part (title, body) of an item a column becomes, when it is declared free text."""
    part = (field.metadata or {}).get(FREE_TEXT)
    return part.decode() if part else None


def _stable_hash(values: list[Any]) -> str:
    import hashlib

    joined = "|".join("<null>" if v is None else str(v) for v in values)
    return hashlib.md5(joined.encode("utf-8", "surrogatepass")).hexdigest()


def _is_text(data_type: pa.DataType) -> bool:
    return pa.types.is_string(data_type) or pa.types.is_large_string(data_type)


def _is_text_list(data_type: pa.DataType) -> bool:
    return (pa.types.is_list(data_type) or pa.types.is_large_list(data_type)) and _is_text(data_type.value_type)


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    return value


def _text_array(values: list[Any], data_type: pa.DataType) -> pa.Array:
    """A string (or list of strings) column with the control characters removed."""
    try:
        array = pa.array(values, type=data_type)
    except UnicodeEncodeError:  # a lone surrogate, e.g. from a JSON "\\ud83d" escape
        array = pa.array([_without_surrogates(v) for v in values], type=data_type)
    text = array if _is_text(data_type) else array.values
    if not pc.any(pc.match_substring_regex(text, CONTROL_CHARS)).as_py():  # the common case: nothing to do
        return array
    if _is_text(data_type):
        return pc.replace_substring_regex(array, CONTROL_CHARS, "")
    cleaned = pc.replace_substring_regex(array.values, CONTROL_CHARS, "")
    return type(array).from_arrays(array.offsets, cleaned, type=data_type, mask=array.is_null())


class RawTableWriter:
    """Streams dict rows into one Parquet file with an explicit schema, atomically.

    With ``field_cap`` set (``PlatformOutput`` sets it), longer strings are cut to that many
    characters and each cut is reported to ``on_truncate(table, column, original_length, unit,
    kept_chars, row)``. With a ``redactor``, the schema's ``free_text`` columns are redacted as each
    row group is written; ``redactions`` counts, per kind, the rows and the values redacted.
    """

    def __init__(self, path: Path, schema: pa.Schema, batch_rows: int = 20_000,
                 batch_bytes: int = BATCH_BYTES, field_cap: int | None = None,
                 on_truncate: OnTruncate | None = None, redactor: Redactor = NO_REDACTION) -> None:
        self.path = path
        self.schema = schema
        self.batch_rows = batch_rows
        self.batch_bytes = batch_bytes
        self.field_cap = field_cap
        self.on_truncate = on_truncate
        self.rows_written = 0
        self._partial = path.with_name(path.name + ".partial")
        self._columns: dict[str, list[Any]] = {name: [] for name in schema.names}
        self._text_columns = {f.name for f in schema if _is_text(f.type) or _is_text_list(f.type)}
        self._buffered = 0
        self._buffered_bytes = 0
        self._cap = field_cap if field_cap is not None else 2**62
        self._plan: list[tuple[str, list[Any], bool]] = []
        self.redactor = redactor
        self._free_text = {f.name: free_text_part(f) for f in schema if free_text_part(f)} if redactor else {}
        self._fingerprints = [(f.name, f.metadata[FINGERPRINT_OF].decode().split(",")) for f in schema
                              if self._free_text and f.metadata and FINGERPRINT_OF in f.metadata]
        self.redactions: dict[str, list[int]] = {}  # kind -> [rows, values]
        self.redaction_seconds = 0.0  # spent redacting (the run's metrics report it per extract stage)
        self._reset_columns()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(self._partial, schema, compression="zstd")

    @property
    def rows(self) -> int:
        """Rows written so far, buffered ones included."""
        return self.rows_written + self._buffered

    def write(self, row: dict[str, Any]) -> None:
        unknown = row.keys() - self._columns.keys()
        if unknown:
            raise KeyError(f"{self.path.name}: unknown columns {sorted(unknown)}")
        size = 0
        cap = self._cap
        get = row.get
        for name, values, is_text in self._plan:
            value = get(name)
            if is_text and value is not None:
                if value.__class__ is str:
                    length = len(value)
                    if length > cap:
                        value = self._cut(name, value, row)
                        length = cap
                    size += length
                elif value.__class__ is list:
                    value, weight = self._cut_list(name, value, row)
                    size += weight
                elif isinstance(value, Clipped):
                    value = self._cut(name, value, row)
                    size += len(value)
            else:
                size += 8
            values.append(value)
        self._buffered += 1
        self._buffered_bytes += size
        if self._buffered >= self.batch_rows or self._buffered_bytes >= self.batch_bytes:
            self._flush()

    def write_rows(self, rows: list[dict[str, Any]]) -> None:
        """Rows at once, a column at a time: the same file as ``write`` row by row (the same row groups,
        by rows and by bytes) for half the Python work (the Gmail runner writes ~37,000 emails a GB).
        A chunk holding a value to cut or to report (a text over the cap, a reader's ``Clipped``, a
        value of another type in a text column) goes row by row."""
        position = 0
        while position < len(rows):
            chunk = rows[position: position + max(1, self.batch_rows - self._buffered)]
            gathered = self._columns_of(chunk)
            if gathered is None:
                for row in chunk:
                    self.write(row)
                position += len(chunk)
                continue
            columns, sizes = gathered
            cumulative = list(accumulate(sizes))
            taken = min(len(chunk), bisect_left(cumulative, self.batch_bytes - self._buffered_bytes) + 1)
            for values, column in columns:
                values.extend(column if taken == len(chunk) else column[:taken])
            self._buffered += taken
            self._buffered_bytes += cumulative[taken - 1]
            position += taken
            if self._buffered >= self.batch_rows or self._buffered_bytes >= self.batch_bytes:
                self._flush()

    def _columns_of(self, rows: list[dict[str, Any]]) -> tuple[list[tuple[list[Any], list[Any]]], list[int]] | None:
        """Each column's values for ``rows`` and each row's weight as ``write`` counts it; None when a
        value needs ``write``'s care."""
        unknown = set().union(*rows) - self._columns.keys()
        if unknown:
            raise KeyError(f"{self.path.name}: unknown columns {sorted(unknown)}")
        cap = self._cap
        columns = []
        weights = []
        for name, values, is_text in self._plan:
            column = [row.get(name) for row in rows]
            columns.append((values, column))
            if not is_text:
                continue
            present = [value for value in column if value is not None]
            kinds = set(map(type, present))
            if kinds == {list}:
                texts = list(chain.from_iterable(present))
                if not set(map(type, texts)) <= {str} or (texts and max(map(len, texts)) > cap):
                    return None
                weights.append([8 if value is None else 8 * len(value) + sum(map(len, value)) for value in column])
            elif kinds <= {str}:
                if present and max(map(len, present)) > cap:
                    return None
                weights.append([8 if value is None else len(value) for value in column])
            else:
                return None
        fixed = 8 * (len(self._plan) - len(weights))  # every other column counts 8 a row
        return columns, [fixed + weight for weight in map(sum, zip(*weights, strict=True))] if weights else [fixed] * len(rows)

    def _cut(self, column: str, value: str, row: dict[str, Any]) -> str:
        """The value cut to the cap, the cut reported; a reader's ``Clipped`` prefix is reported too."""
        if self.field_cap is None:
            return str(value)
        kept = str(value[: self.field_cap])
        if column in self._free_text and len(value) > self.field_cap:
            kept = self._cut_before_secret(value, kept)
        if isinstance(value, Clipped):
            original, unit = value.source_bytes, "source bytes"
        else:
            original, unit = len(value), "characters"
        if self.on_truncate is not None:
            self.on_truncate(self.path.stem, column, original, unit, len(kept), row)
        return kept

    def _cut_before_secret(self, value: str, kept: str) -> str:
        """The kept prefix, shortened to before a value to redact that the cut would split in two."""
        cap = len(kept)
        start = max(0, cap - CUT_WINDOW_CHARS)
        for begin, end, _ in self.redactor.spans(str(value[start: cap + CUT_WINDOW_CHARS])):
            if start + begin < cap < start + end:
                return kept[: start + begin]
        return kept

    def _cut_list(self, column: str, values: list[Any], row: dict[str, Any]) -> tuple[list[Any], int]:
        weight = 8 * len(values)
        cap = self._cap
        kept = []
        for value in values:
            if isinstance(value, str):
                if type(value) is Clipped or len(value) > cap:
                    value = self._cut(column, value, row)
                weight += len(value)
            kept.append(value)
        return kept, weight

    def _flush(self) -> None:
        if not self._buffered:
            return
        arrays = [
            _text_array(self._columns[f.name], f.type) if f.name in self._text_columns
            else pa.array(self._columns[f.name], type=f.type)
            for f in self.schema
        ]
        if self._free_text:
            started = time.perf_counter()
            arrays = self._redacted(arrays)
            self.redaction_seconds += time.perf_counter() - started
        self._writer.write_batch(pa.record_batch(arrays, schema=self.schema))
        self.rows_written += self._buffered
        self._reset_columns()
        self._buffered = 0
        self._buffered_bytes = 0

    def _redacted(self, arrays: list[pa.Array]) -> list[pa.Array]:
        """The batch with its free-text columns redacted; counted per kind (rows, values); the
        fingerprint columns filled for the rows that changed, from the text before redaction."""
        names = self.schema.names
        found: dict[int, dict[tuple[str, str], int]] = {}  # row -> (part, kind) -> values in that part
        before = {}
        for column, part in self._free_text.items():
            position = names.index(column)
            redacted, rows = self.redactor.redact_array(arrays[position])
            if not rows:
                continue
            before[column], arrays[position] = arrays[position], redacted
            for row, counts in rows.items():
                parts = found.setdefault(row, {})
                for kind, count in counts.items():
                    parts[part, kind] = max(parts.get((part, kind), 0), count)
        for parts in found.values():
            row_counts: dict[str, int] = {}
            for (_, kind), count in parts.items():
                row_counts[kind] = row_counts.get(kind, 0) + count
            for kind, count in row_counts.items():
                counted = self.redactions.setdefault(kind, [0, 0])
                counted[0] += 1
                counted[1] += count
        for name, columns in self._fingerprints:
            if found:
                sources = [before.get(c, arrays[names.index(c)]) for c in columns]
                values = arrays[names.index(name)].to_pylist()
                for row in found:
                    values[row] = _stable_hash([source[row].as_py() for source in sources])
                arrays[names.index(name)] = pa.array(values, type=pa.string())
        return arrays

    def _reset_columns(self) -> None:
        self._columns = {name: [] for name in self.schema.names}
        self._plan = [(name, values, name in self._text_columns) for name, values in self._columns.items()]

    def close(self) -> None:
        self._flush()
        self._writer.close()
        os.replace(self._partial, self.path)

    def abort(self) -> None:
        self._writer.close()
        self._partial.unlink(missing_ok=True)


def write_table(path: Path, schema: pa.Schema, rows: list[dict[str, Any]]) -> None:
    """Write a small table in one go (manifests, empty tables), atomically."""
    writer = RawTableWriter(path, schema)
    try:
        for row in rows:
            writer.write(row)
    except BaseException:
        writer.abort()
        raise
    writer.close()


class PlatformOutput:
    """Everything one platform's extraction writes: its raw tables and its rejects.

    Records seen = rows of the platform's record tables + rejected records; the
    reconciliation downstream checks that every one of them is exported, rejected
    or counted as a duplicate. With a ``redactor`` (the runner passes the config's), the free-text
    columns and the rejects' excerpts and details are redacted, and what was removed is counted in
    ``extract_redactions/<platform>.parquet``.
    """

    def __init__(
        self,
        raw_dir: Path,
        platform: str,
        tables: dict[str, pa.Schema],
        record_tables: tuple[str, ...],
        redactor: Redactor = NO_REDACTION,
    ) -> None:
        self.platform = platform
        self.dir = raw_dir / platform
        self.tables = tables
        self.record_tables = record_tables
        self.rejects_path = raw_dir / "extract_rejects" / f"{platform}.parquet"
        self.truncations_path = raw_dir / "extract_truncations" / f"{platform}.parquet"
        self.redactions_path = raw_dir / "extract_redactions" / f"{platform}.parquet"
        self.redactor = redactor
        self.reject_redactions: dict[str, list[int]] = {}  # kind -> [rejects, values]
        self._reject_redaction_seconds = 0.0
        self._writers: dict[str, RawTableWriter] = {}
        self._rejects: RawTableWriter | None = None
        self._truncations: RawTableWriter | None = None
        self.reject_reasons: Counter[str] = Counter()
        self.truncated_fields = 0
        self.files_read = 0
        # What a reader found out about each file it read (a CSV's encoding and delimiter), for the
        # log, the summary and the report; and, per file, what it saw that would explain records it
        # could not read ("the header splits on ';'"), for the run's review (gladly_import/review.py).
        self.file_facts: dict[str, dict[str, Any]] = {}
        self.likely_causes: dict[str, str] = {}

    def table(self, name: str) -> RawTableWriter:
        writer = self._writers.get(name)
        if writer is None:
            writer = RawTableWriter(self.dir / f"{name}.parquet", self.tables[name],
                                    field_cap=FIELD_CAP_CHARS, on_truncate=self._truncated, redactor=self.redactor)
            self._writers[name] = writer
        return writer

    def _truncated(self, table: str, column: str, original_length: int, unit: str, kept_chars: int,
                   row: dict[str, Any]) -> None:
        if self._truncations is None:
            self._truncations = RawTableWriter(self.truncations_path, TRUNCATIONS_SCHEMA)
        self._truncations.write({
            "source_platform": self.platform, "table_name": table, "column_name": column,
            "original_length": original_length, "length_unit": unit, "kept_chars": kept_chars,
            "_source_file": str(row.get("_source_file") or "")[:EXCERPT_CHARS],
            "_source_row": row.get("_source_row"),
            "_source_position": str(row.get("_source_position") or "")[:EXCERPT_CHARS] or None,
        })
        self.truncated_fields += 1

    def reject(
        self,
        *,
        reason: str,
        source_file: str,
        position: str,
        row: int | None = None,
        detail: str | None = None,
        record_id: str | None = None,
        customer_email_raw: str | None = None,
        raw: str | bytes | None = None,
    ) -> None:
        if self._rejects is None:
            self._rejects = RawTableWriter(self.rejects_path, REJECTS_SCHEMA, field_cap=FIELD_CAP_CHARS)
        if isinstance(raw, bytes):
            raw = raw[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
        found: set[str] = set()
        self._rejects.write(
            {
                "source_platform": self.platform,
                "reject_reason": reason,
                "reject_detail": self._excerpt(detail, found),
                "record_id": record_id,
                "customer_email_raw": customer_email_raw,
                "raw_excerpt": self._excerpt(raw, found),
                "_source_file": source_file,
                "_source_row": row,
                "_source_position": position,
            }
        )
        self.reject_reasons[reason] += 1
        for kind in found:
            self.reject_redactions[kind][0] += 1

    def _excerpt(self, text: str | None, found: set[str]) -> str | None:
        """The first EXCERPT_CHARS of a text, redacted before it is cut (so no value is cut in two)."""
        if not text:
            return text
        if not self.redactor:
            return text[:EXCERPT_CHARS]
        started = time.perf_counter()
        redacted, counts = self.redactor.redact(text[: EXCERPT_CHARS * 4])
        self._reject_redaction_seconds += time.perf_counter() - started
        for kind, count in counts.items():
            self.reject_redactions.setdefault(kind, [0, 0])[1] += count
            found.add(kind)
        return redacted[:EXCERPT_CHARS]

    @property
    def redaction_seconds(self) -> float:
        """Time spent redacting, the tables' and the rejects' (extract time: docs/redaction.md)."""
        return self._reject_redaction_seconds + sum(w.redaction_seconds for w in self._writers.values())

    def redaction_rows(self) -> list[dict[str, Any]]:
        """What was redacted, per table and kind: the rows of ``extract_redactions``."""
        tables = [(name, writer.redactions) for name, writer in sorted(self._writers.items())]
        tables.append((REJECTS_TABLE, self.reject_redactions))
        return [{"source_platform": self.platform, "table_name": table,
                 "is_record_table": table in self.record_tables or table == REJECTS_TABLE,
                 "redaction_kind": kind, "rows_redacted": rows, "values_redacted": values}
                for table, counts in tables for kind, (rows, values) in sorted(counts.items())]

    def close(self) -> None:
        """Close every table; tables never written are written empty, so every source exists."""
        for name, schema in self.tables.items():
            if name not in self._writers:
                self._writers[name] = RawTableWriter(self.dir / f"{name}.parquet", schema)
        for writer in self._writers.values():
            writer.close()
        if self._rejects is None:
            self._rejects = RawTableWriter(self.rejects_path, REJECTS_SCHEMA, field_cap=FIELD_CAP_CHARS)
        self._rejects.close()
        if self._truncations is None:
            self._truncations = RawTableWriter(self.truncations_path, TRUNCATIONS_SCHEMA)
        self._truncations.close()
        write_table(self.redactions_path, REDACTIONS_SCHEMA, self.redaction_rows())

    def abort(self) -> None:
        for writer in self._writers.values():
            writer.abort()
        for side in (self._rejects, self._truncations):
            if side is not None:
                side.abort()

    @property
    def records_extracted(self) -> int:
        return sum(self._writers[t].rows_written for t in self.record_tables if t in self._writers)

    @property
    def records_rejected(self) -> int:
        return sum(self.reject_reasons.values())

    def manifest_row(self, is_configured: bool) -> dict[str, Any]:
        return {
            "source_platform": self.platform,
            "is_configured": is_configured,
            "files_read": self.files_read,
            "records_seen": self.records_extracted + self.records_rejected,
            "records_extracted": self.records_extracted,
            "records_rejected": self.records_rejected,
        }
