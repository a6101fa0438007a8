"""The export ledger and the run history, kept in the engine's `ledger` schema (DuckDB or Spark).

dbt never builds or drops these tables (the runner owns them), so they survive every rebuild of
the models, `--full-refresh` included. The ledger records which conversation_item_id was exported,
by which run, in which file. Each run's export is a batch (`ledger.export_batches`): recorded as
`pending`, with its files' names, row counts and SHA-256, together with its items, *before* any
file is renamed into the output folder, and `confirmed` once they all are. A run killed in between
leaves a pending batch that the next run settles from the files actually present (see
gladly_import/publish.py), so the ledger and the published files never disagree. Each step is one
plain statement: nothing here relies on a multi-statement transaction.

The SQL is portable: its tables are only ever appended to (Spark's Parquet tables have no UPDATE
or DELETE). Each of `import_runs` and `export_batches` is a view of the latest of its events
(`import_run_events`, `export_batch_events`: one row each time a run or a batch changes status);
`export_ledger` is a view of the recorded items (`export_ledger_rows`) whose batch was not
dropped, so dropping a batch takes its items out of the ledger by adding one row. Timestamps are
passed as UTC text, cast by the engine, so no driver converts them to a local zone.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from gladly_import import push_ledger

# ledger.export_batches.status: pending (recorded, files maybe not all in place), confirmed (every
# file in place; its items count as exported), dropped (none of it was published: its items were
# taken out of the ledger again).
PENDING, CONFIRMED, DROPPED = "pending", "confirmed", "dropped"

ITEMS_FILE_PREFIX = "gladly_conversation_items_"

TABLES = {
    "ledger.export_ledger_rows": [
        "conversation_item_id string not null",
        "source_platform string not null",
        "run_id string not null",
        "file_name string not null",
        "exported_at timestamp not null",
    ],
    "ledger.import_run_events": [
        "run_id string not null",
        "recorded_at timestamp not null",
        "started_at timestamp not null",
        "ended_at timestamp",
        "mode string not null",
        "config_file string not null",
        "status string not null",
        "items_exported bigint",
        "platform_counts string",
        "files_written string",
    ],
    "ledger.export_batch_events": [
        "run_id string not null",
        "mode string not null",
        "status string not null",
        "staging_dir string not null",
        "items bigint not null",
        "files string not null",
        "recorded_at timestamp not null",
    ],
}

# the latest event first; a settled status wins over pending at the same instant
_LATEST_FIRST = "order by recorded_at desc, case when status in ('pending', 'running') then 0 else 1 end desc"
VIEWS = {
    "ledger.import_runs": f"""
        select run_id, started_at, ended_at, mode, config_file, status, items_exported, platform_counts, files_written
        from (
            select *, row_number() over (partition by run_id {_LATEST_FIRST}) as event_rank
            from ledger.import_run_events
        ) as events
        where event_rank = 1
    """,
    "ledger.export_batches": f"""
        select
            latest.run_id, latest.mode, latest.status, latest.staging_dir, latest.items, latest.files,
            first_events.recorded_at,
            case when latest.status <> '{PENDING}' then latest.recorded_at end as settled_at
        from (
            select *, row_number() over (partition by run_id {_LATEST_FIRST}) as event_rank
            from ledger.export_batch_events
        ) as latest
        inner join (
            select run_id, min(recorded_at) as recorded_at
            from ledger.export_batch_events
            group by run_id
        ) as first_events
            on latest.run_id = first_events.run_id
        where latest.event_rank = 1
    """,
    "ledger.export_ledger": f"""
        select conversation_item_id, source_platform, run_id, file_name, exported_at
        from ledger.export_ledger_rows
        where run_id not in (
            select dropped.run_id from ledger.export_batches as dropped where dropped.status = '{DROPPED}'
        )
    """,
}

# A ledger written before the tables were append-only: (old table, its rows as the new table's).
MIGRATIONS = [
    ("export_ledger", "ledger.export_ledger_rows",
     "select conversation_item_id, source_platform, run_id, file_name, exported_at from ledger.export_ledger"),
    ("import_runs", "ledger.import_run_events",
     "select run_id, coalesce(ended_at, started_at), started_at, ended_at, mode, config_file, status, items_exported, "
     "platform_counts, files_written from ledger.import_runs"),
    ("export_batches", "ledger.export_batch_events",
     "select run_id, mode, status, staging_dir, items, files, coalesce(settled_at, recorded_at) from ledger.export_batches"),
]


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def utc_now() -> str:
    """Now, UTC, as the text every engine casts to the same timestamp."""
    return datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _create_table_sql(conn: Any, name: str, columns: Sequence[str]) -> str:
    # an Engine knows its own DDL (Spark: Parquet at a fixed place); a bare DuckDB connection
    # (tests, bench) takes the plain form
    make = getattr(conn, "create_table_sql", None)
    return make(name, columns) if make else f"create table if not exists {name} ({', '.join(columns)})"


def _is_table(conn: Any, schema: str, name: str) -> bool:
    relation_type = getattr(conn, "relation_type", None)
    if relation_type is not None:
        return relation_type(schema, name) == "table"
    row = conn.execute("select table_type from information_schema.tables where table_schema = ? and table_name = ?",
                       [schema, name]).fetchone()
    return row is not None and row[0] != "VIEW"


def ensure_tables(conn: Any) -> None:
    """The ledger's tables and views; a ledger of an earlier version is moved into them once."""
    conn.execute("create schema if not exists ledger")
    for name, columns in TABLES.items():
        conn.execute(_create_table_sql(conn, name, columns))
    for old, new, rows in MIGRATIONS:
        if _is_table(conn, "ledger", old):
            conn.execute(f"insert into {new} {rows}")
            conn.execute(f"drop table ledger.{old}")
    for name, select in VIEWS.items():
        conn.execute(f"create or replace view {name} as {select}")
    # read by the delta's exclusion (gladly_export_batch)
    conn.execute(_create_table_sql(conn, "ledger.push_ledger", push_ledger.COLUMNS))


