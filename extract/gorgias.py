"""Gorgias REST API: every ticket and every message, through the two list endpoints.

Platform knowledge only; reading, resume, spool, delta and landing are ``extract/api/``.

``GET /api/messages`` then ``GET /api/tickets?trashed=true``, cursor pages of 100 in a stable order
(``created_datetime:asc``): ``ceil(tickets / 100) + ceil(messages / 100)`` requests for a whole
account, never one request per ticket. Messages first: a message listed then has its ticket
created already, so the ticket listing that follows has it. HTTP Basic with the account email and
an API key, both read from environment variables; ``base_url`` is https (plain http only to this
machine). The leaky bucket (40 requests for an API key, drained in 20 s; Enterprise accounts: in
10 s) is announced by every answer (``X-Gorgias-Account-Api-Call-Limit: used/40``): the client
keeps a model of it (``extract.rate_limits``), its window learned from how fast the reported level
falls, 20 s until the account proves 10 s.

Cursors are short-lived: a cursor the API no longer accepts restarts that listing from its first
page, skipping the ids already spooled (``extract.api.stream.CursorListing``). A delta run lists
newest first (``created_datetime:desc``) and stops at the first page that reaches back past the
newest item of the last complete extraction minus ``delta_overlap_hours`` (Gorgias lists have no
"created since" filter).

What is never imported is set aside here, each message under one reason, counted and said at the
end (``SET_ASIDE``, the first that applies): a deleted message (``deleted_datetime``:
``deleted_message``), one never delivered (``failed_datetime``: ``undelivered_message``), a message
of a ticket in the trash (``trashed_datetime``; the listing leaves those out unless
``trashed=true``, which is sent: ``trashed_ticket``) or of a ticket marked spam (``spam_ticket``).
Tickets are landed whatever they are (with ``trashed_datetime`` and ``spam``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from extract import options as opt
from extract.api import config
from extract.api.check import Checklist, Finding, hours, preflight
from extract.api.land import land_rejects, newest_mark
from extract.api.source import ApiSource, run_source
from extract.api.store import Spool, State
from extract.api.stream import CursorListing, Reading, parse_instant
from extract.context import SourceContext
from extract.http_client import BasicAuth, HttpClient
from extract.platform import Platform
from extract.raw import PlatformOutput, free_text, strings, with_lineage
from extract.values import as_object, as_text

SETTINGS = opt.Settings((
    opt.Setting("base_url", opt.https_url("https://<domain>.gorgias.com"), "the account's address",
                required_unless="simulate"),
    opt.Setting("email_env", opt.ENV_NAME, "the variable that holds the API user's email", default="GORGIAS_EMAIL",
                secret="the email of the account's API user"),
    opt.Setting("api_key_env", opt.ENV_NAME, "the variable that holds the API key", default="GORGIAS_API_KEY",
                secret="the account's REST API key (Gorgias: Settings > REST API)"),
    config.requests_per_minute("a cap below the account's own limit"),
    config.simulate(),
    opt.Setting("simulator_data", opt.folder_with("tickets.jsonl", "messages.jsonl"), "the simulator's data",
                shows="`samples/gorgias/` (holding tickets.jsonl, messages.jsonl)", folder=True),
    opt.Setting("simulator_rate_limit", opt.number(0, whole=True, what="requests per 20 s, 0 for none"),
                "the simulator's leaky bucket (Gorgias: 40 per 20 s)", default=40),
    opt.Setting("delta_overlap_hours", opt.number(0, 24 * 366),
                "how far before the last extraction's newest item a delta reads again", default=24),
))
EMAIL, API_KEY = SETTINGS["email_env"], SETTINGS["api_key_env"]

# Messages first: every message listed then has its ticket created already, so the ticket
# listing that follows has it (a message created during a ticket-first run could miss its ticket).
LISTINGS = ("messages", "tickets")
PAGE_SIZE = 100
ORDER_BY = "created_datetime:asc"
DELTA_ORDER_BY = "created_datetime:desc"
# Gorgias' ticket listing leaves trashed tickets out unless asked (the reference's default: false):
# they are listed, so that their messages are rejected as such, not as messages without a ticket.
LISTING_PARAMS = {"tickets": {"trashed": "true"}, "messages": {}}
# Seconds the bucket of X-Gorgias-Account-Api-Call-Limit drains in: 20 for an API key, 10 for an
# Enterprise account; the longest until the account's answers prove a faster drain.
CALL_LIMIT_WINDOWS = (20.0, 10.0)
# Tuning of the shared HTTP client; tests shorten the waits.
CLIENT_OPTIONS: dict[str, Any] = {"timeout": 60.0, "deadline": 300.0, "max_retries": 8}

TABLES = {
    "tickets": with_lineage(
        pa.field("ticket_id", pa.string()),
        free_text("subject", "title"),
        *strings("status", "channel"),
        pa.field("tags", pa.list_(pa.string())),
        *strings("created_datetime", "updated_datetime", "trashed_datetime"),
        pa.field("spam", pa.bool_()),
        *strings("customer_id", "customer_email", "customer_name", "customer_firstname", "customer_lastname"),
    ),
    "messages": with_lineage(
        *strings("message_id", "ticket_id", "channel", "via"),
        pa.field("is_public", pa.bool_()),
        pa.field("is_from_agent", pa.bool_()),
        free_text("subject", "title"),
        free_text("body_text"),
        free_text("body_html"),
        free_text("stripped_text"),
        *strings("sender_id", "sender_email", "sender_name", "created_datetime", "sent_datetime"),
        pa.field("attachment_count", pa.int32()),
    ),
}
RECORD_TABLES = ("messages",)


def parse_datetime(value: Any) -> datetime | None:
    """A Gorgias datetime (``2024-02-14T21:30:50.201204+00:00``, a space instead of the T, with or
    without fractions, ``Z``) as an aware UTC datetime; None when it is not one (no zone: UTC)."""
    return parse_instant(value)


def announced_bucket(headers: Mapping[str, str]) -> tuple[float, float] | None:
    """``X-Gorgias-Account-Api-Call-Limit: used/capacity``: (used, capacity) of the account's leaky bucket."""
    value = headers.get("x-gorgias-account-api-call-limit", "")
    try:
        used, capacity = (float(part) for part in value.split("/"))
    except ValueError:
        return None
    return (used, capacity) if capacity > 0 and used >= 0 else None


