"""Gorgias REST API: every ticket and every message, through the two list endpoints.

``GET /api/messages`` then ``GET /api/tickets``, cursor pages of 100 in a stable order
(``created_datetime:asc``): ``ceil(tickets / 100) + ceil(messages / 100)`` requests for a
whole account (at least one per listing), never one request per ticket. HTTP Basic with
the account email and an API key, both read from environment variables.

Resumable: each page is appended to a spool under ``ctx.state_dir``, and every few pages the
spool is synced and the next cursor checkpointed, so a killed run goes on from its last
checkpoint (pages fetched again are skipped by id). Gorgias cursors are
short-lived: a cursor the API no longer accepts restarts that listing from its first page,
skipping the ids already spooled, so nothing is lost or doubled. When both listings are
complete the spool is landed as the raw tables and kept, with each listing's newest
``created_datetime`` and id (its watermark), for a later delta run; a full run starts afresh.

A delta run (``ctx.mode == "delta"``) after a complete extraction lists newest first
(``created_datetime:desc``) and stops at the first page that reaches back past the watermark
minus ``delta_overlap_hours`` (Gorgias lists have no "created since" filter and cursors expire,
so the position is a time, not a cursor). Items already spooled are skipped by id; the raw
tables hold the old and the new items, each once.

With ``simulate: true`` the extractor serves the bundled sample account from a local
simulator (``extract/simulators/gorgias.py``) with demo credentials instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from extract import options as opt
from extract.context import SourceContext
from extract.errors import ExtractError
from extract.http_client import BasicAuth, HttpClient, HttpStatusError
from extract.raw import PlatformOutput, with_lineage
from extract.values import as_text
from gladly_import.paths import SAMPLES_DIR  # the bundled samples, in a checkout or installed

NAME = "gorgias"
CONFIG_KEYS = {
    "base_url": False,        # required unless simulate: true
    "email_env": False,       # default GORGIAS_EMAIL
    "api_key_env": False,     # default GORGIAS_API_KEY
    "simulate": False,        # run against the local simulator instead of a real account
    "simulator_data": False,  # folder of tickets.jsonl + messages.jsonl for simulate
    "simulator_rate_limit": False,  # the simulator's requests per 20 s (Gorgias: 40); 0 = none
    "delta_overlap_hours": False,   # how far before the last extraction's newest item a delta re-reads
}
CONFIG_TYPES = {
    "base_url": opt.https_url("https://<domain>.gorgias.com", required_unless="simulate"),
    "email_env": opt.ENV_NAME,
    "api_key_env": opt.ENV_NAME,
    "simulate": opt.FLAG,
    "simulator_data": opt.folder_with("tickets.jsonl", "messages.jsonl"),
    "simulator_rate_limit": opt.number(0, whole=True, what="requests per 20 s, 0 for none"),
    "delta_overlap_hours": opt.number(0, 24 * 366),
}
PATH_KEYS = ("simulator_data",)
FILE_SUFFIXES = (".jsonl",)
DEFAULT_EMAIL_ENV = "GORGIAS_EMAIL"
DEFAULT_API_KEY_ENV = "GORGIAS_API_KEY"
SAMPLE_DIR = SAMPLES_DIR / "gorgias"

# Messages first: every message listed then has its ticket created already, so the ticket
# listing that follows has it (a message created during a ticket-first run could miss its ticket).
LISTINGS = ("messages", "tickets")
PAGE_SIZE = 100
ORDER_BY = "created_datetime:asc"
DELTA_ORDER_BY = "created_datetime:desc"
DEFAULT_DELTA_OVERLAP_HOURS = 24.0
# Answers to a request carrying a cursor that mean "this cursor is no longer valid".
EXPIRED_CURSOR_STATUSES = frozenset({400, 404, 410, 422})
MAX_RESTARTS_WITHOUT_PROGRESS = 3
# The spool is flushed every page (a killed run loses nothing it received) and made durable,
# with the checkpoint after it, every few pages: an fsync per page would cost more than the page.
CHECKPOINT_EVERY_PAGES = 5
STATE_VERSION = 1
# Tuning of the shared HTTP client; tests shorten the waits.
CLIENT_OPTIONS: dict[str, Any] = {"timeout": 60.0, "max_retries": 8}

TABLES = {
    "tickets": with_lineage(
        pa.field("ticket_id", pa.string()),
        pa.field("subject", pa.string()),
        pa.field("status", pa.string()),
        pa.field("channel", pa.string()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("created_datetime", pa.string()),
        pa.field("updated_datetime", pa.string()),
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
        pa.field("subject", pa.string()),
        pa.field("body_text", pa.string()),
        pa.field("body_html", pa.string()),
        pa.field("stripped_text", pa.string()),
        pa.field("sender_id", pa.string()),
        pa.field("sender_email", pa.string()),
        pa.field("sender_name", pa.string()),
        pa.field("created_datetime", pa.string()),
        pa.field("sent_datetime", pa.string()),
        pa.field("attachment_count", pa.int32()),
    ),
}
RECORD_TABLES = ("messages",)


# -- settings and credentials ----------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """Where to read from: a base URL and the Basic credentials (never printed)."""

    base_url: str
    email: str
    api_key: str
    state_key: str  # what the checkpoint belongs to: never a secret
    credential_hint: str

    def __repr__(self) -> str:
        return f"Account(base_url={self.base_url!r}, email=***, api_key=***)"


def _env_name(options: dict[str, Any], key: str, default: str) -> str:
    value = options.get(key, default)
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise ExtractError(f"sources.gorgias.{key}: must be the NAME of an environment variable, e.g. {default}"
                           " (the secret itself never goes in the config)")
    return value


def _account_from_config(options: dict[str, Any]) -> Account:
    base_url = options.get("base_url")
    if not isinstance(base_url, str) or not base_url.strip():
        raise ExtractError("sources.gorgias.base_url: required (https://<domain>.gorgias.com), unless simulate: true")
    credentials = []
    for key, default, what in (("email_env", DEFAULT_EMAIL_ENV, "the email of the account's API user"),
                               ("api_key_env", DEFAULT_API_KEY_ENV, "its REST API key")):
        env = _env_name(options, key, default)
        value = os.environ.get(env, "").strip()
        if not value:
            raise ExtractError(f"Gorgias: the environment variable {env} is not set: set it to {what} "
                               "(Gorgias: Settings > REST API) and run again")
        credentials.append(value)
    base_url = base_url.strip().rstrip("/")
    hint = (f"the account email and API key in {_env_name(options, 'email_env', DEFAULT_EMAIL_ENV)} and "
            f"{_env_name(options, 'api_key_env', DEFAULT_API_KEY_ENV)}")
    return Account(base_url=base_url, email=credentials[0], api_key=credentials[1], state_key=base_url,
                   credential_hint=hint)


@contextmanager
def _account(ctx: SourceContext) -> Iterator[Account]:
    """The configured account, or the local simulator serving the sample (or given) data."""
    simulate = ctx.options.get("simulate", False)
    if not isinstance(simulate, bool):
        raise ExtractError(f"sources.gorgias.simulate: must be true or false, got {simulate!r}")
    if not simulate:
        yield _account_from_config(ctx.options)
        return
    from extract.simulators.gorgias import DEMO_EMAIL, GorgiasSimulator

    data_dir = ctx.files[0].parent if ctx.files else SAMPLE_DIR
    missing = [name for name in ("tickets.jsonl", "messages.jsonl") if not (data_dir / name).is_file()]
    if missing:
        raise ExtractError(f"sources.gorgias.simulator_data: {ctx.name_of(data_dir)} has no {missing[0]} "
                           "(the simulator serves tickets.jsonl and messages.jsonl, one API object per line)")
    rate = ctx.options.get("simulator_rate_limit", 40)
    if isinstance(rate, bool) or not isinstance(rate, int) or rate < 0:
        raise ExtractError(f"sources.gorgias.simulator_rate_limit: must be a whole number of requests per 20 s "
                           f"(0 for none), got {rate!r}")
    demo_key = "demo-" + secrets.token_urlsafe(16)
    simulator = GorgiasSimulator.from_dir(data_dir, email=DEMO_EMAIL, api_key=demo_key, bucket_capacity=rate or None)
    with simulator:
        ctx.report(f"simulate: true: using the local Gorgias API simulator at {simulator.base_url} with the "
                   f"data in {ctx.name_of(data_dir)} and demo credentials; no real Gorgias account is contacted",
                   force=True)
        yield Account(base_url=simulator.base_url, email=DEMO_EMAIL, api_key=demo_key,
                      state_key=f"simulator:{data_dir}", credential_hint="the simulator's demo credentials")


# -- resumable state: spools of fetched items and a checkpoint -------------------------------


def _item_key(item: Any) -> int | str:
    """What identifies an item across restarts: its id (an int when it is one: smaller in a set of
    millions), else a fingerprint of its content."""
    if isinstance(item, dict) and item.get("id") is not None:
        item_id = item["id"]
        return item_id if isinstance(item_id, int) and not isinstance(item_id, bool) else f"id:{item_id}"
    return "sha1:" + hashlib.sha1(json.dumps(item, sort_keys=True, default=str).encode()).hexdigest()


class Spool:
    """One listing's fetched items, appended page by page as JSON lines ``[page, index, item]``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: set[int | str] = set()
        self.items = 0
        if path.exists():
            self._recover()
        self._handle = path.open("a", encoding="utf-8")

    def _recover(self) -> None:
        """Read what a previous run spooled; a line cut short by a kill is dropped."""
        good_bytes = 0
        with self.path.open("rb") as handle:
            for line in handle:
                try:
                    _, _, item = json.loads(line)
                except (ValueError, TypeError):
                    break
                if not line.endswith(b"\n"):
                    break
                good_bytes += len(line)
                self.seen.add(_item_key(item))
                self.items += 1
        with self.path.open("r+b") as handle:
            handle.truncate(good_bytes)

    def append(self, page: int | str, data: list[Any]) -> int:
        """Spool the page's items not spooled yet (flushed, see ``sync``); returns how many were new."""
        new = 0
        for index, item in enumerate(data, start=1):
            key = _item_key(item)
            if key in self.seen:
                continue
            self.seen.add(key)
            self._handle.write(json.dumps([page, index, item], ensure_ascii=False) + "\n")
            new += 1
        self._handle.flush()
        self.items += new
        return new

    @staticmethod
    def count(path: Path) -> int:
        if not path.exists():
            return 0
        with path.open("rb") as handle:
            return sum(1 for _ in handle)

    def sync(self) -> None:
        """Make what was appended durable: done before any checkpoint that counts on it."""
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()


