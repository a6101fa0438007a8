"""Spark: the same models on a Spark session (local[2] by default, or a cluster's master).

One session serves the whole run: it registers the raw Parquet as views in schema `raw`, keeps
the ledger tables (Parquet at a fixed place in the warehouse folder, so they survive between
runs whatever the catalog), runs dbt in this process (dbt-spark's `session` method picks up this
very session, with Gladly's email rule registered on it as Arrow UDFs), and streams the marts to
the export one partition at a time.

The catalog is Spark's in-memory one by default: every run registers what it reads and dbt
rebuilds every model, so nothing needs a metastore (starting a Hive metastore costs a minute).
Set `spark.sql.catalogImplementation: hive` in the config's spark.conf to keep the models
catalogued (a cluster's metastore, or a Derby one under work_dir).

Spark's session time zone is pinned to UTC (a `...Z` timestamp would otherwise move with the
machine's zone), and ANSI mode is off, as dbt-spark sets it.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from gladly_import.config import Config
from gladly_import.engines import EngineError
from gladly_import.paths import PROJECT_DIR, dbt_state_dir
from gladly_import.warehouse import copy_raw, raw_tables

# (PROJECT_DIR: gladly_import/paths.py, in a checkout and installed)
DBT_TARGET = "spark"
# the schemas dbt builds (profiles.yml target schema, dbt_project.yml +schema): rebuilt every run
DBT_SCHEMAS = ("main", "staging", "intermediate")
LOG4J_FILE = "spark-log4j2.properties"  # beside this module: the driver's console says only errors
INSTALL_HINT = ("make import (installs the Spark extras into .venv), pip install -r requirements-spark.txt "
                "-c requirements.lock in a checkout, or pip install 'gladly-import[spark]'")


def _uri(location: str) -> str:
    """A folder as a file:// URI (so a cluster's default file system is never assumed); URIs as is."""
    return location if "://" in location else Path(location).resolve().as_uri()


def same_location(a: str, b: str) -> bool:
    """Two URIs of one folder: Hadoop writes a local folder as file:/x, Python as file:///x."""
    def normal(uri: str) -> str:
        if uri.startswith("file:"):
            uri = "file:/" + uri[len("file:"):].lstrip("/")
        return uri.rstrip("/")
    return normal(a) == normal(b)


def spark_settings(config: Config) -> dict[str, str]:
    """Every Spark setting of a run: the project's defaults, then the config's `spark.conf`, then
    the settings the output depends on (UTC, non-ANSI), which no config may change."""
    work = config.work_dir
    java_options = config.spark.conf.get("spark.driver.extraJavaOptions")
    metastore = (work / "spark-metastore").as_posix()
    settings = {
        "spark.master": config.spark.master,
        "spark.app.name": "gladly-import",
        "spark.sql.warehouse.dir": _uri(config.spark.warehouse_dir or (work / "spark-warehouse").as_posix()),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={metastore};create=true",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # the Python workers run this interpreter (email-validator is installed here); on a
        # cluster, set spark.pyspark.python in spark.conf to the executors' Python
        "spark.pyspark.python": os.environ.get("PYSPARK_PYTHON", sys.executable),
        "spark.sql.shuffle.partitions": "8",
        "spark.sql.catalogImplementation": "in-memory",
        **config.spark.conf,
        "spark.driver.extraJavaOptions": " ".join(filter(None, [
            f"-Dderby.system.home={work.as_posix()}", _log4j_option(java_options), java_options])),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "false",
    }
    return settings


def _log4j_option(user_options: str | None) -> str | None:
    """Spark's console quiet but for errors (spark-log4j2.properties), unless the user configures log4j."""
    if user_options and "log4j" in user_options:
        return None
    return f"-Dlog4j2.configurationFile={(Path(__file__).parent / LOG4J_FILE).as_uri()}"


def _check_java() -> None:
    java_home = os.environ.get("JAVA_HOME")
    if (java_home and Path(java_home, "bin", "java").exists()) or shutil.which("java"):
        return
    raise EngineError("engine spark needs Java 17 or later: no java on PATH and JAVA_HOME is not set "
                      "(e.g. apt-get install openjdk-17-jre-headless)")


def hadoop_path(spark: Any, uri: str) -> tuple[Any, Any]:
    """(the Hadoop file system of the URI, its Path): any scheme Spark is configured for."""
    path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(uri)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def start_session(config: Config) -> tuple[Any, bool]:
    """This process's Spark session for the config: (session, created by this call).

    An active session is reused (a test runs several imports on one); it must be the one of this
    work_dir, since the metastore and warehouse of a session cannot change.
    """
    try:
        import dbt.adapters.spark  # noqa: F401
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise EngineError(f"engine spark: {error.name} is not installed; run {INSTALL_HINT}") from None
    settings = spark_settings(config)
    active = SparkSession.getActiveSession()
    if active is not None:
        warehouse = active.conf.get("spark.sql.warehouse.dir")
        if not same_location(warehouse, settings["spark.sql.warehouse.dir"]):
            raise EngineError(f"a Spark session with another warehouse ({warehouse}) is already running in this process")
        for key in ("spark.sql.session.timeZone", "spark.sql.ansi.enabled"):
            active.conf.set(key, settings[key])
        return active, False
    _check_java()
    if settings["spark.master"].startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # PySpark starts its workers with $PYSPARK_PYTHON, whatever the conf says
    os.environ["PYSPARK_PYTHON"] = settings["spark.pyspark.python"]
    config.work_dir.mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder
    for key, value in settings.items():
        builder = builder.config(key, value)
    if settings["spark.sql.catalogImplementation"] == "hive":
        builder = builder.enableHiveSupport()
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    warehouse = settings["spark.sql.warehouse.dir"].rstrip("/")
    for schema in DBT_SCHEMAS:
        # a model folder no catalog knows (an in-memory catalog's earlier run) would stop dbt's
        # `create table`: every model is rebuilt anyway
        if not spark.catalog.databaseExists(schema):
            fs, path = hadoop_path(spark, f"{warehouse}/{schema}.db")
            fs.delete(path, True)
    # the marts' schema is the one unqualified names mean, as on DuckDB
    spark.sql(f"create database if not exists {DBT_SCHEMAS[0]}")
    spark.catalog.setCurrentDatabase(DBT_SCHEMAS[0])
    return spark, True


