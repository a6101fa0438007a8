"""Kustomer REST API: every message (``/v1/messages``, 100 a page) and, once each, its customer.

The run checkpoints under ``ctx.state_dir`` (``work/state/kustomer/``): every few pages the
rows fetched so far are committed as Parquet parts and ``checkpoint.json`` records the next
page to fetch. A crash, a kill or Ctrl-C loses at most the uncommitted pages; the next run
resumes from the checkpoint, so each message lands exactly once. When the extraction is
complete, the parts are copied into the raw tables. A new full run after a completed one
extracts afresh (the account may have changed), unless ``reuse_completed: true``.

A delta run (``ctx.mode == "delta"``) after a completed extraction keeps its parts and re-reads
from ``delta_overlap_pages`` pages before the end of the last extraction to the end of the
listing: messages already extracted are skipped by id, customers already fetched are not fetched
again, and the raw tables hold the old and the new messages, each once.

Shape knowledge only: addresses in ``meta.from``/``meta.to`` flattened to text (an array of
``{email}`` becomes the emails joined with ", "), a customer's emails and phones as positioned
rows. Which field becomes the title or body, and the fallbacks, live in
``models/staging/kustomer/``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from extract import options as opt
from extract.context import SourceContext
from extract.errors import ExtractError
from extract.http_client import (
    BearerAuth,
    HttpClient,
    HttpStatusError,
    MalformedResponseError,
)
from extract.raw import PlatformOutput, RawTableWriter, with_lineage
from extract.values import as_text
from gladly_import.paths import SAMPLES_DIR  # the bundled samples, in a checkout or installed

NAME = "kustomer"
CONFIG_KEYS = {
    "base_url": False,              # required unless simulate: true
    "api_key_env": False,           # default KUSTOMER_API_KEY
    "requests_per_minute": False,   # this import's share of the org-wide budget
    "simulate": False,              # run against the bundled local simulator
    "simulator_data": False,        # folder of messages.jsonl + customers.jsonl for simulate
    "reuse_completed": False,       # re-use a completed extraction instead of extracting afresh
    "checkpoint_every_pages": False,
    "delta_overlap_pages": False,   # pages a delta run re-reads before the last extraction's end
}
CONFIG_TYPES = {
    "base_url": opt.https_url("https://<org>.api.kustomerapp.com", required_unless="simulate"),
    "api_key_env": opt.ENV_NAME,
    "requests_per_minute": opt.number(above=0),
    "simulate": opt.FLAG,
    "simulator_data": opt.folder_with("messages.jsonl", "customers.jsonl"),
    "reuse_completed": opt.FLAG,
    "checkpoint_every_pages": opt.number(1, whole=True),
    "delta_overlap_pages": opt.number(1, whole=True, what="the last page is always re-read: it fills up"),
}
PATH_KEYS: tuple[str, ...] = ()  # an API: no export files (simulator_data is resolved here)

PAGE_SIZE = 100
DEFAULT_KEY_ENV = "KUSTOMER_API_KEY"
DEFAULT_CHECKPOINT_PAGES = 20
DEFAULT_DELTA_OVERLAP_PAGES = 2
CHECKPOINT_SECONDS = 30.0
SAMPLE_DATA = SAMPLES_DIR / "kustomer"
CLIENT_OPTIONS: dict[str, Any] = {"timeout": 60.0, "max_retries": 8, "backoff_base": 1.0, "backoff_max": 60.0}

TABLES = {
    "messages": with_lineage(
        pa.field("message_id", pa.string()),
        pa.field("customer_id", pa.string()),
        pa.field("conversation_id", pa.string()),
        pa.field("channel", pa.string()),
        pa.field("app", pa.string()),
        pa.field("direction", pa.string()),
        pa.field("preview", pa.string()),
        pa.field("subject", pa.string()),
        pa.field("meta_subject", pa.string()),
        pa.field("meta_from", pa.string()),
        pa.field("meta_to", pa.string()),
        pa.field("created_at", pa.string()),
        pa.field("sent_at", pa.string()),
        pa.field("updated_at", pa.string()),
        pa.field("page", pa.int64()),
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

# Rejects are kept in the checkpointed parts too, so a resumed run still accounts for them.
REJECT_PART_SCHEMA = pa.schema([
    pa.field("reason", pa.string()), pa.field("detail", pa.string()), pa.field("record_id", pa.string()),
    pa.field("raw", pa.string()), pa.field("source_file", pa.string()), pa.field("position", pa.string()),
    pa.field("row", pa.int64()),
])
PART_TABLES = {**TABLES, "rejects": REJECT_PART_SCHEMA}

PERMISSIONS = (("/v1/customers", "org.permission.customer.read"), ("/v1/messages", "org.permission.message.read"))


# -- settings -----------------------------------------------------------------------------------


@dataclass
class Settings:
    base_url: str | None
    api_key_env: str
    requests_per_minute: float | None
    simulate: bool
    reuse_completed: bool
    checkpoint_every_pages: int
    delta_overlap_pages: int = DEFAULT_DELTA_OVERLAP_PAGES

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Settings:
        simulate = _flag(options, "simulate")
        base_url = options.get("base_url")
        if not simulate:
            if not isinstance(base_url, str) or not base_url.strip():
                raise ExtractError("sources.kustomer.base_url: required (https://<org>.api.kustomerapp.com),"
                                   " unless simulate: true")
            _check_base_url(base_url.strip())
        key_env = options.get("api_key_env", DEFAULT_KEY_ENV)
        if not isinstance(key_env, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key_env):
            raise ExtractError("sources.kustomer.api_key_env: must be the NAME of an environment variable"
                               " (the key itself never goes in the config)")
        rpm = options.get("requests_per_minute")
        if rpm is not None and (isinstance(rpm, bool) or not isinstance(rpm, (int, float)) or rpm <= 0):
            raise ExtractError(f"sources.kustomer.requests_per_minute: must be a number above 0, got {rpm!r}")
        every = options.get("checkpoint_every_pages", DEFAULT_CHECKPOINT_PAGES)
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ExtractError(f"sources.kustomer.checkpoint_every_pages: must be a whole number above 0,"
                               f" got {every!r}")
        overlap = options.get("delta_overlap_pages", DEFAULT_DELTA_OVERLAP_PAGES)
        if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 1:
            raise ExtractError(f"sources.kustomer.delta_overlap_pages: must be a whole number above 0 (the last"
                               f" page is always re-read: it fills up), got {overlap!r}")
        return cls(base_url=base_url.strip().rstrip("/") if isinstance(base_url, str) else None,
                   api_key_env=key_env, requests_per_minute=rpm, simulate=simulate,
                   reuse_completed=_flag(options, "reuse_completed"), checkpoint_every_pages=every,
                   delta_overlap_pages=overlap)


def _flag(options: dict[str, Any], key: str) -> bool:
    value = options.get(key, False)
    if not isinstance(value, bool):
        raise ExtractError(f"sources.kustomer.{key}: must be true or false, got {value!r}")
    return value


def _check_base_url(base_url: str) -> None:
    """https only, except to this machine: the key must never cross a network in clear text."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return
    local = host == "localhost"
    with contextlib.suppress(ValueError):
        local = local or ipaddress.ip_address(host).is_loopback
    if parts.scheme == "http" and local:
        return
    raise ExtractError(f"sources.kustomer.base_url: must be an https:// URL such as"
                       f" https://<org>.api.kustomerapp.com, got '{base_url}'")


