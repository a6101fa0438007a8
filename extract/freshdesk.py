"""Freshdesk XML data export: the zip itself, a folder of its XML files, or a glob.

Tickets come from ``Tickets*.xml`` and ``ArchivedTickets*.xml``, users from
``Users*.xml``; the export's other XML files (Companies, Groups, Forums, ...) are
not needed and skipped. A zip is read member by member as a stream, never
extracted; a gzipped member (``Tickets0.xml.gz``) is read through gzip, while a
zip inside the zip (``nested_archive``) and a member that is not XML
(``unexpected_file``) are each a reject row, never skipped silently.

Every file is streamed with ``iterparse``; each ticket or user is cleared once
written and every other element under the root is dropped as the parser reads
on, so memory stays flat whatever the export's size. Text runs longer than
``READ_CUT_BYTES`` are cut while reading (``BoundedXml``), before libxml2 sees them:
the field keeps a prefix, the raw writer records its real size in
``extract_truncations``, and libxml2's 10 MB text-node limit (which stops the
parse and would lose the rest of the file) is never reached.

The export is untrusted input: the parser resolves no entity, loads no DTD and
opens no network connection, and a file that declares a DTD (``<!DOCTYPE``: the
carrier of external entities and entity-expansion bombs; Freshdesk never writes
one) is rejected whole before anything from it is written.

Raw rows: one per ticket (its description, the first conversation item), one
per note (the ticket's requester and subject copied beside it), one per user.
The requester's email and phone are joined from the users in SQL. Deleted and
spam tickets, and deleted notes, are rejected here, one reject per item they
would have made.
"""

from __future__ import annotations

import contextlib
import fnmatch
import gzip
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path, PurePosixPath
from typing import IO, Any

import pyarrow as pa
from lxml import etree

from extract import options as opt
from extract.context import SourceContext
from extract.files import open_binary, open_zip
from extract.platform import Platform
from extract.raw import PlatformOutput, free_text, strings, with_lineage
from extract.values import CUT_TOKEN, cut_mark, unmark

SETTINGS = opt.Settings((
    opt.Setting("path", opt.PATHS, "the XML data export zip (or its folder of XML files)", default=opt.REQUIRED,
                paths=True),
))
FILE_SUFFIXES = (".zip", ".xml")

TICKET_FILE_PATTERNS = ("tickets*.xml", "archivedtickets*.xml")
USER_FILE_PATTERNS = ("users*.xml",)
TICKET_TAG = "helpdesk-ticket"
USER_TAG = "user"
NOTE_TAG = "helpdesk-note"
NOTE_WRAPPERS = ("notes", "helpdesk-notes")
ITEM_ID_PREFIX = "freshdesk-"

# The first bytes of a file, searched for a <!DOCTYPE before the root element.
PROLOG_BYTES = 64 * 1024
# A text run (an element's text) longer than this is cut while reading: a prefix of at least
# 262,144 characters (the raw writer's field cap) is kept.
READ_CUT_BYTES = 1024 * 1024
# What the parser is handed per read.
READ_BYTES = 64 * 1024
ZIP_MAGIC = b"PK\x03\x04"
GZIP_MAGIC = b"\x1f\x8b"
ARCHIVE_SUFFIXES = (".zip", ".jar", ".tar", ".tgz", ".7z", ".rar", ".bz2", ".xz", ".zst", ".lz4")

TICKET_FIELDS = (
    *strings("ticket_id", "display_id"),
    free_text("subject", "title"),
    *strings("requester_id", "requester_name"),
)

TABLES = {
    "tickets": with_lineage(
        *TICKET_FIELDS,
        free_text("description"),
        free_text("description_html"),
        pa.field("tags", pa.list_(pa.string())),
        *strings("status_name", "source_name", "created_at", "updated_at"),
        pa.field("note_count", pa.int32()),
    ),
    "ticket_notes": with_lineage(
        *TICKET_FIELDS,
        pa.field("tags", pa.list_(pa.string())),
        pa.field("note_id", pa.string()),
        pa.field("note_index", pa.int32()),
        free_text("body"),
        free_text("body_html"),
        pa.field("user_id", pa.string()),
        pa.field("is_private", pa.bool_()),
        pa.field("is_incoming", pa.bool_()),
        pa.field("created_at", pa.string()),
    ),
    "users": with_lineage(
        *strings("user_id", "name", "email", "phone", "mobile"),
        pa.field("is_agent", pa.bool_()),
        pa.field("is_deleted", pa.bool_()),
    ),
}
RECORD_TABLES = ("tickets", "ticket_notes")

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