def _row(row: Any) -> tuple[Any, ...]:
    # PySpark hands timestamps over in the Python process's local zone: back to UTC, as DuckDB gives them
    return tuple(v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) else v for v in row)


class SparkResult:
    """A query's rows: fetchmany streams them a partition at a time (never all in the driver)."""

    def __init__(self, frame: Any) -> None:
        self._frame = frame
        self._rows: Any = None

    def fetchall(self) -> list[tuple[Any, ...]]:
        if self._rows is None:
            return [_row(row) for row in self._frame.collect()]
        return [_row(row) for row in self._rows]

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        if self._rows is None:
            self._rows = self._frame.toLocalIterator(prefetchPartitions=True)
        return [_row(row) for row in islice(self._rows, size)]

    def fetchone(self) -> tuple[Any, ...] | None:
        rows = self.fetchmany(1)
        return rows[0] if rows else None


class SparkEngine:
    name = "spark"

    def __init__(self, config: Config) -> None:
        self.config = config
        self._spark: Any = None
        self._owns_session = False

    @property
    def spark(self) -> Any:
        if self._spark is None:
            self._spark, self._owns_session = start_session(self.config)
        return self._spark

    @property
    def raw_location(self) -> str:
        return _uri(self.config.spark.raw_location or self.config.raw_dir.as_posix())

    def register_raw(self, raw_dir: Path) -> None:
        register_raw_views(self, raw_dir)

    def register_raw_table(self, name: str, path: str, several: bool) -> None:
        self.execute(f"create or replace view raw.{name} as select * from parquet.`{path}`")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> SparkResult:
        return SparkResult(self.spark.sql(sql, args=list(params)) if params else self.spark.sql(sql))

    @property
    def warehouse(self) -> str:
        return spark_settings(self.config)["spark.sql.warehouse.dir"].rstrip("/")

    def create_table_sql(self, name: str, columns: Sequence[str]) -> str:
        # a fixed location: a new session's catalog finds the earlier runs' rows there
        schema, table = name.split(".")
        location = f"{self.warehouse}/{schema}.db/{table}"
        return f"create table if not exists {name} ({', '.join(columns)}) using parquet location '{location}'"

    def relation_type(self, schema: str, name: str) -> str | None:
        if not self.spark.catalog.tableExists(f"{schema}.{name}"):
            return None
        return "view" if self.spark.catalog.getTable(f"{schema}.{name}").tableType == "VIEW" else "table"

    def dbt_target(self) -> tuple[str, Path]:
        """(dbt target, profiles dir): profiles.yml's session target, which picks up this session."""
        return DBT_TARGET, PROJECT_DIR

    def run_dbt(self, args: list[str], progress: Any = None) -> bool:
        """dbt in this process, so dbt-spark's session method uses this session (and its UDFs); its
        events go to the same progress and error lines as a DuckDB run's."""
        from dbt.cli.main import dbtRunner
        from dbt_common.events.functions import msg_to_json

        from gladly_import.dbt_runner import DbtEvents

        os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        events = DbtEvents(progress)
        runner = dbtRunner(callbacks=[lambda event: events.feed(msg_to_json(event))])
        # dbt's target/ and logs/ belong to the run, not to the (maybe installed, read-only) project
        state = dbt_state_dir(self.config.work_dir)
        target, profiles = self.dbt_target()
        result = runner.invoke([*args, "--target", target, "--log-level", "none", "--no-use-colors",
                                "--target-path", str(state / "target"), "--log-path", str(state / "logs"),
                                "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(profiles)])
        succeeded = bool(result.success)
        events.finish(succeeded)
        return succeeded

    def describe(self) -> str:
        return f"spark {self.warehouse}"

    def release(self) -> None:
        pass  # a session is not cheap to start again

    def close(self) -> None:
        if self._spark is not None and self._owns_session:
            self._spark.stop()
        self._spark = None


def register_raw_views(engine: Any, raw_dir: Path) -> None:
    """The raw Parquet as views in `raw`, copied first to the engine's raw location when that is not
    the local raw folder (pyarrow's file systems: another folder, file:// on a shared disk, s3a://, ...)."""
    location = engine.raw_location
    if not same_location(location, raw_dir.resolve().as_uri()):
        copy_raw(raw_dir, location)
    engine.execute("create database if not exists raw")
    for name, (path, several) in raw_tables(location).items():
        engine.register_raw_table(name, path, several)


def ENGINE(config: Config) -> Any:  # noqa: N802 (open_engine calls each engine module's ENGINE)
    """spark.method: session (a Spark session in this process) or thrift (a Spark Thrift server)."""
    if config.spark.method == "thrift":
        from gladly_import.engines.spark_thrift import SparkThriftEngine

        return SparkThriftEngine(config)
    return SparkEngine(config)
