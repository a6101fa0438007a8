"""JSON records within bounds.

``shrink_json_strings``: the text of one record read in pieces (a line too long to hold), every
string literal in it over ``READ_CUT_BYTES`` cut to a prefix ending in a cut mark while reading.
"""

from __future__ import annotations

from collections.abc import Iterator

from extract.readers import READ_CUT_BYTES
from extract.readers.lines import MAX_LINE_BYTES
from extract.values import cut_mark

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