Opener = Callable[[], AbstractContextManager[IO[bytes]]]


class UnsafeXmlError(Exception):
    """A file that declares a DTD: never parsed further."""


# --- what a file is ----------------------------------------------------------


def file_kind(name: str) -> str | None:
    """'tickets', 'users' or None (a file of the export this import does not need)."""
    base = PurePosixPath(name.replace("\\", "/")).name.lower()
    if base.endswith(".gz"):
        base = base[:-3]
    if any(fnmatch.fnmatchcase(base, p) for p in TICKET_FILE_PATTERNS):
        return "tickets"
    if any(fnmatch.fnmatchcase(base, p) for p in USER_FILE_PATTERNS):
        return "users"
    return None


def unsafe_member_name(name: str) -> str | None:
    """Why a zip member's name could point outside a folder, or None when it is a plain name."""
    parts = name.replace("\\", "/").split("/")
    if "\x00" in name:
        return "the name holds a NUL character"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "the name is an absolute path"
    if ".." in parts:
        return "the name climbs out of the archive's folder (..)"
    return None


def is_zip(path: Path) -> bool:
    """By name or by magic bytes: a damaged .zip is still read as one (and rejected as unreadable)."""
    if path.name.lower().endswith(".zip"):
        return True
    with open(path, "rb") as probe:
        return probe.read(4) == b"PK\x03\x04"


# --- Rails-typed XML values --------------------------------------------------


def text_of(element: Any) -> str | None:
    """A leaf's text; ``nil="true"`` is NULL, an empty element is ''; a text cut while reading is Clipped."""
    if element is None or element.get("nil") == "true":
        return None
    text = element.text
    if not text:
        return ""
    return unmark(text) if CUT_TOKEN in text else text


def scalar_of(element: Any) -> str | None:
    """An id, a date or a name: the text without surrounding blanks."""
    value = text_of(element)
    return value.strip() if value is not None else None


def bool_of(element: Any) -> bool | None:
    value = scalar_of(element)
    if value is None:
        return None
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    return None


def tags_of(element: Any) -> list[str] | None:
    """``<tags type="array">``: each tag's ``<name>``, or its own text."""
    if element is None or element.get("nil") == "true":
        return None
    names = []
    for tag in element:
        value = scalar_of(tag.find("name")) if len(tag) else scalar_of(tag)
        if value:
            names.append(value)
    return names


def children_by_tag(element: Any) -> dict[str, Any]:
    """The first child of each tag (Freshdesk writes each field once)."""
    found: dict[str, Any] = {}
    for child in element:
        if isinstance(child.tag, str):
            found.setdefault(child.tag, child)
    return found


# --- reading files -----------------------------------------------------------


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


def iter_records(stream: IO[bytes], cut_bytes: int = READ_CUT_BYTES) -> Iterator[Any]:
    """Each ticket and user element directly under the root, cleared after use."""
    head, error = _read_head(stream, PROLOG_BYTES)
    if declares_dtd(head):
        raise UnsafeXmlError("the file declares a DTD (<!DOCTYPE ...>)")
    checked = False
    source = BoundedXml(head, stream, cut_bytes, error)
    root = root_tag(head)
    tags = (TICKET_TAG, USER_TAG) if root in (None, TICKET_TAG, USER_TAG) else (root, TICKET_TAG, USER_TAG)
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
        if parent is None or parent.getparent() is not None or element.tag not in (TICKET_TAG, USER_TAG):
            continue  # not a record: the root, or a ticket or user nested deeper than the root's children
        yield element
        element.clear(keep_tail=True)
        while element.getprevious() is not None:
            del parent[0]