def _api_key(settings: Settings) -> str:
    key = os.environ.get(settings.api_key_env, "").strip()
    if not key:
        raise ExtractError(f"sources.kustomer: the environment variable {settings.api_key_env} is not set;"
                           " put the Kustomer API key there (never in the config file)")
    return key


def _permission_for(path: str) -> str | None:
    return next((permission for prefix, permission in PERMISSIONS if path.startswith(prefix)), None)


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


def message_row(message: dict[str, Any], page: int, page_path: str, index: int) -> dict[str, Any]:
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
        "page": page,
        "_source_file": page_path,
        "_source_row": index,
        "_source_position": f"page {page}, item {index}",
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


# -- checkpointed parts -------------------------------------------------------------------------


def _first_page() -> str:
    return _page_link(1)


def _page_link(number: int) -> str:
    return f"/v1/messages?page={number}&pageSize={PAGE_SIZE}"


def _page_number(path: str) -> int | None:
    values = parse_qs(urlsplit(path).query).get("page")
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None


class Checkpoint:
    """``checkpoint.json`` plus the committed Parquet parts, under the platform's state folder."""

    def __init__(self, state_dir: Path, identity: str) -> None:
        self.dir = state_dir
        self.parts_dir = state_dir / "parts"
        self.path = state_dir / "checkpoint.json"
        self.identity = identity
        self.data: dict[str, Any] = {}

    def open(self, reuse_completed: bool, mode: str = "full",
             overlap_pages: int = DEFAULT_DELTA_OVERLAP_PAGES) -> str:
        """Load or start the checkpoint; what happens, in words, for the progress line."""
        self.dir.mkdir(parents=True, exist_ok=True)
        saved = self._load()
        if saved and not self._parts_readable(saved):
            self._fresh()
            return "the saved checkpoint's parts are missing or unreadable: extracting afresh"
        if saved and saved.get("identity") != self.identity:
            self._fresh()
            return "the saved checkpoint is for another account or simulator: extracting afresh"
        if mode == "delta":
            return self._open_delta(saved, overlap_pages)
        if saved and saved.get("delta"):
            self._fresh()
            return "the interrupted run was a delta; a full run extracts afresh"
        if saved and saved.get("status") == "complete":
            if reuse_completed:
                self.data = saved
                return (f"reuse_completed: re-using the completed extraction of {saved.get('finished_at')}"
                        f" ({saved['messages']:,} messages)")
            self._fresh()
            return "the last extraction completed: extracting afresh (reuse_completed: true re-uses it)"
        if saved:
            self.data = saved
            self._remove_uncommitted()
            return (f"resuming the interrupted extraction at page {_page_number(saved['next']) or '?'}"
                    f" ({saved['messages']:,} messages and {saved['customers']:,} customers kept)")
        self._fresh()
        return "extracting from page 1"

    def _open_delta(self, saved: dict[str, Any] | None, overlap_pages: int) -> str:
        """A delta: from the last complete extraction's end minus the overlap, or resumed, or everything."""
        if saved and saved.get("status") == "complete":
            last = _last_page(saved)
            start = max(1, last - overlap_pages + 1)
            self.data = saved
            self.data.update(status="running", next=_page_link(start), delta={
                "number": int(saved.get("deltas", 0)) + 1, "from_page": start, "previous_last_page": last,
                "previous_messages": saved["messages"], "started_at": _now()})
            self._save()
            return (f"delta from page {start}: the last extraction ({saved.get('finished_at')}) ended at page"
                    f" {last} with {saved['messages']:,} messages, kept; {overlap_pages} page(s) re-read as"
                    " overlap, messages already extracted skipped by id")
        if saved and saved.get("delta"):
            self.data = saved
            self._remove_uncommitted()
            return (f"resuming the interrupted delta from page {saved['delta']['from_page']} at page"
                    f" {_page_number(saved['next']) or '?'} ({saved['messages']:,} messages kept)")
        if saved:
            self.data = saved
            self._remove_uncommitted()
            return (f"delta: no complete extraction yet; resuming the interrupted one at page"
                    f" {_page_number(saved['next']) or '?'} ({saved['messages']:,} messages kept)")
        self._fresh()
        return "delta: no previous complete extraction: extracting everything from page 1"

    @property
    def complete(self) -> bool:
        return self.data.get("status") == "complete"

    def part_path(self, table: str, seq: int) -> Path:
        return self.parts_dir / f"{table}-{seq:06d}.parquet"

    def commit(self, seq: int, next_path: str | None, counts: dict[str, int], total_pages: int | None) -> None:
        self.data["parts"].append(seq)
        self.data["next"] = next_path
        self.data.update(counts)
        self.data["total_pages"] = total_pages
        self.data["updated_at"] = _now()
        if next_path is None:
            self.data["status"] = "complete"
            self.data["finished_at"] = self.data["updated_at"]
            delta = self.data.pop("delta", None)
            if delta:
                self.data["deltas"] = delta["number"]
                self.data["last_delta"] = {**delta, "finished_at": self.data["finished_at"],
                                           "new_messages": self.data["messages"] - delta["previous_messages"]}
        self._save()

    def message_ids(self) -> set[str]:
        """Every message id in the committed parts: what a delta must not extract again."""
        ids: set[str] = set()
        for seq in self.data.get("parts", []):
            column = pq.read_table(self.part_path("messages", seq), columns=["message_id"]).column(0)
            ids.update(v for v in column.to_pylist() if v is not None)
        return ids

    def rejected_raws(self) -> set[str]:
        """The raw text of the messages already rejected (they have no id to skip them by)."""
        raws: set[str] = set()
        for seq in self.data.get("parts", []):
            table = pq.read_table(self.part_path("rejects", seq), columns=["reason", "raw"])
            raws.update(r["raw"] for r in table.to_pylist() if r["reason"] == "malformed_message" and r["raw"])
        return raws

    def customer_ids(self) -> set[str]:
        ids: set[str] = set()
        for seq in self.data.get("parts", []):
            column = pq.read_table(self.part_path("customers", seq), columns=["customer_id"]).column(0)
            ids.update(v for v in column.to_pylist() if v is not None)
        return ids

    def _fresh(self) -> None:
        for stale in self.parts_dir.glob("*"):
            stale.unlink()
        self.data = {"version": 1, "identity": self.identity, "status": "running", "next": _first_page(),
                     "pages": 0, "messages": 0, "customers": 0, "rejected": 0, "total_pages": None,
                     "parts": [], "started_at": _now()}
        self._save()

    def _remove_uncommitted(self) -> None:
        committed = {self.part_path(t, s).name for s in self.data["parts"] for t in PART_TABLES}
        for path in self.parts_dir.glob("*"):
            if path.name not in committed:
                path.unlink()

    def _parts_readable(self, saved: dict[str, Any]) -> bool:
        try:
            for seq in saved["parts"]:
                for table in PART_TABLES:
                    pq.read_metadata(self.part_path(table, int(seq)))
        except (OSError, ValueError, TypeError, pa.ArrowException):
            return False
        return True

    def _load(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        needed = {"identity", "status", "next", "parts", "pages", "messages", "customers", "rejected"}
        return data if isinstance(data, dict) and needed <= data.keys() else None

    def _save(self) -> None:
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(self.data, indent=1), encoding="utf-8")
        os.replace(partial, self.path)


