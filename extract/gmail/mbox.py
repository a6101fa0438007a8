"""Cutting an mbox into messages at byte level, and reading a block of messages (a worker's job).

A message starts at a line beginning ``From `` (at the start of the file or of a line) in one of
the forms mail tools write:

- an envelope sender and a date with a time of day: Takeout
  (``From 1583290388308606088@xxx Mon Nov 06 04:42:58 +0000 2017``), mutt, procmail, mailing-list
  archives (``From jane at example.org  Sat Nov 14 21:29:28 2015``, ``... 22:02 MET 2000``);
- anything else (Netscape, Mozilla and Thunderbird's ``From - Fri Aug 24 11:55:47 2018``, a bare
  ``From ``, an address without a date): taken as a boundary only at the start of the file or
  after a blank line, and only when the next line is a header field, as Thunderbird's own reader
  decides. A body line such as ``From what I hear...`` therefore never splits a message, even in
  old files that did not escape it.

Body lines Takeout escaped as ``>From `` are unescaped (mboxrd). A plain file is split into byte
ranges that start at separators, so workers read their own range and nothing large crosses
between processes; a gzip file is decompressed once and handed out in blocks of whole messages.
A message longer than ``MAX_MESSAGE_BYTES`` is one record all the same: its first
``MAX_MESSAGE_BYTES`` are parsed (the body is capped far below that anyway) and the rest is
skipped without being held in memory.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from stringzilla import Str

from extract.gmail.mime import UnparseableMessage, parse_message
from extract.gmail.text import separator_date_utc
from extract.readers.archives import READ_ERRORS
from extract.values import Clipped

DATED_SEPARATOR = re.compile(rb"From [^\s]+ +[^\r\n]*?\d{1,2}:\d\d")
HEADER_FIELD = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")
HEADER_BLOCK = re.compile(rb"(?:[\x21-\x39\x3b-\x7e]+[ \t]*:[^\n]*\n(?:[ \t][^\n]*\n)*){2,}\r?\n")
CONTENT_LENGTH = re.compile(rb"\ncontent-length:[ \t]*(\d{1,12})[ \t]*\r?\n", re.IGNORECASE)
BLANK_LINE = re.compile(rb"\r?\n\r?\n")
HEADER_WINDOW = 8192  # where a message's blank line is looked for first
CANDIDATE = b"\nFrom "
SCAN_BYTES = 1 << 16
MAX_MESSAGE_BYTES = 100 << 20  # 4x Gmail's 25 MB: a longer message is read as its first OVERSIZE_READ_BYTES
OVERSIZE_READ_BYTES = 32 << 20  # what is parsed of such a message (its body is capped far below this anyway)
READ_BYTES = 1 << 18
CONTEXT_BYTES = 4096  # bytes around a candidate separator kept to judge it (the blank line before, the next line)
EXCERPT_BYTES = 2000


@dataclass(frozen=True)
class Block:
    """A run of whole messages: a byte range of a plain file, or bytes already read (gzip)."""

    path: str
    start: int
    end: int
    data: bytes | None = None
    oversize: bool = False  # one message longer than MAX_MESSAGE_BYTES: only its first bytes are read


def is_separator(data: bytes, index: int) -> bool:
    """Whether the line at ``index`` (the start of ``data``, or just after a newline) starts a message."""
    if not data.startswith(b"From ", index):
        return False
    if DATED_SEPARATOR.match(data, index) is not None:
        return True
    line_end = data.find(b"\n", index)
    if line_end < 0:
        return False
    after_blank_line = index == 0 or (index >= 2 and data[index - 2] == 0x0A) or (
        index >= 3 and data[index - 3] == 0x0A and data[index - 2] == 0x0D)
    if after_blank_line:
        return HEADER_FIELD.match(data, line_end + 1) is not None
    # Netscape and early Mozilla wrote separators right after a body line: one counts when a whole
    # header block (two fields or more, then the blank line) follows it, as no body line is followed.
    return HEADER_BLOCK.match(data, line_end + 1) is not None


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
    find = Str(data).find  # SIMD: 5x bytes.find, and this scan reads every byte of the file
    while (index := find(b"From ", position)) >= 0:
        position = index + 5
        before = data[index - 1] if index else 0x0A
        if before == 0x0A:
            if is_separator(data, index):
                separators.append(index)
        elif before == 0x3E:  # '>'
            line_start = index - 1
            while line_start and data[line_start - 1] == 0x3E:
                line_start -= 1
            if line_start == 0 or data[line_start - 1] == 0x0A:
                escapes.append(line_start)
    return _with_content_lengths(data, separators), escapes


def _with_content_lengths(data: bytes, separators: list[int]) -> list[int]:
    """The separators, less those inside a body whose ``Content-Length`` says where it ends.

    The header is honoured only when the length lands exactly on the next message's separator
    (after the blank line before it, if any) or on the end of the data: a wrong length (a message
    edited after it was written) changes nothing. A body that runs past the block it was read in
    (a range boundary at a false separator) is not checked, so such a file is read as before.
    """
    if b"ontent-" not in data and b"ONTENT-" not in data:
        return separators
    kept: list[int] = []
    starts = set(separators)
    find = Str(data).find  # bytes.find is 10x slower for a two-byte needle in a long block
    skip_until = -1
    for index, start in enumerate(separators):
        if start < skip_until:
            continue
        kept.append(start)
        following = separators[index + 1] if index + 1 < len(separators) else len(data)
        header_end = _first_blank_line(find, start, following)
        if header_end >= 0 and b"content-length" not in data[start:header_end + 2].lower():
            continue  # the common case (Gmail writes none), told for a tenth of the patterns' cost
        blank = BLANK_LINE.search(data, start)
        if blank is None:
            continue
        length = CONTENT_LENGTH.search(data, start - 1 if start else 0, blank.start() + 2)
        if length is None or length.start() > blank.start():
            continue
        end = blank.end() + int(length.group(1))
        if end <= following:
            continue  # nothing to skip: the next separator is where the length says, or beyond
        rest = data[end:end + 4]
        lands = end >= len(data) - 2 and not data[end:].strip()
        for gap in (b"", b"\n", b"\r\n"):
            if rest.startswith(gap) and end + len(gap) in starts:
                lands = True
        if lands:
            skip_until = end
    return kept


def _first_blank_line(find: Callable[[bytes, int, int], int], start: int, end: int) -> int:
    """Where the first blank line in ``data[start:end]`` begins (at or after BLANK_LINE's match), -1 when
    none; ``find`` is the data's ``find``.

    Looked for in the first HEADER_WINDOW bytes first: a header is short, a body long, and a CRLF
    message has no LF blank line to find in it."""
    for stop in (min(end, start + HEADER_WINDOW), end):
        lf = find(b"\n\n", start, stop)
        crlf = find(b"\n\r\n", start, lf + 1 if lf >= 0 else stop)
        if crlf >= 0 or lf >= 0:
            return crlf if crlf >= 0 else lf
    return -1


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


def plan_ranges(handle: BinaryIO, size: int, chunk_bytes: int) -> list[tuple[int, int, bool]]:
    """(start, end, oversize) byte ranges of about ``chunk_bytes`` covering the file, each starting at a
    separator; a message longer than ``MAX_MESSAGE_BYTES`` gets a range of its own, marked oversize."""
    ranges: list[tuple[int, int, bool]] = []
    start = 0
    while start < size:
        target = start + chunk_bytes
        cut = size if target >= size else _separator_at_or_after(handle, target, size)
        if cut < 0:
            cut = size
        if cut - start > MAX_MESSAGE_BYTES:
            # Only the message running into ``target`` can be that long: where does it start?
            last = _last_separator_before(handle, start, min(target, cut))
            if cut - last > MAX_MESSAGE_BYTES:
                if last > start:
                    ranges.append((start, last, False))
                ranges.append((last, cut, True))
                start = cut
                continue
        ranges.append((start, cut, False))
        start = cut
    return ranges


def _last_separator_before(handle: BinaryIO, start: int, end: int) -> int:
    """The offset of the last separator in ``[start, end)``; ``start`` (a separator) when there is no other."""
    handle.seek(start)
    data = handle.read(end - start + CONTEXT_BYTES)
    found = position = 0
    while (index := next_separator(data, position)) >= 0 and index < end - start:
        found = position = index
    return start + found


def _separator_at_or_after(handle: BinaryIO, offset: int, size: int) -> int:
    """The offset of the first separator line starting at or after ``offset`` (-1 if none)."""
    position = offset - 1  # read from the byte before: a separator follows a newline
    while position < size:
        handle.seek(max(0, position - 2))  # and two more: a blank line may have to precede it
        lead = position - max(0, position - 2)
        window = handle.read(SCAN_BYTES + CONTEXT_BYTES)
        if len(window) <= lead:
            return -1
        found = next_separator(window, lead)
        if 0 <= found < SCAN_BYTES + lead or (found >= 0 and len(window) < SCAN_BYTES + CONTEXT_BYTES):
            return max(0, position - 2) + found
        position += SCAN_BYTES
    return -1


def read_block(block: Block) -> bytes:
    if block.data is not None:
        return block.data
    length = block.end - block.start
    with open(block.path, "rb") as handle:
        handle.seek(block.start)
        return handle.read(min(length, OVERSIZE_READ_BYTES) if block.oversize else length)


def parse_block(block: Block, support_addresses: frozenset[str], allow_fast: bool = True) -> list[dict[str, Any]]:
    """Every message of a block as ``{"record": ...}`` or ``{"reject": ...}``, in file order."""
    results: list[dict[str, Any]] = []
    for offset, separator_line, raw in iter_messages(read_block(block), block.start):
        result = parse_one(offset, separator_line, raw, support_addresses, allow_fast)
        if block.oversize and "record" in result:  # its real length, not the part that was read
            record = result["record"]
            record["byte_length"] = block.end - offset - (len(separator_line) + 1 if separator_line else 0)
            record["parsed_by"] += " (first bytes)"
            for field in ("body_text", "body_html_text"):  # cut short: the writer records the cut
                if record[field] is not None and not isinstance(record[field], Clipped):
                    record[field] = Clipped.of(record[field], record["byte_length"])
        results.append(result)
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


def gzip_blocks(handle: BinaryIO, path: Path | str, chunk_bytes: int) -> Iterator[Block]:
    """Blocks of whole messages from a stream (a gzip file, an archive member), offsets counted in
    uncompressed bytes.

    Reads go one decompression step at a time (``read1``), so when the stream breaks (a truncated
    or corrupt gzip) every whole message read so far is handed out before the error is raised.
    A message longer than ``MAX_MESSAGE_BYTES`` is handed out as one oversize block holding its
    first bytes; the rest of it is read past, never held.
    """
    read = getattr(handle, "read1", handle.read)
    buffer = bytearray()  # from ``offset`` on: whole messages, then the start of one more
    offset = 0
    last_start = 0  # where the last message in the buffer starts
    checked = 0  # candidates before this index have been judged with enough context
    while True:
        try:
            piece = read(READ_BYTES)
        except READ_ERRORS:
            last_start = max(last_start, _broken_off_separator(buffer, last_start))
            if last_start > 0:
                yield Block(str(path), offset, offset + last_start, bytes(buffer[:last_start]))
            raise
        if not piece:
            if buffer:
                yield Block(str(path), offset, offset + len(buffer), bytes(buffer))
            return
        buffer += piece
        found = _last_separator(buffer, max(last_start + 1, checked))
        if found > 0:
            last_start = found
        checked = max(0, len(buffer) - CONTEXT_BYTES)
        if last_start == 0 and len(buffer) >= MAX_MESSAGE_BYTES:
            end, rest = yield from _oversize_message(read, path, offset, buffer)
            buffer, offset, checked = bytearray(rest), end, 0
        elif last_start > 0 and len(buffer) >= chunk_bytes:
            yield Block(str(path), offset, offset + last_start, bytes(buffer[:last_start]))
            del buffer[:last_start]
            offset += last_start
            checked = max(0, checked - last_start)
            last_start = 0


def _broken_off_separator(buffer: bytearray, after: int) -> int:
    """A separator line the damage cut short (``From `` after a blank line, no line end yet): the
    message before it is whole. 0 when the buffer does not end that way."""
    index = buffer.rfind(b"\nFrom ", after)
    if index < 1 or buffer.find(b"\n", index + 1) >= 0:
        return 0
    blank_before = buffer[index - 1] == 0x0A or (index >= 2 and buffer[index - 2 : index] == b"\n\r")
    return index + 1 if blank_before else 0


def _oversize_message(read: Any, path: Path | str, offset: int, buffer: bytearray) -> Iterator[Block]:
    """Read past the rest of a message longer than MAX_MESSAGE_BYTES, then hand it out as one block.

    Returns (where the next message starts, the bytes read of it). Only the message's first
    OVERSIZE_READ_BYTES and a little context are held, however long it is.
    """
    head = bytes(buffer[:OVERSIZE_READ_BYTES])
    window = bytes(buffer[-CONTEXT_BYTES:])
    window_start = offset + len(buffer) - len(window)
    del buffer[:]
    while True:
        try:
            piece = read(READ_BYTES)
        except READ_ERRORS:
            yield Block(str(path), offset, window_start + len(window), head, oversize=True)
            raise
        if not piece:
            yield Block(str(path), offset, window_start + len(window), head, oversize=True)
            return window_start + len(window), b""
        window += piece
        found = next_separator(window, 0)
        if found >= 0:
            yield Block(str(path), offset, window_start + found, head, oversize=True)
            return window_start + found, window[found:]
        keep = window[-CONTEXT_BYTES:]
        window_start += len(window) - len(keep)
        window = keep


def _last_separator(buffer: bytes | bytearray, stop: int = 1) -> int:
    """Where the last message of the buffer starts, looking no lower than ``stop`` (0 when none is found)."""
    position = len(buffer)
    while (index := buffer.rfind(CANDIDATE, max(0, stop - 1), position)) >= 0:
        if is_separator(buffer, index + 1):
            return index + 1
        position = index
    return 0
