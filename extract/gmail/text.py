"""Turning an email's raw bytes into text, whatever its charset labels claim.

Shared by the fast path and the full parser of ``extract.gmail.mime``: both hand
the same raw bytes to these functions, so they give the same text. Nothing here
raises on bad input: a wrong or unknown charset falls back to UTF-8, then to
Windows-1252 with replacement characters.
"""

from __future__ import annotations

import binascii
import calendar
import codecs
import datetime as dt
import re
from email.utils import getaddresses, parsedate_tz
from functools import lru_cache
from typing import Any

from lxml import html as lxml_html

LAST_RESORT = "cp1252"

# Labels that lie in practice: decode with the superset the sender really used.
CHARSET_SUPERSETS = {
    "latin_1": "cp1252",
    "iso8859_1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "big5": "big5hkscs",
    "tis_620": "cp874",
    "iso8859_11": "cp874",
    "iso2022_jp": "iso2022_jp_2",
}
CHARSET_ALIASES = {"unicode-1-1-utf-7": "utf-7", "ks_c_5601": "cp949", "x-sjis": "cp932", "x-gbk": "gb18030"}

_ENCODED_WORD = re.compile(r"=\?([^?\s]+?)(?:\*[^?\s]*)?\?([QqBb])\?(.*?)\?=")
_FOLD = re.compile(rb"\r?\n(?=[ \t])")
_LINE_BREAKS = re.compile(r"\r\n?|\n")
_SPACES = re.compile(r"[ \t\f\v\u00a0\u200b]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_TAG = re.compile(r"<[^>]*>")
_ENCODED_WORDS_ONLY = re.compile(r"(?:=\?[^?\s]+?\?[QqBb]\?[^?]*?\?=\s*)+")
_QUOTED_LABEL = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^,]*))\s*(?:,|$)')
_SEPARATOR_DATE = re.compile(
    rb"([A-Za-z]{3})\s+(\d{1,2})\s+(\d{1,2}):(\d\d)(?::(\d\d))?\s+(?:([+-]\d{4})\s+)?(\d{4})\b"
)
_RFC5322_DATE = re.compile(
    r"\s*(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{1,2}):(\d\d)(?::(\d\d))?\s+([+-]\d{4})"
    r"(?:\s+\([^()]*\))?\s*$"
)
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}

_ADDRESS = r"[^\s<>(),;:\"@\[\]\\]+@[^\s<>(),;:\"@\[\]\\]+"
_FAST_ADDRESS = [
    re.compile(rf"\s*()({_ADDRESS})\s*(?:,|$)"),
    re.compile(rf'\s*"([^"\\\r\n]*)"\s*<({_ADDRESS})>\s*(?:,|$)'),
    re.compile(rf"\s*([^\s<>()\[\],;:\"@\\.][^<>()\[\],;:\"@\\.]*?)\s*<({_ADDRESS})>\s*(?:,|$)"),
]

# How a browser's default style sheet lays elements out: blocks with a margin (a blank line
# around them), blocks without one (a line of their own), and elements a reader never sees.
PARAGRAPH_TAGS = frozenset({
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "ul", "ol", "dl", "table", "hr",
    "figure", "address", "listing", "xmp", "plaintext", "menu", "dir",
})
LINE_TAGS = frozenset({
    "div", "li", "tr", "dt", "dd", "section", "article", "header", "footer", "nav", "main", "aside",
    "form", "fieldset", "center", "caption", "figcaption", "details", "summary", "legend", "body", "html",
    "thead", "tbody", "tfoot", "option",
})
HIDDEN_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript", "object", "iframe"})
PRE_TAGS = frozenset({"pre", "listing", "xmp", "plaintext", "textarea"})
LIST_TAGS = frozenset({"ul", "ol", "menu", "dir"})
LINK_SCHEMES = ("http://", "https://", "ftp://", "mailto:", "tel:")
_COLLAPSIBLE = re.compile(r"[ \t\n\r\f]+")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_DISPLAY_NONE = re.compile(r"display\s*:\s*none", re.IGNORECASE)


