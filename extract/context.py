"""What an extractor is handed: its validated settings, its resolved files, and a progress line."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from extract.files import display_path


class Progress:
    """A progress line on stderr, refreshed at most every ``interval`` seconds."""

    def __init__(self, platform: str, stream: TextIO | None = None, interval: float = 2.0) -> None:
        self.platform = platform
        self.stream = stream or sys.stderr
        self.interval = interval
        self.started = time.monotonic()
        self._last = 0.0

    def update(self, message: str, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= self.interval:
            self._last = now
            elapsed = now - self.started
            print(f"  [{self.platform}] {message} ({elapsed:,.0f}s)", file=self.stream, flush=True)


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

    def name_of(self, path: Path) -> str:
        return display_path(path, self.base_dir)

    def report(self, message: str, force: bool = False) -> None:
        if self.progress is not None:
            self.progress.update(message, force=force)