def item_id(item: Any) -> str | None:
    return as_text(item.get("id")) if isinstance(item, dict) and item.get("id") is not None else None


class Gorgias(ApiSource):
    name = "gorgias"
    service = "Gorgias"
    spools = LISTINGS
    sequential = True  # messages before tickets (see the module doc); the bucket allows ~2 requests/s

    settings = SETTINGS

    def __init__(self, ctx: SourceContext) -> None:
        super().__init__(ctx)
        self.rate = self.options["simulator_rate_limit"]
        self.email_env = config.secret_variable(self.options, EMAIL)
        self.key_env = config.secret_variable(self.options, API_KEY)

    def credentials(self) -> tuple[BasicAuth, str]:
        email = config.env_secret("Gorgias", self.options, EMAIL)
        key = config.env_secret("Gorgias", self.options, API_KEY)
        return BasicAuth(email, key), f"the account email and API key in {self.email_env} and {self.key_env}"

    def simulator(self, folder: Path, secret: str) -> tuple[Any, BasicAuth, str]:
        from extract.simulators.gorgias import DEMO_EMAIL, GorgiasSimulator

        simulator = GorgiasSimulator.from_dir(folder, email=DEMO_EMAIL, api_key=secret, bucket_capacity=self.rate or None)
        return simulator, BasicAuth(DEMO_EMAIL, secret), "demo credentials"

    def client(self, base_url: str, auth: BasicAuth, hint: str) -> HttpClient:
        return HttpClient(base_url, auth, service="Gorgias", credential_hint=hint,
                          requests_per_minute=self.requests_per_minute, announced_bucket=announced_bucket,
                          bucket_windows=CALL_LIMIT_WINDOWS, **CLIENT_OPTIONS)

    def readings(self) -> list[Reading]:
        return [Reading(name, name, CursorListing(f"/api/{name}", ORDER_BY, service="Gorgias", warn=self._warn,
                                                  page_size=PAGE_SIZE, params=LISTING_PARAMS[name]))
                for name in LISTINGS]

    def delta(self, state: State, readings: list[Reading]) -> list[Reading]:
        """Each listing newest first, until a page reaches back past its watermark minus the overlap."""
        deltas = []
        for name in LISTINGS:
            mark = state.watermark(name)
            newest = parse_instant(mark.get("newest")) if mark else None
            since = newest - self.overlap if newest else None
            self.ctx.report(f"delta {state.delta}: {name} from {since.isoformat() if since else 'the start'}"
                            + (f" (newest extracted {mark['newest']} minus {self.overlap.total_seconds() / 3600:g} h"
                               " of overlap)" if since and mark else ": no watermark, whole listing re-read,"
                               " new ids kept"), force=True)
            deltas.append(Reading(f"delta:{name}", name, CursorListing(
                f"/api/{name}", DELTA_ORDER_BY, service="Gorgias", warn=self._warn, page_size=PAGE_SIZE,
                reached=None if since is None else _reaches_back(since), params=LISTING_PARAMS[name])))
        return deltas

    def _warn(self, text: str) -> None:
        self.ctx.report(text, force=True)

    def key(self, spool: str) -> Any:
        return item_id

    def land(self, state: State, out: PlatformOutput) -> dict[str, dict[str, Any] | None]:
        """Tickets, then messages (those never imported set aside: ``set_aside``); items without an id rejected."""
        marks: dict[str, dict[str, Any] | None] = {}
        flagged: dict[str, tuple[str, str]] = {}   # ticket id -> (reason, detail) for its messages
        for listing in ("tickets", "messages"):
            table = out.table(listing)
            newest = None
            for ordinal, (where, item) in enumerate(Spool.read(state.spool_path(listing)), start=1):
                lineage = _lineage(listing, ordinal, where)
                reject = {"source_file": lineage["_source_file"], "position": lineage["_source_position"],
                          "row": ordinal, "raw": as_text(item)}
                if not isinstance(item, dict) or item.get("id") is None:
                    out.reject(reason=f"malformed_{listing[:-1]}",
                               detail=f"a Gorgias {listing[:-1]} must be an object with an id", **reject)
                    continue
                newest = newest_mark(newest, item.get("created_datetime"), item["id"])
                if listing == "tickets" and (flag := ticket_flag(item)):
                    flagged[as_text(item["id"]) or ""] = flag
                if listing == "messages" and (aside := set_aside(item, flagged)):
                    out.reject(reason=aside[0], detail=aside[1], record_id=as_text(item["id"]), **reject)
                    continue
                table.write({**(ticket_row(item) if listing == "tickets" else message_row(item)), **lineage})
            marks[listing] = newest
            self.ctx.report(f"{listing}: {table.rows:,} landed", force=True)
        self._say_set_aside(flagged, out)
        land_rejects(state, out)
        return marks

    def _say_set_aside(self, flagged: dict[str, tuple[str, str]], out: PlatformOutput) -> None:
        tickets = {reason: sum(1 for flag, _ in flagged.values() if flag == reason) for reason, _ in SET_ASIDE}
        for reason, what in SET_ASIDE:
            messages = out.reject_reasons[reason]
            if tickets[reason]:
                self.ctx.report(f"{tickets[reason]:,} tickets are {what}: their {messages:,} messages are rejected"
                                f" ({reason})", force=True)
            elif messages:
                self.ctx.report(f"{messages:,} messages are {what}: rejected ({reason})", force=True)


