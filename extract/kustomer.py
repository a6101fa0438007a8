"""Kustomer REST API: every message, through the standard and the archive search, and each customer once.

Platform knowledge only; the reading, resume, spool, delta and landing machinery is ``extract/api/``.

- **Messages**: ``POST /v1/customers/search`` (objects updated in the last 2 years) and
  ``POST /v1/customers/archive/search`` (the older ones), ``queryContext: message``, 500 a page.
  Kustomer's reference: at most 100 pages a query, and a query stops after 10,000 records (possibly
  silently: an empty page, ``links.next: null``); only the archive search lists
  ``message_created_at`` as sortable. So no order is relied on: each search is read in time windows
  bounded on both sides (``extract.api.stream.WindowedSearch``), a window that may hold more than
  one query returns split in two. Both searches go into one spool: their union by id.
- **Customers**: ``GET /v1/customers/{id}`` once per distinct customer, fetched by a pool of
  workers while the pages are read; within ``x-ratelimit-limit`` (per minute, announced by every
  answer) and the configured ``requests_per_minute``.
- **Budgets**: the searches have their own, ``search_requests_per_minute`` (Kustomer allows an API
  key 100 searches a minute) inside the org's: customer lookups use what is left of the org's.
- **Delta** (``ctx.mode == "delta"``): both searches from the last complete extraction's newest
  ``createdAt`` minus ``delta_overlap_hours``; messages already spooled are skipped by id.

Shape knowledge: addresses in ``meta.from``/``meta.to`` flattened to text (an array of ``{email}``
becomes the emails joined with ", "), a customer's emails and phones as positioned rows. Which
field becomes the title or body, and the fallbacks, live in ``models/staging/kustomer/``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pyarrow as pa

from extract import options as opt
from extract.api import config
from extract.api.check import Checklist, Finding, at_least, hours, preflight
from extract.api.land import land_rejects, newest_mark, split_where
from extract.api.source import ApiSource, run_source
from extract.api.store import Spool, State
from extract.api.stream import SEARCH_END_MS, Children, Reading, WindowedSearch, millis_text, to_millis
from extract.context import SourceContext
from extract.http_client import BearerAuth, Budget, HttpClient, HttpStatusError, MalformedResponseError, RateLimiter
from extract.platform import Platform
from extract.raw import PlatformOutput, free_text, strings, with_lineage
from extract.values import as_object, as_text

SETTINGS = opt.Settings((
    opt.Setting("base_url", opt.https_url("https://<org>.api.kustomerapp.com"),
                "the account's API host (regional hosts too)", required_unless="simulate"),
    opt.Setting("api_key_env", opt.ENV_NAME, "the variable that holds the API key", default="KUSTOMER_API_KEY",
                secret="the Kustomer API key"),
    config.requests_per_minute("this import's share of the org-wide budget"),
    config.budget("search_requests_per_minute",
                  "searches a minute, spaced evenly, inside the org's budget (Kustomer allows an API key 100)", 95),
    # 12 in flight at 250 ms: 2,880 a minute, above the largest plan's 2,000
    config.concurrency("customers fetched at once while pages are read", 12),
    config.simulate(),
    opt.Setting("simulator_data", opt.folder_with("messages.jsonl", "customers.jsonl"), "the simulator's data",
                shows="`samples/kustomer/` (holding messages.jsonl, customers.jsonl)", folder=True),
    opt.Setting("simulator_search_rate_limit", opt.number(0, whole=True, what="searches in any 60 s, 0 for none"),
                "the simulator's search budget (Kustomer: 100 a minute per API key)", default=100),
    opt.Setting("reuse_completed", opt.FLAG, "re-use a completed extraction instead of extracting afresh",
                default=False),
    opt.Setting("delta_overlap_hours", opt.number(0, 24 * 366),
                "how far before the last extraction's newest message a delta reads again", default=24),
))
API_KEY = SETTINGS["api_key_env"]

PAGE_SIZE = 500      # the searches' largest page
MAX_PAGES = 100      # "a hard limit of 100 for the maximum number of pages" (both searches)
QUERY_CAP = 10_000   # the records one query returns at most: why the searches are read in windows
# (label, path, whether its reference lists message_created_at as sortable: asked then, and checked)
SEARCHES = (("search", "/v1/customers/search", False), ("archive", "/v1/customers/archive/search", True))
SEARCH_NAMES = {"search": "standard search", "archive": "archive search"}
EPOCH = "1970-01-01T00:00:00.000Z"
CLIENT_OPTIONS: dict[str, Any] = {"timeout": 60.0, "deadline": 300.0, "max_retries": 8, "backoff_base": 1.0,
                                  "backoff_max": 60.0}

TABLES = {
    "messages": with_lineage(
        *strings("message_id", "customer_id", "conversation_id", "channel", "app", "direction"),
        free_text("preview"),
        free_text("subject", "title"),
        free_text("meta_subject", "title"),
        *strings("meta_from", "meta_to", "created_at", "sent_at", "updated_at"),
    ),
    "customers": with_lineage(
        *strings("customer_id", "fetch_status", "name", "display_name", "first_name", "last_name"),
        pa.field("is_deleted", pa.bool_()),
    ),
    "customer_emails": with_lineage(
        pa.field("customer_id", pa.string()),
        pa.field("position", pa.int32()),
        *strings("email", "email_type"),
    ),
    "customer_phones": with_lineage(
        pa.field("customer_id", pa.string()),
        pa.field("position", pa.int32()),
        *strings("phone", "phone_type"),
    ),
}
RECORD_TABLES = ("messages",)

# What a request needs (Kustomer's reference: "Any one of the following roles is required")
SEARCH_PERMISSION = ("org.permission.search.create (or any one of org.permission.search.update,"
                     " org.permission.search_global.create, org.permission.search_preview.create;"
                     " legacy roles org.user.search.read, org.admin.search.read)")
CUSTOMER_PERMISSION = "org.permission.customer.read"
PERMISSIONS = (("/v1/customers/search", SEARCH_PERMISSION), ("/v1/customers/archive/search", SEARCH_PERMISSION),
               ("/v1/customers", CUSTOMER_PERMISSION))


def _permission_for(path: str) -> str | None:
    return next((permission for prefix, permission in PERMISSIONS if path.startswith(prefix)), None)


def announced_limit(headers: Mapping[str, str]) -> tuple[float, float] | None:
    """``x-ratelimit-limit``: the org's requests per minute."""
    try:
        limit = float(headers.get("x-ratelimit-limit", ""))
    except ValueError:
        return None
    return (limit, 60.0) if limit > 0 else None