def iter_spool(path: Path) -> Iterator[tuple[int | str, int, Any]]:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            page, index, item = json.loads(line)
            yield page, index, item


class State:
    """The checkpoint of one account: per listing, the next cursor, pages read, and whether done.

    After a complete extraction also its watermarks (per listing, the newest ``created_datetime``
    and its id) and, while a delta runs, that delta's own progress per listing.
    """

    def __init__(self, folder: Path, key: str) -> None:
        self.folder = folder
        self.path = folder / "checkpoint.json"
        self.key = key
        self.listings: dict[str, dict[str, Any]] = {}
        self.complete = False
        self.watermarks: dict[str, dict[str, Any] | None] = {}
        self.delta: dict[str, Any] | None = None
        self.deltas = 0
        self.resumed = False
        folder.mkdir(parents=True, exist_ok=True)
        saved = self._read()
        if saved is not None and saved.get("version") == STATE_VERSION and saved.get("account") == key:
            self.listings = saved.get("listings", {})
            self.complete = saved.get("complete") is True
            self.watermarks = saved.get("watermarks") or {}
            self.delta = saved.get("delta") if _valid_delta(saved.get("delta")) else None
            self.deltas = saved.get("deltas") if isinstance(saved.get("deltas"), int) else 0
            self.resumed = True
        else:
            self.clear()
        self._defaults()

    def _defaults(self) -> None:
        for name in LISTINGS:
            self.listings.setdefault(name, {"cursor": None, "pages": 0, "done": False})

    def plan(self, mode: str, overlap: timedelta) -> str:
        """Decide what this run does (full, delta, resume); what, in words, for the progress line."""
        if mode != "delta":
            if self.complete or self.delta:
                self.clear()
                self._defaults()
                return "the last extraction completed: a full run extracts the account afresh"
            return "resuming the interrupted extraction" if self.resumed else "extracting everything"
        if self.complete and self.delta:
            return f"resuming the interrupted delta {self.delta['number']}"
        if self.complete:
            listings = {}
            for name in LISTINGS:
                mark = self.watermarks.get(name)
                newest = parse_datetime(mark.get("created_datetime")) if isinstance(mark, dict) else None
                since = (newest - overlap).isoformat() if newest else None
                listings[name] = {"cursor": None, "pages": 0, "done": False, "since": since}
            self.delta = {"number": self.deltas + 1, "listings": listings}
            self.save()
            return "delta " + "; ".join(
                f"{name}: from {spec['since']} (newest extracted "
                f"{_object(self.watermarks.get(name)).get('created_datetime')} minus {_hours(overlap)} of overlap)"
                if spec["since"] else f"{name}: no watermark, whole listing re-read, new ids kept"
                for name, spec in listings.items())
        if self.resumed:
            return "delta: no complete extraction yet; resuming the interrupted one"
        return "delta: no previous complete extraction: extracting everything"

    def finish(self, watermarks: dict[str, dict[str, Any] | None]) -> None:
        """The extraction (full or delta) is complete and landed: keep the spool and its watermarks."""
        for name, mark in watermarks.items():
            old = self.watermarks.get(name)
            if mark is None or (isinstance(old, dict) and _mark_key(old) >= _mark_key(mark)):
                continue
            self.watermarks[name] = mark
        if self.delta:
            self.deltas = self.delta["number"]
        self.delta = None
        self.complete = True
        self.save()

    def _read(self) -> dict[str, Any] | None:
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return saved if isinstance(saved, dict) else None

    def spool_path(self, listing: str) -> Path:
        return self.folder / f"{listing}.jsonl"

    def save(self) -> None:
        partial = self.path.with_name(self.path.name + ".partial")
        with partial.open("w", encoding="utf-8") as handle:
            json.dump({"version": STATE_VERSION, "account": self.key, "listings": self.listings,
                       "complete": self.complete, "watermarks": self.watermarks, "delta": self.delta,
                       "deltas": self.deltas}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, self.path)

    def clear(self) -> None:
        self.listings = {}
        self.complete = False
        self.watermarks = {}
        self.delta = None
        self.resumed = False
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)


