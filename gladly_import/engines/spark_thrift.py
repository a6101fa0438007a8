"""Spark through a Spark Thrift server (`spark.method: thrift`): dbt-spark's thrift method for the
models, and the runner's own queries over the same kind of connection (PyHive), with the same
session settings dbt-spark sets (ANSI mode off) and UTC.

Nothing here runs Python on the cluster (a plain Thrift server cannot register a Python UDF):
Gladly's email rule arrives as a table (gladly_import/email_rules.py). The raw Parquet is copied to
`spark.raw_location`, which the server's executors must reach; the marts come back to this process
a fetch at a time for the Gladly files. The password, when the server wants one, is read from the
variable `spark.password_env` names and handed to dbt in a `DBT_ENV_SECRET_` variable (dbt keeps
those out of its logs); the profile written under <work_dir>/dbt/ names the variable, never the value.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from gladly_import.config import Config, SparkConfig
from gladly_import.engines import EngineError
from gladly_import.engines.spark import INSTALL_HINT, SparkEngine
from gladly_import.paths import dbt_state_dir

DBT_TARGET = "spark_thrift"
PASSWORD_VARIABLE = "DBT_ENV_SECRET_GLADLY_SPARK_PASSWORD"
# what every session of the run has, dbt's and the runner's
SESSION_SETTINGS = {"spark.sql.session.timeZone": "UTC", "spark.sql.ansi.enabled": "false"}
# How a session's configuration sets them: Spark's Thrift server (4.3 measured) applies only keys
# prefixed `set:hiveconf:` when a session opens; a bare key (dbt-spark's own ANSI-off) is ignored
# and the session keeps the server's zone and ANSI mode.
OPEN_SESSION_SETTINGS = {f"set:hiveconf:{key}": value for key, value in SESSION_SETTINGS.items()}
CONNECT_SECONDS = 30
# a statement runs synchronously: one read may wait for a whole query (a mart at a million items)
READ_SECONDS = 3600


def _password(spark: SparkConfig) -> str | None:
    if not spark.password_env:
        return None
    password = os.environ.get(spark.password_env)
    if password is None:
        raise EngineError(f"engine spark: spark.password_env names {spark.password_env}, which is not set")
    return password


def connect(spark: SparkConfig) -> Any:
    """A PyHive connection to the server, with a deadline on connecting and on each read."""
    try:
        import thrift_sasl
        from pyhive import hive
        from pyhive.sasl_compat import PureSASLClient as SASLClient
        from thrift.transport import TSocket, TTransport
    except ImportError as error:
        raise EngineError(f"engine spark, method thrift: {error.name} is not installed; run {INSTALL_HINT}") from None
    host, port = spark.host or "localhost", spark.port
    socket = TSocket.TSocket(host, port)
    socket.setTimeout(CONNECT_SECONDS * 1000)
    user = spark.user or getpass.getuser()
    password = _password(spark)
    if spark.auth == "NOSASL":
        transport = TTransport.TBufferedTransport(socket)
    else:
        mechanism = "GSSAPI" if spark.auth == "KERBEROS" else "PLAIN"

        def sasl_client() -> Any:
            if mechanism == "GSSAPI":
                return SASLClient(host, service=spark.kerberos_service_name, mechanism=mechanism)
            # PLAIN without a password (auth NONE): the server ignores it, SASL wants one (as dbt-spark)
            return SASLClient(host, username=user, password=password or "x", mechanism=mechanism)

        transport = thrift_sasl.TSaslClientTransport(sasl_client, mechanism, socket)
    try:
        conn = hive.connect(thrift_transport=transport, configuration=dict(OPEN_SESSION_SETTINGS))
    except Exception as error:  # thrift's, SASL's and the socket's: one line
        raise EngineError(f"engine spark: cannot open a session on the Thrift server {host}:{port}: "
                          f"{type(error).__name__}: {error}") from None
    socket.setTimeout(READ_SECONDS * 1000)
    cursor = conn.cursor()
    for key, value in SESSION_SETTINGS.items():  # as the session's configuration, and said again
        cursor.execute(f"set {key}={value}")
    cursor.execute("create database if not exists main")  # the marts' schema: unqualified names
    cursor.execute("use main")
    cursor.close()
    return conn


def literal(value: Any) -> str:
    """A Spark SQL literal (the runner's `?` parameters, which HiveServer2 has no binding for)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, datetime):
        return f"timestamp'{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"date'{value.isoformat()}'"
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def bind(sql: str, params: Sequence[Any]) -> str:
    """`?` outside quotes replaced by each parameter's literal, in order."""
    if not params:
        return sql
    out, values, quote = [], iter(params), None
    for char in sql:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"`":
            quote = char
        elif char == "?":
            out.append(literal(next(values)))
            continue
        out.append(char)
    return "".join(out)


class ThriftResult:
    """A statement's rows, fetched from the server as they are asked for (PyHive gives timestamps
    and decimals as Python's, dates as text: made dates, as a session gives them)."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self._dates = [n for n, column in enumerate(cursor.description or []) if column[1] == "DATE_TYPE"]

    def _row(self, row: Sequence[Any]) -> tuple[Any, ...]:
        if not self._dates:
            return tuple(row)
        values = list(row)
        for n in self._dates:
            values[n] = None if values[n] is None else date.fromisoformat(values[n])
        return tuple(values)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [self._row(row) for row in self._cursor.fetchall()] if self._cursor.description else []

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        return [self._row(row) for row in self._cursor.fetchmany(size)] if self._cursor.description else []

    def fetchone(self) -> tuple[Any, ...] | None:
        rows = self.fetchmany(1)
        return rows[0] if rows else None


class SparkThriftEngine(SparkEngine):
    """The Spark engine's raw views, ledger and dbt, over a Thrift server instead of a session."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._conn: Any = None
        self._warehouse: str | None = None

    @property
    def conn(self) -> Any:
        if self._conn is None:
            self._conn = connect(self.config.spark)
        return self._conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> ThriftResult:  # type: ignore[override]
        cursor = self.conn.cursor()
        cursor.execute(bind(sql, params))
        return ThriftResult(cursor)

    @property
    def warehouse(self) -> str:
        if self._warehouse is None:
            # the server's own, unless the config names one (the ledger's tables live there)
            row = None if self.config.spark.warehouse_dir else self.execute("set spark.sql.warehouse.dir").fetchone()
            self._warehouse = (self.config.spark.warehouse_dir or row[1]).rstrip("/")  # type: ignore[index]
        return self._warehouse

    def relation_type(self, schema: str, name: str) -> str | None:
        if not self.execute(f"show databases like '{schema}'").fetchall():
            return None
        if not self.execute(f"show tables in {schema} like '{name}'").fetchall():
            return None
        return "view" if self.execute(f"show views in {schema} like '{name}'").fetchall() else "table"

    def dbt_target(self) -> tuple[str, Path]:
        """dbt-spark's thrift target for this config, in a profiles.yml of the run's (no secret in it)."""
        spark = self.config.spark
        output: dict[str, Any] = {
            "type": "spark", "method": "thrift", "host": spark.host, "port": spark.port,
            "user": spark.user or getpass.getuser(), "auth": spark.auth, "schema": "main", "threads": 2,
            "connect_retries": 2, "connect_timeout": 10,
            "server_side_parameters": dict(OPEN_SESSION_SETTINGS),
        }
        if spark.kerberos_service_name:
            output["kerberos_service_name"] = spark.kerberos_service_name
        if spark.password_env:
            output["password"] = "{{ env_var('" + PASSWORD_VARIABLE + "') }}"
        folder = dbt_state_dir(self.config.work_dir) / "profiles"
        folder.mkdir(parents=True, exist_ok=True)
        profiles = {"gladly_import": {"target": DBT_TARGET, "outputs": {DBT_TARGET: output}}}
        (folder / "profiles.yml").write_text(yaml.safe_dump(profiles, sort_keys=False), encoding="utf-8")
        return DBT_TARGET, folder

    def run_dbt(self, args: list[str], progress: Any = None) -> bool:
        """dbt in its own process, as on DuckDB (a second dbt invocation in one process failed at
        the build's start with a bare Runtime Error on the thrift method; a process each does not)."""
        from gladly_import.dbt_runner import run_dbt

        password = _password(self.config.spark)
        target, profiles = self.dbt_target()
        return run_dbt(self.config, [*args, "--target", target], progress, profiles_dir=profiles,
                       env={PASSWORD_VARIABLE: password} if password is not None else None)

    def describe(self) -> str:
        return f"spark thrift://{self.config.spark.host}:{self.config.spark.port} {self.warehouse}"

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # the server already gone: nothing left to close
                pass
        self._conn = None