class FreshdeskReader:
    """Turns the export's XML files into raw rows and rejects."""

    def __init__(self, ctx: SourceContext, out: PlatformOutput) -> None:
        self.ctx = ctx
        self.out = out
        self.tickets = out.table("tickets")
        self.notes = out.table("ticket_notes")
        self.users = out.table("users")
        self.skipped: list[str] = []

    # sources

    def read_path(self, path: Path) -> None:
        name = self.ctx.name_of(path)
        if is_zip(path):
            self.read_zip(path, name)
        else:
            self.read_file(name, lambda: open_binary(path))

    def read_zip(self, path: Path, name: str) -> None:
        try:
            archive = open_zip(path)
        except (zipfile.BadZipFile, OSError) as error:
            self.out.reject(reason="unreadable_file", source_file=name, position="file",
                            detail=f"not a readable zip archive: {error}")
            return
        with archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                member = f"{name}!/{info.filename}"
                problem = unsafe_member_name(info.filename)
                if problem:
                    self.out.reject(reason="unsafe_zip_member", source_file=member, position="zip member",
                                    detail=f"{problem}: not read")
                    continue
                self.read_member(archive, info, member)

    def read_member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, member: str) -> None:
        """A zip member: XML read (through gzip if gzipped); an archive or another file type rejected."""
        try:
            with archive.open(info) as probe:
                magic = probe.read(4)
        except READ_ERRORS as error:
            self.out.reject(reason="unreadable_file", source_file=member, position="zip member",
                            detail=f"{type(error).__name__}: {error}")
            return
        name = info.filename.lower()
        if magic.startswith(ZIP_MAGIC) or name.endswith(ARCHIVE_SUFFIXES):
            self.out.reject(reason="nested_archive", source_file=member, position="zip member",
                            detail="an archive inside the export: not read (Freshdesk exports hold XML files); "
                                   "extract it and list its files in path:")
            return
        if magic.startswith(GZIP_MAGIC):
            self.read_file(member, lambda: _gunzip(archive, info))
            return
        base = name.rsplit("/", 1)[-1]
        if file_kind(member) is None and not base.endswith((".xml", ".xml.gz")):
            self.out.reject(reason="unexpected_file", source_file=member, position="zip member",
                            detail="not an XML file of the Freshdesk export: not read")
            return
        self.read_file(member, lambda: archive.open(info))

    def read_file(self, source_file: str, opener: Opener) -> None:
        if file_kind(source_file) is None:
            self.skipped.append(source_file)
            return
        self.out.files_read += 1
        try:
            with opener() as stream:
                for element in iter_records(stream, READ_CUT_BYTES):
                    if element.tag == TICKET_TAG:
                        self.ticket(element, source_file)
                    else:
                        self.user(element, source_file)
                    self.ctx.report(f"{source_file}: {self.tickets.rows:,} tickets, "
                                    f"{self.notes.rows:,} notes, {self.users.rows:,} users")
        except UnsafeXmlError as error:
            self.out.reject(reason="unsafe_xml", source_file=source_file, position="prolog",
                            detail=f"{error}: Freshdesk exports never do; the file is not read")
        except etree.XMLSyntaxError as error:
            line, column = error.position
            unsafe = "amplification" in str(error).lower()
            self.out.reject(reason="unsafe_xml" if unsafe else "malformed_xml", source_file=source_file,
                            position=f"line {line}, column {column}", row=line,
                            detail=f"{error.msg}; the records before this point are kept")
        except READ_ERRORS as error:
            self.out.reject(reason="unreadable_file", source_file=source_file, position="file",
                            detail=f"{type(error).__name__}: {error}; the records before this point are kept")

    # records

    def ticket(self, element: Any, source_file: str) -> None:
        fields = children_by_tag(element)
        line = element.sourceline
        shared = {
            "ticket_id": scalar_of(fields.get("id")),
            "display_id": scalar_of(fields.get("display-id")),
            "subject": text_of(fields.get("subject")),
            "requester_id": scalar_of(fields.get("requester-id")),
            "requester_name": text_of(fields.get("requester-name")),
        }
        tags = tags_of(fields.get("tags"))
        ticket_key = shared["display_id"] or shared["ticket_id"]
        notes = [n for wrapper in NOTE_WRAPPERS if wrapper in fields
                 for n in fields[wrapper] if n.tag == NOTE_TAG]
        rejected = ("deleted_ticket" if bool_of(fields.get("deleted"))
                    else "spam_ticket" if bool_of(fields.get("spam")) else None)
        position = f"line {line}, ticket {ticket_key}"
        if rejected:
            self._reject_ticket(rejected, notes, ticket_key, shared, source_file, line, position)
            return
        self.tickets.write({
            **shared,
            "description": text_of(fields.get("description")),
            "description_html": text_of(fields.get("description-html")),
            "tags": tags,
            "status_name": scalar_of(fields.get("status-name")),
            "source_name": scalar_of(fields.get("source-name")),
            "created_at": scalar_of(fields.get("created-at")),
            "updated_at": scalar_of(fields.get("updated-at")),
            "note_count": len(notes),
            "_source_file": source_file,
            "_source_row": line,
            "_source_position": position,
        })
        for index, note in enumerate(notes, start=1):
            self.note(note, index, shared, tags, ticket_key, source_file)

    def note(self, element: Any, index: int, shared: dict[str, Any], tags: list[str] | None,
             ticket_key: str | None, source_file: str) -> None:
        fields = children_by_tag(element)
        note_id = scalar_of(fields.get("id"))
        line = element.sourceline
        position = f"line {line}, ticket {ticket_key}, note {index}"
        if bool_of(fields.get("deleted")):
            self.out.reject(reason="deleted_note", source_file=source_file, position=position, row=line,
                            record_id=note_item_id(ticket_key, note_id, index),
                            detail="the note is deleted in Freshdesk (deleted=true)",
                            raw=text_of(fields.get("body")))
            return
        self.notes.write({
            **shared,
            "tags": tags,
            "note_id": note_id,
            "note_index": index,
            "body": text_of(fields.get("body")),
            "body_html": text_of(fields.get("body-html")),
            "user_id": scalar_of(fields.get("user-id")),
            "is_private": bool_of(fields.get("private")),
            "is_incoming": bool_of(fields.get("incoming")),
            "created_at": scalar_of(fields.get("created-at")),
            "_source_file": source_file,
            "_source_row": line,
            "_source_position": position,
        })

    def _reject_ticket(self, reason: str, notes: list[Any], ticket_key: str | None,
                       shared: dict[str, Any], source_file: str, line: int, position: str) -> None:
        """One reject per item the ticket would have made: its description and each note."""
        flag = "deleted" if reason == "deleted_ticket" else "spam"
        detail = f"the ticket is marked {flag} in Freshdesk ({flag}=true)"
        self.out.reject(reason=reason, source_file=source_file, position=position, row=line,
                        record_id=description_item_id(ticket_key), detail=detail, raw=shared["subject"])
        for index, note in enumerate(notes, start=1):
            note_id = scalar_of(note.find("id"))
            self.out.reject(reason=reason, source_file=source_file, row=note.sourceline,
                            position=f"line {note.sourceline}, ticket {ticket_key}, note {index}",
                            record_id=note_item_id(ticket_key, note_id, index), detail=detail,
                            raw=text_of(note.find("body")))

    def user(self, element: Any, source_file: str) -> None:
        fields = children_by_tag(element)
        line = element.sourceline
        self.users.write({
            "user_id": scalar_of(fields.get("id")),
            "name": text_of(fields.get("name")),
            "email": scalar_of(fields.get("email")),
            "phone": scalar_of(fields.get("phone")),
            "mobile": scalar_of(fields.get("mobile")),
            "is_agent": bool_of(fields.get("helpdesk-agent")),
            "is_deleted": bool_of(fields.get("deleted")),
            "_source_file": source_file,
            "_source_row": line,
            "_source_position": f"line {line}, user {scalar_of(fields.get('id'))}",
        })


