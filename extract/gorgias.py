"""Gorgias REST API: every ticket and every message, through the two list endpoints.

Platform knowledge only; reading, resume, spool, delta and landing are ``extract/api/``.

``GET /api/messages`` then ``GET /api/tickets``, cursor pages of 100 in a stable order
(``created_datetime:asc``): ``ceil(tickets / 100) + ceil(messages / 100)`` requests for a whole
account, never one request per ticket. Messages first: a message listed then has its ticket
created already, so the ticket listing that follows has it. HTTP Basic with the account email and
an API key, both read from environment variables; ``base_url`` is https (plain http only to this
machine). The leaky bucket (40 requests per 20 s for an API key) is announced by every answer
(``X-Gorgias-Account-Api-Call-Limit: used/40``); requests are spaced within it.

Cursors are short-lived: a cursor the API no longer accepts restarts that listing from its first
page, skipping the ids already spooled (``extract.api.stream.CursorListing``). A delta run lists
newest first (``created_datetime:desc``) and stops at the first page that reaches back past the
newest item of the last complete extraction minus ``delta_overlap_hours`` (Gorgias lists have no
"created since" filter).

Tickets in the trash (``trashed_datetime`` set) are landed as tickets, and each of their messages
is rejected with the reason ``trashed_ticket``: counted, never imported, never silently dropped.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from extract import options as opt
from extract.api import config
from extract.api.land import land_rejects, newest_mark
from extract.api.source import ApiSource, run_source
from extract.api.store import Spool, State
from extract.api.stream import CursorListing, Reading, parse_instant
from extract.context import SourceContext
from extract.http_client import BasicAuth, HttpClient
from extract.platform import Platform
from extract.raw import PlatformOutput, free_text, with_lineage
from extract.values import as_text

SETTINGS = opt.Settings((
    opt.Setting("base_url", opt.https_url("https://<domain>.gorgias.com"), "the account's address",
                required_unless="simulate"),
    opt.Setting("email_env", opt.ENV_NAME, "the variable that holds the API user's email", default="GORGIAS_EMAIL",
                secret="the email of the account's API user"),
    opt.Setting("api_key_env", opt.ENV_NAME, "the variable that holds the API key", default="GORGIAS_API_KEY",
                secret="the account's REST API key (Gorgias: Settings > REST API)"),
    opt.Setting("requests_per_minute", opt.number(above=0), "a cap below the account's own limit",
                shows="none: 95% of the limit the API announces"),
    opt.Setting("simulate", opt.FLAG, "run against the bundled local simulator, not a real account", default=False),
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
CALL_LIMIT_WINDOW = 20.0  # seconds the bucket of X-Gorgias-Account-Api-Call-Limit drains in
# Tuning of the shared HTTP client; tests shorten the waits.
CLIENT_OPTIONS: dict[str, Any] = {"timeout": 60.0, "deadline": 300.0, "max_retries": 8}

TABLES = {
    "tickets": with_lineage(
        pa.field("ticket_id", pa.string()),
        free_text("subject", "title"),
        pa.field("status", pa.string()),
        pa.field("channel", pa.string()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("created_datetime", pa.string()),
        pa.field("updated_datetime", pa.string()),
        pa.field("trashed_datetime", pa.string()),
        pa.field("customer_id", pa.string()),
        pa.field("customer_email", pa.string()),
        pa.field("customer_name", pa.string()),
        pa.field("customer_firstname", pa.string()),
        pa.field("customer_lastname", pa.string()),
    ),
    "messages": with_lineage(
        pa.field("message_id", pa.string()),
        pa.field("ticket_id", pa.string()),
        pa.field("channel", pa.string()),
        pa.field("via", pa.string()),
        pa.field("is_public", pa.bool_()),
        pa.field("is_from_agent", pa.bool_()),
        free_text("subject", "title"),
        free_text("body_text"),
        free_text("body_html"),
        free_text("stripped_text"),
        pa.field("sender_id", pa.string()),
        pa.field("sender_email", pa.string()),
        pa.field("sender_name", pa.string()),
        pa.field("created_datetime", pa.string()),
        pa.field("sent_datetime", pa.string()),
        pa.field("attachment_count", pa.int32()),
    ),
}
RECORD_TABLES = ("messages",)


def parse_datetime(value: Any) -> datetime | None:
    """A Gorgias datetime (``2024-02-14T21:30:50.201204+00:00``, a space instead of the T, with or
    without fractions, ``Z``) as an aware UTC datetime; None when it is not one (no zone: UTC)."""
    return parse_instant(value)


def announced_limit(headers: Mapping[str, str]) -> tuple[float, float] | None:
    """``X-Gorgias-Account-Api-Call-Limit: used/limit``: ``limit`` requests per 20 s."""
    value = headers.get("x-gorgias-account-api-call-limit", "")
    try:
        limit = float(value.split("/")[1])
    except (IndexError, ValueError):
        return None
    return (limit, CALL_LIMIT_WINDOW) if limit > 0 else None


def item_id(item: Any) -> str | None:
    return as_text(item.get("id")) if isinstance(item, dict) and item.get("id") is not None else None


class Gorgias(ApiSource):
    name = "gorgias"
    service = "Gorgias"
    spools = LISTINGS
    sequential = True  # messages before tickets (see the module doc); the bucket allows ~2 requests/s

    def __init__(self, ctx: SourceContext) -> None:
        super().__init__(ctx)
        self.options = options = SETTINGS.resolve(ctx.options)
        self.simulate = options["simulate"]
        self.overlap = timedelta(hours=options["delta_overlap_hours"])
        self.requests_per_minute = options["requests_per_minute"]
        self.rate = options["simulator_rate_limit"]
        if not self.simulate:
            self.base_url = config.base_url(options)
            self.email_env = config.secret_variable(options, EMAIL)
            self.key_env = config.secret_variable(options, API_KEY)

    @contextlib.contextmanager
    def account(self) -> Iterator[tuple[HttpClient, str]]:
        if not self.simulate:
            email = config.env_secret("Gorgias", self.options, EMAIL)
            key = config.env_secret("Gorgias", self.options, API_KEY)
            hint = f"the account email and API key in {self.email_env} and {self.key_env}"
            with self.client(self.base_url, BasicAuth(email, key), hint) as client:
                yield client, self.base_url
            return
        from extract.simulators.gorgias import DEMO_EMAIL, GorgiasSimulator

        folder = config.simulator_folder(self.ctx, self.options)
        demo_key = "demo-" + secrets.token_urlsafe(16)
        simulator = GorgiasSimulator.from_dir(folder, email=DEMO_EMAIL, api_key=demo_key,
                                              bucket_capacity=self.rate or None)
        with simulator:
            self.ctx.report(f"simulate: true: using the local Gorgias API simulator at {simulator.base_url} with"
                            f" the data in {self.ctx.name_of(folder)} and demo credentials; no real Gorgias account"
                            " is contacted", force=True)
            with self.client(simulator.base_url, BasicAuth(DEMO_EMAIL, demo_key),
                             "the simulator's demo credentials") as client:
                yield client, f"simulator:{folder}"

    def client(self, base_url: str, auth: BasicAuth, hint: str) -> HttpClient:
        return HttpClient(base_url, auth, service="Gorgias", credential_hint=hint,
                          requests_per_minute=self.requests_per_minute, announced_limit=announced_limit,
                          **CLIENT_OPTIONS)

    def readings(self) -> list[Reading]:
        return [Reading(name, name, CursorListing(f"/api/{name}", ORDER_BY, service="Gorgias", warn=self._warn,
                                                  page_size=PAGE_SIZE)) for name in LISTINGS]

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
                reached=None if since is None else _reaches_back(since))))
        return deltas

    def _warn(self, text: str) -> None:
        self.ctx.report(text, force=True)

    def key(self, spool: str) -> Any:
        return item_id

    def land(self, state: State, out: PlatformOutput) -> dict[str, dict[str, Any] | None]:
        """Tickets, then messages (those of a trashed ticket rejected); items without an id rejected."""
        marks: dict[str, dict[str, Any] | None] = {}
        trashed: dict[str, str] = {}
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
                if listing == "tickets" and as_text(item.get("trashed_datetime")):
                    trashed[as_text(item["id"]) or ""] = as_text(item.get("trashed_datetime")) or ""
                ticket = as_text(item.get("ticket_id"))
                if listing == "messages" and ticket in trashed:
                    out.reject(reason="trashed_ticket", record_id=as_text(item["id"]),
                               detail=f"its ticket {ticket} is in the trash (trashed_datetime {trashed[ticket]})",
                               **reject)
                    continue
                table.write({**(ticket_row(item) if listing == "tickets" else message_row(item)), **lineage})
            marks[listing] = newest
            self.ctx.report(f"{listing}: {table.rows:,} landed", force=True)
        if trashed:
            self.ctx.report(f"{len(trashed):,} tickets are in the trash: their"
                            f" {out.reject_reasons['trashed_ticket']:,} messages are rejected (trashed_ticket)",
                            force=True)
        land_rejects(state, out)
        return marks


def _reaches_back(since: datetime) -> Any:
    def reached(data: list[Any]) -> bool:
        return any((created := parse_instant(_object(item).get("created_datetime"))) is not None and created < since
                   for item in data)
    return reached


def extract(ctx: SourceContext, out: PlatformOutput) -> None:
    run_source(Gorgias(ctx), out)


PLATFORM = Platform("gorgias", "Gorgias", "api", SETTINGS, TABLES, RECORD_TABLES, extract)


# -- landing: spooled API objects -> raw rows ---------------------------------------------------


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


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
    customer = _object(ticket.get("customer"))
    return {
        "ticket_id": as_text(ticket.get("id")),
        "subject": as_text(ticket.get("subject")),
        "status": as_text(ticket.get("status")),
        "channel": as_text(ticket.get("channel")),
        "tags": _tags(ticket.get("tags")),
        "created_datetime": as_text(ticket.get("created_datetime")),
        "updated_datetime": as_text(ticket.get("updated_datetime")),
        "trashed_datetime": as_text(ticket.get("trashed_datetime")),
        "customer_id": as_text(customer.get("id")),
        "customer_email": as_text(customer.get("email")),
        "customer_name": as_text(customer.get("name")),
        "customer_firstname": as_text(customer.get("firstname")),
        "customer_lastname": as_text(customer.get("lastname")),
    }


def message_row(message: dict[str, Any]) -> dict[str, Any]:
    sender = _object(message.get("sender"))
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
