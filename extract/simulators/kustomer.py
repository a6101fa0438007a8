"""A local Kustomer REST API: the JSON:API shapes, paging, searches, caps, bearer key and rate limit of the real one.

Serves, on 127.0.0.1 (port 0 = a free port):

- ``POST /v1/customers/search?page=N&pageSize=M`` and ``POST /v1/customers/archive/search``: the
  body ``{"queryContext": "message", "and": [{"message_created_at": {"gte"|"gt"|"lt"|"lte": ISO}}...],
  "sort": [{"message_created_at": "asc"|"desc"}]}``. The standard search holds the messages whose
  ``updatedAt`` is within 2 years of ``now``, the archive search the others (Kustomer's split).
- ``GET /v1/messages?page=N&pageSize=M`` (M at most 100), in file order.
- ``GET /v1/customers/{id}``: ``{data: customer}``, 404 with a JSON:API error for an unknown id.

Every listing answers ``{meta:{page,pageSize,total,totalPages}, links:{self,first,prev,next},
data:[...]}`` and stops after ``query_cap`` records (10,000, like Kustomer) *silently*: past the
cap a page is empty with ``links.next: null`` while ``meta.total`` keeps the full count.

Every request needs ``Authorization: Bearer <api_key>`` (else 401). With ``rate_limit``, each
``window_seconds`` window allows that many requests; every answer carries ``x-ratelimit-limit``,
``x-ratelimit-remaining`` and ``x-ratelimit-reset`` (epoch seconds), over it the answer is 429.
``latency`` delays every answer (real APIs take 100-500 ms); ``request_times`` records when each
request arrived (monotonic seconds), to measure the rate from the server's side. ``Faults``
injects 500s, bare 429s, slow answers, dropped connections and malformed (truncated) pages.

The data is a folder with ``messages.jsonl`` and ``customers.jsonl``: one JSON:API resource per
line (``samples/kustomer/``, or ``bench/generate_kustomer.py`` at scale). Lines are indexed by byte
offset and read on demand, so millions of messages take a few tens of megabytes of memory.

Run it by hand: ``KUSTOMER_API_KEY=demo python -m extract.simulators.kustomer samples/kustomer --port 8089``.
"""

from __future__ import annotations

import argparse
import bisect
import hmac
import json
import math
import os
import socket
import threading
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO, Self
from urllib.parse import parse_qs, unquote, urlsplit

MAX_PAGE_SIZE = 100
QUERY_CAP = 10_000
ARCHIVE_AFTER_SECONDS = 2 * 365 * 86400  # standard search: updated within the past 2 years
MAX_BODY = 1 << 20
SEARCH_PATHS = {"/v1/customers/search": "search", "/v1/customers/archive/search": "archive"}


@dataclass
class Faults:
    """Faults to inject; request numbers count every request the simulator receives, from 1."""

    status_on_request: dict[int, int] = field(default_factory=dict)  # n -> status (429: bare, no headers)
    throttle_requests: set[int] = field(default_factory=set)         # n -> 429 with the rate-limit headers
    drop_requests: set[int] = field(default_factory=set)             # n -> connection closed, no answer
    slow_requests: dict[int, float] = field(default_factory=dict)    # n -> seconds before answering
    malformed_pages: dict[int, int] = field(default_factory=dict)    # page (of any listing) -> times truncated
    delay: float = 0.0                                               # seconds added to every answer