# Why a message is never imported, in the order they are tested (the first that applies): the
# message's own state, then its ticket's. (reason, how the end-of-run line says it.)
SET_ASIDE = (("deleted_message", "deleted"), ("undelivered_message", "undelivered (failed_datetime set)"),
             ("trashed_ticket", "in the trash"), ("spam_ticket", "marked spam"))


def ticket_flag(ticket: dict[str, Any]) -> tuple[str, str] | None:
    """(reason, detail) for every message of a ticket never imported: in the trash, or spam."""
    if trashed := as_text(ticket.get("trashed_datetime")):
        return "trashed_ticket", f"its ticket {as_text(ticket.get('id'))} is in the trash (trashed_datetime {trashed})"
    if ticket.get("spam") is True:
        return "spam_ticket", f"its ticket {as_text(ticket.get('id'))} is marked spam"
    return None


def set_aside(message: dict[str, Any], flagged: dict[str, tuple[str, str]]) -> tuple[str, str] | None:
    """(reason, detail) when a message is never imported (``SET_ASIDE``), else None."""
    if deleted := as_text(message.get("deleted_datetime")):
        return "deleted_message", f"the message was deleted (deleted_datetime {deleted})"
    if failed := as_text(message.get("failed_datetime")):
        return "undelivered_message", f"the message was never delivered (failed_datetime {failed})"
    return flagged.get(as_text(message.get("ticket_id")) or "")


def _reaches_back(since: datetime) -> Any:
    def reached(data: list[Any]) -> bool:
        return any((created := parse_instant(as_object(item).get("created_datetime"))) is not None and created < since
                   for item in data)
    return reached


def extract(ctx: SourceContext, out: PlatformOutput) -> None:
    run_source(Gorgias(ctx), out)


# -- the preflight (gladly-import check) ------------------------------------------------------------

READ_ACCESS = "read access to tickets and messages (an admin's API key has it)"