def _run_event(conn: Any, run_id: str, status: str, items_exported: int | None = None,
               platform_counts: str | None = None, files_written: str | None = None) -> None:
    """A new status for a recorded run: its start, mode and config carried over."""
    now = utc_now()
    conn.execute(
        """
        insert into ledger.import_run_events
        select run_id, cast(? as timestamp), started_at, cast(? as timestamp), mode, config_file, ?,
               cast(? as bigint), cast(? as string), cast(? as string)
        from ledger.import_runs
        where run_id = ?
        """,
        [now, now, status, items_exported, platform_counts, files_written, run_id],
    )


def start_run(conn: Any, run_id: str, mode: str, config_file: str) -> None:
    """Record a new run; the caller holds the work_dir lock, so a run still marked running is dead."""
    ensure_tables(conn)
    mark_dead_runs(conn)
    now = utc_now()
    conn.execute(
        "insert into ledger.import_run_events (run_id, recorded_at, started_at, mode, config_file, status) "
        "values (?, cast(? as timestamp), cast(? as timestamp), ?, ?, 'running')",
        [run_id, now, now, mode, config_file],
    )


def finish_run(conn: Any, run_id: str, status: str, items_exported: int | None = None,
               platform_counts: dict[str, Any] | None = None, files: list[dict[str, Any]] | None = None) -> None:
    _run_event(conn, run_id, status, items_exported,
               json.dumps(platform_counts, sort_keys=True) if platform_counts is not None else None,
               json.dumps(files) if files is not None else None)


def mark_dead_runs(conn: Any) -> None:
    """Runs still `running` were killed: `recovered` if their batch got confirmed, else `abandoned`.

    Only call this holding the work_dir lock (gladly_import/lock.py): then no live run is running.
    """
    dead = [r[0] for r in conn.execute("select run_id from ledger.import_runs where status = 'running'").fetchall()]
    for run in dead:
        batch = conn.execute("select items, files from ledger.export_batches where run_id = ? and status = ?",
                             [run, CONFIRMED]).fetchone()
        if batch is None:
            _run_event(conn, run, "abandoned")
            continue
        files = [{"file": f["file"], "rows": f["rows"]} for f in json.loads(batch[1])
                 if f["file"].startswith(ITEMS_FILE_PREFIX)]
        _run_event(conn, run, "recovered", batch[0], None, json.dumps(files))


def _batch_event(conn: Any, run_id: str, mode: str, status: str, staging_dir: str, items: int, files: str) -> None:
    conn.execute(
        "insert into ledger.export_batch_events (run_id, mode, status, staging_dir, items, files, recorded_at) "
        "values (?, ?, ?, ?, cast(? as bigint), ?, cast(? as timestamp))",
        [run_id, mode, status, staging_dir, items, files, utc_now()],
    )


def record_pending_batch(conn: Any, run_id: str, mode: str, staging_dir: str,
                         items: int, files: list[dict[str, Any]]) -> None:
    """The first step of publishing: the batch, its files (name, rows, sha256) and size, as pending."""
    _batch_event(conn, run_id, mode, PENDING, staging_dir, items, json.dumps(files))


def pending_batches(conn: Any) -> list[dict[str, Any]]:
    """Batches a killed run left pending, oldest first (there is at most one in practice)."""
    rows = conn.execute("select run_id, mode, staging_dir, items, files from ledger.export_batches "
                        "where status = ? order by recorded_at", [PENDING]).fetchall()
    return [{"run_id": r[0], "mode": r[1], "staging_dir": r[2], "items": r[3], "files": json.loads(r[4])}
            for r in rows]


def items_recorded(conn: Any, run_id: str) -> int:
    return conn.execute("select count(*) from ledger.export_ledger where run_id = ?", [run_id]).fetchone()[0]


def settle_batch(conn: Any, run_id: str, status: str) -> None:
    """Confirm a batch, or drop it (its items then leave the ledger view): one new event."""
    conn.execute(
        "insert into ledger.export_batch_events "
        "select run_id, mode, ?, staging_dir, items, files, cast(? as timestamp) from ledger.export_batches where run_id = ?",
        [status, utc_now(), run_id],
    )


def last_file_number(conn: Any) -> int:
    """The highest NNNN of gladly_conversation_items_NNNN.csv any recorded run has written."""
    row = conn.execute(
        f"""
        select max(try_cast(regexp_extract(file_name, '{ITEMS_FILE_PREFIX}([0-9]+)[.]csv', 1) as integer))
        from ledger.export_ledger
        """
    ).fetchone()
    return int(row[0] or 0) if row else 0


def record_exports(conn: Any, run_id: str, batch_relation: str) -> int:
    """Add this run's exported items (the export batch, with the file each went to) to the ledger.

    One statement, so the rows are there all together or not at all; `publish` records the batch
    as pending first and compares the count with the batch's size.
    """
    conn.execute(
        f"""
        insert into ledger.export_ledger_rows
        select conversation_item_id, source_platform, ?, file_name, cast(? as timestamp)
        from {batch_relation}
        """,
        [run_id, utc_now()],
    )
    return items_recorded(conn, run_id)
