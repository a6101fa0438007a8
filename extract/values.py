"""Small conversions shared by the extractors, and the marks a reader leaves on text it cut short."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any


def as_object(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one when the API sent something else (null, a list, a string)."""
    return value if isinstance(value, dict) else {}


FORMULA_STARTS = ("=", "+", "-", "@")


def strip_keeping_guard(text: str) -> str:
    """The text without surrounding white space, unless its first visible character starts a
    spreadsheet formula: then the white space in front stays (a value another tool made safe,
    ``\t=1+1``, never becomes ``=1+1``). The models' ``strip_whitespace`` macro does the same."""
    stripped = text.lstrip()
    return text.rstrip() if stripped.startswith(FORMULA_STARTS) else stripped.rstrip()


def as_text(value: Any) -> str | None:
    """A scalar as text; None stays None, booleans become true/false, nested values JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


class Clipped(str):
    """Text a reader cut short while reading, because the whole value was too big to hold.

    The string is the prefix; ``source_bytes`` is the size of the whole value as written in the
    source (escapes included). The raw writer records it in ``extract_truncations``.
    """

    source_bytes: int

    @classmethod
    def of(cls, prefix: str, source_bytes: int) -> Clipped:
        clipped = cls(prefix)
        clipped.source_bytes = source_bytes
        return clipped


# A reader that cuts a value inside the byte stream (JSON string, XML text) appends this mark,
# which the parser keeps as ordinary text; the token is random per process, so input cannot forge it.
CUT_TOKEN = secrets.token_hex(8)
CUT_MARK_RE = re.compile(r"\[gladly-cut " + CUT_TOKEN + r" (\d+)\]")


def cut_mark(source_bytes: int) -> bytes:
    """The mark that ends a value cut at the byte level; plain ASCII, valid in JSON strings and XML text."""
    return f"[gladly-cut {CUT_TOKEN} {source_bytes}]".encode("ascii")


def unmark(value: str) -> str:
    """A value carrying a cut mark becomes a ``Clipped`` prefix; any other value is returned as is."""
    if CUT_TOKEN not in value:
        return value
    found = CUT_MARK_RE.search(value)
    if found is None:
        return value
    return Clipped.of(value[: found.start()], int(found.group(1)))


def unmark_all(obj: Any) -> Any:
    """``unmark`` every string inside a parsed JSON value (iteratively: any depth json accepted)."""
    if isinstance(obj, str):
        return unmark(obj)
    stack = [obj]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in list(items):
            if isinstance(child, str):
                if CUT_TOKEN in child:
                    node[key] = unmark(child)
            elif isinstance(child, (dict, list)):
                stack.append(child)
    return obj
