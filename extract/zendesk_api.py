"""Zendesk through its REST API, for the accounts that cannot get the JSON export: the export's raw rows.

Platform knowledge only; reading, resume, spool, delta and landing machinery is ``extract/api/``.
The settings are declared with the export's (``extract/zendesk.py``: ``base_url`` instead of ``path``).

- **Tickets**: Zendesk's cursor-based incremental ticket export, ``GET
  /api/v2/incremental/tickets/cursor.json``: ``start_time=0`` on the first page, then
  ``cursor=<after_cursor>`` until ``end_of_stream``; 1,000 tickets a page; ``include=users,comment_count``
  side-loads the requesters (the export embeds them; the API gives ``requester_id``) and asks each
  ticket's comment count. Archived tickets (closed over 120 days) are in it, unlike ``/api/v2/tickets``;
  deleted ones come as ``status: "deleted"``: rejected ``deleted_ticket``, counted, their comments
  never asked (the call answers 404). The incremental exports are for admins and allow 10 requests a
  minute (30 with the High Volume add-on): a budget of their own inside the plan's
  (``incremental_requests_per_minute``: 9, spaced evenly, so no 60 s window ever holds more than 10,
  a killed run and its resume included).
- **Comments**: ``GET /api/v2/tickets/{id}/comments.json`` per ticket (cursor pages of 100,
  ``page[after]``, ``meta.has_more``), fetched by ``concurrency`` workers while the tickets are read,
  within the plan's limit (``X-Rate-Limit``, a minute's, announced by every answer: 95% of it is used)
  and ``requests_per_minute``; 429s wait their ``Retry-After`` (their body is not JSON). A ticket's
  comments are looked up once per version of the ticket (its id and ``generated_timestamp``), each
  comment spooled once (its ticket and id): a delta that lists a ticket changed reads its comments
  again and keeps only the new ones. Not the ticket events export: it is bounded by the 10 requests a
  minute, carries every kind of event (peers land ten raw rows per comment), is time-based (duplicates)
  and misses messaging tickets' comments (docs/sources/zendesk.md, "Through the API").
- **Rows**: the export's ``ticket_comments`` rows, made by the same functions from the newest version
  of each ticket, its requester (the side-loaded user) and each comment, numbered in the listing's
  order (oldest first): the same Gladly items whichever way a ticket was read. Set aside, one row per
  ticket: ``deleted_ticket``; ``ticket_comments_not_found`` (the comments call answered 404: deleted
  since it was listed) and ``ticket_comments_unreadable`` (another refusal); ``ticket_without_comments``
  as in the export. A ticket whose ``comment_count`` is above the comments read (Zendesk gives every
  comment a place in the listing: fewer means some were not read) is said, with its counts, as a
  ``comments_short`` row: its comments read are exported, never silently short.
- **Delta** (``ctx.mode == "delta"``): from the cursor the last complete extraction ended on; if Zendesk
  refuses it, from the newest ticket extracted minus ``delta_overlap_hours``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from extract.api import config
from extract.api.check import Checklist, Finding, hours, preflight
from extract.api.land import land_rejects, newest_mark
from extract.api.source import ApiSource, run_source
from extract.api.store import Spool, State
from extract.api.stream import Children, CursorListing, CursorPages, Reading, cursor_pages, millis_text, to_millis
from extract.context import SourceContext
from extract.errors import ExtractError
from extract.http_client import BasicAuth, Budget, HttpClient, HttpStatusError, MalformedResponseError, RateLimiter
from extract.raw import PlatformOutput
from extract.values import as_object, as_text
from extract.zendesk import SETTINGS, _comment_fields, _ticket_fields

EMAIL, API_TOKEN = SETTINGS["email_env"], SETTINGS["api_token_env"]
EXPORT_PATH = "/api/v2/incremental/tickets/cursor.json"
PER_PAGE = 1000            # the incremental export's largest page
COMMENTS_PAGE_SIZE = 100   # cursor pagination's largest page[size]
SIDELOADS = "users,comment_count"
START_TIME = 0             # the first extraction: every ticket
TOO_RECENT_SECONDS = 61    # Zendesk refuses a start_time within the last minute (400 StartTimeTooRecent)
DELETED = "deleted"
ADMIN = "an admin role (Zendesk's incremental exports are for admins)"
HINT = "is base_url the account's https://<subdomain>.zendesk.com?"
# Tuning of the shared HTTP client; tests shorten the waits.
CLIENT_OPTIONS: dict[str, Any] = {"timeout": 60.0, "deadline": 300.0, "max_retries": 8, "backoff_base": 1.0,
                                  "backoff_max": 60.0}
# Plans and their limits a minute (Zendesk's rate-limits reference), for the preflight's words.
PLANS = {200: "Team", 400: "Growth or Professional", 700: "Enterprise", 2500: "High Volume add-on"}


def announced_limit(headers: Mapping[str, str]) -> tuple[float, float] | None:
    """``X-Rate-Limit`` (or ``ratelimit-limit`` on newer endpoints): the plan's requests a minute."""
    for name in ("x-rate-limit", "ratelimit-limit"):
        try:
            limit = float(headers.get(name, ""))
        except ValueError:
            continue
        if limit > 0:
            return limit, 60.0
    return None