class MessageStore:
    """The simulator's data: messages by position, customers by id, read from JSON Lines on demand."""

    def __init__(self, data_dir: Path, now: float | None = None) -> None:
        self.messages_path = data_dir / "messages.jsonl"
        self.customers_path = data_dir / "customers.jsonl"
        self._message_offsets = array("q")
        self._customer_offsets: dict[str, int] = {}
        self._lock = threading.Lock()
        cutoff = ((time.time() if now is None else now) - ARCHIVE_AFTER_SECONDS) * 1000
        keyed: dict[str, list[tuple[int, int]]] = {"search": [], "archive": []}
        with open(self.messages_path, "rb") as f:
            offset = 0
            for line in f:
                if line.strip():
                    position = len(self._message_offsets)
                    self._message_offsets.append(offset)
                    attributes = _attributes(line)
                    created = _millis(attributes.get("createdAt"))
                    updated = _millis(attributes.get("updatedAt"))
                    side = "archive" if updated is not None and updated < cutoff else "search"
                    keyed[side].append((created if created is not None else -1, position))
                offset += len(line)
        # per search: (createdAt ms, file position) sorted, as two flat arrays for bisect
        self.index: dict[str, tuple[array, array]] = {}
        for side, pairs in keyed.items():
            pairs.sort()
            self.index[side] = (array("q", (c for c, _ in pairs)), array("q", (p for _, p in pairs)))
        with open(self.customers_path, "rb") as f:
            offset = 0
            for line in f:
                if line.strip():
                    self._customer_offsets[str(json.loads(line)["id"])] = offset
                offset += len(line)
        self._messages: BinaryIO = open(self.messages_path, "rb")  # noqa: SIM115 (closed in close())
        self._customers: BinaryIO = open(self.customers_path, "rb")  # noqa: SIM115

    @property
    def message_count(self) -> int:
        return len(self._message_offsets)

    def message_lines(self, start: int, stop: int) -> list[bytes]:
        return self.lines_at(range(start, min(stop, len(self._message_offsets))))

    def lines_at(self, positions: Any) -> list[bytes]:
        with self._lock:
            lines = []
            for position in positions:
                offset = self._message_offsets[position]
                self._messages.seek(offset)
                lines.append(self._messages.readline().rstrip(b"\r\n"))
            return lines

    def customer_line(self, customer_id: str) -> bytes | None:
        offset = self._customer_offsets.get(customer_id)
        if offset is None:
            return None
        with self._lock:
            self._customers.seek(offset)
            return self._customers.readline().rstrip(b"\r\n")

    def close(self) -> None:
        self._messages.close()
        self._customers.close()


