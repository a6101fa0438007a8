"""JSON records within bounds, in every shape a file holds them.

``shrink_json_strings``: the text of one record read in pieces (a line too long to hold), every
string literal in it over ``READ_CUT_BYTES`` cut to a prefix ending in a cut mark while reading.
``document_shape`` tells one record a line (NDJSON) from one document holding them (an array, or an
object's array, often pretty-printed); ``iter_document`` streams such a document's records (ijson),
one at a time, under the same limits as a line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from extract.readers import READ_CUT_BYTES
from extract.readers.lines import MAX_LINE_BYTES
from extract.values import Clipped, cut_mark

BACKSLASH = 0x5C


def _trailing_backslashes(data: bytes | bytearray, end: int, start: int) -> int:
    count = 0
    while end - 1 - count >= start and data[end - 1 - count] == BACKSLASH:
        count += 1
    return count


def _safe_end(out: bytearray, start: int) -> None:
    """Trim the cut end of a JSON string's prefix: no broken escape, no partial UTF-8 character."""
    tail = out.rfind(b"\\", max(start, len(out) - 6))
    while tail >= 0 and _trailing_backslashes(out, tail, start) % 2:
        tail = out.rfind(b"\\", start, tail - 1) if tail - 1 > start else -1
    if tail >= 0:
        escape = out[tail + 1:]
        if not escape or (escape[:1] == b"u" and len(escape) < 5):
            del out[tail:]
    end = len(out)
    back = 0
    while back < 4 and end - back - 1 >= start and 0x80 <= out[end - back - 1] < 0xC0:
        back += 1
    if end - back - 1 >= start and out[end - back - 1] >= 0xC0:
        lead = out[end - back - 1]
        width = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        if back + 1 < width:
            del out[end - back - 1:]


def shrink_json_strings(pieces: Iterator[bytes], string_cap: int = READ_CUT_BYTES,
                        max_bytes: int = MAX_LINE_BYTES) -> bytes | None:
    """JSON text read in pieces, each string literal over ``string_cap`` bytes cut to a prefix
    ending in a cut mark. None when even so the text is over ``max_bytes`` (all pieces are read)."""
    out = bytearray()
    in_string = False
    carried = 0  # backslashes at the end of the previous piece, inside a string
    string_start = string_len = 0
    cut = False
    for piece in pieces:
        pos, n = 0, len(piece)
        while pos < n:
            if not in_string:
                quote = piece.find(b'"', pos)
                end = n if quote < 0 else quote + 1
                if len(out) <= max_bytes:
                    out += piece[pos:end]
                if quote >= 0:
                    in_string, carried, string_len, cut = True, 0, 0, False
                    string_start = len(out)
                pos = end
                continue
            quote = piece.find(b'"', pos)
            segment_end = n if quote < 0 else quote
            escaped = False
            if quote >= 0:
                run = _trailing_backslashes(piece, quote, pos)
                if run == quote - pos:
                    run += carried
                escaped = run % 2 == 1
                if escaped:
                    segment_end = quote + 1
            segment = piece[pos:segment_end]
            if not cut and len(out) <= max_bytes:
                room = string_cap - string_len
                if len(segment) <= room:
                    out += segment
                else:
                    out += segment[:room]
                    cut = True
            elif not cut:
                cut = True
            string_len += len(segment)
            if quote < 0:
                run = _trailing_backslashes(piece, n, pos)
                carried = run + carried if run == n - pos else run
                pos = n
                continue
            carried = 0
            pos = segment_end
            if escaped:
                continue
            # the closing quote
            if cut and len(out) <= max_bytes:
                del out[string_start + string_cap:]
                _safe_end(out, string_start)
                out += cut_mark(string_len)
            if len(out) <= max_bytes:
                out += b'"'
            in_string = False
            pos = quote + 1
    if in_string and cut and len(out) <= max_bytes:
        _safe_end(out, string_start)
        out += cut_mark(string_len)
    return bytes(out) if len(out) <= max_bytes else None


# --- one document holding the records ----------------------------------------------------------

HEAD_BYTES = 64 * 1024
BOM = b"\xef\xbb\xbf"
LINE_OPENERS = (b"[", b"{", b",", b":")


@dataclass(frozen=True)
class TooLarge:
    """A record of a document that was over the byte limit: skipped, its size so far."""

    size: int


def read_head(stream: IO[bytes], size: int = HEAD_BYTES) -> bytes:
    read = getattr(stream, "read1", stream.read)
    parts, held = [], 0
    while held < size:
        data = read(size - held)
        if not data:
            break
        parts.append(data)
        held += len(data)
    return b"".join(parts)


def document_shape(head: bytes, array_key: str) -> str | None:
    """How a JSON file holds its records, from its first bytes: 'array' (one JSON array of them),
    'object' (one object whose ``array_key`` holds them, pretty-printed or one long line), or None:
    one record a line (NDJSON; a short one-line ``{"tickets": [...]}`` is read as such a line)."""
    text = head[len(BOM):] if head.startswith(BOM) else head
    text = text.lstrip()
    if text.startswith(b"["):
        return "array"
    if not text.startswith(b"{"):
        return None
    line_end = text.find(b"\n")
    if line_end < 0:
        if len(head) < HEAD_BYTES:
            return None  # the whole file is one line: read as a line
        keyed = re.match(rb'\{\s*"' + re.escape(array_key.encode()) + rb'"\s*:\s*\[', text)
        return "object" if keyed else None
    first = text[:line_end].strip()
    return "object" if first.endswith(LINE_OPENERS) else None


def iter_document(stream: IO[bytes], items_prefix: str, string_cap: int = READ_CUT_BYTES,
                  max_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, Any]]:
    """(1-based index, record) for each item at ``items_prefix`` (ijson's: ``item`` for an array,
    ``tickets.item`` for an object's array) of one JSON document, streamed: one record is held at a
    time, its strings over ``string_cap`` bytes cut (``Clipped``); a record over ``max_bytes`` is
    handed out as ``TooLarge`` instead. A syntax error raises ``ijson.JSONError`` after the
    records before it."""
    import ijson
    from ijson.common import ObjectBuilder

    index = depth = size = 0
    builder: ObjectBuilder | None = None
    in_item = False
    for prefix, event, value in ijson.parse(stream, use_float=True):
        if not in_item:
            if prefix != items_prefix or event in ("end_array", "end_map"):
                continue
            index += 1
            if event not in ("start_map", "start_array"):
                yield index, value  # a scalar where a record should be: the caller says what it is
                continue
            in_item, depth, size, builder = True, 0, 0, ObjectBuilder()
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
        if builder is not None:
            if isinstance(value, str):
                if len(value) * 4 > string_cap:
                    encoded = value.encode("utf-8", "surrogatepass")
                    if len(encoded) > string_cap:
                        value = Clipped.of(encoded[:string_cap].decode("utf-8", "ignore"), len(encoded))
                size += len(value) + 4
            else:
                size += 8
            if size > max_bytes:
                builder = None
            else:
                builder.event(event, value)
        elif isinstance(value, str):
            size += len(value) + 4
        if depth == 0:
            in_item = False
            yield index, builder.value if builder is not None else TooLarge(size)
            builder = None
