"""The shared Parquet writer: explicit schema, batches as row groups, atomic at the end."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from extract.raw import RawTableWriter, with_lineage

SCHEMA = with_lineage(pa.field("value", pa.string()))


def row(i: int) -> dict:
    return {"value": str(i), "_source_file": "f", "_source_row": i, "_source_position": f"line {i}"}


def test_rows_are_written_in_row_groups_as_batches_fill(tmp_path: Path) -> None:
    writer = RawTableWriter(tmp_path / "t.parquet", SCHEMA, batch_rows=10)
    for i in range(25):
        writer.write(row(i))
    writer.close()
    parquet = pq.ParquetFile(tmp_path / "t.parquet")
    assert parquet.metadata.num_rows == 25
    assert parquet.metadata.num_row_groups == 3
    assert parquet.schema_arrow.remove_metadata() == SCHEMA.remove_metadata()


def test_until_closed_only_a_partial_file_exists(tmp_path: Path) -> None:
    writer = RawTableWriter(tmp_path / "t.parquet", SCHEMA, batch_rows=2)
    for i in range(5):
        writer.write(row(i))
    assert not (tmp_path / "t.parquet").exists()
    assert (tmp_path / "t.parquet.partial").exists()
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_column_is_a_programming_error(tmp_path: Path) -> None:
    writer = RawTableWriter(tmp_path / "t.parquet", SCHEMA)
    with pytest.raises(KeyError, match="unknown columns"):
        writer.write({**row(1), "surprise": 1})
    writer.abort()


def test_an_empty_table_still_has_its_schema(tmp_path: Path) -> None:
    RawTableWriter(tmp_path / "t.parquet", SCHEMA).close()
    table = pq.read_table(tmp_path / "t.parquet")
    assert table.num_rows == 0
    assert table.schema.names == SCHEMA.names