# -- the requests -------------------------------------------------------------------------------


def search_body(start: str, end: str, sort: bool = False) -> dict[str, Any]:
    """The search of the messages created at or after ``start`` and before ``end`` (the body form
    singer-io/tap-kustomer sends), oldest first when ``sort`` (only where the reference lists it)."""
    body: dict[str, Any] = {"queryContext": "message", "and": [{"message_created_at": {"gte": start}},
                                                               {"message_created_at": {"lt": end}}],
                            "timeZone": "UTC"}
    if sort:
        body["sort"] = [{"message_created_at": "asc"}]
    return body


def is_search(method: str, path: str) -> bool:
    return path.endswith("/search")


def message_id(message: Any) -> str | None:
    return as_text(message.get("id")) if isinstance(message, dict) else None


def message_created(message: Any) -> Any:
    return as_object(as_object(message).get("attributes")).get("createdAt")


def customer_lookup(message: Any) -> tuple[str, str] | None:
    customer_id, link = customer_ref(as_object(message))
    return (customer_id, link) if customer_id and link else None


def fetch_customer(client: HttpClient, customer_id: str, link: str) -> dict[str, Any]:
    """The spooled form of one customer: its id, how the fetch went, and the answer's body."""
    try:
        return {"id": customer_id, "status": "ok", "body": client.get_json(link)}
    except HttpStatusError as error:
        return {"id": customer_id, "status": "not_found" if error.status == 404 else f"http_{error.status}"}
    except MalformedResponseError:
        return {"id": customer_id, "status": "malformed"}


