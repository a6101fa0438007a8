"""Finding a source's files (a file, a folder or a glob) and opening them, gzip or not."""

from __future__ import annotations

import glob
import gzip
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

GLOB_CHARS = set("*?[")


class SourcePathError(ValueError):
    """A configured path that names no usable file."""


def resolve_files(spec: str | list[str], base_dir: Path, suffixes: Iterable[str]) -> list[Path]:
    """The files a ``path:`` setting names, sorted, with duplicates removed.

    A folder yields every file below it whose name ends with one of ``suffixes``
    (``.gz`` variants included); a glob yields what it matches; a file yields itself.
    """
    specs = spec if isinstance(spec, list) else [spec]
    wanted = tuple(s.lower() for s in suffixes) + tuple(s.lower() + ".gz" for s in suffixes)
    found: list[Path] = []
    for one in specs:
        if not isinstance(one, str) or not one.strip():
            raise SourcePathError("must be a path, a folder or a glob (a string)")
        expanded = Path(one).expanduser()
        path = expanded if expanded.is_absolute() else base_dir / expanded
        if GLOB_CHARS & set(one):
            matches = [Path(p) for p in sorted(glob.glob(str(path), recursive=True))]
            matches = [p for p in matches if p.is_file()]
            if not matches:
                raise SourcePathError(f"no file matches '{one}' (looked in {path.parent})")
            found.extend(matches)
        elif path.is_dir():
            matches = sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(wanted))
            if not matches:
                raise SourcePathError(f"folder '{one}' holds no {', '.join(suffixes)} file")
            found.extend(matches)
        elif path.is_file():
            found.append(path)
        else:
            raise SourcePathError(f"'{one}' does not exist (resolved to {path})")
    unique: dict[Path, None] = {}
    for p in found:
        unique.setdefault(p.resolve(), None)
    return list(unique)


# The file object of every source file this process has opened through the functions below, by
# path: how far into the file (on disk: compressed bytes for gzip, the archive for a zip) the
# reading is, for the progress display, without any extractor counting bytes itself.
_READING: dict[Path, Any] = {}


def _track(path: Path, raw: Any) -> None:
    _READING[Path(path).resolve()] = raw


def read_position(path: Path) -> tuple[int, bool] | None:
    """(bytes of ``path`` read so far, finished?) if this process opened it here, else None."""
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
    if magic == b"\x1f\x8b":
        handle = gzip.open(path, "rb")
        _track(path, handle.fileobj)  # the compressed file: its size is the one we know
        return handle  # type: ignore[return-value]
    handle = open(path, "rb", buffering=1024 * 1024)
    _track(path, handle)
    return handle


def open_zip(path: Path) -> zipfile.ZipFile:
    """A zip archive, its reading position tracked like open_binary's."""
    archive = zipfile.ZipFile(path)
    _track(path, archive.fp)
    return archive


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line bytes without the line ending), streamed."""
    with open_binary(path) as handle:
        for number, line in enumerate(handle, start=1):
            yield number, line.rstrip(b"\r\n")


def display_path(path: Path, base_dir: Path) -> str:
    """How a file is named in lineage: relative to the config file when it sits below it."""
    try:
        return path.resolve().relative_to(base_dir.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()
