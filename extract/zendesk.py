"""Zendesk JSON export: one ticket object per line (NDJSON), or one JSON document holding them (an
array of tickets, or an object with a ``tickets`` array, as the API and many scripts write it),
plain or gzip, one or many files, or the export zip (or tar) as downloaded.

Writes one raw row per ticket comment, with the ticket's fields beside it. Lines
that are not JSON, not a ticket, or a ticket without comments are rejected with
the file and line they came from; so is a ticket nested deeper than the JSON parser
goes (``record_too_deep``). Lines end at LF, CRLF or a lone CR.

A line over ``MAX_LINE_BYTES`` is never held whole: it is read in pieces and every
string in it longer than ``READ_CUT_BYTES`` is cut while reading (the writer records
the string's real size in ``extract_truncations``); if what is left is still over
the limit, the line is a ``record_too_large`` reject. Either way the file goes on.

An account without the export is read through the API instead (``base_url``, or ``simulate``:
``extract/zendesk_api.py``), into the same raw table: the platform reads one or the other, by its
settings (``reads="either"``; exactly one of ``path``, ``base_url``, ``simulate: true``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from extract import options as opt
from extract.api import config
from extract.api.check import Finding
from extract.context import SourceContext
from extract.platform import Platform
from extract.raw import PlatformOutput, free_text, strings, with_lineage
from extract.readers import READ_CUT_BYTES, archives
from extract.readers.json_text import BOM, TooLarge, document_shape, iter_document, read_head, shrink_json_strings
from extract.readers.lines import MAX_LINE_BYTES, LongLine, read_lines
from extract.values import as_text, unmark_all

READ_BY = ("path", "base_url", "simulate")  # the export, or the API (extract/zendesk_api.py), or its simulator
SETTINGS = opt.Settings((
    opt.Setting("path", opt.PATHS, "the JSON export as downloaded (zip or not, gzip or not)", paths=True,
                shows="one of `path`, `base_url` or `simulate: true`"),
    opt.Setting("base_url", opt.https_url("https://<subdomain>.zendesk.com"),
                "the account's address: read through the API instead of an export",
                shows="one of `path`, `base_url` or `simulate: true`"),
    opt.Setting("email_env", opt.ENV_NAME, "the variable that holds the admin's email (the API)",
                default="ZENDESK_EMAIL", secret="the email of the Zendesk admin the API token is used with"),
    opt.Setting("api_token_env", opt.ENV_NAME, "the variable that holds the API token (the API)",
                default="ZENDESK_API_TOKEN",
                secret="a Zendesk API token (Admin Center > Apps and integrations > Zendesk API)"),
    config.requests_per_minute("a cap below the plan's limit (room for other integrations)"),
    config.budget("incremental_requests_per_minute",
                  "incremental export requests a minute, spaced evenly (Zendesk allows 10; 30 with High Volume)", 9),
    # 16 in flight at 250 ms: 3,840 a minute, above the High Volume add-on's 2,500
    config.concurrency("tickets whose comments are fetched at once", 16),
    config.simulate("run against the bundled local Zendesk API simulator"),
    opt.Setting("simulator_data", opt.folder_with(), "the simulator's tickets: JSON export files",
                shows="`samples/zendesk/` (the sample export)", folder=True),
    opt.Setting("simulator_rate_limit", opt.number(0, whole=True, what="requests a minute, 0 for none"),
                "the simulator's plan limit (Zendesk: 200 to 2,500)", default=700),
    opt.Setting("simulator_incremental_rate_limit", opt.number(0, whole=True, what="in any 60 s, 0 for none"),
                "the simulator's incremental export limit (Zendesk: 10)", default=10),
    opt.Setting("delta_overlap_hours", opt.number(0, 24 * 366),
                "a delta whose saved cursor is refused reads again from the newest ticket minus this", default=24),
), one_of=(opt.OneOf(READ_BY),))
FILE_SUFFIXES = (".json", ".jsonl", ".ndjson")

TABLES = {
    "ticket_comments": with_lineage(
        pa.field("ticket_id", pa.string()),
        free_text("ticket_subject", "title"),
        pa.field("ticket_tags", pa.list_(pa.string())),
        *strings("ticket_status", "ticket_created_at", "ticket_updated_at", "requester_id", "requester_email",
                 "requester_name", "requester_phone", "comment_id"),
        pa.field("comment_index", pa.int32()),
        pa.field("comment_author_id", pa.string()),
        free_text("comment_body"),
        free_text("comment_html_body"),
        free_text("comment_plain_body"),
        pa.field("comment_is_public", pa.bool_()),
        pa.field("comment_created_at", pa.string()),
    )
}
RECORD_TABLES = ("ticket_comments",)


def _tags(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [t for t in (part.strip() for part in value.replace(",", " ").split()) if t]
    if isinstance(value, list):
        return [as_text(t) for t in value if t is not None and as_text(t)]  # type: ignore[misc]
    return [as_text(value)]  # type: ignore[list-item]


def _looks_like_ticket(obj: Any) -> bool:
    return isinstance(obj, dict) and "id" in obj and ("comments" in obj or "subject" in obj or "requester" in obj)


def _decode(line: bytes) -> Any:
    try:
        return json.loads(line)
    except UnicodeDecodeError:
        # Not UTF-8: keep the record, with the undecodable bytes replaced.
        return json.loads(line.decode("utf-8", errors="replace"))


def extract(ctx: SourceContext, out: PlatformOutput) -> None:
    comments = out.table("ticket_comments")
    for path in ctx.files:
        for member in archives.export_files(path, ctx.name_of(path), out, FILE_SUFFIXES, "a JSON file of the export"):
            _extract_file(ctx, member, out, comments)


def _extract_file(ctx: SourceContext, member: archives.Member, out: PlatformOutput, comments: Any) -> None:
    """One JSON file (or archive member): one ticket a line, or one document holding them."""
    source_file = member.location
    out.files_read += 1
    line_number = 0
    try:
        with member.open() as stream:
            head = read_head(stream)
            shape = document_shape(head, "tickets")
            if shape is not None and head.startswith(BOM):
                head = head[len(BOM):]  # the JSON parser takes no byte order mark
            stream = archives.Peeked(head, stream)  # type: ignore[assignment]
            if shape is not None:
                _extract_document(ctx, stream, shape, source_file, out, comments)
                return
            for line_number, line in read_lines(stream, MAX_LINE_BYTES):
                if isinstance(line, LongLine):
                    _extract_long_line(line, source_file, line_number, out, comments)
                else:
                    _extract_line(line, source_file, line_number, out, comments)
                ctx.report(f"{source_file}: line {line_number:,}, {comments.rows:,} comments")
    except archives.READ_ERRORS as error:
        # A truncated or corrupt gzip: what was read before the damage is kept.
        out.reject(reason="unreadable_file", source_file=source_file, position=f"after line {line_number}",
                   row=line_number, detail=f"{type(error).__name__}: {error}")


def _extract_document(ctx: SourceContext, stream: Any, shape: str, source_file: str, out: PlatformOutput,
                      comments: Any) -> None:
    """One JSON document (an array of tickets, or an object with a ``tickets`` array), streamed."""
    import ijson

    index = 0
    try:
        for index, ticket in iter_document(stream, "item" if shape == "array" else "tickets.item",
                                           READ_CUT_BYTES, MAX_LINE_BYTES):
            position = f"ticket {index}"
            if isinstance(ticket, TooLarge):
                out.reject(reason="record_too_large", source_file=source_file, position=position, row=index,
                           detail=f"a ticket of over {MAX_LINE_BYTES:,} bytes even with its strings cut to "
                                  f"{READ_CUT_BYTES:,} bytes: not read; the tickets after it are")
                continue
            try:
                _extract_ticket(ticket, None, source_file, index, out, comments, position)
            except RecursionError:
                out.reject(reason="record_too_deep", source_file=source_file, position=position, row=index,
                           detail=TOO_DEEP_FIELD)
            ctx.report(f"{source_file}: ticket {index:,}, {comments.rows:,} comments")
    except ijson.JSONError as error:
        out.reject(reason="malformed_json", source_file=source_file, position=f"after ticket {index}",
                   row=index, detail=f"the JSON document breaks off or is not JSON ({error}); "
                                     "the tickets before this point are kept")
        return
    if index == 0 and shape == "object":
        out.reject(reason="not_a_ticket", source_file=source_file, position="file",
                   detail="one JSON object without a tickets array: no ticket in it")


def _extract_long_line(line: LongLine, source_file: str, line_number: int, out: PlatformOutput,
                       comments: Any) -> None:
    """A line over MAX_LINE_BYTES: its long strings cut while reading, or a record_too_large reject."""
    pieces = line.pieces()
    first = next(pieces, b"")
    head = first[:2000]

    def all_pieces() -> Iterator[bytes]:
        yield first
        yield from pieces

    shrunk = shrink_json_strings(all_pieces(), READ_CUT_BYTES, MAX_LINE_BYTES)
    if shrunk is None:
        out.reject(reason="record_too_large", source_file=source_file, position=f"line {line_number}",
                   row=line_number, raw=head,
                   detail=f"a line of {line.size:,} bytes, over {MAX_LINE_BYTES:,} even with its strings "
                          f"cut to {READ_CUT_BYTES:,} bytes: not read; the lines after it are")
        return
    _extract_line(shrunk, source_file, line_number, out, comments, was_cut=True)


def _extract_line(line: bytes, source_file: str, line_number: int, out: PlatformOutput, comments: Any,
                  was_cut: bool = False) -> None:
    if not line.strip():
        return
    try:
        obj = _decode(line)
    except RecursionError:
        out.reject(reason="record_too_deep", source_file=source_file, position=f"line {line_number}",
                   row=line_number, raw=line,
                   detail="the JSON is nested deeper than the parser goes: not read; the lines after it are")
        return
    except ValueError as error:
        out.reject(reason="malformed_json", source_file=source_file, position=f"line {line_number}",
                   row=line_number, detail=str(error), raw=line)
        return
    if was_cut:
        obj = unmark_all(obj)
    tickets = obj["tickets"] if isinstance(obj, dict) and isinstance(obj.get("tickets"), list) else [obj]
    for ticket in tickets:
        try:
            _extract_ticket(ticket, line, source_file, line_number, out, comments)
        except RecursionError:  # in the ticket's own fields: no comment of it was written yet
            out.reject(reason="record_too_deep", source_file=source_file, position=f"line {line_number}",
                       row=line_number, raw=line, detail=TOO_DEEP_FIELD)


TOO_DEEP_FIELD = "a field is nested deeper than can be written as text"


def _extract_ticket(ticket: Any, line: bytes | None, source_file: str, line_number: int,
                    out: PlatformOutput, comments: Any, position: str | None = None) -> None:
    """One ticket's comments; ``line`` is the text it was read from (None: a document's ticket,
    whose excerpt is the ticket itself), ``position`` where it sits (``line N`` by default)."""
    position = position or f"line {line_number}"
    if not _looks_like_ticket(ticket):
        kind = type(ticket).__name__ if not isinstance(ticket, dict) else "object without ticket fields"
        out.reject(reason="not_a_ticket", source_file=source_file, position=position, row=line_number,
                   detail=f"expected a ticket object, got {kind}", raw=_raw(line, ticket))
        return
    ticket_id = as_text(ticket.get("id"))
    requester = ticket.get("requester") if isinstance(ticket.get("requester"), dict) else {}
    ticket_comments = ticket.get("comments")
    if not isinstance(ticket_comments, list) or not ticket_comments:
        out.reject(reason="ticket_without_comments", source_file=source_file, position=position,
                   row=line_number, record_id=f"zendesk-{ticket_id}",
                   customer_email_raw=as_text(requester.get("email")),
                   detail="the ticket has no comments array to import", raw=_raw(line, ticket))
        return
    shared = _ticket_fields(ticket, ticket_id, requester)
    for index, comment in enumerate(ticket_comments, start=1):
        comment_position = f"{position}, comment {index}"
        if not isinstance(comment, dict) or comment.get("id") is None:
            out.reject(reason="malformed_comment", source_file=source_file, position=comment_position,
                       row=line_number, record_id=f"zendesk-{ticket_id}",
                       customer_email_raw=shared["requester_email"],
                       detail="a comment must be an object with an id", raw=_excerpt(comment))
            continue
        try:
            row = _comment_fields(comment, index)
        except RecursionError:
            out.reject(reason="record_too_deep", source_file=source_file, position=comment_position,
                       row=line_number, record_id=f"zendesk-{ticket_id}",
                       customer_email_raw=shared["requester_email"], detail=TOO_DEEP_FIELD, raw=_raw(line, ticket))
            continue
        comments.write({**shared, **row, "_source_file": source_file, "_source_row": line_number,
                        "_source_position": comment_position})


def _raw(line: bytes | None, ticket: Any) -> bytes | str | None:
    """A reject's excerpt: the line the ticket was read from, or (a document's ticket) the ticket."""
    return line if line is not None else _excerpt(ticket)


def _excerpt(value: Any) -> str | None:
    try:
        return as_text(value)
    except RecursionError:
        return None


def _ticket_fields(ticket: dict[str, Any], ticket_id: str | None, requester: dict[str, Any]) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "ticket_subject": as_text(ticket.get("subject")),
        "ticket_tags": _tags(ticket.get("tags")),
        "ticket_status": as_text(ticket.get("status")),
        "ticket_created_at": as_text(ticket.get("created_at")),
        "ticket_updated_at": as_text(ticket.get("updated_at")),
        "requester_id": as_text(requester.get("id", ticket.get("requester_id"))),
        "requester_email": as_text(requester.get("email")),
        "requester_name": as_text(requester.get("name")),
        "requester_phone": as_text(requester.get("phone")),
    }


def _comment_fields(comment: dict[str, Any], index: int) -> dict[str, Any]:
    return {
        "comment_id": as_text(comment.get("id")),
        "comment_index": index,
        "comment_author_id": as_text(comment.get("author_id")),
        "comment_body": as_text(comment.get("body")),
        "comment_html_body": as_text(comment.get("html_body")),
        "comment_plain_body": as_text(comment.get("plain_body")),
        "comment_is_public": comment.get("public") if isinstance(comment.get("public"), bool) else None,
        "comment_created_at": as_text(comment.get("created_at")),
    }


def extract_source(ctx: SourceContext, out: PlatformOutput) -> None:
    """The export files when ``path`` is given, else the API (``extract.zendesk_api``)."""
    if PLATFORM.reads_files_with(ctx.options):
        extract(ctx, out)
    else:
        from extract import zendesk_api

        zendesk_api.extract(ctx, out)


def check(ctx: SourceContext) -> list[Finding]:
    """The API's preflight (``gladly-import check``; a source given a ``path`` has none to run)."""
    from extract import zendesk_api

    return zendesk_api.check(ctx)


PLATFORM = Platform("zendesk", "Zendesk", "either", SETTINGS, TABLES, RECORD_TABLES, extract_source, FILE_SUFFIXES,
                    check=check, reads_archives=True)