@lru_cache(maxsize=512)
def codec_for(label: str | None) -> str | None:
    """The Python codec that decodes a charset label best, or None when the label names none."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = CHARSET_ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True):
        return None  # base64, zlib, rot13...: not a charset
    if info.name == "ascii":
        return None  # "us-ascii" on 8-bit text says nothing: guess as for no label
    return CHARSET_SUPERSETS.get(info.name.replace("-", "_"), info.name)


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Bytes as text: the declared charset, else UTF-8, else a best guess with replacements; never raises."""
    codec = codec_for(charset)
    if codec and codec != "utf-8":
        try:
            return data.decode(codec)
        except (UnicodeError, LookupError, ValueError, TypeError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if codec and codec != "utf-8":
        try:
            return data.decode(codec, errors="replace")
        except (UnicodeError, LookupError, ValueError, TypeError):
            pass
    return _mostly_utf8_or_cp1252(data)


def _mostly_utf8_or_cp1252(data: bytes) -> str:
    """UTF-8 with a few broken bytes stays UTF-8; otherwise it was a single-byte charset (cp1252)."""
    as_utf8 = data.decode("utf-8", errors="replace")
    broken = as_utf8.count("\ufffd")
    decoded = sum(1 for char in as_utf8 if char > "\x7f") - broken
    return as_utf8 if decoded > broken else data.decode(LAST_RESORT, errors="replace")


def _b64(data: bytes) -> bytes:
    try:
        return binascii.a2b_base64(data)
    except (binascii.Error, ValueError):
        cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
        cleaned = cleaned[: len(cleaned) - len(cleaned) % 4] if len(cleaned) % 4 == 1 else cleaned
        try:
            return binascii.a2b_base64(cleaned + b"=" * (-len(cleaned) % 4))
        except (binascii.Error, ValueError):
            return b""


def _encoded_word_bytes(encoding: str, text: str) -> bytes:
    raw = text.encode("utf-8", errors="surrogateescape")
    if encoding in "bB":
        return _b64(raw)
    return binascii.a2b_qp(raw, header=True)


def decode_encoded_words(value: str) -> str:
    """RFC 2047: ``=?charset?Q|B?...?=`` runs decoded; adjacent words joined before decoding."""
    if "=?" not in value:
        return value
    pieces: list[str] = []
    pending: bytearray = bytearray()
    pending_charset: str | None = None
    position = 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        if between and (not between.isspace() or position == 0 or pending_charset is None):
            if pending_charset is not None:
                pieces.append(decode_bytes(bytes(pending), pending_charset))
                pending, pending_charset = bytearray(), None
            pieces.append(between)
        charset = match.group(1).lower()
        if pending_charset is not None and charset != pending_charset:
            pieces.append(decode_bytes(bytes(pending), pending_charset))
            pending = bytearray()
        pending_charset = charset
        pending += _encoded_word_bytes(match.group(2), match.group(3))
        position = match.end()
    if pending_charset is not None:
        pieces.append(decode_bytes(bytes(pending), pending_charset))
    pieces.append(value[position:])
    return "".join(pieces)


def raw_header_text(raw: bytes | None, hint_charset: str | None = None) -> str | None:
    """A header's raw value unfolded and decoded from 8-bit (not yet RFC 2047-decoded)."""
    if raw is None:
        return None
    if b"\n" in raw:
        raw = _FOLD.sub(b"", raw)
    text = raw.decode("ascii") if raw.isascii() else decode_bytes(raw, hint_charset)
    if "\n" in text or "\r" in text:
        text = _LINE_BREAKS.sub(" ", text)
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text.strip()


def header_text(raw: bytes | None, hint_charset: str | None = None) -> str | None:
    """A header's value as readable text: unfolded, 8-bit decoded, encoded-words decoded."""
    text = raw_header_text(raw, hint_charset)
    if text is None:
        return None
    return decode_encoded_words(text).replace("\x00", "").strip()


def first_address(value: str | None) -> tuple[str | None, str | None]:
    """(display name, address) of the first address in an address header, names RFC 2047-decoded."""
    if not value:
        return None, None
    for pattern in _FAST_ADDRESS:
        match = pattern.match(value)
        if match:
            name, address = match.group(1), match.group(2)
            if pattern is _FAST_ADDRESS[2]:
                name = " ".join(name.split())
            return _clean_name(name), address
    return first_address_stdlib(value)


def first_address_stdlib(value: str) -> tuple[str | None, str | None]:
    """The standard library's reading of an address header (what the fast patterns above must agree with)."""
    try:
        pairs = getaddresses([value])
    except Exception:  # noqa: BLE001 - the stdlib address parser has raised on odd input before
        return None, None
    for name, address in pairs:
        if address:
            return _clean_name(name), address.strip() or None
    return None, None


def _clean_name(name: str) -> str | None:
    decoded = decode_encoded_words(name).strip().strip('"').strip()
    return decoded or None


def gmail_labels(value: str | None) -> list[str] | None:
    """X-Gmail-Labels: comma-separated, some quoted, some RFC 2047-encoded; a localized Takeout
    may write the whole list as one encoded word (decoded first, then split)."""
    if value is None:
        return None
    if _ENCODED_WORDS_ONLY.fullmatch(value.strip()):
        value = decode_encoded_words(value.strip())
    if '"' not in value:
        raw_labels = value.split(",")
    else:
        raw_labels = []
        for match in _QUOTED_LABEL.finditer(value):
            if match.start() == match.end():
                break
            quoted, plain = match.group(1), match.group(2)
            raw_labels.append(re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else plain)
    labels = [decode_encoded_words(label.strip()).strip() for label in raw_labels]
    return [label for label in labels if label]


def _iso_utc(year: int, month: int, day: int, hour: int, minute: int, second: int, offset: int) -> str | None:
    try:
        moment = dt.datetime(year, month, day, hour, minute, min(second, 59)) - dt.timedelta(seconds=offset)
    except (ValueError, OverflowError):
        return None
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
            f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z")


def date_header_utc(value: str | None) -> str | None:
    """A Date header as ISO 8601 UTC (``2021-01-04T10:00:00Z``), or None when it does not parse.

    The common RFC 5322 shape is read by a pattern; anything else by ``email.utils.parsedate_tz``
    (a test checks both agree).
    """
    if not value:
        return None
    match = _RFC5322_DATE.match(value)
    if match and match.group(2).lower() in _MONTHS:
        day, month, year, hour, minute, second, zone = match.groups()
        offset = (-1 if zone[0] == "-" else 1) * (int(zone[1:3]) * 3600 + int(zone[3:5]) * 60)
        return _iso_utc(int(year), _MONTHS[month.lower()], int(day), int(hour), int(minute), int(second or 0), offset)
    return date_header_utc_stdlib(value)


def date_header_utc_stdlib(value: str) -> str | None:
    try:
        parsed = parsedate_tz(value)
    except Exception:  # noqa: BLE001 - parsedate_tz has raised IndexError/ValueError on junk
        return None
    if parsed is None:
        return None
    year, month, day, hour, minute, second = parsed[:6]
    return _iso_utc(year, month, day, hour, minute, second, parsed[9] or 0)


def separator_date_utc(line: bytes | None) -> str | None:
    """The date on an mbox ``From `` line (Gmail's received date) as ISO 8601 UTC, or None."""
    if not line:
        return None
    match = _SEPARATOR_DATE.search(line)
    if not match:
        return None
    month = _MONTHS.get(match.group(1).decode("ascii").lower())
    if month is None:
        return None
    offset = 0
    if match.group(6):
        sign = -1 if match.group(6)[:1] == b"-" else 1
        offset = sign * (int(match.group(6)[1:3]) * 3600 + int(match.group(6)[3:5]) * 60)
    return _iso_utc(int(match.group(7)), month, int(match.group(2)), int(match.group(3)),
                    int(match.group(4)), int(match.group(5) or 0), offset)


def decode_transfer(payload: bytes, transfer_encoding: str | None) -> bytes:
    """A part's payload with its Content-Transfer-Encoding undone (unknown encodings: as is)."""
    if transfer_encoding == "base64":
        return _b64(payload)
    if transfer_encoding == "quoted-printable":
        return binascii.a2b_qp(payload.replace(b"\r\n", b"\n"))
    return payload


@lru_cache(maxsize=256)  # a few values ("base64", "quoted-printable", "7bit") on every part
def transfer_encoding(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    token = re.split(rb"[;\s]", raw.strip(), maxsplit=1)[0]
    return token.decode("latin-1").lower() or None


def normalize_text(text: str) -> str:
    """Line endings as LF and NUL characters removed."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\x00", "") if "\x00" in text else text


class _Layout:
    """Text laid out as a browser's default style sheet shows it, one piece at a time.

    Inline whitespace collapses to one space; ``breaks`` counts the line breaks owed before the
    next text (1: a new line, 2: a blank line), so adjacent block margins collapse as in CSS.
    """

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.breaks = 0
        self.on_line = False  # the current line has text
        self.space = False  # a collapsed space is owed before the next text on this line
        self.prefix: list[str] = []  # "> " per blockquote
        self.pre = 0

    def block(self, breaks: int) -> None:
        if self.pieces:
            self.breaks = max(self.breaks, breaks)
            self.on_line = self.space = False

    def line_break(self) -> None:
        self.breaks += 1
        self.on_line = self.space = False

    def _put(self, text: str) -> None:
        if not self.on_line:
            if self.pieces and self.breaks:
                self.pieces.append("\n" * self.breaks)
            self.breaks = 0
            if self.prefix:
                self.pieces.append("".join(self.prefix))
            self.on_line = True
        elif self.space:
            self.pieces.append(" ")
        self.space = False
        self.pieces.append(text)

    def text(self, text: str | None) -> None:
        if not text:
            return
        if self.pre:
            for number, line in enumerate(text.split("\n")):
                if number:
                    self.line_break()
                if line:
                    self._put(line)
            return
        collapsed = _COLLAPSIBLE.sub(" ", text)
        if collapsed[:1] == " " and self.on_line:
            self.space = True
        core = collapsed.strip(" ")
        if core:
            self._put(core)
            self.space = collapsed[-1:] == " "

    def result(self) -> str:
        text = "".join(self.pieces).replace("\u00a0", " ").translate(_INVISIBLE)
        lines = (line.rstrip() for line in text.split("\n"))
        return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n")


def _link_target(element: Any) -> str | None:
    """The URL a reader would want beside a link's text: absolute, and not just the text again."""
    href = (element.get("href") or "").strip()
    if not href.lower().startswith(LINK_SCHEMES):
        return None
    shown = _COLLAPSIBLE.sub(" ", element.text_content()).strip()
    if not shown:
        return None  # an image or an empty anchor: the URL alone would be noise
    bare = href.split(":", 1)[1] if href.lower().startswith(("mailto:", "tel:")) else href
    if shown in (href, bare) or shown.rstrip("/") == href.rstrip("/"):
        return None
    return href


def _layout(root: Any) -> str:
    layout = _Layout()
    lists: list[list[Any]] = []  # [tag, next number] per open list
    # An explicit stack instead of recursion: mail can nest elements thousands deep.
    stack: list[tuple[int, Any]] = [(0, root)]
    while stack:
        step, item = stack.pop()
        if step == 2:  # the text after an element
            layout.text(item)
            continue
        element = item
        tag = element.tag if isinstance(element.tag, str) else None
        if step == 1:  # closing
            _close(layout, lists, element, tag)
            continue
        if tag is None or tag in HIDDEN_TAGS:  # comments, processing instructions, hidden parts
            continue
        style = element.get("style")
        if (style and _DISPLAY_NONE.search(style)) or element.get("hidden") is not None:
            continue
        _open(layout, lists, element, tag)
        stack.append((1, element))
        for child in reversed(element):
            if child.tail:
                stack.append((2, child.tail))
            stack.append((0, child))
        layout.text(element.text)
    return layout.result()


def _open(layout: _Layout, lists: list[list[Any]], element: Any, tag: str) -> None:
    if tag == "br":
        layout.line_break()
    elif tag in LIST_TAGS:
        layout.block(2 if not lists else 1)
        start = element.get("start", "1")
        lists.append([tag, int(start) if start.isdigit() else 1])
    elif tag == "li":
        layout.block(1)
        indent = "  " * max(0, len(lists) - 1)
        if lists and lists[-1][0] == "ol":
            marker = f"{lists[-1][1]}. "
            lists[-1][1] += 1
        else:
            marker = "- "
        layout._put(indent + marker.rstrip())  # noqa: SLF001 - the marker starts the line
        layout.space = True
    elif tag in PARAGRAPH_TAGS:
        layout.block(2)
        if tag == "blockquote":
            layout.prefix.append("> ")
        elif tag in PRE_TAGS:
            layout.pre += 1
    elif tag in LINE_TAGS:
        layout.block(1)
    elif tag in ("td", "th"):
        if layout.on_line:
            layout.space = True
    elif tag in PRE_TAGS:
        layout.pre += 1


def _close(layout: _Layout, lists: list[list[Any]], element: Any, tag: str | None) -> None:
    if tag is None or tag == "br":
        return
    if tag in LIST_TAGS:
        lists.pop()
        layout.block(2 if not lists else 1)
    elif tag in PARAGRAPH_TAGS:
        if tag == "blockquote" and layout.prefix:
            layout.prefix.pop()
        elif tag in PRE_TAGS:
            layout.pre -= 1
        layout.block(2)
    elif tag in LINE_TAGS:
        layout.block(1)
    elif tag in ("td", "th"):
        if layout.on_line:
            layout.space = True
    elif tag in PRE_TAGS:
        layout.pre -= 1
    elif tag == "a":
        target = _link_target(element)
        if target:
            layout.text(f" ({target})")


def html_to_text(markup: str) -> str:
    """The text a reader sees in an HTML body, laid out as a browser's default style sheet shows it.

    Inline whitespace collapses; ``<br>`` is one line break; blocks (``div``, ``li``, ``tr``...)
    start a line and paragraphs (``p``, headings, lists, tables, ``blockquote``) are set off by a
    blank line; list items get ``-`` or ``1.``; quotes ``> ``; ``pre`` keeps its whitespace; a link
    keeps its text and, when it differs, its URL in brackets; scripts, styles, the head and
    ``display:none`` parts are dropped; entities are decoded.
    """
    if not markup.strip():
        return ""
    try:
        # huge_tree: without it libxml2 drops everything below 255 levels of nesting (2,047 with it).
        parser = lxml_html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True, huge_tree=True)
        root = lxml_html.document_fromstring(markup.encode("utf-8", errors="replace"), parser=parser)
        text = _layout(root)
        if text:
            return text
    except Exception:  # noqa: BLE001 - lxml raises several types on hopeless markup
        pass
    return _tags_stripped(markup)  # hopeless or nested past libxml2's limit: never lose the words


def _tags_stripped(markup: str) -> str:
    import html

    text = html.unescape(_TAG.sub(" ", markup))
    lines = (_SPACES.sub(" ", line).strip() for line in normalize_text(text).split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def content_type_of(raw: bytes | None) -> str:
    """The MIME type of a Content-Type value, as the standard library reads it (text/plain default)."""
    if raw is None:
        return "text/plain"
    ctype = raw.decode("latin-1").partition(";")[0].lower().strip()
    return ctype if ctype.count("/") == 1 else "text/plain"


def is_attachment(raw_disposition: bytes | None) -> bool:
    if raw_disposition is None:
        return False
    return raw_disposition.split(b";", 1)[0].strip().lower() == b"attachment"
