"""Freshdesk XML data export: the zip itself, a folder of its XML files, or a glob.

Tickets come from ``Tickets*.xml`` and ``ArchivedTickets*.xml``, users from
``Users*.xml``; the export's other files (Companies, Groups, Forums, ...) are
not needed and skipped. A zip is read member by member as a stream, never
extracted. Every file is streamed with ``iterparse`` and each ticket or user is
cleared once written, so memory stays flat whatever the export's size.

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

import fnmatch
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path, PurePosixPath
from typing import IO, Any

import pyarrow as pa
from lxml import etree

from extract.context import SourceContext
from extract.files import open_binary, open_zip
from extract.raw import PlatformOutput, RawTableWriter, with_lineage

NAME = "freshdesk"
CONFIG_KEYS = {"path": True}
PATH_KEYS = ("path",)
FILE_SUFFIXES = (".zip", ".xml")

TICKET_FILE_PATTERNS = ("tickets*.xml", "archivedtickets*.xml")
USER_FILE_PATTERNS = ("users*.xml",)
TICKET_TAG = "helpdesk-ticket"
USER_TAG = "user"
NOTE_TAG = "helpdesk-note"
NOTE_WRAPPERS = ("notes", "helpdesk-notes")
ITEM_ID_PREFIX = "freshdesk-"

# Rows carry whole ticket bodies: write row groups more often than the default,
# so the buffered rows stay a few megabytes.
BODY_TABLE_BATCH_ROWS = 2_000
# The first bytes of a file, searched for a <!DOCTYPE before the root element.
PROLOG_BYTES = 64 * 1024

TICKET_FIELDS = (
    pa.field("ticket_id", pa.string()),
    pa.field("display_id", pa.string()),
    pa.field("subject", pa.string()),
    pa.field("requester_id", pa.string()),
    pa.field("requester_name", pa.string()),
)

TABLES = {
    "tickets": with_lineage(
        *TICKET_FIELDS,
        pa.field("description", pa.string()),
        pa.field("description_html", pa.string()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("status_name", pa.string()),
        pa.field("source_name", pa.string()),
        pa.field("created_at", pa.string()),
        pa.field("updated_at", pa.string()),
        pa.field("note_count", pa.int32()),
    ),
    "ticket_notes": with_lineage(
        *TICKET_FIELDS,
        pa.field("tags", pa.list_(pa.string())),
        pa.field("note_id", pa.string()),
        pa.field("note_index", pa.int32()),
        pa.field("body", pa.string()),
        pa.field("body_html", pa.string()),
        pa.field("user_id", pa.string()),
        pa.field("is_private", pa.bool_()),
        pa.field("is_incoming", pa.bool_()),
        pa.field("created_at", pa.string()),
    ),
    "users": with_lineage(
        pa.field("user_id", pa.string()),
        pa.field("name", pa.string()),
        pa.field("email", pa.string()),
        pa.field("phone", pa.string()),
        pa.field("mobile", pa.string()),
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
    """A leaf's text; ``nil="true"`` is NULL, an empty element is ''."""
    if element is None or element.get("nil") == "true":
        return None
    return element.text or ""


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


class _Replay:
    """A stream whose first bytes were read ahead (for the prolog check) and are served again."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head + self._rest.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._rest.read(size)


def declares_dtd(head: bytes) -> bool:
    """True when the text before the root element holds a <!DOCTYPE."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head.decode("utf-16", errors="ignore")
    else:
        text = head.decode("utf-8", errors="ignore")
    root = ROOT_START.search(text)
    prolog = text[: root.start()] if root else text
    return DOCTYPE.search(prolog) is not None


def iter_records(stream: IO[bytes]) -> Iterator[Any]:
    """Each ticket and user element directly under the root, cleared after use."""
    head = stream.read(PROLOG_BYTES)
    if declares_dtd(head):
        raise UnsafeXmlError("the file declares a DTD (<!DOCTYPE ...>)")
    checked = False
    for _, element in etree.iterparse(_Replay(head, stream), events=("end",), tag=(TICKET_TAG, USER_TAG),
                                      **PARSER_OPTIONS):
        if not checked:
            docinfo = element.getroottree().docinfo
            if docinfo.internalDTD is not None or docinfo.externalDTD is not None:
                raise UnsafeXmlError("the file declares a DTD (<!DOCTYPE ...>)")
            checked = True
        parent = element.getparent()
        if parent is None or parent.getparent() is not None:
            continue  # not a record: a ticket or user nested deeper than the root's children
        yield element
        element.clear(keep_tail=True)
        while element.getprevious() is not None:
            del parent[0]


class FreshdeskReader:
    """Turns the export's XML files into raw rows and rejects."""

    def __init__(self, ctx: SourceContext, out: PlatformOutput) -> None:
        self.ctx = ctx
        self.out = out
        self.tickets = self._body_table("tickets")
        self.notes = self._body_table("ticket_notes")
        self.users = out.table("users")
        self.skipped: list[str] = []

    def _body_table(self, name: str) -> RawTableWriter:
        writer = self.out.table(name)
        writer.batch_rows = BODY_TABLE_BATCH_ROWS
        return writer

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
                self.read_file(member, lambda info=info: archive.open(info))

    def read_file(self, source_file: str, opener: Opener) -> None:
        if file_kind(source_file) is None:
            self.skipped.append(source_file)
            return
        self.out.files_read += 1
        try:
            with opener() as stream:
                for element in iter_records(stream):
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
