"""A local Gladly REST API: the conversation-items endpoints the push uses, strict, with Gladly's limits and faults.

Run by the tests, the bench and the demo (``gladly: simulate: true``) on 127.0.0.1 over real HTTP.
What it serves, per Gladly's published OpenAPI (konfig-sdks/openapi-examples ``gladly/openapi.yaml``,
api-evangelist/gladly ``openapi/gladly-conversations-api-openapi.yml``):

- ``POST /api/v1/conversation-items``: creates a ``CUSTOMER_ACTIVITY`` on the timeline of the customer
  given by ``customer.emailAddress`` (or ``mobilePhone``; exactly one). The body is validated the way the
  OpenAPI describes it: ``id`` optional, URL safe, at most 50 characters; ``content.type`` must be
  ``CUSTOMER_ACTIVITY`` (the only type the push sends); ``activityType`` one of EMAIL, ISSUE, SMS, SURVEY
  (required); ``title`` <= 100, ``body`` <= 25,000, ``sourceName`` <= 50 characters (Unicode code
  points, as JSON Schema's ``maxLength`` counts); ``occurredAt`` RFC 3339 with milliseconds and no
  older than one year (365 days). A bad body answers 400 ``{"errors":[{"attr","code","detail"}]}``
  listing every problem, with Gladly's codes (``blank``, ``invalid``, ``too_long``). An ``id`` already
  used answers 409 with Gladly's body ``{"errors":[{"attr":"newConversationItems","code":"taken",
  "detail":"conversation item already exists"}]}``. Success answers 200 with the created item.
- ``GET /api/v1/conversation-items/{id}``: the item, or 404 ``not_exist``.
- ``DELETE /api/v1/conversation-items/{id}``: 204, or 404 (the push's undo).
- HTTP Basic (the API user's email and token): 401 without it.
- Gladly's rate limit: 10 requests per second per organization. Enforced as "at most ``rate_limit``
  admitted requests in any 1-second window" (stricter than a fixed per-second counter, so a client
  that passes here passes there); a request over it answers 429. Every answer carries
  ``Ratelimit-Limit-Second`` and ``Ratelimit-Remaining-Second``; there is no ``Retry-After`` (Gladly
  documents none). A 429 does not use up the window.
- ``latency``: seconds every admitted request takes before it is answered (requests are served
  concurrently, one thread per connection).

Where the OpenAPI is silent the simulator is stricter than Gladly is likely to be, and says so in its
answer: it refuses unknown body fields and a malformed email address, and Gladly's exact 401/429
bodies and its one-year rule's exact wording are not published (``detail`` texts here are its own).

Faults, for the tests: ``Faults.by_request`` keyed by the 1-based number of the request, and
``Faults.by_item`` keyed by item id (a list: the first POST of that id gets the first fault, the
next POST the next, ...). Kinds: ``500`` (answered before anything is created), ``500_after_create``
(the item IS created, then 500: a retry must answer 409), ``drop`` (the connection is closed without
an answer, nothing created), ``drop_after_create`` (created, then the connection is closed), ``429``
(throttled whatever the window says), ``400`` (refused with a Gladly-shaped error on the email), and
``slow`` (``slow_seconds`` more).

``store_path``: a JSON-lines file the created and deleted items are appended to and reloaded from, so
the demo's simulated Gladly remembers what an earlier push created (a re-send answers 409 as the real
one does). Without it the items live in memory only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

DEMO_USER = "api-user@demo.example"
DEMO_TOKEN = "demo-gladly-api-token"  # the simulator's default when run by hand; not a real account's
ITEMS_PATH = "/api/v1/conversation-items"
ACTIVITY_TYPES = ("EMAIL", "ISSUE", "SMS", "SURVEY")
MAX_ID_CHARS = 50
MAX_TITLE_CHARS = 100
MAX_BODY_CHARS = 25_000
MAX_SOURCE_NAME_CHARS = 50
MAX_LINK_TEXT_CHARS = 50
WINDOW = timedelta(days=365)
MAX_REQUEST_BYTES = 1_000_000
FAULT_KINDS = ("500", "500_after_create", "drop", "drop_after_create", "429", "400", "slow")
TAKEN = {"errors": [{"attr": "newConversationItems", "code": "taken", "detail": "conversation item already exists"}]}
URL_SAFE_ID = re.compile(r"[A-Za-z0-9._~-]+")
RFC3339_MILLIS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
TOP_LEVEL_FIELDS = {"id", "customer", "content"}
CUSTOMER_FIELDS = {"emailAddress", "mobilePhone"}
CONTENT_FIELDS = {"type", "activityType", "title", "body", "sourceName", "occurredAt", "link", "expandByDefault"}


@dataclass
class Faults:
    """Faults to inject: by request number (any method) and by item id (its POSTs, in order)."""

    by_request: dict[int, str] = field(default_factory=dict)
    by_item: dict[str, list[str]] = field(default_factory=dict)
    slow_seconds: float = 2.0

    def __post_init__(self) -> None:
        kinds = set(self.by_request.values()) | {k for ks in self.by_item.values() for k in ks}
        unknown = sorted(kinds - set(FAULT_KINDS))
        if unknown:
            raise ValueError(f"unknown fault kind(s) {unknown}; use {FAULT_KINDS}")


@dataclass
class LoggedRequest:
    number: int
    method: str
    path: str
    item_id: str | None
    status: int | None = None   # 0: the connection was dropped without an answer
    fault: str | None = None
    admitted_at: float | None = None  # monotonic time it passed the rate limit


class SlidingWindow:
    """At most ``limit`` admitted requests in any ``window`` seconds."""

    def __init__(self, limit: int, window: float = 1.0) -> None:
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def take(self) -> tuple[bool, int, float]:
        """(admitted, remaining in the window, monotonic time)."""
        with self._lock:
            now = time.monotonic()
            while self._times and now - self._times[0] >= self.window:
                self._times.popleft()
            if len(self._times) >= self.limit:
                return False, 0, now
            self._times.append(now)
            return True, self.limit - len(self._times), now


def _error(attr: str | None, code: str, detail: str) -> dict[str, str]:
    return {"attr": attr, "code": code, "detail": detail} if attr else {"code": code, "detail": detail}


def _check_text(errors: list[dict[str, str]], value: Any, attr: str, limit: int, required: bool = False) -> None:
    if value is None:
        if required:
            errors.append(_error(attr, "blank", f"{attr} cannot be blank"))
        return
    if not isinstance(value, str):
        errors.append(_error(attr, "invalid", f"{attr} must be a string"))
    elif len(value) > limit:
        errors.append(_error(attr, "too_long", f"{attr} cannot be longer than {limit} characters"))
    elif required and not value.strip():
        errors.append(_error(attr, "blank", f"{attr} cannot be blank"))


def _unknown_fields(errors: list[dict[str, str]], block: dict[str, Any], allowed: set[str], where: str) -> None:
    for name in sorted(set(block) - allowed):
        errors.append(_error(f"{where}{name}", "invalid", f"unknown field {where}{name} (the simulator is strict)"))


def parse_rfc3339(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def validate_item(body: Any, now: datetime) -> list[dict[str, str]]:
    """Gladly's rules for a customer-activity item to create; [] when it is acceptable."""
    if not isinstance(body, dict):
        return [_error(None, "invalid", "the request body must be a JSON object")]
    errors: list[dict[str, str]] = []
    _unknown_fields(errors, body, TOP_LEVEL_FIELDS, "")
    item_id = body.get("id")
    if item_id is not None:
        if not isinstance(item_id, str) or not item_id:
            errors.append(_error("id", "invalid", "id must be a non-empty string"))
        elif len(item_id) > MAX_ID_CHARS:
            errors.append(_error("id", "too_long", f"id cannot be longer than {MAX_ID_CHARS} characters"))
        elif not URL_SAFE_ID.fullmatch(item_id):
            errors.append(_error("id", "invalid", "id must be URL safe"))

    customer = body.get("customer")
    if not isinstance(customer, dict):
        errors.append(_error("customer", "blank", "customer cannot be blank"))
    else:
        _unknown_fields(errors, customer, CUSTOMER_FIELDS, "customer.")
        given = [k for k in ("emailAddress", "mobilePhone") if customer.get(k) not in (None, "")]
        if len(given) != 1:
            errors.append(_error("customer", "blank" if not given else "invalid",
                                 "exactly one of emailAddress, mobilePhone must be present"))
        email = customer.get("emailAddress")
        if email not in (None, "") and (not isinstance(email, str) or not EMAIL.fullmatch(email)):
            errors.append(_error("customer.emailAddress", "invalid", "emailAddress is not a valid email address"))

    content = body.get("content")
    if not isinstance(content, dict):
        errors.append(_error("content", "blank", "content cannot be blank"))
        return errors
    _unknown_fields(errors, content, CONTENT_FIELDS, "content.")
    kind = content.get("type")
    if kind in (None, ""):
        errors.append(_error("content.type", "blank", "content.type cannot be blank"))
    elif kind != "CUSTOMER_ACTIVITY":
        errors.append(_error("content.type", "invalid", f"type [{kind}] is not supported by the simulator"))
    activity = content.get("activityType")
    if activity in (None, ""):
        errors.append(_error("content.activityType", "blank", "content.activityType cannot be blank"))
    elif activity not in ACTIVITY_TYPES:
        errors.append(_error("content.activityType", "invalid", f"activityType must be one of {', '.join(ACTIVITY_TYPES)}"))
    _check_text(errors, content.get("title"), "content.title", MAX_TITLE_CHARS)
    _check_text(errors, content.get("body"), "content.body", MAX_BODY_CHARS)
    _check_text(errors, content.get("sourceName"), "content.sourceName", MAX_SOURCE_NAME_CHARS)
    occurred = content.get("occurredAt")
    if occurred is not None:
        parsed = parse_rfc3339(occurred) if isinstance(occurred, str) and RFC3339_MILLIS.fullmatch(occurred) else None
        if parsed is None:
            errors.append(_error("content.occurredAt", "invalid", "occurredAt must be RFC 3339 with milliseconds"))
        elif parsed < now - WINDOW:
            errors.append(_error("content.occurredAt", "invalid", "occurredAt cannot be older than 1 year"))
    link = content.get("link")
    if link is not None:
        if not isinstance(link, dict) or not isinstance(link.get("url"), str):
            errors.append(_error("content.link", "invalid", "link must be an object with a url"))
        else:
            _check_text(errors, link.get("text"), "content.link.text", MAX_LINK_TEXT_CHARS)
    if content.get("expandByDefault") is not None and not isinstance(content["expandByDefault"], bool):
        errors.append(_error("content.expandByDefault", "invalid", "expandByDefault must be a boolean"))
    return errors


