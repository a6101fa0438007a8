"""The run's progress display: live on a terminal, plain timestamped lines anywhere else.

On a terminal (stderr a TTY, not ``TERM=dumb``, not ``-q``) each stage gets a live row: its bar,
the share done, done/total (bytes for files, pages for an API, models and tests for dbt), the pace,
the time left and what it is doing. rich draws it: it redraws in place, keeps log lines printed
above the rows instead of through them (it routes sys.stderr while live), fits the terminal's
width, measures the pace over the last 30 seconds rather than since the start, honours NO_COLOR,
and puts the cursor back on Ctrl-C; that is more than a hand-written ``\\r`` line gets right.
Elsewhere ``extract.context.PlainLines`` logs a line per stage every few seconds
(``GLADLY_PROGRESS_SECONDS``, default 5).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, ProgressColumn, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress
from rich.table import Column
from rich.text import Text

from extract.context import PlainLines, Progress, amount, progress_logger

PLAIN_SECONDS_ENV = "GLADLY_PROGRESS_SECONDS"
LOG_FILE_SECONDS = 30.0  # while live, a plain line this often for the log file


class _Amount(ProgressColumn):
    """done / total in the stage's unit: 412.0 MB/1.0 GB, 37/66 models and tests, 12 pages."""

    def render(self, task: Any) -> Text:
        unit = task.fields.get("unit")
        if not task.fields.get("counted"):
            return Text(amount(task.completed, unit) if task.completed and unit else "")
        if task.total is None:
            return Text(amount(task.completed, unit) if task.completed else "")
        if unit == "bytes":
            return Text(f"{amount(task.completed, unit)}/{amount(task.total, unit)}")
        return Text(f"{task.completed:,.0f}/{amount(task.total, unit)}")


class _Pace(ProgressColumn):
    def render(self, task: Any) -> Text:
        speed = task.finished_speed or task.speed
        if not speed or task.fields.get("unit") != "bytes":  # "3 models and tests/s" says nothing
            return Text("")
        return Text(f"{amount(speed, task.fields.get('unit'))}/s")


class LiveDisplay:
    """One live row per stage (see the module's docstring)."""

    interval = 0.25

    def __init__(self, console: Console) -> None:
        self.rows = RichProgress(
            TextColumn("{task.description}", markup=False),
            BarColumn(bar_width=16),
            TaskProgressColumn(),
            _Amount(),
            _Pace(),
            TimeRemainingColumn(compact=True, elapsed_when_finished=True),
            TextColumn("{task.fields[message]}", markup=False,
                       table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
            console=console, refresh_per_second=4, expand=True,
        )
        # Keyed by the Progress object itself, never its id(): CPython gives a collected stage's id
        # to the next object, whose numbers would then land in the earlier stage's row.
        self._tasks: dict[Progress, Any] = {}
        self._logged: dict[Progress, float] = {}

    def __enter__(self) -> LiveDisplay:
        self.rows.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the live rows (they stay on screen as they were): the run's result comes below them."""
        self.rows.stop()

    def show(self, progress: Progress, final: bool = False) -> None:
        task = self._tasks.get(progress)
        if task is None:
            task = self._tasks[progress] = self.rows.add_task(progress.stage, total=progress.total,
                                                              message=progress.message, unit=progress.unit, counted=False)
            self._logged[progress] = time.monotonic()
        total = progress.total if progress.total else (max(progress.done, 1.0) if final else None)
        self.rows.update(task, completed=progress.done if not final or progress.total else total, total=total,
                         message=progress.message, unit=progress.unit, counted=progress.total is not None)
        if final:
            self.rows.stop_task(task)
        # The log file (and -v) keep a plain line now and then, and the last one.
        now = time.monotonic()
        if final or now - self._logged[progress] >= LOG_FILE_SECONDS:
            self._logged[progress] = now
            progress_logger.debug("%s", progress.line())


def _console_shows(logger: logging.Logger, level: int) -> bool:
    """Whether a record of ``level`` from ``logger`` reaches a handler other than a log file (not -q)."""
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if not isinstance(handler, logging.FileHandler) and handler.level <= level:
                return True
        current = current.parent if current.propagate else None
    return not logging.getLogger().hasHandlers()  # logging not set up: nothing asked for quiet


@contextmanager
def progress_display(console: Console | None = None) -> Iterator[LiveDisplay | PlainLines]:
    """The display for this run: live rows on a terminal, else plain lines (nothing under -q)."""
    console = console or Console(stderr=True)
    if console.is_terminal and not console.is_dumb_terminal and _console_shows(progress_logger, logging.INFO):
        with LiveDisplay(console) as live:
            yield live
        return
    yield PlainLines(interval=float(os.environ.get(PLAIN_SECONDS_ENV, "5")))
