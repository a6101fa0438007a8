"""engine: spark on a real cluster, started here from the pinned pyspark wheel: a standalone master,
two workers with one core each, and a Spark Thrift server attached to the master.

One cluster serves the module (it takes ~40 s to start): the samples through `method: thrift` (a
full import, then a delta with nothing new), then, the Thrift server stopped (its executors hold
both cores), through `method: session` with `master: spark://...`, one worker killed mid-build.
Each gives the Gladly CSV and rejects byte for byte as DuckDB does. The Thrift server's JVM and the
session's driver run in America/New_York: a session left in the server's zone would move every
`...Z` timestamp. The raw Parquet goes to a `raw_location` apart from the work dir (file://, as a
shared disk would be), and the session's executors get no Python at all (spark.pyspark.python
names none): the email rule arrives as a table, nothing Python runs on the cluster.
Everything the cluster started is stopped at the end, and checked gone.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.python.conftest import SAMPLES_DIR, run_import

pytestmark = pytest.mark.slow

pytest.importorskip("pyspark", reason="the Spark extras are not installed (make test installs them)")
pytest.importorskip("pyhive", reason="the Spark extras are not installed (make test installs them)")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    if os.environ.get("CI"):
        raise RuntimeError("CI: the Spark tests need Java 17+")
    pytest.skip("no Java: the Spark tests need Java 17+", allow_module_level=True)

from tests.python.spark_cluster import SparkCluster  # noqa: E402

IMPORT_SECONDS = 1200  # one sample import on the cluster, on a machine shared with other work
ZONE = "-Duser.timezone=America/New_York"


def _config(folder: Path, spark: dict[str, Any] | None) -> Path:
    shutil.copytree(SAMPLES_DIR, folder / "samples")
    path = folder / "samples" / "config.yml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    if spark is not None:
        config["engine"] = "spark"
        config["spark"] = spark
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _outputs(output_dir: Path) -> dict[str, bytes]:
    names = sorted(output_dir.glob("gladly_conversation_items_*.csv"))
    return {p.name: p.read_bytes() for p in [*names, output_dir / "gladly_import_rejects.csv"]}


def _summary(output_dir: Path) -> dict[str, Any]:
    return json.loads((output_dir / "import_summary.json").read_text(encoding="utf-8"))


def _kill_when(cluster: SparkCluster, marker: Path, done: threading.Event, killed: dict[str, float]) -> None:
    """Kills the first worker (and its executor) once the build has reached the marker's model."""
    while not done.is_set():
        if marker.exists():
            killed["alive_before"] = cluster.alive_workers()
            cluster.kill(cluster.workers[0])
            killed["at"] = time.monotonic()
            return
        time.sleep(0.2)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("cluster")
    duck = run_import(_config(root / "duckdb", None))
    assert duck.returncode == 0, duck.stderr
    (root / "cluster").mkdir()
    cluster = SparkCluster(root / "cluster")
    left: list[str] = []
    try:
        cluster.start(workers=2)
        cluster.start_thrift_server(ZONE)
        thrift_config = _config(root / "thrift", {
            "method": "thrift", "host": "127.0.0.1", "port": cluster.thrift_port,
            "raw_location": (root / "shared" / "thrift-raw").as_uri()})
        thrift = run_import(thrift_config, timeout=IMPORT_SECONDS)
        assert thrift.returncode == 0, thrift.stderr[-5000:]
        thrift_full = {"code": thrift.returncode, "stderr": thrift.stderr, "files": _outputs(thrift.output_dir),
                       "summary": _summary(thrift.output_dir)}
        delta = run_import(thrift_config, "--mode", "delta", timeout=IMPORT_SECONDS)
        thrift_delta = {"code": delta.returncode, "stderr": delta.stderr, "files": _outputs(delta.output_dir),
                        "summary": _summary(delta.output_dir)}
        cluster.stop_process(cluster.thrift)

        session_config = _config(root / "session", {
            "master": cluster.url, "raw_location": (root / "shared" / "session-raw").as_uri(),
            "conf": {"spark.driver.extraJavaOptions": ZONE, "spark.pyspark.python": "/nonexistent/python",
                     "spark.executor.memory": "1g"}})
        marker = root / "session" / "work" / "spark-warehouse" / "intermediate.db" / "int_customer_emails_normalized"
        done, killed = threading.Event(), {}
        killer = threading.Thread(target=_kill_when, args=(cluster, marker, done, killed), daemon=True)
        killer.start()
        try:
            session = run_import(session_config, env={"SPARK_LOCAL_IP": "127.0.0.1"}, timeout=IMPORT_SECONDS)
        finally:
            done.set()
            killer.join(timeout=60)
        yield {"duckdb": duck, "thrift": thrift_full, "delta": thrift_delta, "killed": killed,
               "alive_after": cluster.alive_workers(), "root": root,
               "session": {"code": session.returncode, "stderr": session.stderr,
                           "files": _outputs(session.output_dir), "summary": _summary(session.output_dir)}}
    finally:
        left = cluster.stop()
    assert left == [], f"processes the cluster started outlived it: {left}"


def test_thrift_gives_duckdbs_gladly_files_and_rejects_byte_for_byte(runs: dict[str, Any]) -> None:
    assert runs["thrift"]["code"] == 0, runs["thrift"]["stderr"][-3000:]
    duck = _outputs(runs["duckdb"].output_dir)
    assert len(duck) >= 2 and runs["thrift"]["summary"]["totals"]["exported"] > 400
    assert runs["thrift"]["files"] == duck
    assert runs["thrift"]["summary"]["platforms"] == runs["duckdb"].summary["platforms"]
    assert runs["thrift"]["summary"]["totals"] == runs["duckdb"].summary["totals"]


def test_thrift_reads_the_raw_parquet_from_the_raw_location(runs: dict[str, Any]) -> None:
    shared = runs["root"] / "shared" / "thrift-raw"
    assert (shared / "zendesk").is_dir() and (shared / "email_normalizations.parquet").is_file()


def test_a_thrift_delta_with_nothing_new_writes_no_file(runs: dict[str, Any]) -> None:
    assert runs["delta"]["code"] == 0, runs["delta"]["stderr"][-3000:]
    assert runs["delta"]["summary"]["files"] == []
    assert runs["delta"]["summary"]["totals"]["exported"] == 0
    assert runs["delta"]["summary"]["totals"]["already_exported"] == runs["thrift"]["summary"]["totals"]["exported"]
    # the full run's Gladly files are left as they were; only the rejects file is the delta's
    full = runs["thrift"]["files"]
    assert {k: v for k, v in runs["delta"]["files"].items() if k != "gladly_import_rejects.csv"} == {
        k: v for k, v in full.items() if k != "gladly_import_rejects.csv"}


def test_a_session_on_the_cluster_survives_a_worker_killed_mid_build_with_the_same_bytes(runs: dict[str, Any]) -> None:
    assert runs["killed"].get("alive_before") == 2, "the worker was never killed mid-build"
    assert runs["alive_after"] == 1
    assert runs["session"]["code"] == 0, runs["session"]["stderr"][-3000:]
    assert runs["session"]["files"] == _outputs(runs["duckdb"].output_dir)
    assert runs["session"]["summary"]["totals"] == runs["duckdb"].summary["totals"]