def parse_datetime(value: Any) -> datetime | None:
    """A Gorgias datetime (``2024-02-14T21:30:50.201204+00:00``, a space instead of the T, with or
    without fractions, ``Z``) as an aware UTC datetime; None when it is not one (no zone: UTC)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _valid_delta(delta: Any) -> bool:
    """A saved delta's progress has a number and, per listing, a cursor, a page count and done."""
    if not isinstance(delta, dict) or not isinstance(delta.get("number"), int):
        return False
    listings = delta.get("listings")
    return isinstance(listings, dict) and all(
        isinstance(listings.get(name), dict) and {"cursor", "pages", "done"} <= listings[name].keys()
        for name in LISTINGS)


def _mark_key(mark: dict[str, Any]) -> tuple[datetime, str]:
    return parse_datetime(mark.get("created_datetime")) or datetime.min.replace(tzinfo=UTC), str(mark.get("id"))


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:g} h"


def delta_overlap(options: dict[str, Any]) -> timedelta:
    value = options.get("delta_overlap_hours", DEFAULT_DELTA_OVERLAP_HOURS)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 24 * 366:
        raise ExtractError(f"sources.gorgias.delta_overlap_hours: must be a number of hours from 0 to 8784, "
                           f"got {value!r}")
    return timedelta(hours=value)


