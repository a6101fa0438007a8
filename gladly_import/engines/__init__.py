"""The SQL engine an import runs on, behind one small interface (DuckDB or Spark).

The runner, the export, the summary, the report and the ledger only ever use an ``Engine``:

- ``register_raw(raw_dir)``: expose each raw Parquet table as ``raw.<name>`` (copied first to
  ``raw_location``, where the engine's workers read, when that is elsewhere);
- ``register_raw_table(name, path, several)``: one more, written to ``raw_location`` by the runner
  (Gladly's email rule: gladly_import/email_rules.py);
- ``execute(sql, params)``: run one portable SQL statement (``?`` placeholders); the result has
  ``fetchone()``, ``fetchall()`` and ``fetchmany(n)``, the last one streaming in bounded batches;
- ``create_table_sql(name, columns)``: the engine's ``create table if not exists`` for the ledger;
- ``relation_type(schema, name)``: ``table``, ``view`` or None;
- ``run_dbt(args, progress)``: ``dbt <args>`` against this engine's target (email rule registered);
- ``describe()``: where the staged history lives, for the closing line of a run.

Every engine-specific choice lives in its module; the runner never asks which engine it has.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, Protocol

from gladly_import.config import Config


class EngineError(RuntimeError):
    """The engine cannot start (a missing dependency, no Java): said in one line."""


class Result(Protocol):
    def fetchone(self) -> tuple[Any, ...] | None: ...
    def fetchall(self) -> list[tuple[Any, ...]]: ...
    def fetchmany(self, size: int) -> list[tuple[Any, ...]]: ...


class Engine(Protocol):
    name: str

    raw_location: str

    def register_raw(self, raw_dir: Any) -> None: ...
    def register_raw_table(self, name: str, path: str, several: bool) -> None: ...
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result: ...
    def create_table_sql(self, name: str, columns: Sequence[str]) -> str: ...
    def relation_type(self, schema: str, name: str) -> str | None: ...
    def run_dbt(self, args: list[str], progress: Any = None) -> bool: ...
    def describe(self) -> str: ...
    def release(self) -> None: ...  # nothing needs it for a while: let go of what is cheap to take again
    def close(self) -> None: ...


def open_engine(config: Config) -> Engine:
    """The engine the config names (``engine: duckdb`` by default): ``gladly_import.engines.<name>.ENGINE``."""
    module = importlib.import_module(f"gladly_import.engines.{config.engine}")
    return module.ENGINE(config)  # type: ignore[no-any-return]