# -- the source -----------------------------------------------------------------------------------


class Kustomer(ApiSource):
    name = "kustomer"
    service = "Kustomer"
    spools = ("messages", "customers")

    settings = SETTINGS

    def __init__(self, ctx: SourceContext) -> None:
        super().__init__(ctx)
        self.key_env = config.secret_variable(self.options, API_KEY)
        self.search_requests_per_minute = self.options["search_requests_per_minute"]

    def credentials(self) -> tuple[BearerAuth, str]:
        return BearerAuth(config.env_secret("Kustomer", self.options, API_KEY)), f"the API key in {self.key_env}"

    def simulator(self, folder: Path, secret: str) -> tuple[Any, BearerAuth, str]:
        from extract.simulators.kustomer import KustomerSimulator

        rate = self.options["simulator_search_rate_limit"] or None
        return KustomerSimulator(folder, api_key=secret, search_rate_limit=rate), BearerAuth(secret), "demo key"

    def client(self, base_url: str, auth: BearerAuth, hint: str) -> HttpClient:
        # the searches' own budget, spaced evenly: no 60 s window holds more than search_requests_per_minute
        # of them whatever the server's window, and a run resumed right after a killed one does not add
        # its burst to the searches the killed one sent in the last minute
        searches = Budget("searches", is_search, RateLimiter.per_minute(self.search_requests_per_minute))
        return HttpClient(base_url, auth, service="Kustomer", credential_hint=hint, permission_hint=_permission_for,
                          requests_per_minute=self.requests_per_minute, announced_limit=announced_limit,
                          budgets=[searches], **CLIENT_OPTIONS)

    def readings(self) -> list[Reading]:
        def search(label: str, path: str, sort: bool) -> Reading:
            return Reading(f"messages:{label}", "messages", WindowedSearch(
                path, lambda start, end: search_body(start, end, sort), timestamp=message_created,
                item_id=message_id, warn=lambda text: self.ctx.report(text, force=True), service="Kustomer",
                page_size=PAGE_SIZE, max_pages=MAX_PAGES, query_cap=QUERY_CAP, sorted_on=sort))

        return [search(label, path, sort) for label, path, sort in SEARCHES]

    def delta(self, state: State, readings: list[Reading]) -> list[Reading]:
        mark = state.watermark("messages")
        newest = to_millis(mark.get("newest")) if mark else None
        if newest is None:
            return readings
        # a delta: both searches from the newest message extracted minus the overlap (the archive
        # too: a message backdated into the overlap may already be older than its 2 years)
        since = newest - int(self.overlap.total_seconds() * 1000)
        for reading in readings:
            state.reading(reading.name).setdefault("since_ms", since)
        self.ctx.report(f"delta: messages created from {millis_text(since)} (the newest extracted,"
                        f" {mark['newest']}, minus {self.overlap.total_seconds() / 3600:g} h of overlap)", force=True)
        return readings

    def children(self) -> Children:
        return Children("customers", "messages", customer_lookup, fetch_customer, label="customers")

    def key(self, spool: str) -> Any:
        return message_id if spool == "messages" else (lambda item: as_text(as_object(item).get("id")))

    def land(self, state: State, out: PlatformOutput) -> dict[str, dict[str, Any] | None]:
        messages = out.table("messages")
        newest: dict[str, Any] | None = None
        for ordinal, (where, message) in enumerate(Spool.read(state.spool_path("messages")), start=1):
            if not isinstance(message, dict) or not message_id(message):
                out.reject(reason="malformed_message", detail="a message must be an object with an id",
                           raw=as_text(message), source_file=split_where(where)[0], position=split_where(where)[1],
                           row=ordinal)
                continue
            messages.write(message_row(message, where, ordinal))
            newest = newest_mark(newest, message_created(message), message_id(message))
        for link, record in Spool.read(state.spool_path("customers")):
            customer_id = as_text(as_object(record).get("id")) or ""
            if record.get("status") == "ok":
                row, emails, phones = customer_rows(customer_id, link, record.get("body"))
            else:
                row = {"customer_id": customer_id, "fetch_status": record.get("status"), "_source_file": link,
                       "_source_position": f"customer {customer_id}"}
                emails, phones = [], []
            out.table("customers").write(row)
            for email in emails:
                out.table("customer_emails").write(email)
            for phone in phones:
                out.table("customer_phones").write(phone)
        land_rejects(state, out)
        return {"messages": newest}

    def summary(self, state: State) -> str:
        readings = [reading for key, reading in state.data["readings"].items() if key.startswith("messages:")]
        overflows = [o for reading in readings for o in reading.get("overflows", [])]
        queries = sum(reading.get("queries", 0) for reading in readings)
        splits = sum(reading.get("splits", 0) for reading in readings)
        text = f"{queries:,} search windows read ({splits:,} split in two: more than one query returns)"
        if overflows:
            unread = sum(o.get("unread") or 0 for o in overflows)
            text += (f"; WARNING: {len(overflows)} millisecond(s) held more messages than one query returns,"
                     f" {unread:,} message(s) could not be read")
        return text


