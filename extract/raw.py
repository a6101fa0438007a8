"""The one Parquet writer shared by every extractor, and the per-platform output it feeds.

Rows are buffered a batch at a time, written as row groups as they fill, to a
``.partial`` file that is renamed into place only when the table is complete:
a crash never leaves a half file that looks whole.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

LINEAGE_FIELDS = [
    pa.field("_source_file", pa.string(), nullable=False),
    pa.field("_source_row", pa.int64()),
    pa.field("_source_position", pa.string()),
]

REJECTS_SCHEMA = pa.schema(
    [
        pa.field("source_platform", pa.string(), nullable=False),
        pa.field("reject_reason", pa.string(), nullable=False),
        pa.field("reject_detail", pa.string()),
        pa.field("record_id", pa.string()),
        pa.field("customer_email_raw", pa.string()),
        pa.field("raw_excerpt", pa.string()),
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

EXCERPT_CHARS = 500


def with_lineage(*fields: pa.Field) -> pa.Schema:
    """A raw table schema: the platform's fields, then the lineage columns every row carries."""
    return pa.schema([*fields, *LINEAGE_FIELDS])


class RawTableWriter:
    """Streams dict rows into one Parquet file with an explicit schema, atomically."""

    def __init__(self, path: Path, schema: pa.Schema, batch_rows: int = 20_000) -> None:
        self.path = path
        self.schema = schema
        self.batch_rows = batch_rows
        self.rows_written = 0
        self._partial = path.with_name(path.name + ".partial")
        self._columns: dict[str, list[Any]] = {name: [] for name in schema.names}
        self._buffered = 0
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
        for name, values in self._columns.items():
            values.append(row.get(name))
        self._buffered += 1
        if self._buffered >= self.batch_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._buffered:
            return
        batch = pa.record_batch(
            [pa.array(self._columns[f.name], type=f.type) for f in self.schema], schema=self.schema
        )
        self._writer.write_batch(batch)
        self.rows_written += self._buffered
        self._columns = {name: [] for name in self.schema.names}
        self._buffered = 0

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
    or counted as a duplicate.
    """

    def __init__(
        self,
        raw_dir: Path,
        platform: str,
        tables: dict[str, pa.Schema],
        record_tables: tuple[str, ...],
    ) -> None:
        self.platform = platform
        self.dir = raw_dir / platform
        self.tables = tables
        self.record_tables = record_tables
        self.rejects_path = raw_dir / "extract_rejects" / f"{platform}.parquet"
        self._writers: dict[str, RawTableWriter] = {}
        self._rejects: RawTableWriter | None = None
        self.reject_reasons: Counter[str] = Counter()
        self.files_read = 0

    def table(self, name: str) -> RawTableWriter:
        writer = self._writers.get(name)
        if writer is None:
            writer = RawTableWriter(self.dir / f"{name}.parquet", self.tables[name])
            self._writers[name] = writer
        return writer

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
            self._rejects = RawTableWriter(self.rejects_path, REJECTS_SCHEMA)
        if isinstance(raw, bytes):
            raw = raw[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
        self._rejects.write(
            {
                "source_platform": self.platform,
                "reject_reason": reason,
                "reject_detail": detail[:EXCERPT_CHARS] if detail else detail,
                "record_id": record_id,
                "customer_email_raw": customer_email_raw,
                "raw_excerpt": raw[:EXCERPT_CHARS] if raw else raw,
                "_source_file": source_file,
                "_source_row": row,
                "_source_position": position,
            }
        )
        self.reject_reasons[reason] += 1

    def close(self) -> None:
        """Close every table; tables never written are written empty, so every source exists."""
        for name, schema in self.tables.items():
            if name not in self._writers:
                self._writers[name] = RawTableWriter(self.dir / f"{name}.parquet", schema)
        for writer in self._writers.values():
            writer.close()
        if self._rejects is None:
            self._rejects = RawTableWriter(self.rejects_path, REJECTS_SCHEMA)
        self._rejects.close()

    def abort(self) -> None:
        for writer in self._writers.values():
            writer.abort()
        if self._rejects is not None:
            self._rejects.abort()

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