@contextlib.contextmanager
def _gunzip(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[IO[bytes]]:
    with archive.open(info) as raw, gzip.GzipFile(fileobj=raw) as stream:
        yield stream  # type: ignore[misc]


def description_item_id(ticket_key: str | None) -> str | None:
    """The id stg_freshdesk__conversation_items gives a ticket's description (kept in step with it)."""
    return f"{ITEM_ID_PREFIX}{ticket_key}" if ticket_key else None


def note_item_id(ticket_key: str | None, note_id: str | None, index: int) -> str | None:
    """The id stg_freshdesk__conversation_items gives a note (kept in step with it)."""
    if not ticket_key:
        return None
    return f"{ITEM_ID_PREFIX}{ticket_key}-{note_id if note_id else f'n{index}'}"


def extract(ctx: SourceContext, out: PlatformOutput) -> None:
    reader = FreshdeskReader(ctx, out)
    for path in ctx.files:
        reader.read_path(path)
    if reader.skipped:
        ctx.report(f"skipped {len(reader.skipped)} file(s) this import does not need "
                   f"(e.g. {reader.skipped[0]})", force=True)
    ctx.report(f"{reader.tickets.rows:,} tickets, {reader.notes.rows:,} notes, "
               f"{reader.users.rows:,} users", force=True)


PLATFORM = Platform("freshdesk", "Freshdesk", "files", SETTINGS, TABLES, RECORD_TABLES, extract, FILE_SUFFIXES)