def check(ctx: SourceContext) -> list[Finding]:
    """A handful of read-only requests: credentials, read access, the bucket, the size of the work and
    the time it takes, and the assumptions the extractor makes, tested on the account."""
    return preflight(Gorgias(ctx), _check)


def _check(client: HttpClient, found: Checklist) -> None:
    def listing(name: str, order: str, limit: int = PAGE_SIZE, **params: Any) -> Any:
        return lambda: client.request_json("GET", f"/api/{name}", params={"limit": limit, "order_by": order, **params},
                                           ok_statuses={400})

    go_on, tickets = found.first_request(listing("tickets", DELTA_ORDER_BY, **LISTING_PARAMS["tickets"]),
                                         accepted="accepted", check="permission: tickets", needs=READ_ACCESS)
    if not go_on:
        return
    messages = found.request("permission: messages", listing("messages", DELTA_ORDER_BY), needs=READ_ACCESS)
    for name, answer in (("tickets", tickets), ("messages", messages)):
        if answer is not None and answer.status == 200:
            found.ok(f"permission: {name}", f"GET /api/{name} answered")
    if tickets is not None and tickets.status == 400:
        found.fail("assumption: trashed=true", "GET /api/tickets refused trashed=true (HTTP 400): the run sends it")
        tickets = None
    answers = [a for a in (tickets, messages) if a is not None and a.status == 200]
    if not answers:
        return
    _check_bucket(found, answers[-1].headers)
    for name, answer in (("tickets", tickets), ("messages", messages)):
        if answer is not None and answer.status == 200:
            meta = answer.body.get("meta") if isinstance(answer.body, dict) else None
            if not isinstance(meta, dict) or "next_cursor" not in meta:
                found.fail(f"assumption: cursor pages of {name}", "no meta.next_cursor: the run cannot tell the last page")
            else:
                found.ok(f"assumption: cursor pages of {name}", f"meta.next_cursor, pages of {PAGE_SIZE}")
    if tickets is not None:
        default = found.request("assumption: trashed=true", listing("tickets", DELTA_ORDER_BY))
        asked, hidden = _count(tickets.body, "trashed_datetime"), _count(default.body if default else None,
                                                                         "trashed_datetime")
        found.info("assumption: trashed=true", f"{asked} trashed among the newest {PAGE_SIZE} tickets with trashed=true,"
                   f" {hidden} without it (the run sends it: their messages are rejected trashed_ticket)")
        found.info("assumption: spam tickets", f"{_count(tickets.body, 'spam', True)} marked spam among the newest"
                   f" {PAGE_SIZE} (their messages are rejected spam_ticket)")
    if messages is not None and messages.status == 200:
        data = _items(messages.body)
        fields = [f for f in ("deleted_datetime", "failed_datetime") if any(f in m for m in data if isinstance(m, dict))]
        found.info("assumption: deleted and undelivered messages",
                   f"{', '.join(fields) or 'neither deleted_datetime nor failed_datetime'} sent;"
                   f" {_count(messages.body, 'deleted_datetime')} deleted and {_count(messages.body, 'failed_datetime')}"
                   f" undelivered among the newest {PAGE_SIZE} (rejected deleted_message, undelivered_message)")
    sizes = {name: _estimate(found, name, answer, listing(name, ORDER_BY, 10, **LISTING_PARAMS[name]))
             for name, answer in (("tickets", tickets), ("messages", messages)) if answer is not None}
    bucket = announced_bucket(answers[-1].headers)
    capacity = bucket[1] if bucket else 40.0
    requests = sum(math.ceil(size / PAGE_SIZE) + 1 for size in sizes.values())
    slow, fast = (60.0 * capacity / window * 0.95 for window in CALL_LIMIT_WINDOWS)
    found.info("time at these limits", f"{hours(requests, slow)} for ≈ {requests:,} requests at {slow:,.0f}/min"
               f" (a bucket drained in {CALL_LIMIT_WINDOWS[0]:g} s; {hours(requests, fast)} if the account drains it"
               f" in {CALL_LIMIT_WINDOWS[1]:g} s)")


def _items(body: Any) -> list[Any]:
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, list) else []


def _count(body: Any, key: str, value: Any = None) -> int:
    """Items of a page whose ``key`` is set (or equals ``value``)."""
    return sum(1 for item in _items(body) if isinstance(item, dict)
               and (item.get(key) == value if value is not None else bool(item.get(key))))


