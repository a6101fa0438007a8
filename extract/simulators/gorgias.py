"""A local Gorgias REST API, faithful enough to test an extractor against real HTTP.

Serves ``GET /api/tickets``, ``GET /api/messages`` (also filtered by ``ticket_id``) and
``GET /api/tickets/{id}/messages`` on 127.0.0.1, through the simulators' harness (``harness.py``),
from lists of objects or from a folder's ``tickets.jsonl`` and ``messages.jsonl`` (read as needed,
only line offsets in memory), with:

- HTTP Basic auth (``email:api_key``), 401 otherwise;
- cursor pagination: ``limit`` (at most 100), ``cursor``, ``order_by``
  (``created_datetime|updated_datetime|id`` + ``:asc|:desc``); answers
  ``{data, object: "list", uri, meta: {prev_cursor, next_cursor}}``;
- the ticket listing leaves trashed tickets (``trashed_datetime`` set) out unless ``trashed=true``
  (the reference's default is false); spam tickets (``spam: true``) and deleted or undelivered
  messages (``deleted_datetime``, ``failed_datetime``) are listed like the others, fields as given;
- cursors that expire (after ``cursor_ttl`` seconds, or on demand);
- the leaky-bucket limit of API keys (40 requests per 20 s by default; Enterprise accounts drain
  it in 10 s: ``bucket_window=10``): over it, 429 with ``Retry-after`` and
  ``X-Gorgias-Account-Api-Call-Limit: used/capacity``, which every answer carries;
- ``latency``: seconds before every answer, and ``request_times`` (when each request arrived);
- injectable faults by request number: ``"500"``, ``"429"``, ``"drop"`` (connection
  closed without an answer), ``"slow"`` (answer after ``slow_seconds``), ``"expire"``
  (every cursor issued so far expires before the request is served), ``"hold"`` (the
  answer waits until ``release()``: lets a test kill a client in the middle of a run).

Run it by hand: ``python -m extract.simulators.gorgias samples/gorgias``.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
import threading
import time
from array import array
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from extract.simulators import harness
from extract.simulators.harness import (
    Answer,
    LeakyBucket,
    LoggedRequest,
    Request,
    SimulatorServer,
    basic_ok,
    serve_until_interrupted,
)

DEMO_EMAIL = "demo@example.com"
DEMO_API_KEY = "demo-api-key"  # the simulator's default when run by hand; not a real account's
MAX_LIMIT = 100
DEFAULT_LIMIT = 30
ORDER_FIELDS = ("created_datetime", "updated_datetime", "id")
FAULT_KINDS = ("500", "429", "drop", "slow", "expire", "hold")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TRASHED_TOO = "tickets+trashed"  # the ticket listing with trashed=true


class Faults(harness.Faults):
    """Faults to inject, keyed by the 1-based number of the request they hit."""

    kinds = FAULT_KINDS


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSON-lines file (blank lines skipped)."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


class Store:
    """One listing's objects, in memory: ``raw(i)`` is object i as JSON bytes."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def raw(self, index: int) -> bytes:
        return json.dumps(self.items[index], ensure_ascii=False).encode("utf-8")

    def scan(self) -> Iterator[Any]:
        yield from self.items


