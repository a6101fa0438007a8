"""XML streamed within bounds, hardened against hostile input.

The parser resolves no entity, loads no DTD and opens no network connection, and a file that
declares a DTD (``<!DOCTYPE``: the carrier of external entities and entity-expansion bombs) is
refused whole (``UnsafeXmlError``) before any record of it is handed out. Text runs longer than
``READ_CUT_BYTES`` are cut while reading (``BoundedXml``), before libxml2 sees them, so its
10 MB text-node limit (which stops the parse and would lose the rest of the file) is never
reached; the records (``iter_records``: the root's children of the given tags) are cleared once
used and every other element under the root is dropped as the parser reads on.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, Any

from lxml import etree

from extract.readers import READ_CUT_BYTES
from extract.values import cut_mark

# The first bytes of a file, searched for a <!DOCTYPE before the root element.
PROLOG_BYTES = 64 * 1024
# What the parser is handed per read.
READ_BYTES = 64 * 1024
PARSER_OPTIONS = {
    "resolve_entities": False,
    "load_dtd": False,
    "no_network": True,
    # Keep libxml2's safety limits (depth, 10 MB per text node, entity amplification).
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}
ROOT_START = re.compile(r"<(?![?!])")
ROOT_TAG = re.compile(r"<([A-Za-z_][\w.\-]*)[\s/>]")
DOCTYPE = re.compile(r"<!DOCTYPE", re.IGNORECASE)
READ_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, RuntimeError, ValueError)


class UnsafeXmlError(Exception):
    """A file that declares a DTD: never parsed further."""


class BoundedXml:
    """A file's bytes on their way to the parser, kept within bounds.

    - Every text run (the bytes after a tag's ``>`` up to the next ``<``) longer than
      ``cut_bytes`` is cut to a prefix (never inside a character or an entity) followed by a cut
      mark; the rest of the run is read and counted, not kept.
    - Between reads, the root's finished children are dropped (``root`` is set once known): a
      flood of elements that are not records never piles up. The parser has handed out every
      event of what it was fed before it reads again, so nothing it still needs is dropped.

    A tag, comment or CDATA section over ``cut_bytes`` is not cut: libxml2's own limits apply.
    """

    def __init__(self, head: bytes, rest: IO[bytes], cut_bytes: int = READ_CUT_BYTES,
                 error: BaseException | None = None) -> None:
        self._head = head
        self._error = error  # met while reading the head: raised once the head is passed on
        self._read = getattr(rest, "read1", rest.read)  # read1: a gzip that breaks off loses nothing read
        self._cut = cut_bytes
        self._passthrough = head.startswith((b"\xff\xfe", b"\xfe\xff"))  # UTF-16: bytes are not ASCII
        self.root: Any = None
        self._run = 0  # bytes since the last '<' (the current tag and its text)
        self._tag_open = True  # the current run's tag has not reached its '>' yet
        self._text = 0  # text bytes of the current run
        self._cutting = False
        self._in_entity = False  # the text passed on ends inside an entity

    def read(self, size: int = READ_BYTES) -> bytes:
        if self.root is not None and len(self.root) > 1:
            del self.root[:-1]
        want = max(1, min(size if size and size > 0 else READ_BYTES, self._cut))
        while True:
            if self._head:
                data, self._head = self._head[:want], self._head[want:]
            elif self._error is not None:
                error, self._error = self._error, None
                raise error
            else:
                data = self._read(want)
            if not data:
                if self._cutting:
                    self._cutting = False
                    return cut_mark(self._text)
                return b""
            if self._passthrough:
                return data
            out = self._filter(data)
            if out:
                return out

    def _filter(self, data: bytes) -> bytes:
        first = data.find(b"<")
        head = data if first < 0 else data[:first]
        out = self._continue_run(head)
        if first < 0:
            return out
        if self._cutting:
            out += cut_mark(self._text)
            self._cutting = False
        rest = data[first:]
        last = rest.rfind(b"<")
        gt = rest.find(b">", last)
        self._run = len(rest) - last
        self._tag_open = gt < 0
        self._text = 0 if gt < 0 else len(rest) - gt - 1
        self._in_entity = False
        if gt >= 0:
            self._note_entity(rest, gt + 1)
        return out + rest

    def _note_entity(self, text: bytes, start: int) -> None:
        amp = text.rfind(b"&", start)
        if amp >= 0:
            self._in_entity = text.find(b";", amp) < 0
        elif self._in_entity and text.find(b";", start) >= 0:
            self._in_entity = False

    def _continue_run(self, part: bytes) -> bytes:
        """The next bytes of the current run (no '<' in them): kept, cut or counted."""
        if self._cutting:
            self._text += len(part)
            return b""
        text_from = 0
        if self._tag_open:
            gt = part.find(b">")
            if gt < 0:
                self._run += len(part)
                return part
            self._tag_open = False
            text_from = gt + 1
        if self._text + len(part) - text_from <= self._cut:
            self._text += len(part) - text_from
            self._run += len(part)
            self._note_entity(part, text_from)
            return part
        keep = text_from + self._cut - self._text
        keep = _safe_xml_cut(part, text_from, keep, self._in_entity)
        self._text += len(part) - text_from
        if keep >= len(part):  # an entity or character runs on past this piece: cut in the next one
            self._run += len(part)
            self._note_entity(part, text_from)
            return part
        self._cutting = True
        return part[:keep]


def _safe_xml_cut(part: bytes, text_from: int, keep: int, in_entity: bool) -> int:
    """Move a cut so that it splits no UTF-8 character and no entity (``&amp;``, ``&#233;``).

    ``in_entity``: the text already passed on ends inside an entity begun in an earlier piece.
    """
    if in_entity:
        semi = part.find(b";", text_from)
        floor = semi + 1 if semi >= 0 else len(part)
    else:
        floor = text_from
        while floor < len(part) and 0x80 <= part[floor] < 0xC0:  # the end of a character begun earlier
            floor += 1
    keep = max(keep, floor)
    amp = part.rfind(b"&", floor, keep)
    if amp >= 0 and part.find(b";", amp, keep) < 0:
        keep = amp
    while keep > floor and keep < len(part) and 0x80 <= part[keep] < 0xC0:
        keep -= 1
    return keep


def declares_dtd(head: bytes) -> bool:
    """True when the text before the root element holds a <!DOCTYPE."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head.decode("utf-16", errors="ignore")
    else:
        text = head.decode("utf-8", errors="ignore")
    root = ROOT_START.search(text)
    prolog = text[: root.start()] if root else text
    return DOCTYPE.search(prolog) is not None


def _read_head(stream: IO[bytes], size: int) -> tuple[bytes, BaseException | None]:
    """The first ``size`` bytes, and the error that stopped the read early (a gzip that breaks off)."""
    read = getattr(stream, "read1", stream.read)
    parts: list[bytes] = []
    held = 0
    while held < size:
        try:
            data = read(size - held)
        except READ_ERRORS as error:
            return b"".join(parts), error
        if not data:
            break
        parts.append(data)
        held += len(data)
    return b"".join(parts), None


def root_tag(head: bytes) -> str | None:
    """The root element's name, read from the first bytes (None if not there, or prefixed)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    text = head.decode("utf-8", errors="ignore")
    root = ROOT_START.search(text)
    found = ROOT_TAG.match(text, root.start()) if root else None
    return found.group(1) if found else None


def iter_records(stream: IO[bytes], record_tags: Iterable[str],
                 cut_bytes: int = READ_CUT_BYTES) -> Iterator[Any]:
    """Each element of ``record_tags`` directly under the root, cleared after use."""
    record_tags = tuple(record_tags)
    head, error = _read_head(stream, PROLOG_BYTES)
    if declares_dtd(head):
        raise UnsafeXmlError("the file declares a DTD (<!DOCTYPE ...>)")
    checked = False
    source = BoundedXml(head, stream, cut_bytes, error)
    root = root_tag(head)
    tags = record_tags if root is None or root in record_tags else (root, *record_tags)
    for event, element in etree.iterparse(source, events=("start", "end"), tag=tags, **PARSER_OPTIONS):
        if event == "start":
            if source.root is None and element.getparent() is None and element.tag == root:
                source.root = element
            continue
        if not checked:
            docinfo = element.getroottree().docinfo
            if docinfo.internalDTD is not None or docinfo.externalDTD is not None:
                raise UnsafeXmlError("the file declares a DTD (<!DOCTYPE ...>)")
            checked = True
        parent = element.getparent()
        if parent is None or parent.getparent() is not None or element.tag not in record_tags:
            continue  # not a record: the root, or a ticket or user nested deeper than the root's children
        yield element
        element.clear(keep_tail=True)
        while element.getprevious() is not None:
            del parent[0]
