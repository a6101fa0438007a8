"""dbt in its own process, against this run's DuckDB file, its news told as progress and clear lines.

dbt writes its structured log (``--log-format json``: one event a line) to a pipe that only this
module reads; the person running the import sees a progress row (nodes done of the total dbt
announces), a line for each model or data test that fails, and dbt's error messages; never dbt's
raw output (all of it goes to the run's log file at DEBUG). Colours are off (``--no-use-colors``):
no terminal ever sees dbt's own text.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections import deque
from pathlib import Path
from typing import Any

from extract.context import Progress, tell
from gladly_import.config import Config
from gladly_import.paths import INSTALLED, PROJECT_DIR, SOURCE_ROOT, dbt_command, dbt_state_dir
from gladly_import.processes import child_process

DBT_OUTPUT_FLAGS = ["--log-format", "json", "--no-use-colors"]
MEMORY_LIMIT_ENV = "GLADLY_DUCKDB_MEMORY_LIMIT"
# DuckDB's memory limit in dbt and in the export, unless the environment sets one; beyond it DuckDB
# spills to disk. Every model that reads all the items fills it at 1M items, 100K items fill ~250 MB:
# at 400 MB the import's peak grew 13-14% from 100K to 1M items, at 256 MB 9% (docs/performance.md),
# and dbt build took no longer (20.8-23.1 s at 1M against 24.2-28.0 s; the spill stays in page cache).
DEFAULT_MEMORY_LIMIT = "256MB"
UNPARSED_LINES_KEPT = 40
# What dbt does before it builds anything (parsing can take a while): the progress row says so.
PREPARING = {"MainReportVersion": "starting dbt{version}", "UnableToPartialParse": "parsing the project",
             "FoundStats": "found {stat_line}"}

logger = logging.getLogger("gladly_import.dbt")


def _first_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return ": ".join(lines[:count])


class DbtEvents:
    """Reads dbt's JSON events: progress for each node done, a clear line for what went wrong."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.done = 0
        self.total: int | None = None
        self.errors: list[str] = []
        self.unparsed: deque[str] = deque(maxlen=UNPARSED_LINES_KEPT)  # a crash's traceback, bounded

    def feed(self, line: str) -> None:
        try:
            event = json.loads(line)
            info, data = event["info"], event.get("data") or {}
            name, level, message = info["name"], info.get("level"), info.get("msg") or ""
        except (ValueError, KeyError, TypeError):
            if line.strip():
                self.unparsed.append(line.rstrip())
                logger.debug("dbt: %s", line.rstrip())
            return
        logger.debug("dbt: %s", message)
        if name == "ConcurrencyLine" and isinstance(data.get("node_count"), int):
            self.total = data["node_count"]
            self._show(f"{self.total:,} models and tests to build", force=True)
        elif name != "LogStartLine" and isinstance(data.get("index"), int):
            self._node_done(name, data)  # a model, data test, seed, snapshot: built, failed or skipped
        elif name in PREPARING:
            self._show(PREPARING[name].format(**{k: str(v) for k, v in data.items()}))
        elif name == "RunResultError" or (level == "error" and name not in ("RunResultFailure", "EndOfRunSummary")):
            self._error(_first_lines(message))
        elif name == "SQLCompiledPath" and self.errors:
            tell(logger, logging.INFO, f"dbt: {message.strip()}")
        elif level == "warn":
            tell(logger, logging.WARNING, f"dbt: {_first_lines(message)}")

    def _node_done(self, name: str, data: dict[str, Any]) -> None:
        self.done += 1
        total = data.get("total", data.get("num_models"))  # a data test's event names it num_models
        if isinstance(total, int):
            self.total = total
        what = data.get("description") or data.get("name") or data.get("node_name") or "node"
        status = str(data.get("status") or ("skipped" if name == "SkippingDetails" else "")).lower()
        if status in ("error", "fail"):
            failures = data.get("num_failures")
            rows = f" ({failures:,} {'row' if failures == 1 else 'rows'})" if isinstance(failures, int) and failures else ""
            kind = "data test" if name == "LogTestResult" else ""
            self._error(f"{kind + ' ' if kind else ''}{what} failed{rows}")
        elif status == "warn":
            tell(logger, logging.WARNING, f"dbt: {what}: warning ({data.get('num_failures')} rows)")
        self._show(f"{what}: {status}" if status else what)

    def _error(self, text: str) -> None:
        if text and text not in self.errors:
            self.errors.append(text)
            tell(logger, logging.ERROR, f"dbt: {text}")

    def _show(self, message: str, force: bool = False) -> None:
        if self.progress is not None:
            self.progress.update(message, force=force, done=self.done, total=self.total)

    def finish(self, succeeded: bool) -> None:
        if not succeeded and not self.errors:
            for line in self.unparsed:  # dbt ended without a structured error: show what it printed
                tell(logger, logging.ERROR, f"dbt: {line}")
        summary = (f"{self.done:,} of {self.total or self.done:,} models and tests"
                   + ("" if succeeded else f", {len(self.errors):,} failed"))
        if self.progress is not None:
            self.progress.finish(summary)
            summary += f" in {self.progress.elapsed:,.1f}s"
        stage = self.progress.stage if self.progress is not None else "transform: dbt build"
        tell(logger, logging.INFO, f"{stage}: {summary}")


