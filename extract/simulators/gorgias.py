"""A local Gorgias REST API, faithful enough to test an extractor against real HTTP.

Serves ``GET /api/tickets``, ``GET /api/messages`` (also filtered by ``ticket_id``) and
``GET /api/tickets/{id}/messages`` on 127.0.0.1, from lists of objects or from a folder's
``tickets.jsonl`` and ``messages.jsonl`` (read as needed, only line offsets in memory), with:

- HTTP Basic auth (``email:api_key``), 401 otherwise;
- cursor pagination: ``limit`` (at most 100), ``cursor``, ``order_by``
  (``created_datetime|updated_datetime|id`` + ``:asc|:desc``); answers
  ``{data, object: "list", uri, meta: {prev_cursor, next_cursor}}``;
- cursors that expire (after ``cursor_ttl`` seconds, or on demand);
- the leaky-bucket limit of API keys (40 requests per 20 s by default): over it,
  429 with ``Retry-after`` and ``X-Gorgias-Account-Api-Call-Limit``;
- ``latency``: seconds before every answer, and ``request_times`` (when each request arrived);
- injectable faults by request number: ``"500"``, ``"429"``, ``"drop"`` (connection
  closed without an answer), ``"slow"`` (answer after ``slow_seconds``), ``"expire"``
  (every cursor issued so far expires before the request is served), ``"hold"`` (the
  answer waits until ``release()``: lets a test kill a client in the middle of a run).

Run it by hand: ``python -m extract.simulators.gorgias samples/gorgias``.
"""

from __future__ import annotations

import base64
import hmac
import json
import math
import os
import secrets
import socket
import sys
import threading
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEMO_EMAIL = "demo@example.com"
DEMO_API_KEY = "demo-api-key"  # the simulator's default when run by hand; not a real account's
MAX_LIMIT = 100
DEFAULT_LIMIT = 30
ORDER_FIELDS = ("created_datetime", "updated_datetime", "id")
FAULT_KINDS = ("500", "429", "drop", "slow", "expire", "hold")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Faults:
    """Faults to inject, keyed by the 1-based number of the request they hit."""

    by_request: dict[int, str] = field(default_factory=dict)
    slow_seconds: float = 2.0
    retry_after_seconds: int = 1

    def __post_init__(self) -> None:
        unknown = sorted(set(self.by_request.values()) - set(FAULT_KINDS))
        if unknown:
            raise ValueError(f"unknown fault kind(s) {unknown}; use {FAULT_KINDS}")


@dataclass
class LoggedRequest:
    number: int
    path: str
    params: dict[str, str]
    status: int | None


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


class LeakyBucket:
    """Gorgias' limit: a bucket of ``capacity`` requests that drains fully in ``window`` seconds."""

    def __init__(self, capacity: int, window: float) -> None:
        self.capacity = capacity
        self.rate = capacity / window
        self.level = 0.0
        self.updated = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> tuple[bool, int, int]:
        """(allowed, used, retry_after_seconds) for one more request."""
        with self.lock:
            now = time.monotonic()
            self.level = max(0.0, self.level - (now - self.updated) * self.rate)
            self.updated = now
            if self.level + 1 > self.capacity:
                wait = math.ceil((self.level + 1 - self.capacity) / self.rate)
                return False, math.ceil(self.level), max(1, wait)
            self.level += 1
            return True, math.ceil(self.level), 0


