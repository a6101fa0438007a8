"""Logging for a run, through the standard ``logging`` module.

One console handler on stderr and, once the run holds its work folder, one log file per run in it
(``<work_dir>/logs/import-<run id>.log``, every level; not in output_dir, the folder handed to Gladly). Every
logger under ``gladly_import`` and ``extract`` reaches both: the runner's stage lines, the API
client's retries and waits (``extract.api``), the progress display (``gladly_import.progress``).
What a run prints as its result (the summary table, the files written) goes to stdout through
``gladly_import.result``, and into the log file too.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

PACKAGES = ("gladly_import", "extract")
RESULT_LOGGER = "gladly_import.result"
LOG_DIR_NAME = "logs"
QUIET, NORMAL, VERBOSE = -1, 0, 1
CONSOLE_LEVELS = {QUIET: logging.WARNING, NORMAL: logging.INFO, VERBOSE: logging.DEBUG}
FILE_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)-7s %(name)s: %(message)s"

logger = logging.getLogger("gladly_import")
result_logger = logging.getLogger(RESULT_LOGGER)


class _CurrentStream(logging.StreamHandler):
    """A stream handler writing to whatever sys.stderr / sys.stdout is at the time (pytest swaps them)."""

    def __init__(self, name: str) -> None:
        super().__init__(getattr(sys, name))
        self._name = name

    def emit(self, record: logging.LogRecord) -> None:
        self.setStream(getattr(sys, self._name))
        super().emit(record)


class _NotResult(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != RESULT_LOGGER


def _ours(handler: logging.Handler) -> logging.Handler:
    handler._gladly_import = True  # type: ignore[attr-defined]
    return handler


def setup(verbosity: int = NORMAL) -> None:
    """Console logging for this process: messages on stderr at the chosen level, results on stdout."""
    shutdown()
    for name in PACKAGES:
        logging.getLogger(name).setLevel(logging.DEBUG)
    root = logging.getLogger()
    console = _ours(_CurrentStream("stderr"))
    console.setLevel(CONSOLE_LEVELS[max(QUIET, min(VERBOSE, verbosity))])
    console.addFilter(_NotResult())
    console.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S")
                         if verbosity >= VERBOSE else logging.Formatter("%(message)s"))
    root.addHandler(console)
    result = _ours(_CurrentStream("stdout"))
    result.setFormatter(logging.Formatter("%(message)s"))
    result_logger.addHandler(result)
    result_logger.propagate = True


def log_file_path(work_dir: Path, run_id: str, kind: str = "import") -> Path:
    return work_dir / LOG_DIR_NAME / f"{kind}-{run_id}.log"


def add_run_file(work_dir: Path, run_id: str, kind: str = "import") -> Path:
    """Start this run's log file (every level, UTC timestamps), ``import-`` or ``push-<run id>.log``; its path."""
    path = log_file_path(work_dir, run_id, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = _ours(logging.FileHandler(path, encoding="utf-8", delay=False))
    handler.setLevel(logging.DEBUG)
    formatter = logging.Formatter(FILE_FORMAT, "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logging.getLogger().addHandler(handler)
    return path


def remove_run_file(path: Path) -> None:
    """Close the log file of one run (a push called from code, not from main(), leaves no handler behind)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_gladly_import", False) and getattr(handler, "baseFilename", None) == os.path.abspath(path):
            root.removeHandler(handler)
            handler.close()


def shutdown() -> None:
    """Close and remove this module's handlers (main() may run several times in one process)."""
    for owner in (logging.getLogger(), result_logger):
        for handler in list(owner.handlers):
            if getattr(handler, "_gladly_import", False):
                owner.removeHandler(handler)
                handler.close()
