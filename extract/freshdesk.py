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

import fnmatch
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path, PurePosixPath
from typing import IO, Any

import pyarrow as pa
from lxml import etree

from extract import options as opt
from extract.context import SourceContext
from extract.platform import Platform
from extract.raw import PlatformOutput, free_text, strings, with_lineage
from extract.readers import READ_CUT_BYTES, archives
from extract.readers.bounded_xml import READ_ERRORS, UnsafeXmlError, iter_records
from extract.values import CUT_TOKEN, unmark

SETTINGS = opt.Settings((
    opt.Setting("path", opt.PATHS, "the XML data export zip (or its folder of XML files)", default=opt.REQUIRED,
                paths=True),
))
FILE_SUFFIXES = (".zip", ".xml")

TICKET_FILE_PATTERNS = ("tickets*.xml", "archivedtickets*.xml")
USER_FILE_PATTERNS = ("users*.xml",)
TICKET_TAG = "helpdesk-ticket"
USER_TAG = "user"
RECORD_TAGS = (TICKET_TAG, USER_TAG)
NOTE_TAG = "helpdesk-note"
NOTE_WRAPPERS = ("notes", "helpdesk-notes")
ITEM_ID_PREFIX = "freshdesk-"


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


Opener = Callable[[], AbstractContextManager[IO[bytes]]]


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
        """The file, or each member of the archive it is (zip or tar, by its bytes)."""
        for item in archives.inputs(path, self.ctx.name_of(path)):
            if isinstance(item, archives.Refused):
                item.reject_into(self.out)
            elif item.path is not None:
                self.read_file(item.location, item.open)
            else:
                self.read_member(item)

    def read_member(self, member: archives.Member) -> None:
        """An archive member: XML read (through gzip if gzipped); an archive or another file type rejected."""
        try:
            member.head()
        except READ_ERRORS as error:
            self.out.reject(reason="unreadable_file", source_file=member.location, position="archive member",
                            detail=f"{type(error).__name__}: {error}")
            return
        if member.is_archive():
            self.out.reject(reason="nested_archive", source_file=member.location, position="archive member",
                            detail="an archive inside the export: not read (Freshdesk exports hold XML files); "
                                   "extract it and list its files in path:")
            return
        base = member.name.lower().rsplit("/", 1)[-1]
        if member.packing() != "gzip" and file_kind(member.location) is None and not base.endswith((".xml", ".xml.gz")):
            self.out.reject(reason="unexpected_file", source_file=member.location, position="archive member",
                            detail="not an XML file of the Freshdesk export: not read")
            return
        self.read_file(member.location, member.open)

    def read_file(self, source_file: str, opener: Opener) -> None:
        if file_kind(source_file) is None:
            self.skipped.append(source_file)
            return
        self.out.files_read += 1
        try:
            with opener() as stream:
                for element in iter_records(stream, RECORD_TAGS, READ_CUT_BYTES):
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


PLATFORM = Platform("freshdesk", "Freshdesk", "files", SETTINGS, TABLES, RECORD_TABLES, extract, FILE_SUFFIXES,
                    reads_archives=True)
