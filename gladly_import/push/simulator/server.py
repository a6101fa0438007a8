"""The simulated organization: its state (items, faults, the request log) and its lifecycle on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from extract.simulators.harness import ServedLocally, SlidingWindow, max_in_any_window
from gladly_import.push.simulator.handler import Handler
from gladly_import.push.simulator.profiles import ProfileStore
from gladly_import.push.simulator.rules import DEMO_TOKEN, DEMO_USER, FAULT_KINDS, TAKEN, customer_id, rfc3339_ms


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
    target: str = ""  # the path with its query


class GladlySimulator(ServedLocally):
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
        method_latency: dict[str, float] | None = None,
    ) -> None:
        self._credentials = base64.b64encode(f"{user}:{token}".encode()).decode()
        self.rate_limit = rate_limit
        self.window = SlidingWindow(rate_limit, 1.0) if rate_limit else None
        self.latency = latency
        self.method_latency = method_latency or {}  # e.g. {"PATCH": 1.5}: a slower method, for the kill tests
        self.after_item: Any = None  # a test's hook, called with each created item (after its answer is made)
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
        self.profile_store = ProfileStore(self.now, self._persist)
        if store_path is not None and store_path.exists():
            self._load(store_path)

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (Handler,), {"simulator": self}))
        server.daemon_threads = True
        self._run_server(server, "gladly-simulator", 0.05)
        return self.base_url

    def stop(self) -> None:
        self._shut_down()

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
                else:
                    self.profile_store.load(record)

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
            email = body["customer"].get("emailAddress")
            content["receivedAt"] = rfc3339_ms(now)
            item = {
                "id": item_id,
                "customerId": self.profile_store.for_item(email) if email else customer_id(body["customer"]["mobilePhone"]),
                "timestamp": content.get("occurredAt") or content["receivedAt"],
                "initiator": {"id": "api-user", "type": "API"},
                "content": content,
                "customer": dict(body["customer"]),  # kept for the tests: Gladly keeps it on the profile
            }
            self.items[item_id] = item
            self.creations[item_id] += 1
            self._persist({"op": "create", "item": item})
        if self.after_item is not None:
            self.after_item(item)
        return 200, item

    @property
    def profiles(self) -> dict[str, dict[str, Any]]:
        """The customer profiles by id (merged ones gone)."""
        return self.profile_store.profiles

    def add_profile(self, **body: Any) -> str:
        """A customer Gladly already had (a test's): its id."""
        status, answer, new_id = self.profile_store.create(body)
        if new_id is None:
            raise ValueError(f"profile not created: {status} {answer}")
        return new_id

    def profile_of(self, email: str) -> dict[str, Any] | None:
        holder = self.profile_store.holder_of_email(email)
        return None if holder is None else self.profiles[holder]

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
        return max_in_any_window([e.admitted_at for e in self.log if e.admitted_at is not None], window)


