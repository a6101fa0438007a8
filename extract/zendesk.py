"""Zendesk JSON export: one ticket object per line (NDJSON), plain or gzip, one or many files.

Writes one raw row per ticket comment, with the ticket's fields beside it. Lines
that are not JSON, not a ticket, or a ticket without comments are rejected with
the file and line they came from.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import pyarrow as pa

from extract import options as opt
from extract.context import SourceContext
from extract.files import iter_lines
from extract.raw import PlatformOutput, with_lineage
from extract.values import as_text

NAME = "zendesk"
CONFIG_KEYS = {"path": True}
CONFIG_TYPES = {"path": opt.PATHS}
PATH_KEYS = ("path",)
FILE_SUFFIXES = (".json", ".jsonl", ".ndjson")

TABLES = {
    "ticket_comments": with_lineage(
        pa.field("ticket_id", pa.string()),
        pa.field("ticket_subject", pa.string()),
        pa.field("ticket_tags", pa.list_(pa.string())),
        pa.field("ticket_status", pa.string()),
        pa.field("ticket_created_at", pa.string()),
        pa.field("ticket_updated_at", pa.string()),
        pa.field("requester_id", pa.string()),
        pa.field("requester_email", pa.string()),
        pa.field("requester_name", pa.string()),
        pa.field("requester_phone", pa.string()),
        pa.field("comment_id", pa.string()),
        pa.field("comment_index", pa.int32()),
        pa.field("comment_author_id", pa.string()),
        pa.field("comment_body", pa.string()),
        pa.field("comment_html_body", pa.string()),
        pa.field("comment_plain_body", pa.string()),
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
        source_file = ctx.name_of(path)
        out.files_read += 1
        line_number = 0
        try:
            for line_number, line in iter_lines(path):
                _extract_line(line, source_file, line_number, out, comments)
                ctx.report(f"{source_file}: line {line_number:,}, {comments.rows:,} comments")
        except (OSError, EOFError, zlib.error) as error:
            # A truncated or corrupt gzip: what was read before the damage is kept.
            out.reject(reason="unreadable_file", source_file=source_file, position=f"after line {line_number}",
                       row=line_number, detail=f"{type(error).__name__}: {error}")


def _extract_line(line: bytes, source_file: str, line_number: int, out: PlatformOutput, comments: Any) -> None:
    if not line.strip():
        return
    try:
        obj = _decode(line)
    except ValueError as error:
        out.reject(reason="malformed_json", source_file=source_file, position=f"line {line_number}",
                   row=line_number, detail=str(error), raw=line)
        return
    tickets = obj["tickets"] if isinstance(obj, dict) and isinstance(obj.get("tickets"), list) else [obj]
    for ticket in tickets:
        _extract_ticket(ticket, line, source_file, line_number, out, comments)


def _extract_ticket(ticket: Any, line: bytes, source_file: str, line_number: int,
                    out: PlatformOutput, comments: Any) -> None:
    position = f"line {line_number}"
    if not _looks_like_ticket(ticket):
        kind = type(ticket).__name__ if not isinstance(ticket, dict) else "object without ticket fields"
        out.reject(reason="not_a_ticket", source_file=source_file, position=position, row=line_number,
                   detail=f"expected a ticket object, got {kind}", raw=line)
        return
    ticket_id = as_text(ticket.get("id"))
    requester = ticket.get("requester") if isinstance(ticket.get("requester"), dict) else {}
    ticket_comments = ticket.get("comments")
    if not isinstance(ticket_comments, list) or not ticket_comments:
        out.reject(reason="ticket_without_comments", source_file=source_file, position=position,
                   row=line_number, record_id=f"zendesk-{ticket_id}",
                   customer_email_raw=as_text(requester.get("email")),
                   detail="the ticket has no comments array to import", raw=line)
        return
    shared = {
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
    for index, comment in enumerate(ticket_comments, start=1):
        comment_position = f"line {line_number}, comment {index}"
        if not isinstance(comment, dict) or comment.get("id") is None:
            out.reject(reason="malformed_comment", source_file=source_file, position=comment_position,
                       row=line_number, record_id=f"zendesk-{ticket_id}",
                       customer_email_raw=shared["requester_email"],
                       detail="a comment must be an object with an id", raw=as_text(comment))
            continue
        comments.write(
            {
                **shared,
                "comment_id": as_text(comment.get("id")),
                "comment_index": index,
                "comment_author_id": as_text(comment.get("author_id")),
                "comment_body": as_text(comment.get("body")),
                "comment_html_body": as_text(comment.get("html_body")),
                "comment_plain_body": as_text(comment.get("plain_body")),
                "comment_is_public": comment.get("public") if isinstance(comment.get("public"), bool) else None,
                "comment_created_at": as_text(comment.get("created_at")),
                "_source_file": source_file,
                "_source_row": line_number,
                "_source_position": comment_position,
            }
        )