def _check_bucket(found: Checklist, headers: Mapping[str, str]) -> None:
    bucket = announced_bucket(headers)
    if bucket is None:
        found.info("rate limit", "not announced (no X-Gorgias-Account-Api-Call-Limit): the run paces at"
                   " requests_per_minute and waits out 429s")
        return
    found.ok("rate limit", f"a bucket of {bucket[1]:g} requests (X-Gorgias-Account-Api-Call-Limit: {bucket[0]:g}/"
             f"{bucket[1]:g}), drained in 20 s for an API key or 10 s on Enterprise: the run learns which from the"
             " answers and keeps 95% of it")


def _estimate(found: Checklist, name: str, newest: Any, oldest_first: Any) -> int:
    """The listing's size: exact under one page; else the newest page's pace over the account's age."""
    data = [item for item in _items(newest.body) if isinstance(item, dict)]
    if len(data) < PAGE_SIZE:
        found.info(f"size: {name}", f"{len(data):,}")
        return len(data)
    oldest = found.request(f"size: {name}", oldest_first)
    firsts = [t for t in (parse_instant(as_object(item).get("created_datetime")) for item in _items(oldest.body))
              if t is not None] if oldest is not None else []
    stamps = [t for t in (parse_instant(item.get("created_datetime")) for item in data) if t is not None]
    if not firsts or len(stamps) < 2 or max(stamps) <= min(stamps):
        found.info(f"size: {name}", f"more than {PAGE_SIZE}: Gorgias' lists give no count")
        return PAGE_SIZE
    first = min(firsts)
    pace = len(stamps) / (max(stamps) - min(stamps)).total_seconds()
    age = max((max(stamps) - first).total_seconds(), 0.0)
    estimate = max(int(pace * age), PAGE_SIZE)
    found.info(f"size: {name}", f"≈ {estimate:,} (Gorgias' lists give no count: the pace of the newest {len(stamps)}"
               f" over the {age / 86400:,.0f} days since the first, {first.date()}; a rough figure)")
    return estimate


PLATFORM = Platform("gorgias", "Gorgias", "api", SETTINGS, TABLES, RECORD_TABLES, extract, check=check)


# -- landing: spooled API objects -> raw rows ---------------------------------------------------


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _tags(value: Any) -> list[str] | None:
    """Tag names: Gorgias lists tag objects ``{id, name}``; plain strings are accepted too."""
    if not isinstance(value, list):
        return None
    names = [as_text(tag.get("name")) if isinstance(tag, dict) else as_text(tag) for tag in value]
    return [name for name in names if name and name.strip()]


def _lineage(listing: str, ordinal: int, where: str) -> dict[str, Any]:
    return {"_source_file": f"GET /api/{listing}", "_source_row": ordinal,
            "_source_position": where.removeprefix(f"GET /api/{listing} ")}


def ticket_row(ticket: dict[str, Any]) -> dict[str, Any]:
    customer = as_object(ticket.get("customer"))
    return {
        "ticket_id": as_text(ticket.get("id")),
        "subject": as_text(ticket.get("subject")),
        "status": as_text(ticket.get("status")),
        "channel": as_text(ticket.get("channel")),
        "tags": _tags(ticket.get("tags")),
        "created_datetime": as_text(ticket.get("created_datetime")),
        "updated_datetime": as_text(ticket.get("updated_datetime")),
        "trashed_datetime": as_text(ticket.get("trashed_datetime")),
        "spam": _bool(ticket.get("spam")),
        "customer_id": as_text(customer.get("id")),
        "customer_email": as_text(customer.get("email")),
        "customer_name": as_text(customer.get("name")),
        "customer_firstname": as_text(customer.get("firstname")),
        "customer_lastname": as_text(customer.get("lastname")),
    }


def message_row(message: dict[str, Any]) -> dict[str, Any]:
    sender = as_object(message.get("sender"))
    attachments = message.get("attachments")
    return {
        "message_id": as_text(message.get("id")),
        "ticket_id": as_text(message.get("ticket_id")),
        "channel": as_text(message.get("channel")),
        "via": as_text(message.get("via")),
        "is_public": _bool(message.get("public")),
        "is_from_agent": _bool(message.get("from_agent")),
        "subject": as_text(message.get("subject")),
        "body_text": as_text(message.get("body_text")),
        "body_html": as_text(message.get("body_html")),
        "stripped_text": as_text(message.get("stripped_text")),
        "sender_id": as_text(sender.get("id")),
        "sender_email": as_text(sender.get("email")),
        "sender_name": as_text(sender.get("name")),
        "created_datetime": as_text(message.get("created_datetime")),
        "sent_datetime": as_text(message.get("sent_datetime")),
        "attachment_count": len(attachments) if isinstance(attachments, list) else 0,
    }