def customer_id(identifier: str) -> str:
    """A stable Gladly-like customer id (22 URL-safe characters) for an email address or phone."""
    digest = hashlib.sha256(identifier.lower().encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _rfc3339_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class GladlySimulator:
    """The simulated organization. ``start()`` returns its base URL; ``stop()`` ends it."""

    def __init__(
        self,
        *,
        user: str = DEMO_USER,
        token: str = DEMO_TOKEN,
        rate_limit: int | None = 10,
        latency: float = 0.0,
        faults: Faults | None = None,
        today: datetime | None = None,
        store_path: Path | None = None,
    ) -> None:
        self._credentials = base64.b64encode(f"{user}:{token}".encode()).decode()
        self.rate_limit = rate_limit
        self.window = SlidingWindow(rate_limit) if rate_limit else None
        self.latency = latency
        self.faults = faults or Faults()
        self.store_path = store_path
        # "today" for the one-year rule: a fixed date for the demo (time still runs from it)
        self._today = today.astimezone(UTC) if today and today.tzinfo else (today.replace(tzinfo=UTC) if today else None)
        self._started = time.time()
        self.items: dict[str, dict[str, Any]] = {}
        self.creations: Counter[str] = Counter()  # item id -> times created (deleted and re-created counts twice)
        self.log: list[LoggedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._item_posts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        if store_path is not None and store_path.exists():
            self._load(store_path)

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> str:
        handler = type("Handler", (_Handler,), {"simulator": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="gladly-simulator", daemon=True)
        self._thread.start()
        return self.base_url

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> GladlySimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state ---------------------------------------------------------------

    def now(self) -> datetime:
        if self._today is None:
            return datetime.now(UTC)
        return self._today + timedelta(seconds=time.time() - self._started)

    def _load(self, path: Path) -> None:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a line cut by a kill: that write never completed
                if record.get("op") == "create":
                    self.items[record["item"]["id"]] = record["item"]
                    self.creations[record["item"]["id"]] += 1
                elif record.get("op") == "delete":
                    self.items.pop(record.get("id"), None)

    def _persist(self, record: dict[str, Any]) -> None:
        if self.store_path is None:
            return
        self.store_path.parent.mkdir(parents=True, exist_ok=True)
        with self.store_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    def create(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(200, the created item) or (409, Gladly's taken error); the body is already valid."""
        content = dict(body["content"])
        now = self.now()
        with self._lock:
            item_id = body.get("id") or base64.urlsafe_b64encode(hashlib.sha256(
                f"{now.isoformat()}{len(self.items)}".encode()).digest()[:16]).decode().rstrip("=")
            if item_id in self.items:
                return 409, TAKEN
            contact = body["customer"].get("emailAddress") or body["customer"].get("mobilePhone")
            content["receivedAt"] = _rfc3339_ms(now)
            item = {
                "id": item_id,
                "customerId": customer_id(contact),
                "timestamp": content.get("occurredAt") or content["receivedAt"],
                "initiator": {"id": "api-user", "type": "API"},
                "content": content,
                "customer": dict(body["customer"]),  # kept for the tests: Gladly keeps it on the profile
            }
            self.items[item_id] = item
            self.creations[item_id] += 1
            self._persist({"op": "create", "item": item})
        return 200, item

    def delete(self, item_id: str) -> bool:
        with self._lock:
            if self.items.pop(item_id, None) is None:
                return False
            self._persist({"op": "delete", "id": item_id})
            return True

    def _register(self, method: str, path: str, item_id: str | None) -> LoggedRequest:
        with self._lock:
            entry = LoggedRequest(number=len(self.log) + 1, method=method, path=path, item_id=item_id)
            self.log.append(entry)
            entry.fault = self.faults.by_request.get(entry.number)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return entry

    def _item_fault(self, entry: LoggedRequest) -> None:
        """The next planned fault of this item's POSTs, counting only the ones past the rate limit."""
        if entry.method != "POST" or entry.item_id is None or entry.fault is not None:
            return
        with self._lock:
            planned = self.faults.by_item.get(entry.item_id, [])
            attempt = self._item_posts[entry.item_id]
            self._item_posts[entry.item_id] += 1
            if attempt < len(planned):
                entry.fault = planned[attempt]

    def _done(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def is_authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        return hmac.compare_digest(header[len("Basic "):].strip().encode(), self._credentials.encode())

    # -- what the tests look at ----------------------------------------------

    def statuses(self) -> Counter[int | None]:
        return Counter(entry.status for entry in self.log)

    def max_admitted_in_any_window(self, window: float = 1.0) -> int:
        """The most requests admitted (past the rate limit) within any ``window`` seconds."""
        times = sorted(e.admitted_at for e in self.log if e.admitted_at is not None)
        best, start = 0, 0
        for end, moment in enumerate(times):
            while moment - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best


class _Handler(BaseHTTPRequestHandler):
    simulator: GladlySimulator
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class' name
        """Silent: never echo requests (their headers carry credentials)."""

    def do_POST(self) -> None:  # noqa: N802 - the base class' name
        self._handle("POST")

    def do_GET(self) -> None:  # noqa: N802 - the base class' name
        self._handle("GET")

    def do_DELETE(self) -> None:  # noqa: N802 - the base class' name
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        sim = self.simulator
        path = urlsplit(self.path).path
        payload, too_large = self._read_body()
        body: Any = None
        if payload:
            try:
                body = json.loads(payload)
            except ValueError:
                body = ValueError
        item_id = None
        if method == "POST" and isinstance(body, dict) and isinstance(body.get("id"), str):
            item_id = body["id"]
        elif path.startswith(ITEMS_PATH + "/"):
            item_id = unquote(path[len(ITEMS_PATH) + 1:])
        entry = sim._register(method, path, item_id)
        try:
            self._answer_request(entry, method, path, body, too_large)
        finally:
            sim._done()

    def _read_body(self) -> tuple[bytes, bool]:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > MAX_REQUEST_BYTES:
            self.close_connection = True
            return b"", True
        return (self.rfile.read(length) if length > 0 else b""), False

    def _answer_request(self, entry: LoggedRequest, method: str, path: str, body: Any, too_large: bool) -> None:
        sim = self.simulator
        fault = entry.fault
        if fault == "drop":
            self._drop(entry)
            return
        if fault == "slow":
            time.sleep(sim.faults.slow_seconds)
        if not sim.is_authorized(self.headers.get("Authorization")):
            self._answer(entry, 401, {"errors": [{"code": "unauthorized", "detail": "valid API credentials are required"}]})
            return
        limit = sim.rate_limit or 0
        if fault == "429":
            admitted, remaining = False, 0
        elif sim.window is not None:
            admitted, remaining, moment = sim.window.take()
            if admitted:
                entry.admitted_at = moment
        else:
            admitted, remaining, entry.admitted_at = True, 0, time.monotonic()
        limit_headers = {"Ratelimit-Limit-Second": str(limit), "Ratelimit-Remaining-Second": str(remaining)} if limit else {}
        if not admitted:
            self._answer(entry, 429, {"errors": [{"code": "rate_limited", "detail": "too many requests"}]}, limit_headers)
            return
        if entry.fault is None:
            sim._item_fault(entry)
            fault = entry.fault
            if fault == "drop":
                self._drop(entry)
                return
            if fault == "slow":
                time.sleep(sim.faults.slow_seconds)
        if sim.latency:
            time.sleep(sim.latency)
        if fault == "500":
            self._answer(entry, 500, {"errors": [{"code": "internal", "detail": "internal server error"}]}, limit_headers)
            return
        status, answer = self._route(method, path, body, too_large, entry)
        if status is None:
            return
        if fault == "500_after_create" and status == 200:
            status, answer = 500, {"errors": [{"code": "internal", "detail": "internal server error"}]}
        if fault == "drop_after_create" and method == "POST":
            self._drop(entry)
            return
        self._answer(entry, status, answer, limit_headers)

    def _route(self, method: str, path: str, body: Any, too_large: bool,
               entry: LoggedRequest) -> tuple[int | None, Any]:
        sim = self.simulator
        if path == ITEMS_PATH and method == "POST":
            if too_large:
                return 413, {"errors": [{"code": "too_long", "detail": "request body too large"}]}
            if (self.headers.get("Content-Type") or "").split(";")[0].strip().lower() != "application/json":
                return 400, {"errors": [_error(None, "invalid", "Content-Type must be application/json")]}
            if body is ValueError or body is None:
                return 400, {"errors": [_error(None, "invalid", "the request body is not valid JSON")]}
            errors = validate_item(body, sim.now())
            if errors:
                return 400, {"errors": errors}
            if entry.fault == "400":
                return 400, {"errors": [_error("customer.emailAddress", "invalid",
                                               "emailAddress is not a deliverable address")]}
            return sim.create(body)
        if path.startswith(ITEMS_PATH + "/") and entry.item_id and "/" not in entry.item_id:
            if method == "GET":
                item = sim.items.get(entry.item_id)
                return (200, item) if item else (404, {"errors": [{"code": "not_exist", "detail": "entity does not exist"}]})
            if method == "DELETE":
                return (204, None) if sim.delete(entry.item_id) else (
                    404, {"errors": [{"code": "not_exist", "detail": "entity does not exist"}]})
        if path == ITEMS_PATH or path.startswith(ITEMS_PATH + "/"):
            return 405, {"errors": [{"code": "invalid", "detail": f"{method} is not supported here"}]}
        return 404, {"errors": [{"code": "not_exist", "detail": f"no such resource {path}"}]}

    def _drop(self, entry: LoggedRequest) -> None:
        entry.status = 0
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _answer(self, entry: LoggedRequest, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        entry.status = status
        payload = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            if payload:
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
    store = Path(args[0]) if args else None
    simulator = GladlySimulator(store_path=store, latency=0.1)
    url = simulator.start()
    print(f"Gladly API simulator on {url} ({len(simulator.items)} items); Basic auth {DEMO_USER}:{DEMO_TOKEN}; "
          "10 requests a second. Ctrl-C to stop.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        simulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
