"""DuckDB: one file in work_dir holds the raw views, the models and the ledger."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from extract.context import Progress
from gladly_import.config import Config
from gladly_import.dbt_runner import duckdb_memory_limit, run_dbt
from gladly_import.warehouse import raw_tables


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, config: Config) -> None:
        self.config = config
        self.path: Path = config.database_path
        self._conn: duckdb.DuckDBPyConnection | None = None

    @property
    def conn(self) -> duckdb.DuckDBPyConnection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = duckdb.connect(str(self.path))
            conn.execute("set TimeZone = 'UTC'")
            conn.execute(f"set memory_limit = '{duckdb_memory_limit()}'")
            # beyond the limit it spills to <path>.tmp/ in work_dir (DuckDB's default for a file), as dbt does
            self._conn = conn
        return self._conn

    @property
    def raw_location(self) -> str:
        return self.config.raw_dir.as_posix()

    def register_raw(self, raw_dir: Path) -> None:
        self.execute("create schema if not exists raw")
        for name, (path, several) in raw_tables(raw_dir.as_posix()).items():
            self.register_raw_table(name, path, several)

    def register_raw_table(self, name: str, path: str, several: bool) -> None:
        options = ", union_by_name = true" if several else ""
        self.execute(f"create or replace view raw.{name} as select * from read_parquet({_quote(path)}{options})")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> duckdb.DuckDBPyConnection:
        return self.conn.execute(sql, list(params)) if params else self.conn.execute(sql)

    def create_table_sql(self, name: str, columns: Sequence[str]) -> str:
        return f"create table if not exists {name} ({', '.join(columns)})"

    def relation_type(self, schema: str, name: str) -> str | None:
        row = self.execute("select table_type from information_schema.tables where table_schema = ? and table_name = ?",
                           [schema, name]).fetchone()
        return None if row is None else ("view" if row[0] == "VIEW" else "table")

    def run_dbt(self, args: list[str], progress: Progress | None = None) -> bool:
        # dbt runs in its own process and needs the file to itself.
        self.close()
        return run_dbt(self.config, args, progress)

    def describe(self) -> str:
        return f"duckdb {self.path}"

    def release(self) -> None:
        """Close the connection (opened again on the next use): its buffer pool keeps the pages the
        run's first queries read (the ledger: 330 MB after a few runs of 1M items), through the
        extraction otherwise."""
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


ENGINE = DuckDBEngine
