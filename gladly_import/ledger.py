"""The export ledger and the run history, kept in the DuckDB file's `ledger` schema.

dbt never builds or drops these tables (the runner owns them), so they survive every rebuild of
the models, `--full-refresh` included. The ledger records which conversation_item_id was exported,
by which run, in which file; it is written in one transaction after the run's files are all in
place, so an interrupted export leaves it unchanged.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

import duckdb

from gladly_import import push_ledger

SCHEMA_SQL = [
    "create schema if not exists ledger",
    """
    create table if not exists ledger.export_ledger (
        conversation_item_id varchar not null,
        source_platform varchar not null,
        run_id varchar not null,
        file_name varchar not null,
        exported_at timestamp not null
    )
    """,
    """
    create table if not exists ledger.import_runs (
        run_id varchar primary key,
        started_at timestamp not null,
        ended_at timestamp,
        mode varchar not null,
        config_file varchar not null,
        status varchar not null,
        items_exported bigint,
        platform_counts varchar,
        files_written varchar
    )
    """,
]

ITEMS_FILE_PREFIX = "gladly_conversation_items_"


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def ensure_tables(conn: duckdb.DuckDBPyConnection) -> None:
    for statement in SCHEMA_SQL:
        conn.execute(statement)
    push_ledger.ensure_table(conn)  # read by the delta's exclusion (gladly_export_batch)


def start_run(conn: duckdb.DuckDBPyConnection, run_id: str, mode: str, config_file: str) -> None:
    """Record a new run; a run still marked running was killed before it could finish."""
    ensure_tables(conn)
    conn.execute("update ledger.import_runs set status = 'abandoned' where status = 'running'")
    conn.execute(
        "insert into ledger.import_runs (run_id, started_at, mode, config_file, status) values (?, ?, ?, ?, 'running')",
        [run_id, utc_now(), mode, config_file],
    )


def finish_run(conn: duckdb.DuckDBPyConnection, run_id: str, status: str, items_exported: int | None = None,
               platform_counts: dict[str, Any] | None = None, files: list[dict[str, Any]] | None = None) -> None:
    conn.execute(
        """
        update ledger.import_runs
        set ended_at = ?, status = ?, items_exported = ?, platform_counts = ?, files_written = ?
        where run_id = ?
        """,
        [utc_now(), status, items_exported,
         json.dumps(platform_counts, sort_keys=True) if platform_counts is not None else None,
         json.dumps(files) if files is not None else None, run_id],
    )


def last_file_number(conn: duckdb.DuckDBPyConnection) -> int:
    """The highest NNNN of gladly_conversation_items_NNNN.csv any recorded run has written."""
    row = conn.execute(
        f"""
        select max(try_cast(regexp_extract(file_name, '{ITEMS_FILE_PREFIX}([0-9]+)[.]csv', 1) as integer))
        from ledger.export_ledger
        """
    ).fetchone()
    return int(row[0] or 0) if row else 0


def record_exports(conn: duckdb.DuckDBPyConnection, run_id: str, batch_relation: str) -> int:
    """Add this run's exported items (the export batch, with the file each went to) to the ledger."""
    exported_at = utc_now()
    conn.execute(
        f"""
        insert into ledger.export_ledger
        select conversation_item_id, source_platform, ?, file_name, ?
        from {batch_relation}
        """,
        [run_id, exported_at],
    )
    return conn.execute("select count(*) from ledger.export_ledger where run_id = ?", [run_id]).fetchone()[0]