# -- download ---------------------------------------------------------------------------------


class _CursorExpired(Exception):
    """The API refused a listing's cursor: the caller restarts that listing."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _get_page(client: HttpClient, listing: str, order_by: str, cursor: str | None, restarts: int) -> Any:
    """One page of a listing. An expired cursor raises _CursorExpired, or ExtractError once
    MAX_RESTARTS_WITHOUT_PROGRESS restarts in a row have brought nothing new."""
    try:
        return client.get_json(f"/api/{listing}", {"limit": PAGE_SIZE, "order_by": order_by, "cursor": cursor})
    except HttpStatusError as error:
        if cursor is None or error.status not in EXPIRED_CURSOR_STATUSES:
            raise
        if restarts + 1 > MAX_RESTARTS_WITHOUT_PROGRESS:
            raise ExtractError(f"Gorgias: GET /api/{listing} kept refusing fresh cursors "
                               f"(HTTP {error.status}); run again later") from None
        raise _CursorExpired(error.status) from None


def _page_parts(page: Any, listing: str) -> tuple[list[Any], str | None]:
    """A list page's items and next cursor (None on the last page); any other shape stops the run."""
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        raise ExtractError(f"Gorgias: GET /api/{listing} answered something that is not a list page "
                           "(no 'data' array); is base_url the account's https://<domain>.gorgias.com?")
    meta = page.get("meta")
    if not isinstance(meta, dict) or "next_cursor" not in meta:
        raise ExtractError(f"Gorgias: GET /api/{listing} answered a page without meta.next_cursor: "
                           "cannot tell whether more pages follow, so the import stops rather than miss them")
    next_cursor = meta["next_cursor"]
    return page["data"], next_cursor if isinstance(next_cursor, str) and next_cursor else None


