"""Cutting an mbox into messages at byte level, and reading a block of messages (a worker's job).

A message starts at a ``From `` line that looks like an mbox separator
(``From 1583290388308606088@xxx Mon Nov 06 04:42:58 +0000 2017``): at the start
of the file or of a line, with a time of day on it. Body lines Takeout escaped
as ``>From `` are unescaped (mboxrd). A plain file is split into byte ranges
that start at separators, so workers read their own range and nothing large
crosses between processes; a gzip file is decompressed once and handed out in
blocks of whole messages.
"""

from __future__ import annotations

import bisect
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from extract.gmail.mime import UnparseableMessage, parse_message
from extract.gmail.text import separator_date_utc

SEPARATOR = re.compile(rb"From [^\s]+ +[^\r\n]*?\d{1,2}:\d\d")
CANDIDATE = b"\nFrom "
SCAN_BYTES = 1 << 16
MAX_MESSAGE_BYTES = 100 << 20  # Gmail's limit is 25 MB of attachments: 100 MB without a separator is no email
READ_BYTES = 1 << 18  # small reads: a broken gzip loses at most this much of what it had
EXCERPT_BYTES = 2000


@dataclass(frozen=True)
class Block:
    """A run of whole messages: a byte range of a plain file, or bytes already read (gzip)."""

    path: str
    start: int
    end: int
    data: bytes | None = None


def is_separator(data: bytes, index: int) -> bool:
    return data.startswith(b"From ", index) and SEPARATOR.match(data, index) is not None


def next_separator(data: bytes, position: int) -> int:
    """Index of the first separator line starting after ``position`` (-1 when there is none)."""
    while (index := data.find(CANDIDATE, position)) >= 0:
        if is_separator(data, index + 1):
            return index + 1
        position = index + 1
    return -1


def iter_messages(data: bytes, base_offset: int) -> Iterator[tuple[int, bytes | None, bytes]]:
    """(file offset, separator line or None, message bytes) for each message of a block.

    One scan for ``From `` finds both the separator lines and the escaped ``>From `` lines.
    Bytes before the first separator (only possible at the very start of a file) form a
    message without a separator line, unless they are blank.
    """
    separators, escapes = _scan_from_lines(data)
    if not separators or separators[0] != 0:
        end = separators[0] if separators else len(data)
        if data[:end].strip():
            yield base_offset, None, _unescaped(data, 0, _without_blank_line(data, 0, end), escapes)
    for number, start in enumerate(separators):
        end = separators[number + 1] if number + 1 < len(separators) else len(data)
        line_end = data.find(b"\n", start, end)
        if line_end < 0:
            yield base_offset + start, data[start:end].rstrip(b"\r\n"), b""
            continue
        separator_line = data[start:line_end].rstrip(b"\r")
        yield (base_offset + start, separator_line,
               _unescaped(data, line_end + 1, _without_blank_line(data, line_end + 1, end), escapes))


def _scan_from_lines(data: bytes) -> tuple[list[int], list[int]]:
    """Offsets of the separator lines, and of the '>' to drop from each escaped ``>From `` line."""
    separators: list[int] = []
    escapes: list[int] = []
    position = 0
    while (index := data.find(b"From ", position)) >= 0:
        position = index + 5
        before = data[index - 1] if index else 0x0A
        if before == 0x0A:
            if SEPARATOR.match(data, index):
                separators.append(index)
        elif before == 0x3E:  # '>'
            line_start = index - 1
            while line_start and data[line_start - 1] == 0x3E:
                line_start -= 1
            if line_start == 0 or data[line_start - 1] == 0x0A:
                escapes.append(line_start)
    return separators, escapes


def _unescaped(data: bytes, start: int, end: int, escapes: list[int]) -> bytes:
    """``data[start:end]`` with one '>' dropped from each escaped line (mboxrd)."""
    first = bisect.bisect_left(escapes, start)
    if first == len(escapes) or escapes[first] >= end:
        return data[start:end]
    pieces = []
    kept_from = start
    for escape in escapes[first:]:
        if escape >= end:
            break
        pieces.append(data[kept_from:escape])
        kept_from = escape + 1
    pieces.append(data[kept_from:end])
    return b"".join(pieces)


def _without_blank_line(data: bytes, start: int, end: int) -> int:
    """Where the message ends once the blank line mbox puts before the next separator is dropped."""
    if end - start >= 2 and data[end - 2] == 0x0D and data[end - 1] == 0x0A:
        return end - 2
    if end > start and data[end - 1] == 0x0A:
        return end - 1
    return end