class Part:
    """One uncommitted chunk of rows, one Parquet file per table; committed or aborted as a whole."""

    def __init__(self, checkpoint: Checkpoint, seq: int) -> None:
        self.seq = seq
        self.writers = {t: RawTableWriter(checkpoint.part_path(t, seq), s) for t, s in PART_TABLES.items()}
        self.pages = 0
        self.opened = time.monotonic()

    def write(self, table: str, row: dict[str, Any]) -> None:
        self.writers[table].write(row)

    def reject(self, **row: Any) -> None:
        self.writers["rejects"].write(row)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()

    def abort(self) -> None:
        for writer in self.writers.values():
            writer.abort()


def _last_page(saved: dict[str, Any]) -> int:
    """The number of the last page the saved extraction read (older checkpoints: its page count)."""
    for key in ("last_page", "total_pages", "pages"):
        value = saved.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
    return 1


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the extraction -----------------------------------------------------------------------------


@contextlib.contextmanager
def _api(ctx: SourceContext, settings: Settings) -> Iterator[tuple[HttpClient, str]]:
    """The client, and the identity of the account its checkpoint belongs to; the simulator if asked."""
    if settings.simulate:
        from extract.simulators.kustomer import KustomerSimulator

        data_dir = _simulator_data(ctx)
        demo_key = "demo-" + secrets.token_urlsafe(16)
        with KustomerSimulator(data_dir, api_key=demo_key) as simulator:
            ctx.report(f"simulate: true: using the local Kustomer API simulator at {simulator.base_url}"
                       f" with the data in {ctx.name_of(data_dir)} and a demo key; no real Kustomer account"
                       " is contacted", force=True)
            with _client(simulator.base_url, demo_key, settings) as client:
                yield client, f"simulator:{data_dir}"
        return
    assert settings.base_url is not None
    with _client(settings.base_url, _api_key(settings), settings) as client:
        yield client, settings.base_url


