"""A real Spark standalone cluster on this machine, from the pinned pyspark wheel: a master, workers
with one core each, and a Spark Thrift server attached to the master, all on 127.0.0.1 with ports
chosen free at start, every file (logs, metastore, warehouse, scratch) under one folder.

Each process starts in its own process group (a worker's executors are its children), so stopping
one, or killing it as a machine would die, takes its executors with it; ``stop`` ends everything
this cluster started and says which process outlived it (none, or the test fails).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pyspark

SPARK_HOME = Path(pyspark.__file__).parent
START_SECONDS = 180  # the JVMs on a shared machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, ready, deadline: float, processes: list[subprocess.Popen]) -> None:  # type: ignore[no-untyped-def]
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise RuntimeError(f"{what}: a cluster process exited early")
        if ready():
            return
        time.sleep(0.5)
    raise TimeoutError(f"{what}: not ready in {START_SECONDS}s")


@dataclass
class SparkCluster:
    folder: Path
    master_port: int = 0
    master_ui_port: int = 0
    thrift_port: int = 0
    master: subprocess.Popen | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)
    thrift: subprocess.Popen | None = None
    started: list[int] = field(default_factory=list)  # every pid, executors included, seen while running

    @property
    def url(self) -> str:
        return f"spark://127.0.0.1:{self.master_port}"

    def _env(self) -> dict[str, str]:
        conf = self.folder / "conf"
        conf.mkdir(exist_ok=True)  # an empty conf dir: no spark-defaults of the machine's
        return {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": "127.0.0.1",
                "SPARK_CONF_DIR": str(conf), "SPARK_LOG_DIR": str(self.folder / "logs"),
                "PYSPARK_PYTHON": sys.executable, "SPARK_NO_DAEMONIZE": "1"}

    def _start(self, name: str, command: list[str]) -> subprocess.Popen:
        log = (self.folder / "logs" / f"{name}.log").open("wb")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self._env(),
                                   cwd=self.folder, start_new_session=True)
        log.close()
        self.started.append(process.pid)
        return process

    def _master_state(self) -> dict:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.master_ui_port}/json/", timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            return {}

    def alive_workers(self) -> int:
        return int(self._master_state().get("aliveworkers", 0))

    def start(self, workers: int = 2) -> None:
        (self.folder / "logs").mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + START_SECONDS
        self.master_port, self.master_ui_port = free_port(), free_port()
        self.master = self._start("master", [str(SPARK_HOME / "bin" / "spark-class"), "org.apache.spark.deploy.master.Master",
                                             "--host", "127.0.0.1", "--port", str(self.master_port),
                                             "--webui-port", str(self.master_ui_port)])
        for n in range(workers):
            work = self.folder / f"worker-{n}"
            work.mkdir()
            self.workers.append(self._start(f"worker-{n}", [
                str(SPARK_HOME / "bin" / "spark-class"), "org.apache.spark.deploy.worker.Worker",
                "--host", "127.0.0.1", "--port", str(free_port()), "--webui-port", str(free_port()),
                "--cores", "1", "--memory", "1500m", "--work-dir", str(work), self.url]))
        _wait("the master and its workers", lambda: self.alive_workers() == workers, deadline,
              [self.master, *self.workers])

    def start_thrift_server(self, java_options: str = "") -> None:
        """HiveThriftServer2 as an application of the master, its metastore, warehouse and scratch here."""
        deadline = time.monotonic() + START_SECONDS
        self.thrift_port = free_port()
        hive = self.folder / "thrift"
        hive.mkdir(exist_ok=True)
        self.thrift = self._start("thrift", [
            str(SPARK_HOME / "bin" / "spark-submit"), "--master", self.url,
            "--class", "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2", "--name", "thrift-server",
            "--driver-memory", "1g", "--executor-memory", "1g",
            "--conf", "spark.ui.enabled=false",
            "--conf", f"spark.sql.warehouse.dir={(hive / 'warehouse').as_uri()}",
            "--conf", f"spark.hadoop.javax.jdo.option.ConnectionURL=jdbc:derby:;databaseName={hive / 'metastore_db'};create=true",
            "--conf", "spark.sql.shuffle.partitions=8",
            "--conf", f"spark.driver.extraJavaOptions=-Dderby.system.home={hive} {java_options}".strip(),
            "--hiveconf", f"hive.server2.thrift.port={self.thrift_port}",
            "--hiveconf", "hive.server2.thrift.bind.host=127.0.0.1",
            "--hiveconf", f"hive.exec.scratchdir={hive / 'scratch'}",
            "--hiveconf", f"hive.exec.local.scratchdir={hive / 'local-scratch'}",
            # one folder per session, as Hive's default is: closing a session deletes its resources
            # folder, and dbt's threads open and close sessions side by side (a shared one raced)
            "--hiveconf", f"hive.downloaded.resources.dir={hive / 'resources'}/${{hive.session.id}}_resources",
            "--hiveconf", f"hive.querylog.location={hive / 'querylog'}",
            "--hiveconf", f"hive.server2.logging.operation.log.location={hive / 'operation-logs'}",
        ])

        def listening() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.thrift_port)) == 0

        _wait("the Thrift server", listening, deadline, [self.thrift])

    def _record_children(self) -> None:
        for pid in list(self.started):
            try:
                self.started.extend(c.pid for c in psutil.Process(pid).children(recursive=True)
                                    if c.pid not in self.started)
            except psutil.NoSuchProcess:
                pass

    def kill(self, process: subprocess.Popen) -> None:
        """The process and its children (a worker's executors) killed at once, as a lost machine."""
        self._record_children()
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)

    def stop_process(self, process: subprocess.Popen | None) -> None:
        if process is None or process.poll() is not None:
            return
        self._record_children()
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        except ProcessLookupError:
            pass

    def stop(self) -> list[str]:
        """Everything stopped (the Thrift server, the workers, the master); the processes still alive
        after it, as 'pid cmdline' (none expected)."""
        self._record_children()
        for process in [self.thrift, *self.workers, self.master]:
            self.stop_process(process)
        time.sleep(1)
        left = []
        for pid in self.started:
            try:
                proc = psutil.Process(pid)
                if proc.status() != psutil.STATUS_ZOMBIE:
                    left.append(f"{pid} {' '.join(proc.cmdline())[:200]}")
            except psutil.NoSuchProcess:
                pass
        return left