class FileStore(Store):
    """One listing's objects left in their JSON-lines file: only line offsets are held in memory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._starts, self._lengths = array("q"), array("q")
        offset = 0
        with path.open("rb") as handle:
            for line in handle:
                if line.strip():
                    self._starts.append(offset)
                    self._lengths.append(len(line.rstrip(b"\r\n")))
                offset += len(line)
        self._fd = os.open(path, os.O_RDONLY)

    def __len__(self) -> int:
        return len(self._starts)

    def raw(self, index: int) -> bytes:
        return os.pread(self._fd, self._lengths[index], self._starts[index])

    def scan(self) -> Iterator[Any]:
        for index in range(len(self)):
            yield json.loads(self.raw(index))

    def close(self) -> None:
        os.close(self._fd)


def _sort_value(item: Any, field_name: str) -> tuple[float, Any]:
    value = item.get(field_name) if isinstance(item, dict) else None
    if field_name == "id":
        return (float(value) if isinstance(value, (int, float)) else 0.0, str(value))
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return (0.0, "")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return ((parsed - EPOCH).total_seconds(), "")


class GorgiasSimulator(SimulatorServer):
    """The simulated account: ``with GorgiasSimulator(tickets, messages) as sim: sim.base_url``."""

    name = "gorgias"
    server_version = "GorgiasSimulator/1.0"

    def __init__(
        self,
        tickets: list[Any] | Store,
        messages: list[Any] | Store,
        *,
        email: str = DEMO_EMAIL,
        api_key: str = DEMO_API_KEY,
        bucket_capacity: int | None = 40,
        bucket_window: float = 20.0,
        cursor_ttl: float = 300.0,
        faults: Faults | None = None,
        latency: float = 0.0,
        port: int = 0,
    ) -> None:
        super().__init__(latency=latency, port=port)
        self.tickets = tickets if isinstance(tickets, Store) else Store(tickets)
        self.messages = messages if isinstance(messages, Store) else Store(messages)
        self._credentials = base64.b64encode(f"{email}:{api_key}".encode()).decode()
        self.bucket = LeakyBucket(bucket_capacity, bucket_window) if bucket_capacity else None
        self.cursor_ttl = cursor_ttl
        self.faults = faults or Faults()
        self._cursors: dict[str, tuple[str, str, int, float]] = {}
        self._lock = threading.Lock()
        self._sorted: dict[tuple[str, str], list[int]] = {}

    @classmethod
    def from_dir(cls, folder: Path, **options: Any) -> GorgiasSimulator:
        """An account holding ``tickets.jsonl`` and ``messages.jsonl`` of ``folder`` (read as needed)."""
        return cls(FileStore(folder / "tickets.jsonl"), FileStore(folder / "messages.jsonl"), **options)

    @property
    def log(self) -> list[LoggedRequest]:
        return self.entries

    def closed(self) -> None:
        for store in (self.tickets, self.messages):
            if isinstance(store, FileStore):
                store.close()

    # -- bookkeeping -------------------------------------------------------

    def add(self, *, tickets: list[Any] = (), messages: list[Any] = ()) -> None:  # type: ignore[assignment]
        """New tickets and messages in an in-memory account (the account lives on between two runs)."""
        if isinstance(self.tickets, FileStore) or isinstance(self.messages, FileStore):
            raise TypeError("add() needs an in-memory account (lists), not JSON-lines files")
        with self._lock:
            self.tickets.items.extend(tickets)
            self.messages.items.extend(messages)
            self._sorted.clear()

    def expire_cursors(self) -> None:
        with self._lock:
            self._cursors.clear()

    def is_authorized(self, header: str | None) -> bool:
        return basic_ok(header, self._credentials)

    # -- listings ----------------------------------------------------------

    def _ordered(self, listing: str, order_by: str) -> list[int]:
        """Indexes of the listing's objects in ``order_by`` order (ties broken by id)."""
        key = (listing, order_by)
        with self._lock:
            cached = self._sorted.get(key)
        if cached is not None:
            return cached
        if listing.startswith("messages:"):
            self._group_by_ticket(order_by)
            with self._lock:
                return self._sorted.setdefault(key, [])
        field_name, _, direction = order_by.partition(":")
        store = self.messages if listing == "messages" else self.tickets
        # the default ticket listing leaves trashed tickets out; TRASHED_TOO lists them as well
        keys = [(_sort_value(item, field_name), _sort_value(item, "id"), index)
                for index, item in enumerate(store.scan())
                if listing != "tickets" or not (isinstance(item, dict) and item.get("trashed_datetime"))]
        keys.sort(reverse=direction == "desc")
        ordered = [index for _, _, index in keys]
        with self._lock:
            self._sorted[key] = ordered
        return ordered

    def _group_by_ticket(self, order_by: str) -> None:
        """Every ticket's messages listing (``messages:<ticket id>``), from one pass over the messages."""
        ticket_of = [str(m.get("ticket_id")) if isinstance(m, dict) else None for m in self.messages.scan()]
        groups: dict[str, list[int]] = {}
        for index in self._ordered("messages", order_by):
            if ticket_of[index] is not None:
                groups.setdefault(f"messages:{ticket_of[index]}", []).append(index)
        with self._lock:
            for listing, indexes in groups.items():
                self._sorted[(listing, order_by)] = indexes

    def _issue_cursor(self, listing: str, order_by: str, offset: int) -> str:
        token = secrets.token_urlsafe(12)
        with self._lock:
            self._cursors[token] = (listing, order_by, offset, time.monotonic())
        return token

    def _resolve_cursor(self, token: str, listing: str, order_by: str) -> int | None:
        with self._lock:
            found = self._cursors.get(token)
        if found is None or found[0] != listing or found[1] != order_by:
            return None
        if time.monotonic() - found[3] > self.cursor_ttl:
            return None
        return found[2]

    def page(self, listing: str, params: dict[str, str], uri: str) -> tuple[int, dict[str, Any] | bytes]:
        """(status, body) of one listing request; a page's body is JSON bytes made from the raw objects."""
        try:
            limit = int(params.get("limit", DEFAULT_LIMIT))
        except ValueError:
            return 400, {"error": {"msg": "limit must be an integer"}}
        if not 1 <= limit <= MAX_LIMIT:
            return 400, {"error": {"msg": f"limit must be between 1 and {MAX_LIMIT}"}}
        order_by = params.get("order_by", "created_datetime:desc")
        field_name, _, direction = order_by.partition(":")
        if field_name not in ORDER_FIELDS or direction not in ("asc", "desc"):
            return 400, {"error": {"msg": f"invalid order_by '{order_by}'"}}
        offset = 0
        if params.get("cursor"):
            resolved = self._resolve_cursor(params["cursor"], listing, order_by)
            if resolved is None:
                return 400, {"error": {"msg": "Invalid cursor: it may have expired, restart the listing"}}
            offset = resolved
        ordered = self._ordered(listing, order_by)
        store = self.tickets if listing.startswith("tickets") else self.messages
        chosen = ordered[offset:offset + limit]
        after = offset + len(chosen)
        meta = {
            "prev_cursor": self._issue_cursor(listing, order_by, max(0, offset - limit)) if offset else None,
            "next_cursor": self._issue_cursor(listing, order_by, after) if after < len(ordered) else None,
        }
        return 200, b"".join((
            b'{"data":[', b",".join(store.raw(index) for index in chosen), b'],"object":"list","uri":',
            json.dumps(uri).encode(), b',"meta":', json.dumps(meta).encode(), b"}",
        ))



    # -- one request -------------------------------------------------------

    def answer(self, request: Request) -> Answer:
        fault = request.fault.kind if request.fault else None
        if fault == "expire":
            self.expire_cursors()
        if request.method != "GET":
            return Answer(405, {"error": {"msg": "The simulator is read-only"}})
        if not self.is_authorized(request.headers.get("Authorization")):
            return Answer(401, {"error": {"msg": "Unauthorized: check the account email and API key"}})
        if fault == "500":
            return Answer(500, {"error": {"msg": "Internal server error"}})
        capacity = self.bucket.capacity if self.bucket else 40
        if fault == "429":
            allowed, used, retry_after = False, capacity, self.faults.retry_after_seconds
        elif self.bucket:
            allowed, used, retry_after = self.bucket.take()
        else:
            allowed, used, retry_after = True, 1, 0
        limit_header = {"X-Gorgias-Account-Api-Call-Limit": f"{used}/{capacity}"}
        if not allowed:
            return Answer(429, {"error": {"msg": "Too many requests"}}, {**limit_header, "Retry-after": str(retry_after)})
        listing = _listing(request.path)
        if listing is None:
            return Answer(404, {"error": {"msg": f"Not found: {request.path}"}}, limit_header)
        params = request.params
        if listing == "messages" and params.get("ticket_id"):
            listing = f"messages:{params['ticket_id']}"
        if listing == "tickets" and params.get("trashed", "false").lower() == "true":
            listing = TRASHED_TOO
        status, body = self.page(listing, params, request.entry.target)
        return Answer(status, body, limit_header)


def _listing(path: str) -> str | None:
    parts = [p for p in path.split("/") if p]
    if parts == ["api", "tickets"]:
        return "tickets"
    if parts == ["api", "messages"]:
        return "messages"
    if len(parts) == 4 and parts[:2] == ["api", "tickets"] and parts[3] == "messages":
        return f"messages:{parts[2]}"
    return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else Path(__file__).resolve().parents[2] / "samples" / "gorgias"
    simulator = GorgiasSimulator.from_dir(folder)
    return serve_until_interrupted(lambda: simulator.start().base_url, simulator.stop, lambda url: (
        f"Gorgias simulator on {url} ({len(simulator.tickets)} tickets, {len(simulator.messages)} messages);"
        f" Basic auth {DEMO_EMAIL}:{DEMO_API_KEY}."))


if __name__ == "__main__":
    raise SystemExit(main())
