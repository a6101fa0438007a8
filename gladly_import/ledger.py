"""The export ledger and the run history, kept in the engine's `ledger` schema.

dbt never builds or drops these tables (the runner owns them), so they survive every rebuild of
the models, `--full-refresh` included. The ledger records which conversation_item_id was exported,
by which run, in which file; it is written after the run's files are all in place, so an
interrupted export leaves it unchanged.

The SQL is portable (DuckDB and Spark): tables are only ever appended to (Spark's Parquet tables
have no UPDATE), so the run history is a log of events, one row each time a run starts or ends,
and `ledger.import_runs` is a view of each run's latest event. Timestamps are passed as UTC text.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

from gladly_import.engines import Engine

EXPORT_LEDGER_COLUMNS = [
    "conversation_item_id string not null",
    "source_platform string not null",
    "run_id string not null",
    "file_name string not null",
    "exported_at timestamp not null",
]
RUN_EVENT_COLUMNS = [
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
]
RUN_COLUMNS = "run_id, started_at, ended_at, mode, config_file, status, items_exported, platform_counts, files_written"
IMPORT_RUNS_VIEW = f"""
create or replace view ledger.import_runs as
select {RUN_COLUMNS}
from (
    select
        *,
        row_number() over (partition by run_id order by recorded_at desc) as event_rank
    from ledger.import_run_events
) as events
where event_rank = 1
"""

ITEMS_FILE_PREFIX = "gladly_conversation_items_"


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def utc_now() -> str:
    """Now, UTC, as the text every engine casts to a timestamp the same way."""
    return datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def ensure_tables(engine: Engine) -> None:
    engine.execute("create schema if not exists ledger")
    engine.execute(engine.create_table_sql("ledger.export_ledger", EXPORT_LEDGER_COLUMNS))
    engine.execute(engine.create_table_sql("ledger.import_run_events", RUN_EVENT_COLUMNS))
    engine.execute(IMPORT_RUNS_VIEW)


def start_run(engine: Engine, run_id: str, mode: str, config_file: str) -> None:
    """Record a new run; a run still marked running was killed before it could finish."""
    ensure_tables(engine)
    now = utc_now()
    engine.execute(
        """
        insert into ledger.import_run_events
        select run_id, cast(? as timestamp), started_at, cast(? as timestamp), mode, config_file, 'abandoned',
               items_exported, platform_counts, files_written
        from ledger.import_runs
        where status = 'running'
        """,
        [now, now],
    )
    engine.execute(
        "insert into ledger.import_run_events (run_id, recorded_at, started_at, mode, config_file, status) "
        "values (?, cast(? as timestamp), cast(? as timestamp), ?, ?, 'running')",
        [run_id, now, now, mode, config_file],
    )


def finish_run(engine: Engine, run_id: str, status: str, items_exported: int | None = None,
               platform_counts: dict[str, Any] | None = None, files: list[dict[str, Any]] | None = None) -> None:
    now = utc_now()
    engine.execute(
        """
        insert into ledger.import_run_events
        select run_id, cast(? as timestamp), started_at, cast(? as timestamp), mode, config_file, ?,
               cast(? as bigint), cast(? as string), cast(? as string)
        from ledger.import_runs
        where run_id = ?
        """,
        [now, now, status, items_exported,
         json.dumps(platform_counts, sort_keys=True) if platform_counts is not None else None,
         json.dumps(files) if files is not None else None, run_id],
    )


def last_file_number(engine: Engine) -> int:
    """The highest NNNN of gladly_conversation_items_NNNN.csv any recorded run has written."""
    row = engine.execute(
        f"""
        select max(try_cast(regexp_extract(file_name, '{ITEMS_FILE_PREFIX}([0-9]+)[.]csv', 1) as integer))
        from ledger.export_ledger
        """
    ).fetchone()
    return int(row[0] or 0) if row else 0


def record_exports(engine: Engine, run_id: str, batch_relation: str) -> int:
    """Add this run's exported items (the export batch, with the file each went to) to the ledger."""
    engine.execute(
        f"""
        insert into ledger.export_ledger
        select conversation_item_id, source_platform, ?, file_name, cast(? as timestamp)
        from {batch_relation}
        """,
        [run_id, utc_now()],
    )
    return engine.execute("select count(*) from ledger.export_ledger where run_id = ?", [run_id]).fetchone()[0]