class GorgiasSimulator:
    """The simulated account. ``start()`` returns its base URL; ``stop()`` ends it."""

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
    ) -> None:
        self.tickets = tickets if isinstance(tickets, Store) else Store(tickets)
        self.messages = messages if isinstance(messages, Store) else Store(messages)
        self._credentials = base64.b64encode(f"{email}:{api_key}".encode()).decode()
        self.bucket = LeakyBucket(bucket_capacity, bucket_window) if bucket_capacity else None
        self.cursor_ttl = cursor_ttl
        self.faults = faults or Faults()
        self.latency = latency  # seconds before every answer (real APIs take 100-500 ms)
        self.request_times = array("d")  # monotonic arrival time of every request: the rate, server side
        self.log: list[LoggedRequest] = []
        self._cursors: dict[str, tuple[str, str, int, float]] = {}
        self._lock = threading.Lock()
        self._sorted: dict[tuple[str, str], list[int]] = {}
        self._released = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_dir(cls, folder: Path, **options: Any) -> GorgiasSimulator:
        """An account holding ``tickets.jsonl`` and ``messages.jsonl`` of ``folder`` (read as needed)."""
        return cls(FileStore(folder / "tickets.jsonl"), FileStore(folder / "messages.jsonl"), **options)

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> str:
        handler = type("Handler", (_Handler,), {"simulator": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="gorgias-simulator", daemon=True)
        self._thread.start()
        return self.base_url

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def release(self) -> None:
        """Let requests held by a ``"hold"`` fault be answered."""
        self._released.set()

    def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for store in (self.tickets, self.messages):
            if isinstance(store, FileStore):
                store.close()

    def __enter__(self) -> GorgiasSimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- bookkeeping -------------------------------------------------------

    @property
    def request_count(self) -> int:
        return len(self.log)

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

    def _register(self, path: str, params: dict[str, str]) -> LoggedRequest:
        with self._lock:
            entry = LoggedRequest(number=len(self.log) + 1, path=path, params=params, status=None)
            self.log.append(entry)
            return entry

    def is_authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        return hmac.compare_digest(header[len("Basic "):].strip().encode(), self._credentials.encode())

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
        store = self.tickets if listing == "tickets" else self.messages
        keys = [(_sort_value(item, field_name), _sort_value(item, "id"), index)
                for index, item in enumerate(store.scan())]
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
        store = self.tickets if listing == "tickets" else self.messages
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


class _Handler(BaseHTTPRequestHandler):
    simulator: GorgiasSimulator
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class' name
        """Silent: never echo requests (their headers carry credentials)."""

    def do_GET(self) -> None:  # noqa: N802 - the base class' name
        sim = self.simulator
        split = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(split.query).items()}
        entry = sim._register(split.path, params)
        sim.request_times.append(time.monotonic())
        if sim.latency:
            time.sleep(sim.latency)
        fault = sim.faults.by_request.get(entry.number)
        if fault == "drop":
            entry.status = 0
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault == "slow":
            time.sleep(sim.faults.slow_seconds)
        if fault == "hold":
            sim._released.wait(timeout=60)
        if fault == "expire":
            sim.expire_cursors()
        if not sim.is_authorized(self.headers.get("Authorization")):
            self._answer(entry, 401, {"error": {"msg": "Unauthorized: check the account email and API key"}})
            return
        if fault == "500":
            self._answer(entry, 500, {"error": {"msg": "Internal server error"}})
            return
        capacity = sim.bucket.capacity if sim.bucket else 40
        if fault == "429":
            allowed, used, retry_after = False, capacity, sim.faults.retry_after_seconds
        elif sim.bucket:
            allowed, used, retry_after = sim.bucket.take()
        else:
            allowed, used, retry_after = True, 1, 0
        limit_header = {"X-Gorgias-Account-Api-Call-Limit": f"{used}/{capacity}"}
        if not allowed:
            self._answer(entry, 429, {"error": {"msg": "Too many requests"}},
                         {**limit_header, "Retry-after": str(retry_after)})
            return
        listing = self._listing(split.path)
        if listing is None:
            self._answer(entry, 404, {"error": {"msg": f"Not found: {split.path}"}}, limit_header)
            return
        if listing == "messages" and params.get("ticket_id"):
            listing = f"messages:{params['ticket_id']}"
        status, body = sim.page(listing, params, self.path)
        self._answer(entry, status, body, limit_header)

    def do_POST(self) -> None:  # noqa: N802 - the base class' name
        entry = self.simulator._register(urlsplit(self.path).path, {})
        self._answer(entry, 405, {"error": {"msg": "The simulator is read-only"}})

    @staticmethod
    def _listing(path: str) -> str | None:
        parts = [p for p in path.split("/") if p]
        if parts == ["api", "tickets"]:
            return "tickets"
        if parts == ["api", "messages"]:
            return "messages"
        if len(parts) == 4 and parts[:2] == ["api", "tickets"] and parts[3] == "messages":
            return f"messages:{parts[2]}"
        return None

    def _answer(self, entry: LoggedRequest, status: int, body: dict[str, Any] | bytes,
                headers: dict[str, str] | None = None) -> None:
        entry.status = status
        payload = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else Path(__file__).resolve().parents[2] / "samples" / "gorgias"
    simulator = GorgiasSimulator.from_dir(folder)
    url = simulator.start()
    print(f"Gorgias simulator on {url} ({len(simulator.tickets)} tickets, {len(simulator.messages)} messages); "
          f"Basic auth {DEMO_EMAIL}:{DEMO_API_KEY}. Ctrl-C to stop.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        simulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
