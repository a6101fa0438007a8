"""Opening a source file for streaming reads, and how far each opened file has been read.

gzip is recognised by its magic bytes, not its name. Every file opened here is tracked by path:
the progress display reads how far into the file (on disk: compressed bytes for gzip, the archive
for a zip or tar) the reading is, without any extractor counting bytes itself.
"""

from __future__ import annotations

import gzip
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

GZIP_MAGIC = b"\x1f\x8b"
BUFFER_BYTES = 1024 * 1024


# The file object of every source file this process has opened here, by path.
_READING: dict[Path, Any] = {}


def track(path: Path, raw: Any) -> None:
    _READING[Path(path).resolve()] = raw


def read_position(path: Path) -> tuple[int, bool] | None:
    """(bytes of ``path`` (resolved) read so far, finished?) if this process opened it here, else None."""
    raw = _READING.get(path)
    if raw is None:
        return None
    if raw.closed:
        return path.stat().st_size, True
    try:
        return raw.tell(), False
    except (OSError, ValueError):  # closed meanwhile
        return path.stat().st_size, True


def forget_positions(paths: Iterable[Path]) -> None:
    for path in paths:
        _READING.pop(path, None)


def open_binary(path: Path) -> BinaryIO:
    """Open a file for streaming reads; gzip is recognised by its magic bytes, not its name."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == GZIP_MAGIC:
        handle = gzip.open(path, "rb")
        track(path, handle.fileobj)  # the compressed file: its size is the one we know
        return handle  # type: ignore[return-value]
    handle = open(path, "rb", buffering=BUFFER_BYTES)
    track(path, handle)
    return handle


def open_zip(path: Path) -> zipfile.ZipFile:
    """A zip archive, its reading position tracked like open_binary's."""
    archive = zipfile.ZipFile(path)
    track(path, archive.fp)
    return archive