def _simulator_data(ctx: SourceContext) -> Path:
    """The folder the simulator serves: ``simulator_data`` (relative to the config) or the bundled sample."""
    value = ctx.options.get("simulator_data")
    if value is None:
        return SAMPLE_DATA
    if not isinstance(value, str) or not value.strip():
        raise ExtractError("sources.kustomer.simulator_data: must be a folder path")
    folder = Path(value).expanduser()
    folder = (folder if folder.is_absolute() else ctx.base_dir / folder).resolve()
    missing = [name for name in ("messages.jsonl", "customers.jsonl") if not (folder / name).is_file()]
    if missing:
        raise ExtractError(f"sources.kustomer.simulator_data: '{value}' has no {' or '.join(missing)}")
    return folder


def _client(base_url: str, key: str, settings: Settings) -> HttpClient:
    return HttpClient(base_url, BearerAuth(key), service="Kustomer",
                      credential_hint=f"the API key in {settings.api_key_env}",
                      permission_hint=_permission_for, requests_per_minute=settings.requests_per_minute,
                      **CLIENT_OPTIONS)


def extract(ctx: SourceContext, out: PlatformOutput) -> None:
    settings = Settings.from_options(ctx.options)
    if ctx.state_dir is None:
        raise ExtractError("kustomer: no state folder to keep the checkpoint in")
    with _api(ctx, settings) as (client, identity):
        checkpoint = Checkpoint(ctx.state_dir, identity)
        ctx.report(checkpoint.open(settings.reuse_completed, ctx.mode, settings.delta_overlap_pages), force=True)
        extraction = None
        if not checkpoint.complete:
            extraction = Extraction(ctx, client, checkpoint, settings.checkpoint_every_pages)
            extraction.run()
    _materialize(checkpoint, out)
    c = checkpoint.data
    delta = c.get("last_delta") if extraction is not None and extraction.delta else None
    pages = f"{c['pages']:,} pages"
    what = ""
    if delta and extraction:
        out.files_read = extraction.pages_this_run  # API pages read by this delta
        what = (f"delta from page {delta['from_page']}: {delta['new_messages']:,} new messages"
                f" ({extraction.skipped:,} overlapping ones skipped) in {extraction.pages_this_run:,} pages;"
                " in all ")
        pages = f"{c.get('last_page') or c['pages']:,} pages listed"
    ctx.report(f"done: {what}{pages}, {c['messages']:,} messages, {c['customers']:,} customers;"
               f" {client.stats.requests:,} requests this run ({client.stats.retries:,} retries)", force=True)
    shortfall = listing_shortfall(c)
    if shortfall:
        ctx.report(shortfall, force=True)