def extract(ctx: SourceContext, out: PlatformOutput) -> None:
    run_source(Kustomer(ctx), out)


# -- the preflight (gladly-import check) ------------------------------------------------------------


def check(ctx: SourceContext) -> list[Finding]:
    """A handful of read-only requests: credentials, permissions, limits, the size of the work and the
    time it takes, and the assumptions the extractor makes, tested on the account."""
    source = Kustomer(ctx)
    return preflight(source, lambda client, found: _check(source, client, found))


def _check(source: Kustomer, client: HttpClient, found: Checklist) -> None:
    end = millis_text(SEARCH_END_MS)

    def search(path: str, *, page: int = 1, size: int = PAGE_SIZE, sort: bool = False, start: str = EPOCH,
               stop: str = end) -> Any:
        return lambda: client.request_json("POST", path, body=search_body(start, stop, sort),
                                           params={"page": page, "pageSize": size}, ok_statuses={400})

    accepted = "accepted (the simulator's demo key)" if source.simulate else f"accepted (the key in {source.key_env})"
    go_on, first = found.first_request(search(SEARCHES[0][1]), accepted=accepted, check="permission: standard search",
                                       needs=SEARCH_PERMISSION)
    if not go_on:
        return
    answers = {SEARCHES[0][0]: first}
    answers[SEARCHES[1][0]] = found.request("permission: archive search", search(SEARCHES[1][1]),
                                            needs=SEARCH_PERMISSION)
    usable = []
    samples: list[Any] = []
    headers: Mapping[str, str] = {}
    for label, path, _ in SEARCHES:
        answer = answers[label]
        if answer is None:
            continue
        if answer.status == 400:
            found.fail(f"pages of {PAGE_SIZE}", f"POST {path} refused pageSize={PAGE_SIZE} (HTTP 400): the run asks it")
            continue
        found.ok(f"permission: {SEARCH_NAMES[label]}", f"POST {path} answered: the key holds a search permission")
        usable.append((label, path))
        headers = answer.headers
        samples += _data(answer.body)
    _check_customers(client, found, samples)
    _check_limits(source, found, headers)
    if not usable:
        return
    for label, path, sort in SEARCHES:
        if (label, path) in usable:
            _check_sort(found, label, path, search(path, sort=True), asked_by_the_run=sort)
    _check_page_past_the_limit(found, usable[0][1], search(usable[0][1], page=MAX_PAGES + 1, size=1))
    totals = [_data_total(answers[label].body) for label, _ in usable]
    if any(total is None for total in totals):
        found.info("assumption: meta.total", "not sent: a window that ends below 10,000 records is taken as whole")
    else:
        found.ok("assumption: meta.total", f"sent ({', '.join(at_least(t, QUERY_CAP) for t in totals)}): a window"
                 f" whose total reaches {QUERY_CAP:,} (a count that may be capped) is split")
    _check_time(source, found, _check_years(found, usable, search), samples, headers)