def duckdb_memory_limit() -> str:
    """The memory limit DuckDB is given, in dbt's profile and in the runner's own connection."""
    return os.environ.get(MEMORY_LIMIT_ENV, DEFAULT_MEMORY_LIMIT)


def dbt_environment(config: Config) -> dict[str, str]:
    """The environment dbt runs in for ``config``: its DuckDB file, this project, the run's target/ and logs/."""
    return {
        **os.environ,
        "GLADLY_DUCKDB_PATH": str(config.database_path),
        MEMORY_LIMIT_ENV: duckdb_memory_limit(),
        "DBT_PROFILES_DIR": str(PROJECT_DIR),
        # In a checkout dbt's Python imports this project from it; installed, from site-packages.
        "PYTHONPATH": os.pathsep.join(p for p in (None if INSTALLED else str(SOURCE_ROOT), os.environ.get("PYTHONPATH")) if p),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        # dbt's target/ and logs/ belong to the run, not to the (maybe installed, read-only) project.
        "DBT_TARGET_PATH": str(dbt_state_dir(config.work_dir) / "target"),
        "DBT_LOG_PATH": str(dbt_state_dir(config.work_dir) / "logs"),
    }


def dbt_invocation(args: list[str], project_dir: Path = PROJECT_DIR, profiles_dir: Path = PROJECT_DIR) -> list[str]:
    """The command that runs ``dbt <args>`` on the dbt project (this one) with this interpreter."""
    return [*dbt_command(), *args, "--project-dir", str(project_dir), "--profiles-dir", str(profiles_dir)]


def run_dbt(config: Config, args: list[str], progress: Progress | None = None, *, profiles_dir: Path = PROJECT_DIR,
            env: dict[str, str] | None = None) -> bool:
    """Run dbt in its own process, against this run's DuckDB file (or the target ``args`` names in
    ``profiles_dir``, with ``env`` added); True when it succeeded."""
    env = {**dbt_environment(config), **(env or {})}
    command = dbt_invocation([*args, *DBT_OUTPUT_FLAGS], profiles_dir=profiles_dir)
    events = DbtEvents(progress)
    # Its own session (processes.py): the terminal's Ctrl-C reaches the runner only, which stops dbt.
    with child_process(command, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, encoding="utf-8", errors="replace") as dbt_process:
        assert dbt_process.stdout is not None
        for line in dbt_process.stdout:
            events.feed(line)
        succeeded = dbt_process.wait() == 0
    events.finish(succeeded)
    return succeeded