def listing_shortfall(checkpoint: dict[str, Any]) -> str | None:
    """A warning when the pages ended before the total the API announced (its listing cap, or a live account)."""
    listed = checkpoint.get("listed_total") or 0
    read = checkpoint["messages"] + checkpoint["rejected"]
    if listed <= read:
        return None
    return (f"WARNING: Kustomer announced {listed:,} messages but its pages ended after {read:,}:"
            f" {listed - read:,} were not listed (see docs/sources/kustomer.md, 'Caveats')")


class Extraction:
    """The page loop: fetch a page, its new customers, commit every few pages, report progress."""

    def __init__(self, ctx: SourceContext, client: HttpClient, checkpoint: Checkpoint, every_pages: int) -> None:
        self.ctx = ctx
        self.client = client
        self.checkpoint = checkpoint
        self.every_pages = every_pages
        self.counts = {k: checkpoint.data[k] for k in ("pages", "messages", "customers", "rejected")}
        self.counts["listed_total"] = checkpoint.data.get("listed_total") or 0
        self.counts["last_page"] = checkpoint.data.get("last_page") or 0
        self.total_pages: int | None = checkpoint.data.get("total_pages")
        self.seen_customers = checkpoint.customer_ids()
        # a delta skips what the kept parts hold: messages by id, rejected id-less messages by content
        self.delta: dict[str, Any] | None = checkpoint.data.get("delta")
        self.seen_messages = checkpoint.message_ids() if self.delta else set()
        self.seen_rejects = checkpoint.rejected_raws() if self.delta else set()
        self.skipped = 0
        self.started = time.monotonic()
        self.pages_this_run = 0

    def run(self) -> None:
        next_path: str | None = self.checkpoint.data["next"]
        visited: set[str] = set()
        part = self._new_part()
        try:
            while next_path:
                if next_path in visited:
                    raise ExtractError(f"Kustomer: links.next points back to {next_path}; stopping")
                visited.add(next_path)
                next_path = self._page(next_path, part)
                part.pages += 1
                self.pages_this_run += 1
                if next_path and (part.pages >= self.every_pages
                                  or time.monotonic() - part.opened >= CHECKPOINT_SECONDS):
                    self._commit(part, next_path)
                    part = self._new_part()
                self._report()
        except BaseException:
            part.abort()
            raise
        self._commit(part, None)

    def _new_part(self) -> Part:
        parts = self.checkpoint.data["parts"]
        return Part(self.checkpoint, (parts[-1] + 1) if parts else 1)

    def _commit(self, part: Part, next_path: str | None) -> None:
        part.close()
        self.checkpoint.commit(part.seq, next_path, self.counts, self.total_pages)

    def _page(self, path: str, part: Part) -> str | None:
        """Fetch one page and its customers into the part; the next page's path (None: the end)."""
        number = _page_number(path) or self.counts["last_page"] + 1
        try:
            body = self.client.get_json(path)
        except MalformedResponseError as error:
            return self._skip_page(path, number, part, str(error))
        data, links, meta = _dict(body).get("data"), _dict(_dict(body).get("links")), _dict(_dict(body).get("meta"))
        if not isinstance(data, list):
            return self._skip_page(path, number, part, "the page has no data array", as_text(body))
        if isinstance(meta.get("totalPages"), int):
            self.total_pages = meta["totalPages"]
        if isinstance(meta.get("total"), int):
            self.counts["listed_total"] = meta["total"]
        for index, message in enumerate(data, start=1):
            self._message(message, number, path, index, part)
        self.counts["pages"] += 1
        self.counts["last_page"] = number
        next_link = links.get("next")
        return next_link if isinstance(next_link, str) and next_link.strip() else None

    def _skip_page(self, path: str, number: int, part: Part, why: str, raw: str | None = None) -> str | None:
        """A page that stays unreadable is set aside (a reject) and the next page number is tried."""
        part.reject(reason="malformed_page", detail=why, record_id=None, raw=raw, source_file=path,
                    position=f"page {number}", row=None)
        self.counts["rejected"] += 1
        self.counts["pages"] += 1
        self.counts["last_page"] = number
        if self.total_pages is not None and number >= self.total_pages:
            return None
        return f"/v1/messages?page={number + 1}&pageSize={PAGE_SIZE}"

    def _message(self, message: Any, number: int, path: str, index: int, part: Part) -> None:
        if not isinstance(message, dict) or not as_text(message.get("id")):
            raw = as_text(message)
            if self.delta is not None and raw in self.seen_rejects:
                self.skipped += 1
                return
            part.reject(reason="malformed_message", detail="a message must be an object with an id",
                        record_id=None, raw=raw, source_file=path,
                        position=f"page {number}, item {index}", row=index)
            self.counts["rejected"] += 1
            return
        if self.delta is not None:
            message_id = as_text(message.get("id")) or ""
            if message_id in self.seen_messages:
                self.skipped += 1
                return
            self.seen_messages.add(message_id)
        part.write("messages", message_row(message, number, path, index))
        self.counts["messages"] += 1
        customer_id, link = customer_ref(message)
        if customer_id and link and customer_id not in self.seen_customers:
            self.seen_customers.add(customer_id)
            self._customer(customer_id, link, part)

    def _customer(self, customer_id: str, link: str, part: Part) -> None:
        try:
            body = self.client.get_json(link)
        except HttpStatusError as error:
            status = "not_found" if error.status == 404 else f"http_{error.status}"
            row: dict[str, Any] = {"customer_id": customer_id, "fetch_status": status, "_source_file": link,
                                   "_source_position": f"customer {customer_id}"}
            emails: list[dict] = []
            phones: list[dict] = []
        except MalformedResponseError:
            row, emails, phones = customer_rows(customer_id, link, None)
        else:
            row, emails, phones = customer_rows(customer_id, link, body)
        part.write("customers", row)
        for email in emails:
            part.write("customer_emails", email)
        for phone in phones:
            part.write("customer_phones", phone)
        self.counts["customers"] += 1

    def _report(self) -> None:
        page = self.counts["last_page"]
        total = f"/{self.total_pages:,}" if self.total_pages else ""
        rate = self.client.stats.rate_per_minute()
        left = ""
        if self.total_pages and self.pages_this_run:
            per_page = (time.monotonic() - self.started) / self.pages_this_run
            left = f", ~{_duration(max(self.total_pages - page, 0) * per_page)} left"
        delta = f"delta from page {self.delta['from_page']:,}: " if self.delta else ""
        self.ctx.report(f"{delta}page {page:,}{total}, {self.counts['messages']:,} messages,"
                        f" {self.counts['customers']:,} customers, {rate:,.0f} requests/min{left}")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _materialize(checkpoint: Checkpoint, out: PlatformOutput) -> None:
    """Copy the committed parts, in order, into the raw tables and the rejects."""
    for seq in checkpoint.data["parts"]:
        for table in PART_TABLES:
            with pq.ParquetFile(checkpoint.part_path(table, seq)) as source:
                for batch in source.iter_batches(batch_size=10_000):
                    for row in batch.to_pylist():
                        if table == "rejects":
                            out.reject(**row)
                        else:
                            out.table(table).write(row)
    out.files_read = checkpoint.data["pages"]