def _data(body: Any) -> list[Any]:
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, list) else []


def _data_total(body: Any) -> int | None:
    meta = body.get("meta") if isinstance(body, dict) else None
    total = meta.get("total") if isinstance(meta, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def _check_customers(client: HttpClient, found: Checklist, samples: list[Any]) -> None:
    ref = next((ref for message in samples if (ref := customer_lookup(message))), None)
    if ref is None:
        found.info("permission: customers", "not tested: no message names a customer")
        return
    answer = found.request("permission: customers", lambda: client.request_json("GET", ref[1], ok_statuses={404}),
                           needs=CUSTOMER_PERMISSION)
    if answer is not None:
        found.ok("permission: customers", f"GET /v1/customers/{{id}} answered: {CUSTOMER_PERMISSION} is held")


def _check_limits(source: Kustomer, found: Checklist, headers: Mapping[str, str]) -> None:
    announced = announced_limit(headers)
    if announced is None:
        found.info("rate limit: the org", "not announced (no x-ratelimit-limit): the run paces at"
                   f" requests_per_minute ({source.requests_per_minute or 'none set'}) and waits out 429s")
    else:
        cap = f", and at most requests_per_minute: {source.requests_per_minute:,g}" if source.requests_per_minute else ""
        found.ok("rate limit: the org", f"{announced[0]:,.0f} requests a minute (x-ratelimit-limit), shared by every"
                 f" key of the org: the run uses 95% of it{cap}")
    searches = source.search_requests_per_minute
    if searches > 100:
        found.info("rate limit: searches", f"{searches:,g} a minute configured: above the 100 Kustomer allows an API"
                   " key (expect 429s)")
    else:
        found.ok("rate limit: searches", f"{searches:,g} a minute, spaced evenly (search_requests_per_minute; Kustomer"
                 " allows an API key 100)")


def _check_sort(found: Checklist, label: str, path: str, send: Any, *, asked_by_the_run: bool) -> None:
    check = f"assumption: {SEARCH_NAMES[label]} sorted when asked"
    answer = found.request(check, send, needs=SEARCH_PERMISSION)
    if answer is None:
        return
    if answer.status == 400:
        (found.fail if asked_by_the_run else found.info)(
            check, "refused a sort on message_created_at (HTTP 400)" + (": the run asks it" if asked_by_the_run
                                                                           else ": the run does not ask it"))
        return
    stamps = [m for m in (to_millis(message_created(item)) for item in _data(answer.body)) if m is not None]
    if len(stamps) < 2:
        found.info(check, "not tested: fewer than 2 messages")
    elif all(a <= b for a, b in zip(stamps, stamps[1:], strict=False)):
        found.info(check, f"yes ({len(stamps):,} messages in order); not relied on")
    else:
        found.info(check, "no: the order is not time order; not relied on (each window is read whole, in any order)")


def _check_page_past_the_limit(found: Checklist, path: str, send: Any) -> None:
    check = f"assumption: page {MAX_PAGES + 1}"
    answer = found.request(check, send, needs=SEARCH_PERMISSION)
    if answer is None:
        return
    if answer.status == 400:
        found.ok(check, f"refused (HTTP 400), as documented; the run never asks past page {MAX_PAGES}")
    else:
        found.info(check, f"answered HTTP {answer.status} with {len(_data(answer.body)):,} messages: the run still"
                   f" stops at page {MAX_PAGES}")


def _check_years(found: Checklist, usable: list[tuple[str, str]], search: Any) -> dict[str, int]:
    """Messages created in each year (each search's meta.total), from this year back; each search's sum."""
    this_year = datetime.now(UTC).year
    sums = {label: 0 for label, _ in usable}
    empty_years, counted = 0, False
    for year in range(this_year, this_year - 40, -1):
        window = {"start": f"{year}-01-01T00:00:00.000Z", "stop": f"{year + 1}-01-01T00:00:00.000Z"}
        counts = {}
        for label, path in usable:
            answer = found.request(f"size: {year}", search(path, size=1, **window), needs=SEARCH_PERMISSION)
            if answer is None or answer.status != 200:
                return sums
            counts[label] = _data_total(answer.body) or 0
            sums[label] += counts[label]
        year_total = sum(counts.values())
        if year_total:
            counted = True
            found.info(f"size: messages created in {year}", f"{at_least(year_total, QUERY_CAP)} ("
                       + ", ".join(f"{SEARCH_NAMES[label]} {at_least(count, QUERY_CAP)}" for label, count in counts.items())
                       + ")")
        empty_years = 0 if year_total else empty_years + 1
        if empty_years >= 3 and (counted or year < this_year - 10):
            break
    return sums


def search_requests(messages: int) -> int:
    """About how many requests a search of ``messages`` takes: its pages, and the first pages of the windows
    split because a query cannot hold them (halving from the whole time line down to ``QUERY_CAP``)."""
    pages = max(math.ceil(messages / PAGE_SIZE), 1)
    return pages if messages < QUERY_CAP else pages + 2 * math.ceil(messages / QUERY_CAP) + 16


def _check_time(source: Kustomer, found: Checklist, sums: dict[str, int], samples: list[Any],
                headers: Mapping[str, str]) -> None:
    announced = announced_limit(headers)
    org = announced[0] * 0.95 if announced else 0.0
    if source.requests_per_minute:
        org = min(org, source.requests_per_minute) if org else source.requests_per_minute
    messages = sum(sums.values())
    referenced = [ref[0] for message in samples if (ref := customer_lookup(message))]
    share = len(set(referenced)) / len(samples) if samples else 0.0
    customers = math.ceil(messages * share)
    searches = sum(search_requests(count) for count in sums.values())
    search_rate = min(source.search_requests_per_minute, org) if org else source.search_requests_per_minute
    capped = any(count >= QUERY_CAP for count in sums.values())
    found.info("size: the work", f"{at_least(messages, QUERY_CAP if capped else None)} messages: ≈ {searches:,}"
               f" search requests (pages of {PAGE_SIZE}, windows split at {QUERY_CAP:,}) and ≈ {customers:,} customer"
               f" lookups ({len(set(referenced)):,} customers in the {len(samples):,} messages sampled)")
    if org:
        minutes = max(searches / search_rate, (searches + customers) / org)
        found.info("time at these limits", f"{hours(minutes, 1, lower_bound=capped)}: searches at"
                   f" {search_rate:,.0f}/min, customer lookups at what is left of {org:,.0f}/min")
    else:
        found.info("time at these limits", f"{hours(searches, search_rate, lower_bound=True)} for the searches at"
                   f" {search_rate:,.0f}/min (no org limit announced or configured for the customer lookups)")


PLATFORM = Platform("kustomer", "Kustomer", "api", SETTINGS, TABLES, RECORD_TABLES, extract, check=check)


# -- shape knowledge ----------------------------------------------------------------------------


def address_text(value: Any) -> str | None:
    """``meta.from``/``meta.to`` as text: a string trimmed; ``[{email}, ...]`` the emails joined with ", ".

    Entries may also be plain strings or carry ``address``/``phone`` instead of ``email``; entries
    without any are skipped. Nothing left (an empty array, a blank string) is None: absent.
    """
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, list):
        found = []
        for entry in value:
            if isinstance(entry, dict):
                entry = next((entry[k] for k in ("email", "address", "phone") if isinstance(entry.get(k), str)), None)
            text = as_text(entry) if not isinstance(entry, (dict, list)) else None
            if text and text.strip():
                found.append(text.strip())
        return ", ".join(found) or None
    text = as_text(value)
    return text.strip() if text and text.strip() else None


