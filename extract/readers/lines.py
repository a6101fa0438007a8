"""Lines of a binary stream in bounded reads.

Lines come in pieces of at most ``READ_CHUNK_BYTES`` from ``read1`` (one decompression step at a
time, so a gzip that breaks off still hands over every byte before the damage, and a gzip bomb
never inflates more than one chunk at once); a line longer than ``MAX_LINE_BYTES`` is handed over
as a ``LongLine`` to be read in pieces, never held whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from extract.readers.streams import open_binary

READ_CHUNK_BYTES = 1024 * 1024
# The longest line held whole in memory; a longer one is a LongLine.
MAX_LINE_BYTES = 64 * 1024 * 1024


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
