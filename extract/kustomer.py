"""Kustomer REST API: every message, through the standard and the archive search, and each customer once.

Platform knowledge only; the reading, resume, spool, delta and landing machinery is ``extract/api/``.

- **Messages**: ``POST /v1/customers/search`` (objects updated in the last 2 years) and
  ``POST /v1/customers/archive/search`` (the older ones), ``queryContext: message``, sorted on
  ``message_created_at`` ascending, 100 a page. Kustomer stops every query after 10,000 records
  (possibly silently: an empty page, ``links.next: null``), so each search is read as a keyset
  (``extract.api.stream.KeysetSearch``): queries restarted at the newest ``createdAt`` seen,
  skipping the ids seen at that millisecond. Both searches go into one spool: their union by id.
- **Customers**: ``GET /v1/customers/{id}`` once per distinct customer, fetched by a pool of
  workers while the pages are read; within ``x-ratelimit-limit`` (per minute, announced by every
  answer) and the configured ``requests_per_minute``.
- **Delta** (``ctx.mode == "delta"``): the standard search from the last complete extraction's
  newest ``createdAt`` minus ``delta_overlap_hours``; messages already spooled are skipped by id.

Shape knowledge: addresses in ``meta.from``/``meta.to`` flattened to text (an array of ``{email}``
becomes the emails joined with ", "), a customer's emails and phones as positioned rows. Which
field becomes the title or body, and the fallbacks, live in ``models/staging/kustomer/``.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import pyarrow as pa

from extract import options as opt
from extract.api import config
from extract.api.land import land_rejects, newest_mark, split_where
from extract.api.source import ApiSource, run_source
from extract.api.store import Spool, State
from extract.api.stream import Children, KeysetSearch, Reading, millis_text, to_millis
from extract.context import SourceContext
from extract.http_client import BearerAuth, HttpClient, HttpStatusError, MalformedResponseError
from extract.platform import Platform
from extract.raw import PlatformOutput, free_text, with_lineage
from extract.values import as_text

SETTINGS = opt.Settings((
    opt.Setting("base_url", opt.https_url("https://<org>.api.kustomerapp.com"),
                "the account's API host (regional hosts too)", required_unless="simulate"),
    opt.Setting("api_key_env", opt.ENV_NAME, "the variable that holds the API key", default="KUSTOMER_API_KEY",
                secret="the Kustomer API key"),
    opt.Setting("requests_per_minute", opt.number(above=0), "this import's share of the org-wide budget",
                shows="none: 95% of the limit the API announces"),
    # 12 in flight at 250 ms: 2,880 a minute, above the largest plan's 2,000
    opt.Setting("concurrency", opt.number(1, 64, whole=True), "customers fetched at once while pages are read",
                default=12),
    opt.Setting("simulate", opt.FLAG, "run against the bundled local simulator, not a real account", default=False),
    opt.Setting("simulator_data", opt.folder_with("messages.jsonl", "customers.jsonl"), "the simulator's data",
                shows="`samples/kustomer/` (holding messages.jsonl, customers.jsonl)", folder=True),
    opt.Setting("reuse_completed", opt.FLAG, "re-use a completed extraction instead of extracting afresh",
                default=False),
    opt.Setting("delta_overlap_hours", opt.number(0, 24 * 366),
                "how far before the last extraction's newest message a delta reads again", default=24),
))
API_KEY = SETTINGS["api_key_env"]

PAGE_SIZE = 100
QUERY_CAP = 10_000  # Kustomer's documented cap per query: why the searches are read as keysets
SEARCHES = (("search", "/v1/customers/search"), ("archive", "/v1/customers/archive/search"))
EPOCH = "1970-01-01T00:00:00.000Z"
CLIENT_OPTIONS: dict[str, Any] = {"timeout": 60.0, "deadline": 300.0, "max_retries": 8, "backoff_base": 1.0,
                                  "backoff_max": 60.0}

TABLES = {
    "messages": with_lineage(
        pa.field("message_id", pa.string()),
        pa.field("customer_id", pa.string()),
        pa.field("conversation_id", pa.string()),
        pa.field("channel", pa.string()),
        pa.field("app", pa.string()),
        pa.field("direction", pa.string()),
        free_text("preview"),
        free_text("subject", "title"),
        free_text("meta_subject", "title"),
        pa.field("meta_from", pa.string()),
        pa.field("meta_to", pa.string()),
        pa.field("created_at", pa.string()),
        pa.field("sent_at", pa.string()),
        pa.field("updated_at", pa.string()),
    ),
    "customers": with_lineage(
        pa.field("customer_id", pa.string()),
        pa.field("fetch_status", pa.string()),
        pa.field("name", pa.string()),
        pa.field("display_name", pa.string()),
        pa.field("first_name", pa.string()),
        pa.field("last_name", pa.string()),
        pa.field("is_deleted", pa.bool_()),
    ),
    "customer_emails": with_lineage(
        pa.field("customer_id", pa.string()),
        pa.field("position", pa.int32()),
        pa.field("email", pa.string()),
        pa.field("email_type", pa.string()),
    ),
    "customer_phones": with_lineage(
        pa.field("customer_id", pa.string()),
        pa.field("position", pa.int32()),
        pa.field("phone", pa.string()),
        pa.field("phone_type", pa.string()),
    ),
}
RECORD_TABLES = ("messages",)

PERMISSIONS = (("/v1/customers/search", "org.permission.message.read"),
               ("/v1/customers/archive", "org.permission.message.read"),
               ("/v1/customers", "org.permission.customer.read"), ("/v1/messages", "org.permission.message.read"))


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


def search_body(since: str | None, until: str | None = None) -> dict[str, Any]:
    """The search of messages created at or after ``since`` (and before ``until``), oldest first
    (the body form singer-io/tap-kustomer sends)."""
    criteria: list[dict[str, Any]] = [{"message_created_at": {"gte": since or EPOCH}}]
    if until is not None:
        criteria.append({"message_created_at": {"lt": until}})
    return {"queryContext": "message", "and": criteria, "sort": [{"message_created_at": "asc"}], "timeZone": "UTC"}


def message_id(message: Any) -> str | None:
    return as_text(message.get("id")) if isinstance(message, dict) else None


def message_created(message: Any) -> Any:
    return _dict(_dict(message).get("attributes")).get("createdAt")


def customer_lookup(message: Any) -> tuple[str, str] | None:
    customer_id, link = customer_ref(_dict(message))
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

    def __init__(self, ctx: SourceContext) -> None:
        super().__init__(ctx)
        self.options = options = SETTINGS.resolve(ctx.options)
        self.simulate = options["simulate"]
        self.base_url = None if self.simulate else config.base_url(options)
        self.key_env = config.secret_variable(options, API_KEY)
        self.requests_per_minute = options["requests_per_minute"]
        self.concurrency = options["concurrency"]
        self.reuse_completed = options["reuse_completed"]
        self.overlap = timedelta(hours=options["delta_overlap_hours"])

    @contextlib.contextmanager
    def account(self) -> Iterator[tuple[HttpClient, str]]:
        if self.simulate:
            from extract.simulators.kustomer import KustomerSimulator

            folder = config.simulator_folder(self.ctx, self.options)
            demo_key = "demo-" + secrets.token_urlsafe(16)
            with KustomerSimulator(folder, api_key=demo_key) as simulator:
                self.ctx.report(f"simulate: true: using the local Kustomer API simulator at {simulator.base_url}"
                                f" with the data in {self.ctx.name_of(folder)} and a demo key; no real Kustomer"
                                " account is contacted", force=True)
                with self.client(simulator.base_url, BearerAuth(demo_key), "the simulator's demo key") as client:
                    yield client, f"simulator:{folder}"
            return
        assert self.base_url is not None
        key = config.env_secret("Kustomer", self.options, API_KEY)
        with self.client(self.base_url, BearerAuth(key), f"the API key in {self.key_env}") as client:
            yield client, self.base_url

    def client(self, base_url: str, auth: BearerAuth, hint: str) -> HttpClient:
        return HttpClient(base_url, auth, service="Kustomer", credential_hint=hint, permission_hint=_permission_for,
                          requests_per_minute=self.requests_per_minute, announced_limit=announced_limit,
                          **CLIENT_OPTIONS)

    def readings(self) -> list[Reading]:
        def search(label: str, path: str) -> Reading:
            return Reading(f"messages:{label}", "messages", KeysetSearch(
                path, search_body, timestamp=message_created, item_id=message_id,
                warn=lambda text: self.ctx.report(text, force=True), page_size=PAGE_SIZE, label=f"POST {path}"))

        return [search(label, path) for label, path in SEARCHES]

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
        return message_id if spool == "messages" else (lambda item: as_text(_dict(item).get("id")))

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
            customer_id = as_text(_dict(record).get("id")) or ""
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
        overflows = [o for key, reading in state.data["readings"].items() if key.startswith("messages:")
                     for o in reading.get("overflows", [])]
        queries = sum(reading.get("queries", 0) for reading in state.data["readings"].values())
        text = f"{queries:,} search queries"
        if overflows:
            unread = sum(o.get("unread") or 0 for o in overflows)
            text += (f"; WARNING: {len(overflows)} millisecond(s) held more messages than one query returns,"
                     f" {unread:,} message(s) could not be read")
        return text


def extract(ctx: SourceContext, out: PlatformOutput) -> None:
    run_source(Kustomer(ctx), out)


PLATFORM = Platform("kustomer", "Kustomer", "api", SETTINGS, TABLES, RECORD_TABLES, extract)


# -- shape knowledge ----------------------------------------------------------------------------


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


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
    customer = _dict(_dict(message.get("relationships")).get("customer"))
    link = as_text(_dict(customer.get("links")).get("self"))
    customer_id = as_text(_dict(customer.get("data")).get("id"))
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
    attributes = _dict(message.get("attributes"))
    meta = _dict(attributes.get("meta"))
    customer_id, _ = customer_ref(message)
    conversation = _dict(_dict(message.get("relationships")).get("conversation"))
    return {
        "message_id": as_text(message.get("id")),
        "customer_id": customer_id,
        "conversation_id": as_text(_dict(conversation.get("data")).get("id")),
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
    resource = _dict(_dict(body).get("data"))
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
            _dict(entry).get(key), as_text(_dict(entry).get("type")))
        if isinstance(value, str) and value.strip():
            rows.append({"customer_id": customer_id, "position": len(rows) + 1, key: value,
                         f"{key}_type": kind, **lineage})
    return rows