def customer_ref(message: dict[str, Any]) -> tuple[str | None, str | None]:
    """(customer id, link to GET it) from a message's relationships; the link built from the id if absent."""
    customer = as_object(as_object(message.get("relationships")).get("customer"))
    link = as_text(as_object(customer.get("links")).get("self"))
    customer_id = as_text(as_object(customer.get("data")).get("id"))
    if link:
        # only ever the path: the key is sent to the configured host, whatever host a link names
        parts = urlsplit(link)
        link = (parts.path + (f"?{parts.query}" if parts.query else "")) or None
    if not customer_id and link:
        customer_id = urlsplit(link).path.rstrip("/").rsplit("/", 1)[-1] or None
    if customer_id and not link:
        link = f"/v1/customers/{quote(customer_id, safe='')}"
    return customer_id, link


def message_row(message: dict[str, Any], where: str, ordinal: int) -> dict[str, Any]:
    attributes = as_object(message.get("attributes"))
    meta = as_object(attributes.get("meta"))
    customer_id, _ = customer_ref(message)
    conversation = as_object(as_object(message.get("relationships")).get("conversation"))
    return {
        "message_id": as_text(message.get("id")),
        "customer_id": customer_id,
        "conversation_id": as_text(as_object(conversation.get("data")).get("id")),
        "channel": as_text(attributes.get("channel")),
        "app": as_text(attributes.get("app")),
        "direction": as_text(attributes.get("direction")),
        "preview": as_text(attributes.get("preview")),
        "subject": as_text(attributes.get("subject")),
        "meta_subject": as_text(meta.get("subject")),
        "meta_from": address_text(meta.get("from")),
        "meta_to": address_text(meta.get("to")),
        "created_at": as_text(attributes.get("createdAt")),
        "sent_at": as_text(attributes.get("sentAt")),
        "updated_at": as_text(attributes.get("updatedAt")),
        "_source_file": split_where(where)[0],
        "_source_row": ordinal,
        "_source_position": split_where(where)[1],
    }


