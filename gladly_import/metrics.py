"""Per-stage timings and peak memory of a run (this process and its children, e.g. dbt).

A background thread samples the resident memory of the process tree; each stage records its
seconds, its CPU seconds (on every core, its processes' included) and the peak seen while it ran.
`make bench` reads the result from run_metrics.json.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from gladly_import.paths import DBT_MODULE


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of the process and of every process below it."""
    return sum(rss for _, rss in _resident_tree(process))


def tree_rss_by_role(runner: psutil.Process) -> dict[str, int]:
    """Resident bytes of the runner, of dbt and of the other processes below it (extraction, workers):
    who holds a peak, where to look for a cut."""
    roles = {"runner": 0, "dbt": 0, "other processes": 0}
    for process, rss in _resident_tree(runner):
        if process is runner:
            roles["runner"] += rss
            continue
        try:
            roles["dbt" if DBT_MODULE in " ".join(process.cmdline()) else "other processes"] += rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):  # ended since: its bytes still count
            roles["other processes"] += rss
    return roles


def _resident_tree(process: psutil.Process) -> Iterator[tuple[psutil.Process, int]]:
    """Each live process of the tree with its resident bytes (one that ended meanwhile left out)."""
    for p in [process, *process.children(recursive=True)]:
        try:
            yield p, p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass


def cpu_seconds() -> float:
    """The CPU time (user and system) of this process and of the children it has waited for (dbt, the
    extraction's processes, the workers: each stage waits for those it starts, so a stage's difference
    is its own CPU on every core)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def own_peak_rss_kb() -> int:
    """This process' own peak RSS (VmHWM), in KiB. Not ``ru_maxrss``: subprocess starts a child
    with vfork then exec, and Linux carries the parent's peak into the child's ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource  # not Linux: the best there is

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class StageMetrics:
    @classmethod
    def disabled(cls) -> StageMetrics:
        return cls(interval=0)

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.stages: list[dict[str, Any]] = []
        self._process = psutil.Process()
        self._peak = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        if interval > 0:
            self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            rss = tree_rss(self._process)
            with self._lock:
                self._peak = max(self._peak, rss)
            self._stop.wait(self.interval)

    @contextmanager
    def stage(self, name: str, **details: Any) -> Iterator[dict[str, Any]]:
        with self._lock:
            self._peak = tree_rss(self._process)
        started, cpu_started = time.perf_counter(), cpu_seconds()
        record: dict[str, Any] = {"stage": name, **details}
        try:
            yield record
        finally:
            record["seconds"] = round(time.perf_counter() - started, 3)
            record["cpu_seconds"] = round(cpu_seconds() - cpu_started, 2)
            with self._lock:
                record["peak_rss_mb"] = round(max(self._peak, tree_rss(self._process)) / 2**20, 1)
            self.stages.append(record)

    def write(self, path: Path) -> None:
        self._stop.set()
        path.write_text(json.dumps({"stages": self.stages}, indent=2) + "\n", encoding="utf-8")
