"""Finding a source's files (a file, a folder or a glob) and opening them, gzip or not.

Reads are bounded: lines come in pieces of at most ``READ_CHUNK_BYTES`` from ``read1`` (one
decompression step at a time, so a gzip that breaks off still hands over every byte before the
damage, and a gzip bomb never inflates more than one chunk at once); a line longer than
``MAX_LINE_BYTES`` is handed over as a ``LongLine`` to be read in pieces, never held whole.
"""

from __future__ import annotations

import glob
import gzip
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

GLOB_CHARS = set("*?[")
READ_CHUNK_BYTES = 1024 * 1024
# The longest line held whole in memory; a longer one is a LongLine.
MAX_LINE_BYTES = 64 * 1024 * 1024


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


# Compressions and archives no reader here opens: "tickets.json.zip" in a Zendesk folder is an
# export this import cannot read, so it is a reject (unexpected_file), never passed over in silence.
UNREAD_PACKINGS = (".zip", ".bz2", ".xz", ".zst", ".7z", ".rar", ".tar", ".tgz", ".lz4", ".z")


def unread_exports(spec: str | list[str], base_dir: Path, suffixes: Iterable[str]) -> list[Path]:
    """Files below the folders ``spec`` names that look like an export in a packing that is not
    read (``<name>.json.zip``, ``<name>.mbox.bz2``, ``export.tar``, ...): each is to be a reject."""
    read = tuple(s.lower() for s in suffixes)
    found = []
    for one in spec if isinstance(spec, list) else [spec]:
        path = Path(one).expanduser() if isinstance(one, str) else None
        if path is None or GLOB_CHARS & set(one):
            continue
        path = path if path.is_absolute() else base_dir / path
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                name = file.name.lower()
                if file.is_file() and name.endswith(UNREAD_PACKINGS) and not name.endswith(read):
                    found.append(file)
    return found


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


class LongLine:
    """A line too long to hold whole: its bytes in pieces of at most one read chunk, read once.

    ``pieces()`` may be left unfinished: the line reader skips the rest before the next line.
    ``size`` is the number of bytes read so far (the whole line's once ``pieces()`` is done).
    """

    def __init__(self, head: list[bytes], read: Callable[[int], bytes], chunk_bytes: int) -> None:
        self._head = head
        self._read = read
        self._chunk_bytes = chunk_bytes
        self._done = False
        self.rest = b""  # what followed the line end in the last chunk read
        self.size = 0

    def pieces(self) -> Iterator[bytes]:
        if self._done:
            return
        head, self._head = self._head, []
        for piece in head:
            self.size += len(piece)
            yield piece
        while not self._done:
            chunk = self._read(self._chunk_bytes)
            if not chunk:
                self._done = True
                return
            lf, cr = chunk.find(b"\n"), chunk.find(b"\r")
            end = min(lf, cr) if lf >= 0 and cr >= 0 else max(lf, cr)
            if end >= 0:
                self._done = True
                self.rest = chunk[end:]
                chunk = chunk[:end]
            self.size += len(chunk)
            yield chunk

    def drain(self) -> bytes:
        """Read to the end of the line; returns the bytes after it (line ending included)."""
        for _ in self.pieces():
            pass
        return self.rest


def read_lines(handle: BinaryIO, max_line_bytes: int = MAX_LINE_BYTES,
               chunk_bytes: int = READ_CHUNK_BYTES) -> Iterator[tuple[int, bytes | LongLine]]:
    """(1-based line number, line without its ending) from a binary stream, in bounded reads.

    A line ends at LF, CRLF or a lone CR (old Mac exports). A line whose first ``max_line_bytes``
    hold no line end is yielded as a ``LongLine``.
    """
    read = getattr(handle, "read1", handle.read)
    number = 0
    parts: list[bytes] = []
    held = 0
    pushback = b""
    after_cr = False  # the last line ended with CR: an LF right after it belongs to that ending
    while True:
        if pushback:
            chunk, pushback = pushback, b""
        else:
            chunk = read(chunk_bytes)
            if not chunk:
                break
        if after_cr:
            after_cr = False
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]
                if not chunk:
                    continue
        lines = chunk.splitlines(keepends=True)
        last = lines[-1]
        complete = last.endswith((b"\n", b"\r"))
        for piece in lines if complete else lines[:-1]:
            number += 1
            body = piece.rstrip(b"\r\n")
            if parts:
                parts.append(body)
                body = b"".join(parts)
                parts, held = [], 0
            yield number, body
        if complete:
            after_cr = last.endswith(b"\r")
            continue
        parts.append(last)
        held += len(last)
        if held > max_line_bytes:
            number += 1
            long_line = LongLine(parts, read, chunk_bytes)
            parts, held = [], 0
            yield number, long_line
            rest = long_line.drain()
            if rest.startswith(b"\r\n"):
                rest = rest[2:]
            elif rest.startswith(b"\r"):
                rest = rest[1:]
                after_cr = not rest
            elif rest.startswith(b"\n"):
                rest = rest[1:]
            pushback = rest
    if parts:
        yield number + 1, b"".join(parts)


def iter_lines(path: Path, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes | LongLine]]:
    """``read_lines`` of a file, gzip or not."""
    with open_binary(path) as handle:
        yield from read_lines(handle, max_line_bytes)


def display_path(path: Path, base_dir: Path) -> str:
    """How a file is named in lineage: relative to the config file when it sits below it."""
    try:
        return path.resolve().relative_to(base_dir.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()
