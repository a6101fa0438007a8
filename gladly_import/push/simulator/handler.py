"""The simulator's HTTP side: one thread per connection, the rate limit, the faults, the routes."""

from __future__ import annotations

import json
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from gladly_import.push.simulator.profiles import PROFILES_PATH
from gladly_import.push.simulator.rules import ITEMS_PATH, MAX_REQUEST_BYTES, error, validate_item

if TYPE_CHECKING:
    from gladly_import.push.simulator.server import GladlySimulator, LoggedRequest

class Handler(BaseHTTPRequestHandler):
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

    def do_PATCH(self) -> None:  # noqa: N802 - the base class' name
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        sim = self.simulator
        path = urlsplit(self.path).path
        self._query = parse_qs(urlsplit(self.path).query)
        self._headers_out: dict[str, str] = {}
        payload, too_large = self._read_body()
        body: Any = None
        if payload:
            try:
                body = json.loads(payload)
            except ValueError:
                body = ValueError
        item_id = None
        if method == "POST" and path == ITEMS_PATH and isinstance(body, dict) and isinstance(body.get("id"), str):
            item_id = body["id"]
        elif path.startswith(ITEMS_PATH + "/"):
            item_id = unquote(path[len(ITEMS_PATH) + 1:])
        entry = sim._register(method, path, item_id)
        entry.target = self.path
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

    def _dropped_or_slowed(self, entry: LoggedRequest) -> bool:
        """Play a connection fault: True when the connection was dropped (nothing more to answer)."""
        if entry.fault == "drop":
            self._drop(entry)
            return True
        if entry.fault == "slow":
            time.sleep(self.simulator.faults.slow_seconds)
        return False

    def _answer_request(self, entry: LoggedRequest, method: str, path: str, body: Any, too_large: bool) -> None:
        sim = self.simulator
        fault = entry.fault
        if self._dropped_or_slowed(entry):
            return
        if not sim.is_authorized(self.headers.get("Authorization")):
            self._answer(entry, 401, {"errors": [{"code": "unauthorized", "detail": "valid API credentials are required"}]})
            return
        limit = sim.rate_limit or 0
        if fault == "429":
            admitted, remaining = False, 0
        elif sim.window is not None:
            admitted, admitted_in_window, _ = sim.window.take()
            remaining = max(0, limit - admitted_in_window) if admitted else 0
            if admitted:
                entry.admitted_at = time.monotonic()
        else:
            admitted, remaining, entry.admitted_at = True, 0, time.monotonic()
        limit_headers = {"Ratelimit-Limit-Second": str(limit), "Ratelimit-Remaining-Second": str(remaining)} if limit else {}
        if not admitted:
            self._answer(entry, 429, {"errors": [{"code": "rate_limited", "detail": "too many requests"}]}, limit_headers)
            return
        if entry.fault is None:
            sim._item_fault(entry)
            fault = entry.fault
            if self._dropped_or_slowed(entry):
                return
        if delay := sim.method_latency.get(method, sim.latency):
            time.sleep(delay)
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
        self._answer(entry, status, answer, {**limit_headers, **self._headers_out})

    def _route(self, method: str, path: str, body: Any, too_large: bool,
               entry: LoggedRequest) -> tuple[int | None, Any]:
        sim = self.simulator
        if path == PROFILES_PATH or path.startswith(PROFILES_PATH + "/"):
            if too_large:
                return 413, {"errors": [{"code": "too_long", "detail": "request body too large"}]}
            status, answer, self._headers_out = sim.profile_store.route(
                method, unquote(path), self._query, None if body is ValueError else body)
            return status, answer
        if path == ITEMS_PATH and method == "POST":
            if too_large:
                return 413, {"errors": [{"code": "too_long", "detail": "request body too large"}]}
            if (self.headers.get("Content-Type") or "").split(";")[0].strip().lower() != "application/json":
                return 400, {"errors": [error(None, "invalid", "Content-Type must be application/json")]}
            if body is ValueError or body is None:
                return 400, {"errors": [error(None, "invalid", "the request body is not valid JSON")]}
            errors = validate_item(body, sim.now())
            if errors:
                return 400, {"errors": errors}
            if entry.fault == "400":
                return 400, {"errors": [error("customer.emailAddress", "invalid",
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