def is_incremental(method: str, path: str) -> bool:
    return path.startswith("/api/v2/incremental/")


def _permission_for(path: str) -> str | None:
    return ADMIN if path.startswith("/api/v2/incremental/") else None


def _export_follow(page: dict[str, Any]) -> tuple[str | None, bool] | None:
    """The incremental export: ``end_of_stream``, and ``after_cursor`` (also on the last page: a delta's start)."""
    end, cursor = page.get("end_of_stream"), page.get("after_cursor")
    cursor = cursor if isinstance(cursor, str) and cursor else None
    if not isinstance(end, bool) or (not end and cursor is None):
        return None
    return cursor, end


def _comments_follow(page: dict[str, Any]) -> tuple[str | None, bool] | None:
    """Cursor pagination: ``meta.has_more`` and ``meta.after_cursor``."""
    meta = page.get("meta")
    if not isinstance(meta, dict) or not isinstance(meta.get("has_more"), bool):
        return None
    cursor = meta.get("after_cursor")
    cursor = cursor if isinstance(cursor, str) and cursor else None
    if meta["has_more"] and cursor is None:
        return None
    return cursor, not meta["has_more"]


EXPORT_PAGES = CursorPages(records="tickets", follow=_export_follow, says="end_of_stream and after_cursor",
                           size_param="per_page", sideloads={"users": "users"}, hint=HINT)
COMMENT_PAGES = CursorPages(records="comments", follow=_comments_follow, says="meta.has_more and meta.after_cursor",
                            cursor_param="page[after]", size_param="page[size]", hint=HINT)


# -- records ----------------------------------------------------------------------------------------


