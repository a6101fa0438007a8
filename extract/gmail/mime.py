"""One email's bytes -> one flat record: the headers the import needs and the body text.

Two ways in, one result:

- ``fast_shape``: a byte-level reader for the shapes most mail has (a single text
  part, or multiparts of text parts, in any transfer encoding). It reads only
  the header block and the one part it needs, and gives up (returns None) on
  anything unusual;
- ``full_shape``: the standard library's parser (``email`` with the lenient
  compat32 policy), for everything the fast path gives up on.

Both hand the same raw bytes to the same decoders (``extract.gmail.text``), so a
message read either way gives exactly the same record; a test proves it on
every message of the sample, the real-world corpus and the benchmark corpus.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.utils import collapse_rfc2231_value
from functools import lru_cache
from typing import Any

from stringzilla import Str

from extract.gmail.text import (
    content_type_of,
    date_header_utc,
    decode_bytes,
    decode_transfer,
    first_address,
    gmail_labels,
    header_text,
    html_to_text,
    is_attachment,
    normalize_text,
    raw_header_text,
    transfer_encoding,
)
from extract.values import Clipped, strip_keeping_guard

MAX_DEPTH = 20
MESSAGE_HEADERS = frozenset(
    {b"message-id", b"from", b"to", b"subject", b"date", b"x-gmail-labels", b"x-gm-thrid", b"content-type",
     b"auto-submitted", b"x-autoreply", b"x-autorespond", b"precedence"}
)
# Who sends bounces (RFC 3464 reports come from these mailboxes' local parts, any domain).
BOUNCE_SENDERS = frozenset({"mailer-daemon", "postmaster"})
PART_HEADERS = frozenset({b"content-type", b"content-transfer-encoding", b"content-disposition"})
ALL_HEADERS = MESSAGE_HEADERS | PART_HEADERS
TEXT_TYPES = ("text/plain", "text/html")
NOT_IN_HASH = (b"x-gmail-labels:", b"x-gm-thrid:")

_HEADER_BLOCK = re.compile(rb"(?:[\x21-\x39\x3b-\x7e]+:[^\n]*\n(?:[ \t][^\n]*\n)*)*")
_WANTED_NAMES = rb"(" + b"|".join(re.escape(name) for name in sorted(ALL_HEADERS)) + rb"):([^\n]*(?:\n[ \t][^\n]*)*)"
_FIRST_WANTED_HEADER = re.compile(_WANTED_NAMES, re.IGNORECASE)
_WANTED_HEADER = re.compile(rb"\n" + _WANTED_NAMES, re.IGNORECASE)  # a literal first byte: the scan skips lines
FIELD_CAP_CHARS = 262_144  # extract.raw.FIELD_CAP_CHARS (a test checks): workers import no pyarrow
_BARE_CR = re.compile(rb"\r(?!\n)")
_SIMPLE_PARAMS = re.compile(r'[^\\*(<\']*')
# What MIME writers put in a preamble for old mail readers: not something a person wrote.
_BOILERPLATE_PREAMBLE = re.compile(
    rb"\s*(?:this is a (?:multi-?part )?(?:mime[- ]encapsulated )?message(?: in mime format)?\.?\s*)?", re.IGNORECASE)


class UnparseableMessage(ValueError):
    """A message no parser can read: it is set aside with its offset and this reason."""


@dataclass(frozen=True)
class BodyPart:
    payload: bytes
    charset: str | None
    transfer_encoding: str | None


@dataclass
class Shape:
    """What the record is built from: raw header values and the raw text parts."""

    headers: dict[bytes, bytes] = field(default_factory=dict)
    parts: dict[str, BodyPart] = field(default_factory=dict)


# --- Content-Type parameters -------------------------------------------------------------------


@lru_cache(maxsize=4096)
def content_type_params(raw: bytes) -> tuple[str, str | None, str | None]:
    """(MIME type, charset, boundary) of a Content-Type value, exactly as the standard library reads them."""
    value = raw.decode("ascii", errors="surrogateescape")
    simple = _simple_params(value)
    if simple is not None:
        return simple
    message = Message()
    message["Content-Type"] = value
    charset = message.get_param("charset")
    if isinstance(charset, tuple):
        charset = collapse_rfc2231_value(charset)
    return message.get_content_type(), charset or None, message.get_boundary()


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) > 1 and value[0] == value[-1] == '"' else value


def _simple_params(value: str) -> tuple[str, str | None, str | None] | None:
    """The common case (no escapes, comments, RFC 2231 or quoted ';'), read without the stdlib."""
    if not value.isascii() or not _SIMPLE_PARAMS.fullmatch(value):
        return None
    pieces = value.split(";")
    if any(piece.count('"') % 2 for piece in pieces):
        return None
    ctype = pieces[0].lower().strip()
    params: dict[str, str] = {}
    for piece in pieces:  # the stdlib looks for parameters in the first piece too
        name, equals, param = piece.partition("=")
        params.setdefault(name.strip().lower(), _unquote(param.strip()) if equals else "")
    boundary = params.get("boundary")
    return (
        ctype if ctype.count("/") == 1 else "text/plain",
        params.get("charset") or None,
        _unquote(boundary).rstrip() if boundary is not None else None,
    )


# --- the fast path -------------------------------------------------------------------------------


def _split_headers(data: bytes, wanted: frozenset[bytes], start: int,
                   stop: int) -> tuple[dict[bytes, bytes], int, int] | None:
    """(wanted headers' first values, header block end, body start) of ``data[start:stop]``,
    or None for an unusual header block. Offsets, not slices: attachments are never copied."""
    end = _HEADER_BLOCK.match(data, start, stop).end()  # type: ignore[union-attr]  # (it matches "" too)
    if end < stop and data[end] == 0x0A:
        body_start = end + 1
    elif end + 1 < stop and data[end] == 0x0D and data[end + 1] == 0x0A:
        body_start = end + 2
    else:
        return None
    if data.find(b"\r", start, end) >= 0 and _BARE_CR.search(data, start, end):
        return None  # a bare CR is a line break to the stdlib parser: not worth copying that here
    headers: dict[bytes, bytes] = {}
    found = _WANTED_HEADER.findall(data, start, end)  # (name, value) pairs: no match objects
    first = _FIRST_WANTED_HEADER.match(data, start, end)
    if first is not None:
        found.insert(0, first.groups())
    for name, value in found:
        name = name.lower()
        if name in wanted and name not in headers:
            headers[name] = value.lstrip(b" \t").rstrip(b"\r\n")
    return headers, end, body_start


def _delimiters(data: bytes, start: int, stop: int, boundary: bytes) -> list[tuple[int, int, bool]] | None:
    """(line start, next line start, is closing) of each boundary line up to the closing one."""
    marker = b"--" + boundary
    found: list[tuple[int, int, bool]] = []
    position = start
    find = Str(data).find  # SIMD: the search runs over every attachment's bytes
    while (index := find(marker, position, stop)) >= 0:
        position = index + 1
        if data[index - 1] == 0x0D:
            return None  # after a bare CR: a boundary line to the stdlib parser, not to this reader
        if data[index - 1] != 0x0A:
            continue
        newline = data.find(b"\n", index, stop)
        line_end = stop if newline < 0 else newline
        rest = data[index + len(marker) : line_end].removesuffix(b"\r")
        if b"\r" in rest:
            return None
        closing = rest.startswith(b"--")
        if (rest[2:] if closing else rest).strip(b" \t"):
            continue
        found.append((index, line_end + 1 if newline >= 0 else line_end, closing))
        if closing:
            return found
    return None  # no closing boundary: the full parser decides what that means


def _fast_part(data: bytes, start: int, stop: int, parts: dict[str, BodyPart], depth: int) -> bool:
    split = _split_headers(data, PART_HEADERS, start, stop)
    if split is None or depth > MAX_DEPTH:
        return False
    return _fast_body(data, split[0], split[2], stop, parts, depth, is_subpart=True)


def _fast_body(data: bytes, headers: dict[bytes, bytes], body_start: int, stop: int, parts: dict[str, BodyPart],
               depth: int, is_subpart: bool) -> bool:
    raw_type = headers.get(b"content-type")
    ctype, charset, boundary = content_type_params(raw_type) if raw_type is not None else ("text/plain", None, None)
    if ctype.startswith("message/") or ctype == "multipart/digest":
        return False
    if ctype.startswith("multipart/"):
        return _fast_multipart(data, body_start, stop, boundary, parts, depth)
    if ctype in TEXT_TYPES and ctype not in parts and not is_attachment(headers.get(b"content-disposition")):
        payload = data[body_start:stop]
        if is_subpart:  # RFC 2046: the line break before a boundary belongs to the boundary
            payload = payload[:-2] if payload.endswith(b"\r\n") else payload.removesuffix(b"\n")
        parts[ctype] = BodyPart(payload, charset, transfer_encoding(headers.get(b"content-transfer-encoding")))
    return True


def _fast_multipart(data: bytes, body_start: int, stop: int, boundary: str | None, parts: dict[str, BodyPart],
                    depth: int) -> bool:
    if not boundary or not boundary.isascii():
        return False
    lines = _delimiters(data, body_start, stop, boundary.encode("ascii"))
    if not lines or lines[0][2]:
        return False
    for (_, begin, _), (end, _, _) in zip(lines, lines[1:], strict=False):
        if begin == end:  # two boundary lines in a row: leave the oddity to the full parser
            return False
        if not _fast_part(data, begin, end, parts, depth + 1):
            return False
    return True


def fast_shape(raw: bytes) -> Shape | None:
    """The message's shape read at byte level, or None when it is not one of the common shapes."""
    split = _split_headers(raw, ALL_HEADERS, 0, len(raw))
    if split is None or split[1] == 0:
        return None
    headers, _, body_start = split
    shape = Shape(headers={k: v for k, v in headers.items() if k in MESSAGE_HEADERS})
    if not _fast_body(raw, headers, body_start, len(raw), shape.parts, 0, is_subpart=False):
        return None
    return shape


# --- the full parser -----------------------------------------------------------------------------


def _raw_headers(part: Message, wanted: frozenset[bytes]) -> dict[bytes, bytes]:
    headers: dict[bytes, bytes] = {}
    for name, value in part.raw_items():
        key = name.lower().encode("ascii", errors="surrogateescape")
        if key in wanted and key not in headers:
            headers[key] = str(value).encode("ascii", errors="surrogateescape")
    return headers


def _full_search(part: Message, parts: dict[str, BodyPart], attached: list[Message], depth: int) -> None:
    if depth > MAX_DEPTH:
        return
    ctype = part.get_content_type()
    if part.is_multipart():
        if ctype.startswith("message/"):
            attached.append(part)
            return
        for sub in part.get_payload():
            _full_search(sub, parts, attached, depth + 1)
        return
    if ctype not in TEXT_TYPES or ctype in parts:
        return
    headers = _raw_headers(part, PART_HEADERS)
    if is_attachment(headers.get(b"content-disposition")):
        return
    # The raw payload: get_payload() would re-decode 8-bit text with the declared charset.
    payload = part._payload  # noqa: SLF001
    payload_bytes = payload.encode("ascii", errors="surrogateescape") if isinstance(payload, str) else b""
    raw_type = headers.get(b"content-type")
    charset = content_type_params(raw_type)[1] if raw_type is not None else None
    parts[ctype] = BodyPart(payload_bytes, charset, transfer_encoding(headers.get(b"content-transfer-encoding")))


def _report_preamble(message: Message, parts: dict[str, BodyPart]) -> None:
    """A bounce or report without a text part: the readable text some servers put in the preamble."""
    preamble = message.preamble
    if not preamble:
        return
    payload = preamble.encode("ascii", errors="surrogateescape")
    if _BOILERPLATE_PREAMBLE.fullmatch(payload):
        return
    raw_type = _raw_headers(message, PART_HEADERS).get(b"content-type")
    charset = content_type_params(raw_type)[1] if raw_type is not None else None
    parts["text/plain"] = BodyPart(payload, charset, None)


def full_shape(raw: bytes) -> Shape:
    """The message's shape read by the standard library's parser; raises UnparseableMessage."""
    try:
        message = BytesParser(policy=compat32).parsebytes(raw)
    except Exception as error:  # noqa: BLE001 - any parser failure means: set aside with the reason
        raise UnparseableMessage(f"the email parser failed: {type(error).__name__}: {error}") from None
    if not message.keys():
        raise UnparseableMessage("no email header found")
    shape = Shape(headers=_raw_headers(message, MESSAGE_HEADERS))
    attached: list[Message] = []
    try:
        _full_search(message, shape.parts, attached, 0)
        if not shape.parts and message.get_content_type() == "multipart/report":
            _report_preamble(message, shape.parts)
        if not shape.parts:  # nothing of its own (a forward as attachment): the attached mail's text
            for inner in attached:
                for sub in inner.get_payload():
                    if isinstance(sub, Message):
                        _full_search(sub, shape.parts, [], 1)
    except RecursionError:
        shape.parts.clear()
    return shape


# --- the record --------------------------------------------------------------------------------


def _part_text(part: BodyPart | None) -> str | None:
    if part is None:
        return None
    data = decode_transfer(part.payload, part.transfer_encoding)
    return strip_keeping_guard(normalize_text(decode_bytes(data, part.charset)))


def content_hash(raw: bytes) -> str:
    """A fingerprint of the message that ignores what Takeout adds (labels, thread id) and line endings."""
    text = raw.replace(b"\r\n", b"\n")
    head, blank, body = text.partition(b"\n\n")
    kept = []
    skipping = False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                kept.append(line)
            continue
        skipping = line.lower().startswith(NOT_IN_HASH)
        if not skipping:
            kept.append(line)
    return hashlib.sha1(b"\n".join(kept) + blank + body).hexdigest()


def _capped(text: str | None, part: BodyPart | None) -> str | None:
    """The text, or its first FIELD_CAP_CHARS marked with the part's size for the raw writer's
    truncation record (cut here so a huge body never crosses between processes whole)."""
    if text is None or part is None or len(text) <= FIELD_CAP_CHARS:
        return text
    return Clipped.of(text[:FIELD_CAP_CHARS], len(part.payload))


def automated_kind(headers: dict[bytes, bytes], from_address: str | None) -> str | None:
    """'bounce', 'auto_reply' or None: mail no person wrote, as Gladly's guide filters it out.

    A bounce is a delivery report (``multipart/report; report-type=delivery-status``, RFC 3464) or
    mail from MAILER-DAEMON / postmaster; an automatic reply says so in ``Auto-Submitted`` (any
    value but ``no``, RFC 3834), ``X-Autoreply``, ``X-Autorespond`` or ``Precedence: auto_reply``.
    """
    top_type = headers.get(b"content-type")
    if top_type is not None:
        ctype = top_type.lower()
        if ctype.lstrip().startswith(b"multipart/report") and b"delivery-status" in ctype:
            return "bounce"
    if from_address and from_address.split("@", 1)[0].lower() in BOUNCE_SENDERS:
        return "bounce"
    submitted = headers.get(b"auto-submitted")
    if submitted is not None and submitted.split(b";", 1)[0].strip().lower() not in (b"", b"no"):
        return "auto_reply"
    if headers.get(b"x-autoreply") is not None or headers.get(b"x-autorespond") is not None:
        return "auto_reply"
    precedence = headers.get(b"precedence")
    if precedence is not None and precedence.strip().lower() == b"auto_reply":
        return "auto_reply"
    return None


def build_record(raw: bytes, shape: Shape, support_addresses: frozenset[str]) -> dict[str, Any]:
    """The flat record of one message (see TABLES in extract.gmail for each field's meaning)."""
    headers = shape.headers
    plain, html = shape.parts.get("text/plain"), shape.parts.get("text/html")
    top_type = headers.get(b"content-type")
    hint = (plain or html).charset if (plain or html) else None
    if hint is None and top_type is not None:
        hint = content_type_params(top_type)[1]

    from_name, from_address = first_address(raw_header_text(headers.get(b"from"), hint))
    to_name, to_address = first_address(raw_header_text(headers.get(b"to"), hint))
    labels = gmail_labels(raw_header_text(headers.get(b"x-gmail-labels"), "utf-8"))
    lower_labels = {label.lower() for label in labels or ()}
    if support_addresses:
        is_sent = bool(from_address) and from_address.lower() in support_addresses
    else:
        is_sent = "sent" in lower_labels
    message_id = header_text(headers.get(b"message-id")) or None
    date_raw = header_text(headers.get(b"date"), hint) or None

    body_text = _part_text(plain)
    html_text = None
    if html is not None and not (body_text and body_text.strip()):
        html_text = html_to_text(_part_text(html) or "")

    return {
        "automated": automated_kind(headers, from_address),
        "message_id": message_id,
        "content_hash": None if message_id else content_hash(raw),
        "thread_id": header_text(headers.get(b"x-gm-thrid")) or None,
        "labels": labels,
        "is_chat": "chat" in lower_labels,
        "subject": header_text(headers.get(b"subject"), hint),
        "from_address": from_address,
        "from_name": from_name,
        "to_address": to_address,
        "to_name": to_name,
        "is_sent_by_support": is_sent,
        "date_header": date_raw,
        "date_utc": date_header_utc(date_raw),
        "content_type": content_type_of(top_type),
        "body_text": _capped(body_text, plain),
        "body_html_text": _capped(html_text, html),
    }


def parse_message(raw: bytes, support_addresses: frozenset[str], allow_fast: bool = True) -> tuple[dict[str, Any], str]:
    """(record, "fast" or "full"); raises UnparseableMessage when no parser can read the message."""
    if not raw.strip():
        raise UnparseableMessage("empty message")
    try:
        shape = fast_shape(raw) if allow_fast else None
    except Exception:  # noqa: BLE001 - a shortcut must never cost a message: the full parser decides
        shape = None
    parsed_by = "fast"
    if shape is None:
        shape, parsed_by = full_shape(raw), "full"
    return build_record(raw, shape, support_addresses), parsed_by
