"""A local Kustomer REST API: the JSON:API shapes, paging, searches, caps, limits and key of the real one.

Serves, on 127.0.0.1 (port 0 = a free port), through the simulators' harness (``harness.py``):

- ``POST /v1/customers/search?page=N&pageSize=M`` and ``POST /v1/customers/archive/search``: the
  body ``{"queryContext": "message", "and": [{"message_created_at": {"gte"|"gt"|"lt"|"lte": ISO}}...],
  "sort": [{"message_created_at": "asc"|"desc"}]}``. The standard search holds the messages whose
  ``updatedAt`` is within 2 years of ``now``, the archive search the others (Kustomer's split; with
  ``both_sides_seconds`` the messages updated that close to the line are in both). As Kustomer's
  reference says: ``pageSize`` up to 500; "a hard limit of 100 for the maximum number of pages" (page
  101 answers 400); the standard search sorts only on customer attributes, so a sort on a message
  attribute is ignored there (``sorted_searches``: the archive search honours it): its results come
  in a stable order that is not time order (a stride through the window: the same query, the same
  order). ``meta.total`` is at most ``total_cap`` (10,000, an Elasticsearch-style count; None: exact).
- ``GET /v1/messages?page=N&pageSize=M`` (M at most 100), in file order.
- ``GET /v1/customers/{id}``: ``{data: customer}``, 404 with a JSON:API error for an unknown id.

Every listing answers ``{meta:{page,pageSize,total,totalPages}, links:{self,first,prev,next},
data:[...]}`` and stops after ``query_cap`` records (10,000, like Kustomer) *silently*: past the
cap a page is empty with ``links.next: null``.

Limits: every request needs ``Authorization: Bearer <api_key>`` (else 401); ``forbidden_kinds`` makes
the key lack a permission (``("search", "archive")``: no search permission, 403 on both searches).
With ``rate_limit``, each ``window_seconds`` window allows that many requests of the org; every answer
carries ``x-ratelimit-limit``, ``x-ratelimit-remaining`` and ``x-ratelimit-reset`` (epoch seconds),
over it the answer is 429. Searches have their own budget on top, ``search_rate_limit`` in any
``search_window`` seconds (Kustomer: "Search requests by machine users (API keys): 100 per minute"):
over it a 429 without ``Retry-After`` whose headers still show the org's budget. ``latency`` delays
every answer; ``request_times`` records when each request arrived (monotonic seconds), to measure the
rate from the server's side. ``Faults`` injects 500s, bare 429s, slow answers, dropped connections
and malformed (truncated) pages.

The data is a folder with ``messages.jsonl`` and ``customers.jsonl``: one JSON:API resource per
line (``samples/kustomer/``, or ``bench/generate_kustomer.py`` at scale). Lines are indexed by byte
offset and read on demand, so millions of messages take a few tens of megabytes of memory.

Run it by hand: ``KUSTOMER_API_KEY=demo python -m extract.simulators.kustomer samples/kustomer --port 8089``.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import os
import threading
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote

from extract.simulators.harness import Answer, Fault, FixedWindow, Request, SimulatorServer, SlidingWindow, bearer_ok

MAX_PAGE_SIZE = 100         # GET /v1/messages
SEARCH_MAX_PAGE_SIZE = 500  # the searches
SEARCH_MAX_PAGES = 100      # Kustomer: "a hard limit of 100 for the maximum number of pages"
QUERY_CAP = 10_000
TOTAL_CAP = 10_000
SEARCH_RATE_LIMIT = 100     # searches by an API key per minute
ARCHIVE_AFTER_SECONDS = 2 * 365 * 86400  # standard search: updated within the past 2 years
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

    def __init__(self, data_dir: Path, now: float | None = None, both_sides_seconds: float = 0.0) -> None:
        self.messages_path = data_dir / "messages.jsonl"
        self.customers_path = data_dir / "customers.jsonl"
        self._message_offsets = array("q")
        self._customer_offsets: dict[str, int] = {}
        self._lock = threading.Lock()
        cutoff = ((time.time() if now is None else now) - ARCHIVE_AFTER_SECONDS) * 1000
        both = both_sides_seconds * 1000
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
                    key = (created if created is not None else -1, position)
                    if updated is not None and abs(updated - cutoff) < both:
                        keyed["archive"].append(key)
                        keyed["search"].append(key)
                    else:
                        keyed["archive" if updated is not None and updated < cutoff else "search"].append(key)
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


class KustomerSimulator(SimulatorServer):
    """The simulator as a context manager: ``with KustomerSimulator(dir, api_key=k) as sim: sim.base_url``."""

    name = "kustomer"
    server_version = "KustomerSimulator/1.0"

    def __init__(self, data_dir: str | Path, *, api_key: str, rate_limit: int | None = None,
                 window_seconds: float = 60.0, search_rate_limit: int | None = SEARCH_RATE_LIMIT,
                 search_window: float = 60.0, faults: Faults | None = None,
                 forbidden_prefixes: tuple[str, ...] = (), forbidden_kinds: tuple[str, ...] = (),
                 query_cap: int | None = QUERY_CAP, total_cap: int | None = TOTAL_CAP,
                 sorted_searches: tuple[str, ...] = ("archive",), both_sides_seconds: float = 0.0,
                 latency: float = 0.0, now: float | None = None, port: int = 0) -> None:
        super().__init__(latency=latency, port=port)
        self.store = MessageStore(Path(data_dir), now, both_sides_seconds)
        self._api_key = api_key
        self.rate_limit = rate_limit
        self.org = FixedWindow(rate_limit, window_seconds) if rate_limit else None
        self.search_budget = SlidingWindow(search_rate_limit, search_window) if search_rate_limit else None
        self.faults = faults or Faults()
        self.forbidden_prefixes = forbidden_prefixes
        self.forbidden_kinds = forbidden_kinds  # e.g. ("customer",): a key without that permission
        self.query_cap = query_cap  # records one query (listing or search) returns at most; None: no cap
        self.total_cap = total_cap  # the largest meta.total a search reports; None: exact
        self.sorted_searches = sorted_searches  # the searches that honour a sort on message_created_at
        self.by_kind: Counter[str] = Counter()   # "messages", "search", "archive", "customer", "other"
        self.searches: list[dict[str, Any]] = []  # the body of every search
        self._malformed_left = dict(self.faults.malformed_pages)
        self._lock = threading.Lock()

    @property
    def requests(self) -> int:
        return self.request_count

    @property
    def log(self) -> list[tuple[str, int]]:
        """(path and query, status) of every answered request."""
        return [(entry.target, entry.status) for entry in self.entries if entry.status]

    def search_times(self) -> list[float]:
        """Arrival times of every search request, standard or archive (what the search budget counts)."""
        return [entry.at for entry in self.entries if entry.path in SEARCH_PATHS]

    def closed(self) -> None:
        self.store.close()

    def fault_for(self, number: int) -> Fault | None:
        faults = self.faults
        if number in faults.drop_requests:
            return Fault("drop")
        if number in faults.slow_requests or faults.delay:
            return Fault("slow", faults.delay + faults.slow_requests.get(number, 0.0))
        return None

    # -- request handling ---------------------------------------------------------------------

    def answer(self, request: Request) -> Answer:
        path = request.path
        kind = "messages" if path == "/v1/messages" else SEARCH_PATHS.get(path) or (
            "customer" if path.startswith("/v1/customers/") else "other")
        with self._lock:
            self.by_kind[kind] += 1
        if not bearer_ok(request.headers.get("Authorization"), self._api_key):
            return _error(401, "auth_invalid_key", "Unauthorized: invalid or missing API key")
        number = request.entry.number
        injected = self.faults.status_on_request.get(number)
        if injected == 429:
            return Answer(429, b"")
        headers = self._org_headers(number)
        if headers.get("x-ratelimit-remaining") == "-1":
            headers["x-ratelimit-remaining"] = "0"
            return _error(429, "rate_limited", "Too Many Requests", headers)
        if injected:
            return _error(injected, "injected", "Injected failure", headers)
        if kind in self.forbidden_kinds or any(path.startswith(prefix) for prefix in self.forbidden_prefixes):
            return _error(403, "forbidden", "Forbidden: the key lacks a permission", headers)
        if path in SEARCH_PATHS:
            if request.method != "POST":
                return _error(405, "method_not_allowed", "Searches are POST", headers)
            if self.search_budget is not None and not self.search_budget.take()[0]:
                return _error(429, "rate_limited", "Too Many Requests: search requests by API keys", headers)
            return self._search_page(SEARCH_PATHS[path], path, request, headers)
        if request.method != "GET":
            return _error(405, "method_not_allowed", f"{request.method} {path}", headers)
        if path == "/v1/messages":
            return self._messages_page(request, headers)
        if path.startswith("/v1/customers/") and path.count("/") == 3:
            line = self.store.customer_line(unquote(path.rsplit("/", 1)[1]))
            if line is None:
                return _error(404, "not_found", "Customer not found", headers)
            return Answer(200, b'{"data":' + line + b"}", headers)
        return _error(404, "not_found", f"No route {path}", headers)

    def _org_headers(self, number: int) -> dict[str, str]:
        """Count this request in the org's window; remaining -1 means over the limit."""
        if number in self.faults.throttle_requests:
            return {"x-ratelimit-limit": str(self.rate_limit or 1000), "x-ratelimit-remaining": "-1",
                    "x-ratelimit-reset": str(math.ceil(time.time() + 1))}
        if self.org is None:
            return {}
        admitted, remaining, reset = self.org.take()
        return {"x-ratelimit-limit": str(self.rate_limit), "x-ratelimit-remaining": str(remaining if admitted else -1),
                "x-ratelimit-reset": str(reset)}

    def _paging(self, params: dict[str, str], max_size: int, max_pages: int | None) -> tuple[int, int] | str:
        try:
            page = int(params.get("page", "1"))
            size = int(params.get("pageSize", str(min(max_size, MAX_PAGE_SIZE))))
        except ValueError:
            return "page and pageSize must be numbers"
        if page < 1 or not 1 <= size <= max_size:
            return f"page >= 1 and 1 <= pageSize <= {max_size}"
        if max_pages is not None and page > max_pages:
            return f"page {page}: there is a hard limit of {max_pages} for the maximum number of pages"
        return page, size

    def _envelope(self, base: str, page: int, size: int, total: int, lines: list[bytes],
                  headers: dict[str, str], shown_total: int | None = None) -> Answer:
        """A JSON:API page of ``total`` results; past ``query_cap`` an empty page with no next link."""
        reachable = total if self.query_cap is None else min(total, self.query_cap)
        last_page = max(math.ceil(reachable / size), 1)
        shown = total if shown_total is None else shown_total

        def link(n: int) -> str:
            return f"{base}?page={n}&pageSize={size}"

        envelope = {
            "meta": {"page": page, "pageSize": size, "total": shown, "totalPages": math.ceil(shown / size)},
            "links": {"self": link(page), "first": link(1), "prev": link(page - 1) if page > 1 else None,
                      "next": link(page + 1) if page < last_page else None},
        }
        head = json.dumps(envelope, separators=(",", ":"))[:-1].encode()
        body = head + b',"data":[' + b",".join(lines) + b"]}"
        with self._lock:
            if self._malformed_left.get(page, 0) > 0:
                self._malformed_left[page] -= 1
                body = body[: len(body) // 2]
        return Answer(200, body, headers)

    def _window(self, page: int, size: int, total: int) -> range:
        """The result positions of one page, never past the cap."""
        reachable = total if self.query_cap is None else min(total, self.query_cap)
        return range(min((page - 1) * size, reachable), min(page * size, reachable))

    def _messages_page(self, request: Request, headers: dict[str, str]) -> Answer:
        paging = self._paging(request.params, MAX_PAGE_SIZE, None)
        if isinstance(paging, str):
            return _error(400, "bad_request", paging, headers)
        page, size = paging
        total = self.store.message_count
        window = self._window(page, size, total)
        return self._envelope("/v1/messages", page, size, total, self.store.lines_at(window), headers)

    def _search_page(self, side: str, path: str, request: Request, headers: dict[str, str]) -> Answer:
        paging = self._paging(request.params, SEARCH_MAX_PAGE_SIZE, SEARCH_MAX_PAGES)
        if isinstance(paging, str):
            return _error(400, "bad_request", paging, headers)
        page, size = paging
        try:
            search = json.loads(request.body)
            low, high, order = _criteria(search)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            return _error(400, "bad_request", f"invalid search: {error}", headers)
        with self._lock:
            self.searches.append(search)
        created, positions = self.store.index[side]
        start = bisect.bisect_left(created, low) if low is not None else bisect.bisect_left(created, 0)
        stop = bisect.bisect_left(created, high) if high is not None else len(created)
        stop = max(stop, start)
        total = stop - start
        window = self._window(page, size, total)
        if order == "desc" and side in self.sorted_searches:
            picked = [positions[stop - 1 - i] for i in window]
        elif order == "asc" and side in self.sorted_searches:
            picked = [positions[start + i] for i in window]
        else:  # no sort, or one this search ignores: a stable order that is not time order
            stride = _stride(total)
            picked = [positions[start + (i * stride) % total] for i in window]
        shown = total if self.total_cap is None else min(total, self.total_cap)
        return self._envelope(path, page, size, total, self.store.lines_at(picked), headers, shown)


def _stride(n: int) -> int:
    """A step coprime with ``n`` near 0.618 n: i -> i * step mod n visits every position once, out of order."""
    step = max(int(n * 0.618), 2) | 1
    while n > 2 and math.gcd(step, n) != 1:
        step += 2
    return step if n > 2 else 1


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


def _criteria(search: dict[str, Any]) -> tuple[int | None, int | None, str | None]:
    """[low, high) in createdAt milliseconds, and the sort asked on message_created_at, from a message search body."""
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
    sort = search.get("sort") or [{}]
    order = sort[0].get("message_created_at") if isinstance(sort, list) and isinstance(sort[0], dict) else None
    if order not in (None, "asc", "desc"):
        raise ValueError("sort must be asc or desc")
    return low, high, order


def _error(status: int, code: str, title: str, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, {"errors": [{"status": status, "code": code, "title": title}]}, headers or {})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a local Kustomer API from JSON Lines data.")
    parser.add_argument("data_dir", help="folder with messages.jsonl and customers.jsonl")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per window (default: none)")
    parser.add_argument("--search-rate-limit", type=int, default=SEARCH_RATE_LIMIT,
                        help=f"search requests in any 60 s (default {SEARCH_RATE_LIMIT}; 0: none)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    args = parser.parse_args(argv)
    key = os.environ.get("KUSTOMER_API_KEY")
    if not key:
        parser.error("set KUSTOMER_API_KEY: the simulator accepts that key")
    with KustomerSimulator(args.data_dir, api_key=key, rate_limit=args.rate_limit, latency=args.latency,
                           search_rate_limit=args.search_rate_limit or None, port=args.port) as sim:
        print(f"Kustomer simulator at {sim.base_url} ({sim.store.message_count:,} messages); Ctrl-C stops it", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
