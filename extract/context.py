"""What an extractor is handed: its validated settings, its resolved files, and its progress.

Progress is told, not guessed: a file-based source's total is the size of its files (known before
it starts) and what is done is how far this process has read into them (``extract.readers.streams`` tracks
every file opened through ``open_binary``/``open_zip``: no extractor counts bytes). An API source
declares what it knows (``ctx.report(..., done=page, total=pages, unit="pages")``). A display
shows it: a live one on a terminal (``gladly_import.progress``), else ``PlainLines``: a timestamped
line now and then through ``logging.getLogger("gladly_import.progress")`` (silent under ``-q``).
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any, Protocol, TextIO

from extract.files import display_path
from extract.readers.streams import forget_positions, read_position

progress_logger = logging.getLogger("gladly_import.progress")


def tell(logger: logging.Logger, level: int, message: str) -> None:
    """Log a line for the person running the import; on stderr when logging is not set up at all."""
    if logger.hasHandlers():
        logger.log(level, "%s", message)
    elif level >= logging.INFO:  # a library use: as logging's last resort does, for INFO too
        print(message, file=sys.stderr, flush=True)


class ProgressDisplay(Protocol):
    interval: float  # seconds between two refreshes of one stage

    def show(self, progress: Progress, final: bool = False) -> None: ...

    def close(self) -> None: ...


def duration(seconds: float) -> str:
    """0.3s, 42s, 1m05s, 2h03m, 3d04h: how long, to the precision a person reads (the one formatter of
    the import, the API client's waits and the push)."""
    if 0 < seconds < 0.5:  # a retry's short wait; otherwise whole seconds
        return f"{seconds:.1f}s"
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def amount(value: float, unit: str | None) -> str:
    if unit == "bytes":
        for factor, name in ((2**30, "GB"), (2**20, "MB"), (2**10, "KB")):
            if value >= factor:
                return f"{value / factor:,.1f} {name}"
        return f"{value:,.0f} bytes"
    return f"{value:,.0f}" + (f" {unit}" if unit else "")


class Progress:
    """One stage's progress: how much of how much (bytes, pages, models), and what it is doing now.

    ``update`` is cheap enough to call on every record: it does nothing until the display's
    interval has passed (so no line says "line 1, 0 comments (0s)"), and a forced message equal to
    the last one shown is not shown again.
    """

    def __init__(self, stage: str, display: ProgressDisplay | TextIO | None = None,
                 files: list[Path] | tuple[Path, ...] = (), total: float | None = None, unit: str | None = None, *,
                 stream: TextIO | None = None, interval: float | None = None) -> None:
        self.stage = stage
        if display is not None and hasattr(display, "write"):  # Progress(name, stream): lines on a stream
            display, stream = None, display  # type: ignore[assignment]
        if display is None:
            default = PlainLines() if interval is None else PlainLines(interval=interval)
            display = StreamLines(stream, default.interval) if stream is not None else default
        self.display: ProgressDisplay = display  # type: ignore[assignment]
        self.files = [Path(f).resolve() for f in files]
        sizes = [f.stat().st_size if f.exists() else 0 for f in self.files]
        self._bytes_before = [0, *accumulate(sizes)]  # bytes of the files before the i-th
        self.total = float(self._bytes_before[-1]) if self.files else total
        self.unit = "bytes" if self.files else unit
        self.done = 0.0
        self.message = ""
        self.started = time.monotonic()
        self.finished = False
        self._current = 0  # the file being read
        self._explicit: dict[Path, int] = {}  # positions told by an extractor that reads in other processes
        self._last = self.started
        self._shown: str | None = None
        # The time and amount done when the total became known: the pace is measured from there.
        self._paced_from: tuple[float, float] | None = (self.started, 0.0) if self.total is not None else None
        self.display.show(self)

    # what extractors (through SourceContext.report) and the runner call

    def update(self, message: str | None = None, force: bool = False, *, done: float | None = None,
               total: float | None = None, unit: str | None = None, file: Path | None = None) -> None:
        if file is not None and done is not None:
            self._explicit[Path(file).resolve()] = int(done)
        elif done is not None:
            self.done = float(done)
        if total is not None:
            self.total = float(total)
            if self._paced_from is None:
                self._paced_from = (time.monotonic(), self.done)
        if unit is not None:
            self.unit = unit
        if message is not None:
            self.message = message
        now = time.monotonic()
        if force:
            if message is not None and message == self._shown:
                return
        elif now - self._last < self.display.interval:
            return
        self._last = now
        self._shown = self.message
        self._refresh_bytes()
        self.display.show(self)

    def show_as_told(self, done: float, total: float | None, unit: str | None, message: str) -> None:
        """A state of this stage as another process showed it (it read the stage, and paced its lines
        as an ``update`` here would have): shown as it is, forced lines included."""
        self.done, self.unit, self.message = float(done), unit, message
        if total is not None:
            self.total = float(total)
            if self._paced_from is None:
                self._paced_from = (time.monotonic(), self.done)
        self._last, self._shown = time.monotonic(), message
        self.display.show(self)

    def advance(self, n: float = 1) -> None:
        self.update(done=self.done + n)

    def finish(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        self._refresh_bytes()
        if self.files:
            self.done = self.total or 0.0
        self.finished = True
        forget_positions(self.files)
        self.display.show(self, final=True)

    # what displays read

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)

    def seconds_left(self) -> float | None:
        """At the pace since the total was known; None until there is a pace to speak of."""
        if self.total is None or self._paced_from is None:
            return None
        since, done_then = self._paced_from
        seconds, done = time.monotonic() - since, self.done - done_then
        if seconds < 1.0 or done <= 0 or self.fraction is None or self.fraction < 0.001:
            return None
        return seconds * max(0.0, self.total - self.done) / done

    def rate(self) -> float | None:
        if self._paced_from is None:
            return None
        seconds = time.monotonic() - self._paced_from[0]
        return (self.done - self._paced_from[1]) / seconds if seconds >= 1.0 else None

    def line(self) -> str:
        """The stage in one line: what share of what, the pace, the time left, the extractor's words."""
        fraction, elapsed, left, rate = self.fraction, self.elapsed, self.seconds_left(), self.rate()
        words = f"; {self.message}" if self.message else ""
        if fraction is None:
            counted = f"{amount(self.done, self.unit)}, " if self.done else ""
            return f"{self.stage}: {self.message or 'working'} ({counted}{duration(elapsed)})"
        share = f"{fraction:.0%} of {amount(self.total or 0, self.unit)}"
        if self.finished:
            return f"{self.stage}: {share}, done in {duration(elapsed)}{words}"
        if left is None:
            return f"{self.stage}: {share} ({duration(elapsed)}){words}"
        pace = f"{amount(rate, self.unit)}/s, " if self.unit == "bytes" and rate else ""
        return f"{self.stage}: {share}, {pace}about {duration(left)} left{words}"

    def _refresh_bytes(self) -> None:
        """How far into its files this stage has read: the files before the current one, whole."""
        if not self.files:
            return
        done = None
        for index in range(self._current, len(self.files)):
            path = self.files[index]
            position = read_position(path)
            if position is None and path in self._explicit:
                position = (self._explicit[path], False)
            if position is None:
                continue
            offset, _ = position  # the last file with a position is the one being read
            self._current = index
            done = self._bytes_before[index] + min(offset, self._bytes_before[index + 1] - self._bytes_before[index])
        if done is not None:
            self.done = float(max(self.done, done))


class PlainLines:
    """Progress as log lines: for a pipe, a file, CI; one line per stage every ``interval`` seconds."""

    def __init__(self, interval: float = 5.0, logger: logging.Logger = progress_logger) -> None:
        self.interval = interval
        self.logger = logger

    def show(self, progress: Progress, final: bool = False) -> None:
        if final or (progress.done == 0 and not progress.message):
            return  # its start and its end are the runner's lines
        tell(self.logger, logging.INFO, f"{time.strftime('%H:%M:%S')} {progress.line()}")

    def close(self) -> None:
        pass


class StreamLines(PlainLines):
    """Plain lines written to a stream (a test's, a benchmark's) instead of the log."""

    def __init__(self, stream: TextIO, interval: float = 5.0) -> None:
        super().__init__(interval)
        self.stream = stream

    def show(self, progress: Progress, final: bool = False) -> None:
        if not final and (progress.done or progress.message):
            print(f"{time.strftime('%H:%M:%S')} {progress.line()}", file=self.stream, flush=True)


@dataclass
class SourceContext:
    platform: str
    options: dict[str, Any]
    base_dir: Path
    files: list[Path] = field(default_factory=list)
    state_dir: Path | None = None
    progress: Progress | None = None
    # "full" or "delta": an API extractor may start a delta from its last successful position.
    mode: str = "full"
    # The bundled samples (a simulator's default data): the runner knows where they are installed.
    samples_dir: Path | None = None

    def name_of(self, path: Path) -> str:
        return display_path(path, self.base_dir)

    def report(self, message: str, force: bool = False, **counts: Any) -> None:
        """What the extractor is doing, in words; refreshed at most every display interval.

        ``counts`` (see ``Progress.update``): ``done=``/``total=``/``unit=`` for what an API source
        knows (pages), or ``file=`` and ``done=`` for a byte position read in another process.
        """
        if self.progress is not None:
            self.progress.update(message, force=force, **counts)