class KustomerSimulator:
    """The simulator as a context manager: ``with KustomerSimulator(dir, api_key=k) as sim: sim.base_url``."""

    def __init__(self, data_dir: str | Path, *, api_key: str, rate_limit: int | None = None,
                 window_seconds: float = 60.0, faults: Faults | None = None,
                 forbidden_prefixes: tuple[str, ...] = (),
                 forbidden_kinds: tuple[str, ...] = (), query_cap: int | None = QUERY_CAP,
                 latency: float = 0.0, now: float | None = None, port: int = 0) -> None:
        self.store = MessageStore(Path(data_dir), now)
        self._api_key = api_key
        self.rate_limit = rate_limit
        self.window_seconds = window_seconds
        self.faults = faults or Faults()
        self.latency = latency
        self.forbidden_prefixes = forbidden_prefixes
        self.forbidden_kinds = forbidden_kinds  # e.g. ("customer",): a key without that permission
        self.query_cap = query_cap  # records one query (listing or search) returns at most; None: no cap
        self.requests = 0
        self.by_kind: Counter[str] = Counter()   # "messages", "search", "archive", "customer", "other"
        self.by_status: Counter[int] = Counter()
        self.log: list[tuple[str, int]] = []     # (path, status) of every answered request
        self.request_times = array("d")          # monotonic arrival time of every request
        self.searches: list[dict[str, Any]] = []  # the body of every search
        self._malformed_left = dict(self.faults.malformed_pages)
        self._lock = threading.Lock()
        self._window_start = time.time()
        self._window_count = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="kustomer-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self.store.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling ---------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "KustomerSimulator/1.0"

            def setup(self) -> None:
                super().setup()
                # headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms each
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:
                simulator._handle(self)

            def do_POST(self) -> None:
                simulator._handle(self)

            def log_message(self, *args: Any) -> None:
                pass  # quiet: tests and `make import` read stderr

        return Handler

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        payload = b""
        length = request.headers.get("Content-Length", "0")
        if length.isdigit() and 0 < int(length) <= MAX_BODY:
            payload = request.rfile.read(int(length))
        with self._lock:
            self.requests += 1
            number = self.requests
            self.request_times.append(time.monotonic())
        parts = urlsplit(request.path)
        kind = "messages" if parts.path == "/v1/messages" else SEARCH_PATHS.get(parts.path) or (
            "customer" if parts.path.startswith("/v1/customers/") else "other")
        with self._lock:
            self.by_kind[kind] += 1
        faults = self.faults
        if number in faults.drop_requests:
            request.close_connection = True
            return
        delay = self.latency + faults.delay + faults.slow_requests.get(number, 0.0)
        if delay:
            time.sleep(delay)
        status, body, headers = self._answer(number, kind, request.command, parts.path, parts.query, payload,
                                             request.headers.get("Authorization"))
        with self._lock:
            self.by_status[status] += 1
            self.log.append((request.path, status))
        try:
            request.send_response(status)
            for name, value in headers.items():
                request.send_header(name, value)
            request.send_header("Content-Type", "application/json; charset=utf-8")
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            request.close_connection = True

    def _answer(self, number: int, kind: str, method: str, path: str, query: str, payload: bytes,
                authorization: str | None) -> tuple[int, bytes, dict]:
        if not self._authorized(authorization):
            return 401, _error(401, "auth_invalid_key", "Unauthorized: invalid or missing API key"), {}
        injected = self.faults.status_on_request.get(number)
        if injected == 429:
            return 429, b"", {}
        headers = self._rate_headers()
        if number in self.faults.throttle_requests:
            headers = {"x-ratelimit-limit": str(self.rate_limit or 1000), "x-ratelimit-remaining": "0",
                       "x-ratelimit-reset": str(math.ceil(time.time() + 1))}
            return 429, _error(429, "rate_limited", "Too Many Requests"), headers
        if headers.get("x-ratelimit-remaining") == "-1":
            headers["x-ratelimit-remaining"] = "0"
            return 429, _error(429, "rate_limited", "Too Many Requests"), headers
        if injected:
            return injected, _error(injected, "injected", "Injected failure"), headers
        if kind in self.forbidden_kinds or any(path.startswith(prefix) for prefix in self.forbidden_prefixes):
            return 403, _error(403, "forbidden", "Forbidden: the key lacks a permission"), headers
        if path in SEARCH_PATHS:
            if method != "POST":
                return 405, _error(405, "method_not_allowed", "Searches are POST"), headers
            return self._search_page(SEARCH_PATHS[path], path, query, payload, headers)
        if method != "GET":
            return 405, _error(405, "method_not_allowed", f"{method} {path}"), headers
        if path == "/v1/messages":
            return self._messages_page(query, headers)
        if path.startswith("/v1/customers/") and path.count("/") == 3:
            line = self.store.customer_line(unquote(path.rsplit("/", 1)[1]))
            if line is None:
                return 404, _error(404, "not_found", "Customer not found"), headers
            return 200, b'{"data":' + line + b"}", headers
        return 404, _error(404, "not_found", f"No route {path}"), headers

    def _authorized(self, authorization: str | None) -> bool:
        expected = f"Bearer {self._api_key}".encode()
        return authorization is not None and hmac.compare_digest(authorization.encode(), expected)

    def _rate_headers(self) -> dict[str, str]:
        """Count this request in the current window; remaining -1 means over the limit."""
        if self.rate_limit is None:
            return {}
        with self._lock:
            now = time.time()
            if now >= self._window_start + self.window_seconds:
                self._window_start = now
                self._window_count = 0
            self._window_count += 1
            remaining = self.rate_limit - self._window_count
            reset = math.ceil(self._window_start + self.window_seconds)
        return {"x-ratelimit-limit": str(self.rate_limit), "x-ratelimit-remaining": str(max(remaining, -1)),
                "x-ratelimit-reset": str(reset)}

    def _paging(self, query: str) -> tuple[int, int] | str:
        params = parse_qs(query)
        try:
            page = int(params.get("page", ["1"])[0])
            size = int(params.get("pageSize", [str(MAX_PAGE_SIZE)])[0])
        except ValueError:
            return "page and pageSize must be numbers"
        if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
            return f"page >= 1 and 1 <= pageSize <= {MAX_PAGE_SIZE}"
        return page, size

    def _envelope(self, base: str, page: int, size: int, total: int, lines: list[bytes],
                  headers: dict[str, str]) -> tuple[int, bytes, dict]:
        """A JSON:API page of ``total`` results; past ``query_cap`` an empty page with no next link."""
        reachable = total if self.query_cap is None else min(total, self.query_cap)
        last_page = max(math.ceil(reachable / size), 1)
        sep = "&" if "?" in base else "?"

        def link(n: int) -> str:
            return f"{base}{sep}page={n}&pageSize={size}"

        envelope = {
            "meta": {"page": page, "pageSize": size, "total": total, "totalPages": math.ceil(total / size)},
            "links": {"self": link(page), "first": link(1), "prev": link(page - 1) if page > 1 else None,
                      "next": link(page + 1) if page < last_page else None},
        }
        head = json.dumps(envelope, separators=(",", ":"))[:-1].encode()
        body = head + b',"data":[' + b",".join(lines) + b"]}"
        with self._lock:
            if self._malformed_left.get(page, 0) > 0:
                self._malformed_left[page] -= 1
                body = body[: len(body) // 2]
        return 200, body, headers

    def _window(self, page: int, size: int, total: int) -> range:
        """The result positions of one page, never past the cap."""
        reachable = total if self.query_cap is None else min(total, self.query_cap)
        return range(min((page - 1) * size, reachable), min(page * size, reachable))

    def _messages_page(self, query: str, headers: dict[str, str]) -> tuple[int, bytes, dict]:
        paging = self._paging(query)
        if isinstance(paging, str):
            return 400, _error(400, "bad_request", paging), headers
        page, size = paging
        total = self.store.message_count
        window = self._window(page, size, total)
        return self._envelope("/v1/messages", page, size, total, self.store.lines_at(window), headers)

    def _search_page(self, side: str, path: str, query: str, payload: bytes,
                     headers: dict[str, str]) -> tuple[int, bytes, dict]:
        paging = self._paging(query)
        if isinstance(paging, str):
            return 400, _error(400, "bad_request", paging), headers
        page, size = paging
        try:
            search = json.loads(payload)
            low, high, descending = _criteria(search)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            return 400, _error(400, "bad_request", f"invalid search: {error}"), headers
        with self._lock:
            self.searches.append(search)
        created, positions = self.store.index[side]
        start = bisect.bisect_left(created, low) if low is not None else bisect.bisect_left(created, 0)
        stop = bisect.bisect_left(created, high) if high is not None else len(created)
        stop = max(stop, start)
        total = stop - start
        window = self._window(page, size, total)
        if descending:
            picked = [positions[stop - 1 - i] for i in window]
        else:
            picked = [positions[start + i] for i in window]
        return self._envelope(path, page, size, total, self.store.lines_at(picked), headers)


def _attributes(line: bytes) -> dict[str, Any]:
    try:
        resource = json.loads(line)
    except ValueError:
        return {}
    attributes = resource.get("attributes") if isinstance(resource, dict) else None
    return attributes if isinstance(attributes, dict) else {}


def _millis(value: Any) -> int | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000 + (0.5 if parsed.microsecond % 1000 else 0))