def download(client: HttpClient, state: State, listing: str, ctx: SourceContext) -> int:
    """Page through one listing to its end, spooling items; returns the items spooled in total.

    Whatever stops it (an error, Ctrl-C), the pages received so far are checkpointed on the
    way out, so the next run resumes at the first page not received.
    """
    progress = state.listings[listing]
    spool = Spool(state.spool_path(listing))
    unsaved = False

    def checkpoint() -> None:
        nonlocal unsaved
        spool.sync()
        state.save()
        unsaved = False

    try:
        if progress["done"]:
            return spool.items
        if state.resumed and (progress["pages"] or spool.items):
            ctx.report(f"{listing}: resuming after page {progress['pages']} "
                       f"({spool.items:,} already fetched)", force=True)
        restarts = 0
        while not progress["done"]:
            try:
                page = _get_page(client, listing, ORDER_BY, progress["cursor"], restarts)
            except _CursorExpired as expired:
                restarts += 1
                ctx.report(f"{listing}: the cursor expired (HTTP {expired.status}); restarting the listing "
                           f"from its first page, skipping the {spool.items:,} already fetched", force=True)
                progress["cursor"] = None
                checkpoint()
                continue
            data, next_cursor = _page_parts(page, listing)
            page_number = progress["pages"] + 1
            if spool.append(page_number, data):
                restarts = 0
            progress.update(pages=page_number, cursor=next_cursor, done=next_cursor is None)
            unsaved = True
            if progress["done"] or page_number % CHECKPOINT_EVERY_PAGES == 0:
                checkpoint()
            ctx.report(f"{listing}: page {page_number:,}, {spool.items:,} fetched "
                       f"({client.stats.requests:,} requests, {client.stats.throttled:,} throttled)")
        return spool.items
    finally:
        if unsaved:
            with suppress(OSError):
                checkpoint()
        spool.close()


def download_delta(client: HttpClient, state: State, listing: str, ctx: SourceContext) -> int:
    """Page one listing newest first until a page reaches back past the delta's ``since``; returns
    the pages read. New items are spooled after the kept ones, items already spooled skipped by id."""
    assert state.delta is not None
    progress = state.delta["listings"][listing]
    if progress["done"]:
        return 0
    since = parse_datetime(progress.get("since"))
    spool = Spool(state.spool_path(listing))
    kept = progress.setdefault("kept", spool.items)  # the spool's size when the delta started
    read = 0
    try:
        restarts = 0
        while not progress["done"]:
            try:
                page = _get_page(client, listing, DELTA_ORDER_BY, progress["cursor"], restarts)
            except _CursorExpired as expired:
                restarts += 1
                ctx.report(f"{listing}: the cursor expired (HTTP {expired.status}); restarting the delta "
                           "from the newest item, skipping the ones already fetched", force=True)
                progress.update(cursor=None, pages=0)
                continue
            data, next_cursor = _page_parts(page, listing)
            number = progress["pages"] + 1
            read += 1
            if spool.append(f"delta {state.delta['number']} page {number} (newest first)", data):
                restarts = 0
            reached = since is not None and any(
                (created := parse_datetime(_object(item).get("created_datetime"))) is not None and created < since
                for item in data)
            progress.update(pages=number, cursor=next_cursor, done=next_cursor is None or reached)
            spool.sync()
            state.save()
            ctx.report(f"{listing}: delta from {progress.get('since') or 'the start'}: page {number:,}, "
                       f"{spool.items - kept:,} new ({client.stats.requests:,} requests)")
        return read
    finally:
        spool.close()


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


