"""The shared Parquet writer: explicit schema, batches as row groups, atomic at the end."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from extract.raw import RawTableWriter, with_lineage
from extract.values import Clipped

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


MIXED = with_lineage(pa.field("subject", pa.string()), pa.field("labels", pa.list_(pa.string())),
                     pa.field("size", pa.int64()), pa.field("is_chat", pa.bool_()), pa.field("body", pa.string()))


def mixed_row(i: int) -> dict:
    """Ugly on purpose: NULLs, empty lists, NULL labels, control characters, a body over the cap now and
    then, a reader's Clipped prefix."""
    body: object = "é" * (i % 9) + "\x07 ok"
    if i % 11 == 5:
        body = "long " * 30  # over the cap of 60: cut, the cut reported
    elif i % 13 == 7:
        body = Clipped.of("the first part", 90_000)
    labels = [None, [], ["Inbox"], ["Inbox", "Sent", "Ünread"], ["Inbox", None]][i % 5]
    return {"subject": None if i % 4 == 0 else f"order {i}\x00", "labels": labels, "size": i * 1000,
            "is_chat": i % 3 == 0, "body": body, "_source_file": "x.mbox", "_source_row": i,
            "_source_position": f"byte {i * 100}"}


def _written(path: Path, write_rows: bool, rows: list[dict], chunk: int) -> tuple[pa.Table, list, list[int]]:
    truncations: list = []
    writer = RawTableWriter(path, MIXED, batch_rows=7, batch_bytes=400, field_cap=60,
                            on_truncate=lambda *report: truncations.append(report[:5] + (report[5]["_source_row"],)))
    for start in range(0, len(rows), chunk):
        if write_rows:
            writer.write_rows(rows[start:start + chunk])
        else:
            for one in rows[start:start + chunk]:
                writer.write(one)
    writer.close()
    parquet = pq.ParquetFile(path)
    groups = [parquet.metadata.row_group(g).num_rows for g in range(parquet.metadata.num_row_groups)]
    return parquet.read(), truncations, groups


@pytest.mark.parametrize("chunk", [1, 5, 23, 200])
def test_rows_written_at_once_make_the_file_rows_written_one_by_one_make(tmp_path: Path, chunk: int) -> None:
    rows = [mixed_row(i) for i in range(120)]
    by_row = _written(tmp_path / "one" / "messages.parquet", False, rows, chunk)
    at_once = _written(tmp_path / "many" / "messages.parquet", True, rows, chunk)
    assert at_once[0].equals(by_row[0])
    assert at_once[1] == by_row[1] and len(by_row[1]) == 20  # the same cuts reported (11 long, 9 Clipped)
    assert at_once[2] == by_row[2]  # the same row groups: by rows (7) and by bytes (400)
    assert at_once[0].column("body")[5].as_py() == ("long " * 30)[:60]
    assert "\x07" not in "".join(at_once[0].column("body").drop_null().cast(pa.string()).to_pylist())


def test_rows_at_once_with_an_unknown_column_are_a_programming_error(tmp_path: Path) -> None:
    writer = RawTableWriter(tmp_path / "t.parquet", SCHEMA)
    with pytest.raises(KeyError, match="unknown columns"):
        writer.write_rows([row(1), {**row(2), "surprise": 1}])
    writer.abort()