def plan_ranges(handle: BinaryIO, size: int, chunk_bytes: int) -> list[tuple[int, int]]:
    """Byte ranges of about ``chunk_bytes`` covering the file, each starting at a separator."""
    cuts = [0]
    target = chunk_bytes
    while target < size:
        limit = min(size, target + MAX_MESSAGE_BYTES)
        cut = _separator_at_or_after(handle, target, limit)
        if cut < 0 and limit == size:
            break
        if cut < 0:
            cut = limit  # no separator for 100 MB: not an email; cut anyway, memory stays bounded
        if cut > cuts[-1]:
            cuts.append(cut)
        target = max(cut, target) + chunk_bytes
    cuts.append(size)
    return list(zip(cuts, cuts[1:], strict=False))


def _separator_at_or_after(handle: BinaryIO, offset: int, size: int) -> int:
    """The offset of the first separator line starting at or after ``offset`` (-1 if none)."""
    position = offset - 1  # read one byte early: a separator must follow a newline
    while position < size:
        handle.seek(position)
        window = handle.read(SCAN_BYTES + 256)
        if not window:
            return -1
        found = next_separator(window, 0)
        if found >= 0:
            return position + found
        position += SCAN_BYTES
    return -1


def read_block(block: Block) -> bytes:
    if block.data is not None:
        return block.data
    with open(block.path, "rb") as handle:
        handle.seek(block.start)
        return handle.read(block.end - block.start)


def parse_block(block: Block, support_addresses: frozenset[str], allow_fast: bool = True) -> list[dict[str, Any]]:
    """Every message of a block as ``{"record": ...}`` or ``{"reject": ...}``, in file order."""
    results: list[dict[str, Any]] = []
    for offset, separator_line, raw in iter_messages(read_block(block), block.start):
        results.append(parse_one(offset, separator_line, raw, support_addresses, allow_fast))
    return results


def parse_one(offset: int, separator_line: bytes | None, raw: bytes, support_addresses: frozenset[str],
              allow_fast: bool = True) -> dict[str, Any]:
    try:
        record, parsed_by = parse_message(raw, support_addresses, allow_fast)
    except UnparseableMessage as error:
        return {"reject": {"offset": offset, "detail": str(error),
                           "raw": (separator_line or b"") + b"\n" + raw[:EXCERPT_BYTES]}}
    except Exception as error:  # noqa: BLE001 - never let one message stop the run
        return {"reject": {"offset": offset, "detail": f"unexpected {type(error).__name__}: {error}",
                           "raw": (separator_line or b"") + b"\n" + raw[:EXCERPT_BYTES]}}
    record["separator_date_utc"] = separator_date_utc(separator_line)
    record["byte_offset"] = offset
    record["byte_length"] = len(raw)
    record["parsed_by"] = parsed_by
    return {"record": record}


def gzip_blocks(handle: BinaryIO, path: Path, chunk_bytes: int) -> Iterator[Block]:
    """Blocks of whole messages from a stream (a gzip file), offsets counted in uncompressed bytes.

    When the stream breaks (a truncated or corrupt gzip), the whole messages read so
    far are handed out before the error is raised.
    """
    pieces: list[bytes] = []
    buffered = offset = 0
    while True:
        try:
            piece = handle.read(min(chunk_bytes, READ_BYTES))
        except (OSError, EOFError, zlib.error):
            data = b"".join(pieces)
            cut = _last_separator(data)
            if cut > 0:
                yield Block(str(path), offset, offset + cut, data[:cut])
            raise
        if not piece:
            if buffered:
                yield Block(str(path), offset, offset + buffered, b"".join(pieces))
            return
        pieces.append(piece)
        buffered += len(piece)
        if buffered >= chunk_bytes:
            data = b"".join(pieces)
            cut = _last_separator(data)
            if cut <= 0 and buffered >= MAX_MESSAGE_BYTES:
                cut = buffered  # no separator for 100 MB: not an email; cut anyway, memory stays bounded
            if cut > 0:
                yield Block(str(path), offset, offset + cut, data[:cut])
                offset += cut
                data = data[cut:]
            pieces, buffered = [data], len(data)


def _last_separator(buffer: bytes) -> int:
    """Where the last message of the buffer starts (0 when only one message is in it)."""
    position = len(buffer)
    while (index := buffer.rfind(CANDIDATE, 0, position)) >= 0:
        if is_separator(buffer, index + 1):
            return index + 1
        position = index
    return 0