def _criteria(search: dict[str, Any]) -> tuple[int | None, int | None, bool]:
    """[low, high) in createdAt milliseconds, and whether sorted descending, from a message search body."""
    if search.get("queryContext") != "message":
        raise ValueError("queryContext must be 'message'")
    low = high = None
    for criterion in search.get("and", []):
        for field_name, ops in criterion.items():
            if field_name != "message_created_at":
                raise ValueError(f"unsupported criterion {field_name}")
            for op, value in ops.items():
                millis = _millis(value)
                if millis is None:
                    raise ValueError(f"{op}: not a date: {value!r}")
                bound = {"gte": millis, "gt": millis + 1, "lt": millis, "lte": millis + 1}[op]
                if op in ("gte", "gt"):
                    low = bound if low is None else max(low, bound)
                else:
                    high = bound if high is None else min(high, bound)
    sort = search.get("sort") or [{"message_created_at": "asc"}]
    order = sort[0].get("message_created_at", "asc")
    if order not in ("asc", "desc"):
        raise ValueError("sort must be asc or desc")
    return low, high, order == "desc"


def _error(status: int, code: str, title: str) -> bytes:
    return json.dumps({"errors": [{"status": status, "code": code, "title": title}]}).encode()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a local Kustomer API from JSON Lines data.")
    parser.add_argument("data_dir", help="folder with messages.jsonl and customers.jsonl")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per window (default: none)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    args = parser.parse_args(argv)
    key = os.environ.get("KUSTOMER_API_KEY")
    if not key:
        parser.error("set KUSTOMER_API_KEY: the simulator accepts that key")
    with KustomerSimulator(args.data_dir, api_key=key, rate_limit=args.rate_limit, latency=args.latency,
                           port=args.port) as sim:
        print(f"Kustomer simulator at {sim.base_url} ({sim.store.message_count:,} messages); Ctrl-C stops it", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