def _number(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def ticket_version(ticket: dict[str, Any]) -> int:
    """When the ticket last changed, in seconds: ``generated_timestamp`` (what the export orders on), else ``updated_at``."""
    stamp = _number(ticket.get("generated_timestamp"))
    if stamp is not None:
        return stamp
    millis = to_millis(ticket.get("updated_at"))
    return millis // 1000 if millis is not None else 0


def ticket_key(ticket: Any) -> str | None:
    """A ticket is spooled once per version: a delta lists a changed ticket again, and it is kept."""
    if not isinstance(ticket, dict) or ticket.get("id") is None:
        return None
    return f"{as_text(ticket['id'])}@{ticket_version(ticket)}"


def user_key(user: Any) -> str | None:
    if not isinstance(user, dict) or user.get("id") is None:
        return None
    return f"{as_text(user['id'])}@{as_text(user.get('updated_at')) or ''}"


def comment_key(record: Any) -> str | None:
    """A comment once per ticket."""
    record = as_object(record)
    comment_id = as_object(record.get("comment")).get("id")
    return None if comment_id is None else f"{as_text(record.get('ticket'))}/{as_text(comment_id)}"


def listing_key(record: Any) -> str | None:
    """How a ticket's comments lookup ended, once per lookup (the ticket and its version)."""
    return as_text(as_object(record).get("id"))


def comments_lookup(ticket: Any) -> tuple[str, str] | None:
    """(the lookup's id: the ticket and its version, the comments' path); none for a deleted ticket."""
    key = ticket_key(ticket)
    if key is None or ticket.get("status") == DELETED:
        return None
    return key, f"/api/v2/tickets/{quote(as_text(ticket['id']) or '', safe='')}/comments.json"


def fetch_comments(client: HttpClient, lookup: str, path: str) -> Iterator[dict[str, Any]]:
    """Every comment of a ticket, page after page, as spooled records; last, how the listing went (its end)."""
    ticket = lookup.rpartition("@")[0]
    read = public = pages = 0
    status, detail = "ok", None
    try:
        for comments, _ in cursor_pages(client, path, COMMENT_PAGES, service="Zendesk", page_size=COMMENTS_PAGE_SIZE):
            pages += 1
            for comment in comments:
                read += 1
                public += as_object(comment).get("public") is True
                yield {"ticket": ticket, "index": read, "page": pages, "comment": comment}
    except HttpStatusError as error:
        status, detail = ("not_found" if error.status == 404 else f"http_{error.status}"), str(error)
    except MalformedResponseError as error:
        status, detail = "malformed", str(error)
    yield {"id": lookup, "ticket": ticket, "status": status, "detail": detail, "comments": read, "public": public,
           "pages": pages}


# -- the source -------------------------------------------------------------------------------------


class ZendeskApi(ApiSource):
    name = "zendesk"
    service = "Zendesk"
    spools = ("tickets", "users", "comments", "listings")  # listings: how each ticket's comments lookup ended

    settings = SETTINGS

    def __init__(self, ctx: SourceContext) -> None:
        super().__init__(ctx)
        self.email_env = config.secret_variable(self.options, EMAIL)
        self.token_env = config.secret_variable(self.options, API_TOKEN)
        self.incremental_per_minute = self.options["incremental_requests_per_minute"]

    def credentials(self) -> tuple[BasicAuth, str]:
        email = config.env_secret("Zendesk", self.options, EMAIL)
        token = config.env_secret("Zendesk", self.options, API_TOKEN)
        return BasicAuth(f"{email}/token", token), f"the admin email and API token in {self.email_env} and {self.token_env}"

    def simulator(self, folder: Path, secret: str) -> tuple[Any, BasicAuth, str]:
        from extract.simulators.zendesk import DEMO_EMAIL, ZendeskSimulator

        simulator = ZendeskSimulator.from_dir(
            folder, email=DEMO_EMAIL, api_token=secret, rate_limit=self.options["simulator_rate_limit"] or None,
            incremental_rate_limit=self.options["simulator_incremental_rate_limit"] or None)
        return simulator, BasicAuth(f"{DEMO_EMAIL}/token", secret), "demo credentials"

    def client(self, base_url: str, auth: BasicAuth, hint: str) -> HttpClient:
        # the incremental exports' own budget, spaced evenly inside the plan's (see the module doc)
        exports = Budget("incremental exports", is_incremental, RateLimiter.per_minute(self.incremental_per_minute))
        return HttpClient(base_url, auth, service="Zendesk", credential_hint=hint, permission_hint=_permission_for,
                          requests_per_minute=self.requests_per_minute, announced_limit=announced_limit,
                          budgets=[exports], **CLIENT_OPTIONS)

    def listing(self, start_time: int) -> CursorListing:
        return CursorListing(EXPORT_PATH, None, service="Zendesk", warn=self._warn, page_size=PER_PAGE,
                             params={"include": SIDELOADS}, start={"start_time": start_time}, shape=EXPORT_PAGES)

    def readings(self) -> list[Reading]:
        return [Reading("tickets", "tickets", self.listing(START_TIME))]

    def delta(self, state: State, readings: list[Reading]) -> list[Reading]:
        """From the cursor the last complete extraction ended on; refused, from its newest ticket minus the overlap."""
        mark = state.watermark("tickets") or {}
        newest = to_millis(mark.get("newest"))
        since = START_TIME if newest is None else int(newest // 1000 - self.overlap.total_seconds())
        since = max(min(since, int(time.time()) - TOO_RECENT_SECONDS), START_TIME)
        progress = state.reading("tickets")
        cursor = mark.get("cursor")
        if isinstance(cursor, str) and cursor and not progress:
            progress["cursor"] = cursor
        fallback = f"{millis_text(since * 1000)} (the newest ticket extracted minus {self.overlap.total_seconds() / 3600:g}" \
                   " h of overlap)" if newest is not None else "the start"
        self.ctx.report(f"delta {state.delta}: tickets changed since the last extraction's cursor" if cursor else
                        f"delta {state.delta}: no saved cursor: tickets changed since {fallback}", force=True)
        if cursor:
            self.ctx.report(f"(if Zendesk refuses the cursor: tickets changed since {fallback})", force=True)
        return [Reading("tickets", "tickets", self.listing(since))]

    def children(self) -> Children:
        return Children("comments", "tickets", comments_lookup, fetch_comments, label="tickets' comments",
                        ends="listings")

    def key(self, spool: str) -> Any:
        return {"tickets": ticket_key, "users": user_key, "comments": comment_key, "listings": listing_key}[spool]

    def _warn(self, text: str) -> None:
        self.ctx.report(text, force=True)

    def land(self, state: State, out: PlatformOutput) -> dict[str, dict[str, Any] | None]:
        landing = Landing(state, out)
        mark = landing.run()
        for line in landing.said():
            self.ctx.report(line, force=True)
        cursor = state.reading("tickets").get("cursor")
        return {"tickets": {**mark, "cursor": cursor} if mark else None}


def extract(ctx: SourceContext, out: PlatformOutput) -> None:
    run_source(ZendeskApi(ctx), out)


# -- landing: spooled API objects -> the export's raw rows ------------------------------------------

# What the index keeps of the newest version of each ticket, in one int: the spool offset, the
# version (seconds), whether it is deleted, whether its comments lookup of that version ended.
VERSION_BITS = 42
MARKED, DELETED_BIT = 1, 2


class Landing:
    """The spools of an extraction landed as ``ticket_comments`` rows and per-ticket rejects.

    Bounded memory whatever the account's size: one int per ticket and per user (where the newest
    version of each is in its spool) and the tickets that are set aside; rows are made comment by
    comment, the ticket's fields read back from its spool (a small cache: a ticket's comments are
    spooled together).
    """

    def __init__(self, state: State, out: PlatformOutput) -> None:
        self.state = state
        self.out = out
        self.tickets: dict[str, int] = {}
        self.users: dict[str, int] = {}
        self.aside: dict[str, tuple[str, str]] = {}   # ticket -> (reason, detail): its comments are not landed
        self.short = 0
        self.uncounted = 0

    def run(self) -> dict[str, Any] | None:
        newest = self._index_tickets()
        self._index_users()
        with self.state.spool_path("tickets").open("rb") as tickets, self.state.spool_path("users").open("rb") as users:
            @lru_cache(maxsize=4096)
            def ticket_at(key: str) -> dict[str, Any]:
                return as_object(Spool.at(tickets, self.tickets[key] >> VERSION_BITS)[1])

            @lru_cache(maxsize=4096)
            def shared(key: str) -> dict[str, Any]:
                ticket = ticket_at(key)
                requester = as_text(ticket.get("requester_id"))
                offset = self.users.get(requester or "")
                user = as_object(Spool.at(users, offset >> VERSION_BITS)[1]) if offset is not None else {}
                return _ticket_fields(ticket, key, user)

            self._ends_of_lookups(ticket_at)
            self._comments(shared)
            self._set_aside(ticket_at, shared)
        land_rejects(self.state, self.out)
        return newest

    @staticmethod
    def _packed(offset: int, version: int, deleted: bool = False) -> int:
        return offset << VERSION_BITS | (max(version, 0) & ((1 << (VERSION_BITS - 2)) - 1)) << 2 | (
            DELETED_BIT if deleted else 0)

    @staticmethod
    def _version(packed: int) -> int:
        return (packed & ((1 << VERSION_BITS) - 1)) >> 2

    def _index_tickets(self) -> dict[str, Any] | None:
        newest = None
        for ordinal, (offset, where, ticket) in enumerate(Spool.entries(self.state.spool_path("tickets")), start=1):
            if not isinstance(ticket, dict) or ticket.get("id") is None:
                self.out.reject(reason="not_a_ticket", source_file=f"GET {EXPORT_PATH}", position=where, row=ordinal,
                                detail="expected a ticket object with an id", raw=as_text(ticket))
                continue
            key = as_text(ticket["id"]) or ""
            version = ticket_version(ticket)
            known = self.tickets.get(key)
            if known is None or version >= self._version(known):
                self.tickets[key] = self._packed(offset, version, ticket.get("status") == DELETED)
            newest = newest_mark(newest, ticket.get("updated_at"), key)
        return newest

    def _index_users(self) -> None:
        for offset, _, user in Spool.entries(self.state.spool_path("users")):
            if isinstance(user, dict) and user.get("id") is not None:
                key = as_text(user["id"]) or ""
                version = (to_millis(user.get("updated_at")) or 0) // 1000
                known = self.users.get(key)
                if known is None or version >= self._version(known):
                    self.users[key] = self._packed(offset, version)

    def _ends_of_lookups(self, ticket_at: Any) -> None:
        """How each ticket's newest comments lookup ended: set aside if refused, said if short."""
        for _, _, end in Spool.entries(self.state.spool_path("listings")):
            if not isinstance(end, dict):
                continue
            key, _, version = (as_text(end.get("id")) or "").rpartition("@")
            packed = self.tickets.get(key)
            if packed is None or str(self._version(packed)) != version:
                continue  # the lookup of an older version: the newest one's says how it went
            self.tickets[key] = packed | MARKED
            status, read = end.get("status"), _number(end.get("comments")) or 0
            if status == "not_found":
                self.aside[key] = ("ticket_comments_not_found",
                                   f"its comments answered 404: the ticket was deleted after it was listed ({end.get('detail')})")
            elif status != "ok":
                self.aside[key] = ("ticket_comments_unreadable", f"its comments could not be read: {end.get('detail')}")
            elif read == 0:
                self.aside[key] = ("ticket_without_comments", "the ticket has no comments to import")
            else:
                count = _number(ticket_at(key).get("comment_count"))
                if count is None:
                    self.uncounted += 1
                elif count > read:
                    self.short += 1
                    self.out.reject(reason="comments_short", source_file=f"GET /api/v2/tickets/{key}/comments.json",
                                    position=f"ticket {key}", record_id=f"zendesk-{key}",
                                    detail=f"comment_count says {count:,}, {read:,} comments were read"
                                           f" ({_number(end.get('public')) or 0:,} public): the ones read are exported")

    def _comments(self, shared: Any) -> None:
        table = self.out.table("ticket_comments")
        for _, _, record in Spool.entries(self.state.spool_path("comments")):
            if not isinstance(record, dict) or "comment" not in record:
                continue
            key = as_text(record.get("ticket")) or ""
            packed = self.tickets.get(key)
            if packed is None or packed & DELETED_BIT or not packed & MARKED or key in self.aside:
                continue
            index = _number(record.get("index")) or 0
            comment = record["comment"]
            source_file = f"GET /api/v2/tickets/{key}/comments.json"
            if not isinstance(comment, dict) or comment.get("id") is None:
                self.out.reject(reason="malformed_comment", source_file=source_file, position=f"comment {index}",
                                row=index, record_id=f"zendesk-{key}",
                                customer_email_raw=shared(key)["requester_email"],
                                detail="a comment must be an object with an id", raw=as_text(comment))
                continue
            table.write({**shared(key), **_comment_fields(comment, index), "_source_file": source_file,
                         "_source_row": index, "_source_position": f"comment {index}"})

    def _set_aside(self, ticket_at: Any, shared: Any) -> None:
        """One reject row per ticket whose comments are not landed: deleted, refused, none, or never read."""
        for key, packed in self.tickets.items():
            if packed & DELETED_BIT:
                reason, detail = "deleted_ticket", "the ticket is deleted (status: deleted): Zendesk keeps no comments of it"
            elif key in self.aside:
                reason, detail = self.aside[key]
            elif not packed & MARKED:
                reason, detail = "ticket_comments_unreadable", "its comments were not read (the extraction ended first)"
            else:
                continue
            self.aside.setdefault(key, (reason, detail))
            self.out.reject(reason=reason, source_file=f"GET {EXPORT_PATH}", position=f"ticket {key}",
                            record_id=f"zendesk-{key}", customer_email_raw=shared(key)["requester_email"],
                            detail=detail, raw=as_text(_excerpt(ticket_at(key))))

    def said(self) -> list[str]:
        counts: dict[str, int] = {}
        for reason, _ in self.aside.values():
            counts[reason] = counts.get(reason, 0) + 1
        lines = [f"ticket_comments: {self.out.table('ticket_comments').rows:,} comments landed from"
                 f" {len(self.tickets) - len(self.aside):,} tickets"]
        lines += [f"{reason}: {n:,} {'ticket' if n == 1 else 'tickets'} set aside" for reason, n in sorted(counts.items())]
        if self.short:
            lines.append(f"WARNING: {self.short:,} tickets have fewer comments than their comment_count: each is a"
                         " comments_short row of the rejects (its comments read are exported)")
        if self.uncounted:
            lines.append(f"note: {self.uncounted:,} tickets came without comment_count (not side-loaded): their"
                         " comments were read to the listing's last page, not checked against a count")
        return lines


def _excerpt(ticket: dict[str, Any]) -> dict[str, Any]:
    """The ticket's identifying fields, for a reject's excerpt (never its whole description)."""
    return {k: ticket.get(k) for k in ("id", "subject", "status", "created_at", "updated_at", "requester_id")
            if k in ticket}


# -- the preflight (gladly-import check) ------------------------------------------------------------


def check(ctx: SourceContext) -> list[Finding]:
    """A handful of read-only requests: credentials, the admin role, the plan's limit, the export's and the
    comments' pages as the run reads them, the ticket count and the time the run will take."""
    source = ZendeskApi(ctx)
    return preflight(source, lambda client, found: _check(source, client, found))


def _check(source: ZendeskApi, client: HttpClient, found: Checklist) -> None:
    accepted = ("accepted (the simulator's demo credentials)" if source.simulate
                else f"accepted (the email and token in {source.email_env} and {source.token_env})")
    go_on, me = found.first_request(lambda: client.request_json("GET", "/api/v2/users/me.json"), accepted=accepted,
                                    check="permission: admin", needs=ADMIN)
    if not go_on or me is None:
        return
    user = as_object(as_object(me.body).get("user"))
    if user.get("id") is None:
        found.fail("permission: admin", "Zendesk answered as an anonymous user: the email and token were not taken"
                   " as credentials (the email must be the admin's; the run sends <email>/token and the API token)")
        return
    role = as_text(user.get("role")) or "unknown"
    if role == "admin":
        found.ok("permission: admin", f"{as_text(user.get('email')) or 'the user'} is an admin: the incremental"
                 " exports answer")
    else:
        found.fail("permission: admin", f"{as_text(user.get('email')) or 'the user'} is {role}: Zendesk's"
                   " incremental exports are for admins; use an admin's email and API token")
    plan = _check_limits(source, found, me.headers)
    export = found.request("incremental export", lambda: client.request_json(
        "GET", EXPORT_PATH, params={"start_time": START_TIME, "per_page": COMMENTS_PAGE_SIZE, "include": SIDELOADS}),
        needs=ADMIN)
    tickets = _check_export(found, export.body if export is not None else None)
    _check_comments(client, found, tickets)
    count = found.request("size: tickets", lambda: client.request_json("GET", "/api/v2/tickets/count.json"))
    total = _number(as_object(as_object(count.body).get("count")).get("value")) if count is not None else None
    if total is None:
        found.info("size: tickets", "not counted (no count.value): the time cannot be told")
        return
    found.info("size: tickets", f"≈ {total:,} (Zendesk's count, approximate above 100,000; deleted tickets are"
               " listed by the export too, and rejected)")
    rate = plan * 0.95 if plan else 0.0
    if source.requests_per_minute:
        rate = min(rate, source.requests_per_minute) if rate else source.requests_per_minute
    pages = math.ceil(total / PER_PAGE) + 1
    export_minutes = pages / source.incremental_per_minute
    if not rate:
        found.info("time at these limits", f"{hours(pages, source.incremental_per_minute)} for the {pages:,} export"
                   " pages; the comments' pace is unknown (no X-Rate-Limit announced, no requests_per_minute)")
        return
    minutes = max(total / rate, export_minutes)
    found.info("time at these limits", f"{hours(minutes, 1, lower_bound=True)}: ≈ {total:,} comment requests (one a"
               f" ticket, one more per 100 comments beyond the first 100) at {rate:,.0f}/min, while the {pages:,}"
               f" export pages go at {source.incremental_per_minute:g}/min")


def _check_limits(source: ZendeskApi, found: Checklist, headers: Mapping[str, str]) -> float | None:
    announced = announced_limit(headers)
    if announced is None:
        found.info("rate limit: the plan", "not announced (no X-Rate-Limit): the run paces at requests_per_minute"
                   f" ({source.requests_per_minute or 'none set'}) and waits out 429s")
        return None
    limit = announced[0]
    plan = PLANS.get(int(limit))
    cap = f", and at most requests_per_minute: {source.requests_per_minute:,g}" if source.requests_per_minute else ""
    found.ok("rate limit: the plan", f"{limit:,.0f} requests a minute (X-Rate-Limit{f': {plan}' if plan else ''}),"
             f" shared by every integration of the account: the run uses 95% of it{cap}")
    per_minute = source.incremental_per_minute
    (found.info if per_minute > 10 else found.ok)(
        "rate limit: incremental exports", f"{per_minute:g} a minute, spaced evenly (incremental_requests_per_minute;"
        " Zendesk allows 10, 30 with the High Volume add-on)" + (": above 10, expect 429s without the add-on"
                                                                   if per_minute > 10 else ""))
    return limit


def _check_export(found: Checklist, body: Any) -> list[dict[str, Any]]:
    """The export's first page as the run reads it; its tickets."""
    if body is None:
        return []
    try:
        tickets, cursor, last = EXPORT_PAGES.parts(body, f"GET {EXPORT_PATH}")
    except ExtractError as error:
        found.fail("assumption: export pages", str(error))
        return []
    found.ok("assumption: export pages", f"tickets, end_of_stream and after_cursor ({len(tickets):,} tickets on the"
             " first page" + (", the only one)" if last else ")"))
    body = as_object(body)
    users = body.get("users")
    found.info("assumption: requesters side-loaded", f"{len(users):,} users with the first page (include=users)"
               if isinstance(users, list) else "no users array: requesters have no email, their comments are rejected"
               " missing_email")
    listed = [t for t in tickets if isinstance(t, dict)]
    counted = sum(1 for t in listed if "comment_count" in t)
    found.info("assumption: comment_count", f"on {counted:,} of {len(listed):,} tickets: a ticket whose comments read"
               " fall short of it is said (comments_short)" if counted else "not side-loaded: comments are read to the"
               " listing's last page, not checked against a count")
    deleted = sum(1 for t in listed if t.get("status") == DELETED)
    found.info("assumption: deleted tickets", f"{deleted:,} among the first {len(listed):,} (status: deleted; rejected"
               " deleted_ticket, their comments never asked)")
    return listed


def _check_comments(client: HttpClient, found: Checklist, tickets: list[dict[str, Any]]) -> None:
    lookup = next((ref for ticket in tickets if (ref := comments_lookup(ticket))), None)
    if lookup is None:
        found.info("assumption: comment pages", "not tested: no ticket to ask")
        return
    answer = found.request("assumption: comment pages", lambda: client.request_json(
        "GET", lookup[1], params={"page[size]": COMMENTS_PAGE_SIZE}, ok_statuses={400, 404}))
    if answer is None:
        return
    if answer.status == 400:
        found.fail("assumption: comment pages", f"GET {lookup[1]} refused page[size]={COMMENTS_PAGE_SIZE} (HTTP 400):"
                   " the run asks it")
        return
    if answer.status == 404:
        found.info("assumption: comment pages", f"not tested: GET {lookup[1]} answered 404")
        return
    try:
        comments, _, _ = COMMENT_PAGES.parts(answer.body, f"GET {lookup[1]}")
    except ExtractError as error:
        found.fail("assumption: comment pages", str(error))
        return
    found.ok("assumption: comment pages", f"cursor pages of {COMMENTS_PAGE_SIZE} (meta.has_more, meta.after_cursor);"
             f" {len(comments):,} comments on the first page of a ticket")
