"""The export ledger and the run history, kept in the DuckDB file's `ledger` schema.

dbt never builds or drops these tables (the runner owns them), so they survive every rebuild of
the models, `--full-refresh` included. The ledger records which conversation_item_id was exported,
by which run, in which file. Each run's export is a batch (`ledger.export_batches`): recorded as
`pending`, with its files' names, row counts and SHA-256, together with its items, *before* any
file is renamed into the output folder, and `confirmed` once they all are. A run killed in between
leaves a pending batch that the next run settles from the files actually present (see
gladly_import/publish.py), so the ledger and the published files never disagree. Each step is one
plain statement: nothing here relies on a multi-statement transaction.
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
    """
    create table if not exists ledger.export_batches (
        run_id varchar not null,
        mode varchar not null,
        status varchar not null,
        staging_dir varchar not null,
        items bigint not null,
        files varchar not null,
        recorded_at timestamp not null,
        settled_at timestamp
    )
    """,
]

# ledger.export_batches.status: pending (recorded, files maybe not all in place), confirmed (every
# file in place; its items count as exported), dropped (none of it was published: its items were
# taken out of the ledger again).
PENDING, CONFIRMED, DROPPED = "pending", "confirmed", "dropped"

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
    """Record a new run; the caller holds the work_dir lock, so a run still marked running is dead."""
    ensure_tables(conn)
    mark_dead_runs(conn)
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


def mark_dead_runs(conn: duckdb.DuckDBPyConnection) -> None:
    """Runs still `running` were killed: `recovered` if their batch got confirmed, else `abandoned`.

    Only call this holding the work_dir lock (gladly_import/lock.py): then no live run is running.
    """
    dead = [r[0] for r in conn.execute("select run_id from ledger.import_runs where status = 'running'").fetchall()]
    for run in dead:
        batch = conn.execute("select items, files from ledger.export_batches where run_id = ? and status = ?",
                             [run, CONFIRMED]).fetchone()
        if batch is None:
            conn.execute("update ledger.import_runs set status = 'abandoned' where run_id = ?", [run])
            continue
        files = [{"file": f["file"], "rows": f["rows"]} for f in json.loads(batch[1])
                 if f["file"].startswith(ITEMS_FILE_PREFIX)]
        conn.execute("update ledger.import_runs set status = 'recovered', items_exported = ?, files_written = ? "
                     "where run_id = ?", [batch[0], json.dumps(files), run])


def record_pending_batch(conn: duckdb.DuckDBPyConnection, run_id: str, mode: str, staging_dir: str,
                         items: int, files: list[dict[str, Any]]) -> None:
    """The first step of publishing: the batch, its files (name, rows, sha256) and size, as pending."""
    conn.execute(
        "insert into ledger.export_batches (run_id, mode, status, staging_dir, items, files, recorded_at) "
        "values (?, ?, ?, ?, ?, ?, ?)",
        [run_id, mode, PENDING, staging_dir, items, json.dumps(files), utc_now()],
    )


def pending_batches(conn: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Batches a killed run left pending, oldest first (there is at most one in practice)."""
    rows = conn.execute("select run_id, mode, staging_dir, items, files from ledger.export_batches "
                        "where status = ? order by recorded_at", [PENDING]).fetchall()
    return [{"run_id": r[0], "mode": r[1], "staging_dir": r[2], "items": r[3], "files": json.loads(r[4])}
            for r in rows]


def items_recorded(conn: duckdb.DuckDBPyConnection, run_id: str) -> int:
    return conn.execute("select count(*) from ledger.export_ledger where run_id = ?", [run_id]).fetchone()[0]


def settle_batch(conn: duckdb.DuckDBPyConnection, run_id: str, status: str) -> None:
    """Confirm a batch, or drop it: its items leave the ledger first, then the batch says dropped."""
    if status == DROPPED:
        conn.execute("delete from ledger.export_ledger where run_id = ?", [run_id])
    conn.execute("update ledger.export_batches set status = ?, settled_at = ? where run_id = ?",
                 [status, utc_now(), run_id])


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
    """Add this run's exported items (the export batch, with the file each went to) to the ledger.

    One statement, so the rows are there all together or not at all; `publish` records the batch
    as pending first and compares the count with the batch's size.
    """
    exported_at = utc_now()
    conn.execute(
        f"""
        insert into ledger.export_ledger
        select conversation_item_id, source_platform, ?, file_name, ?
        from {batch_relation}
        """,
        [run_id, exported_at],
    )
    return items_recorded(conn, run_id)