def customer_rows(customer_id: str, link: str, body: Any) -> tuple[dict[str, Any], list[dict], list[dict]]:
    """(customer row, email rows, phone rows) from ``GET /v1/customers/{id}``'s body."""
    resource = as_object(as_object(body).get("data"))
    attributes = resource.get("attributes")
    lineage = {"_source_file": link, "_source_row": None, "_source_position": f"customer {customer_id}"}
    if not isinstance(attributes, dict):
        return {"customer_id": customer_id, "fetch_status": "malformed", **lineage}, [], []
    emails = _positioned(customer_id, attributes.get("emails"), "email", lineage)
    phones = _positioned(customer_id, attributes.get("phones"), "phone", lineage)
    deleted = attributes.get("deleted")
    row = {
        "customer_id": customer_id,
        "fetch_status": "ok",
        "name": as_text(attributes.get("name")),
        "display_name": as_text(attributes.get("displayName")),
        "first_name": as_text(attributes.get("firstName")),
        "last_name": as_text(attributes.get("lastName")),
        "is_deleted": deleted if isinstance(deleted, bool) else None,
        **lineage,
    }
    return row, emails, phones


def _positioned(customer_id: str, entries: Any, key: str, lineage: dict[str, Any]) -> list[dict[str, Any]]:
    """Entries that hold an address, numbered from 1 in the API's order (plain strings accepted)."""
    rows = []
    for entry in entries if isinstance(entries, list) else []:
        value, kind = (entry, None) if isinstance(entry, str) else (
            as_object(entry).get(key), as_text(as_object(entry).get("type")))
        if isinstance(value, str) and value.strip():
            rows.append({"customer_id": customer_id, "position": len(rows) + 1, key: value,
                         f"{key}_type": kind, **lineage})
    return rows