def _lineage(listing: str, ordinal: int, page: int | str, index: int) -> dict[str, Any]:
    where = f"page {page}" if isinstance(page, int) else str(page)
    return {"_source_file": f"GET /api/{listing}", "_source_row": ordinal,
            "_source_position": f"{where}, item {index}"}


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


def land(state: State, out: PlatformOutput, ctx: SourceContext) -> dict[str, dict[str, Any] | None]:
    """Write the spooled tickets and messages as raw rows; items without an id are rejected.

    Returns each listing's watermark: the newest ``created_datetime`` landed and its id (None: none)."""
    shapes = {"tickets": ("malformed_ticket", ticket_row), "messages": ("malformed_message", message_row)}
    watermarks: dict[str, dict[str, Any] | None] = {}
    for listing, (reason, to_row) in shapes.items():
        table = out.table(listing)
        newest: tuple[datetime, str] | None = None
        mark: dict[str, Any] | None = None
        for ordinal, (page, index, item) in enumerate(iter_spool(state.spool_path(listing)), start=1):
            lineage = _lineage(listing, ordinal, page, index)
            if not isinstance(item, dict) or item.get("id") is None:
                out.reject(reason=reason, source_file=lineage["_source_file"],
                           position=lineage["_source_position"], row=ordinal,
                           detail=f"a Gorgias {listing[:-1]} must be an object with an id",
                           raw=as_text(item))
                continue
            table.write({**to_row(item), **lineage})
            created = parse_datetime(item.get("created_datetime"))
            if created is not None and (newest is None or (created, str(item["id"])) > newest):
                newest = (created, str(item["id"]))
                mark = {"created_datetime": created.isoformat(), "id": item["id"]}
        watermarks[listing] = mark
        ctx.report(f"{listing}: {table.rows:,} landed", force=True)
    return watermarks


# -- the extraction ---------------------------------------------------------------------------


def extract(ctx: SourceContext, out: PlatformOutput) -> None:
    if ctx.state_dir is None:
        raise ExtractError("Gorgias: no state folder to checkpoint into")
    overlap = delta_overlap(ctx.options)
    with _account(ctx) as account:
        state = State(ctx.state_dir, account.state_key)
        ctx.report(state.plan(ctx.mode, overlap), force=True)
        client = HttpClient(
            account.base_url, BasicAuth(account.email, account.api_key), service="Gorgias",
            credential_hint=account.credential_hint, **CLIENT_OPTIONS,
        )
        delta = state.delta
        with client:
            for listing in LISTINGS:
                if delta:
                    download_delta(client, state, listing, ctx)
                else:
                    download(client, state, listing, ctx)
        stats = client.stats
        ctx.report(f"downloaded in {stats.requests:,} requests ({stats.retries:,} retries, "
                   f"{stats.throttled:,} throttled, {stats.waited_seconds:,.1f}s waited)", force=True)
        if delta:
            new = {name: Spool.count(state.spool_path(name)) - spec.get("kept", 0)
                   for name, spec in delta["listings"].items()}
            ctx.report(f"delta {delta['number']}: {new['messages']:,} new messages and {new['tickets']:,} new "
                       "tickets added to the ones kept", force=True)
        watermarks = land(state, out, ctx)
        pages = delta["listings"] if delta else state.listings
        out.files_read = sum(pages[listing]["pages"] for listing in LISTINGS)  # API pages read
    state.finish(watermarks)
