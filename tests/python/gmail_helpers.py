"""Building mbox files for the Gmail tests, the way Takeout writes them."""

from __future__ import annotations

import re
from pathlib import Path

from extract.gmail.mbox import iter_messages

# 103 real-world emails that broke the Ruby mail gem over the years (MIT, see its LICENSE).
CORPUS_DIR = Path(__file__).parent / "fixtures" / "real-world-emails"
SEPARATOR = "From 1688001000000000{n:03d}@xxx Mon Jan 04 10:{m:02d}:00 +0000 2021"
FROM_LINE = re.compile(rb"^(>*From )", re.MULTILINE)


def eml(headers: dict[str, str] | list[tuple[str, str]], body: str | bytes = "Hello.\n",
        charset: str = "utf-8") -> bytes:
    """One email's bytes: headers in order, a blank line, the body."""
    items = headers.items() if isinstance(headers, dict) else headers
    head = "".join(f"{name}: {value}\n" for name, value in items).encode(charset)
    return head + b"\n" + (body if isinstance(body, bytes) else body.encode(charset))


def mbox(*messages: bytes, crlf: bool = False, separators: list[bytes] | None = None) -> bytes:
    """An mbox (mboxrd: body lines starting with ``From `` get a ``>``), with a blank line between messages."""
    out = []
    for index, message in enumerate(messages):
        separator = separators[index] if separators else SEPARATOR.format(n=index + 1, m=index % 60).encode()
        body = FROM_LINE.sub(rb">\1", message)
        if not body.endswith(b"\n"):
            body += b"\n"
        chunk = separator + b"\n" + body + b"\n"
        if crlf:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        out.append(chunk)
    return b"".join(out)


def corpus_files() -> list[Path]:
    return sorted(CORPUS_DIR.rglob("*.eml"))


def corpus_mbox() -> bytes:
    """The 103 real-world emails wrapped into one mbox, in a stable order."""
    return mbox(*(path.read_bytes() for path in corpus_files()))


def split(data: bytes) -> list[tuple[int, bytes | None, bytes]]:
    return list(iter_messages(data, 0))
