"""The export ledger and the run history, kept in the DuckDB file's `ledger` schema.

dbt never builds or drops these tables (the runner owns them), so they survive every rebuild of
the models, `--full-refresh` included. The ledger records which conversation_item_id was exported,
by which run, in which file. Each run's export is a batch (`ledger.export_batches`, the latest event
of each in `ledger.export_batch_events`): recorded as `pending`, with its files' names, row counts
and SHA-256, *before* any file is renamed into the output folder; its items go into the ledger
once every file is in place, then it is `confirmed`. A run killed in between leaves a pending
batch that the next run settles from the files actually present (see gladly_import/publish.py),
so the ledger and the published files never disagree. Each step is one plain statement and the
export ledger and the batch events are only ever appended to: publishing relies on no
multi-statement transaction, no UPDATE and no DELETE.

The SQL is portable (DuckDB and Spark): every table is only ever appended to (Spark's Parquet
tables have no UPDATE or DELETE). The run history is a log too (`ledger.import_run_events`, one
row each time a run starts or ends) and `ledger.import_runs` is the view of each run's latest
event. Tables are created through the engine (on Spark: Parquet at a fixed place in the
warehouse). Timestamps are passed as UTC text, cast by the engine, so no driver moves them to a
local zone.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

# ledger.export_batches.status: pending (recorded, its files maybe not all in place, its items maybe
# not all in the export ledger yet), confirmed (every file in place, every item in the ledger),
# dropped (rolled back: no file of it is left in the output folder, no item was recorded).
PENDING, CONFIRMED, DROPPED = "pending", "confirmed", "dropped"

ITEMS_FILE_PREFIX = "gladly_conversation_items_"

TABLES = {
    "ledger.export_ledger": [
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
        "recorded_at timestamp not null",
        "mode string not null",
        "status string not null",
        "staging_dir string not null",
        "items bigint not null",
        "files string not null",
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
        select run_id, recorded_at, mode, status, staging_dir, items, files
        from (
            select *, row_number() over (partition by run_id {_LATEST_FIRST}) as event_rank
            from ledger.export_batch_events
        ) as events
        where event_rank = 1
    """,
}

# A ledger of an earlier version: (its old table, the new table, its rows in the new table's columns).
MIGRATIONS = [
    ("import_runs", "ledger.import_run_events",
     "select run_id, coalesce(ended_at, started_at), started_at, ended_at, mode, config_file, status, items_exported, "
     "platform_counts, files_written from ledger.import_runs"),
    ("export_batches", "ledger.export_batch_events",
     "select run_id, coalesce(settled_at, recorded_at), mode, status, staging_dir, items, files from ledger.export_batches"),
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


def relation_type(conn: Any, schema: str, name: str) -> str | None:
    """``table``, ``view`` or None (no such relation), on an Engine or a bare DuckDB connection."""
    engine_relation_type = getattr(conn, "relation_type", None)
    if engine_relation_type is not None:
        return engine_relation_type(schema, name)
    row = conn.execute("select table_type from information_schema.tables where table_schema = ? and table_name = ?",
                       [schema, name]).fetchone()
    return None if row is None else ("view" if row[0] == "VIEW" else "table")


def ensure_tables(conn: Any) -> None:
    """The ledger's tables and views; a ledger of an earlier version is moved into them once."""
    conn.execute("create schema if not exists ledger")
    for name, columns in TABLES.items():
        conn.execute(_create_table_sql(conn, name, columns))
    for old, new, rows in MIGRATIONS:
        if relation_type(conn, "ledger", old) == "table":
            conn.execute(f"insert into {new} {rows}")
            conn.execute(f"drop table ledger.{old}")
    for name, select in VIEWS.items():
        conn.execute(f"create or replace view {name} as {select}")
    # read by the delta's exclusion (gladly_export_batch)
    from gladly_import.push import ledger as push_ledger  # the push's own table, declared beside the push

    for name, columns in push_ledger.TABLES.items():
        conn.execute(_create_table_sql(conn, name, columns))


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


def record_pending_batch(conn: Any, run_id: str, mode: str, staging_dir: str,
                         items: int, files: list[dict[str, Any]]) -> None:
    """The first step of publishing: the batch, its files (name, rows, sha256) and size, as pending."""
    conn.execute(
        "insert into ledger.export_batch_events (run_id, recorded_at, mode, status, staging_dir, items, files) "
        "values (?, cast(? as timestamp), ?, ?, ?, cast(? as bigint), ?)",
        [run_id, utc_now(), mode, PENDING, staging_dir, items, json.dumps(files)],
    )


def settle_batch(conn: Any, run_id: str, status: str) -> None:
    """The batch's next event: confirmed or dropped."""
    conn.execute(
        "insert into ledger.export_batch_events (run_id, recorded_at, mode, status, staging_dir, items, files) "
        "select run_id, cast(? as timestamp), mode, ?, staging_dir, items, files "
        "from ledger.export_batches where run_id = ?",
        [utc_now(), status, run_id],
    )


def pending_batches(conn: Any) -> list[dict[str, Any]]:
    """Batches a killed run left pending, oldest first (there is at most one in practice)."""
    rows = conn.execute("select run_id, mode, staging_dir, items, files from ledger.export_batches "
                        "where status = ? order by recorded_at", [PENDING]).fetchall()
    return [{"run_id": r[0], "mode": r[1], "staging_dir": r[2], "items": r[3], "files": json.loads(r[4])}
            for r in rows]


def items_recorded(conn: Any, run_id: str) -> int:
    return conn.execute("select count(*) from ledger.export_ledger where run_id = ?", [run_id]).fetchone()[0]


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

    Only the items not recorded for this run yet, so that finishing an interrupted recording
    (gladly_import/publish.py) adds the rest and never a row twice. Returns the run's items.
    """
    conn.execute(
        f"""
        insert into ledger.export_ledger
        select conversation_item_id, source_platform, ?, file_name, cast(? as timestamp)
        from {batch_relation}
        where conversation_item_id not in (
            select recorded.conversation_item_id from ledger.export_ledger as recorded where recorded.run_id = ?
        )
        """,
        [run_id, utc_now(), run_id],
    )
    return items_recorded(conn, run_id)
