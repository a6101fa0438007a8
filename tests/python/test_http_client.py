"""The shared HTTP client of the API extractors, against a scripted server on 127.0.0.1.

Sleeps are recorded, not slept: each test checks how long the client would have waited.
"""

from __future__ import annotations

import gzip
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from extract.errors import AuthError, ExtractError
from extract.http_client import (
    BasicAuth,
    BearerAuth,
    HttpClient,
    HttpStatusError,
    MalformedResponseError,
    RetriesExhaustedError,
    parse_reset,
    parse_retry_after,
)

SECRET = "sk-live-Zx9qW2e7!secret"


class ScriptedServer:
    """Answers each request with the next scripted action; once the script is done, 200 {"ok": n}."""

    def __init__(self) -> None:
        self.script: list[dict[str, Any]] = []
        self.seen: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server.seen.append({"path": self.path, "headers": dict(self.headers)})
                action = server.script.pop(0) if server.script else {}
                if action.get("drop"):
                    self.close_connection = True
                    return
                time.sleep(action.get("delay", 0))
                body = action.get("raw")
                if body is None:
                    body = json.dumps(action.get("json", {"ok": len(server.seen)})).encode()
                if action.get("gzip"):
                    body = gzip.compress(body)
                self.send_response(action.get("status", 200))
                for name, value in action.get("headers", {}).items():
                    self.send_header(name, value)
                if action.get("gzip"):
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeTime:
    """A clock that only moves when the client sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.wall = 1_700_000_000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.wall += seconds


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    yield s
    s.close()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def make_client(server: ScriptedServer, fake_time: FakeTime, **kwargs: Any) -> HttpClient:
    options: dict[str, Any] = {
        "service": "Kustomer", "credential_hint": "the API key in KUSTOMER_API_KEY",
        "sleep": fake_time.sleep, "clock": lambda: fake_time.now, "wall_clock": lambda: fake_time.wall,
        "backoff_base": 1.0, "backoff_max": 60.0, "max_retries": 4, "timeout": 5.0,
    }
    options.update(kwargs)
    return HttpClient(server.base_url, BearerAuth(SECRET), **options)


def test_sends_the_bearer_key_and_decodes_json(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.script = [{"json": {"data": [1, 2]}}]
    client = make_client(server, fake_time)
    assert client.get_json("/v1/messages", {"page": 1, "pageSize": 100}) == {"data": [1, 2]}
    assert server.seen[0]["path"] == "/v1/messages?page=1&pageSize=100"
    assert server.seen[0]["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert (client.stats.requests, client.stats.retries) == (1, 0)


def test_retries_5xx_with_exponential_backoff(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.script = [{"status": 500}, {"status": 503}, {"status": 502}, {"json": {"fine": True}}]
    client = make_client(server, fake_time)
    assert client.get_json("/v1/x") == {"fine": True}
    assert (client.stats.requests, client.stats.retries, client.stats.server_errors) == (4, 3, 3)
    # jittered in [0.5, 1] of 1, 2, 4 seconds
    assert [0.5 <= s <= 1 for s in fake_time.sleeps[:1]] == [True]
    assert 1 <= fake_time.sleeps[1] <= 2 and 2 <= fake_time.sleeps[2] <= 4


def test_bare_429_without_headers_backs_off_and_retries(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.script = [{"status": 429, "raw": b""}, {"json": {"ok": 1}}]
    client = make_client(server, fake_time)
    assert client.get_json("/v1/x") == {"ok": 1}
    assert client.stats.throttled == 1 and client.stats.retries == 1
    assert 0.5 <= fake_time.sleeps[0] <= 1.0


def test_429_honours_retry_after_seconds(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.script = [{"status": 429, "headers": {"Retry-After": "7"}}, {}]
    client = make_client(server, fake_time)
    client.get_json("/api/tickets")
    assert 7.0 <= fake_time.sleeps[0] <= 7.2


def test_429_honours_ratelimit_reset_epoch_seconds(server: ScriptedServer, fake_time: FakeTime) -> None:
    reset = int(fake_time.wall) + 42
    server.script = [{"status": 429, "headers": {"x-ratelimit-limit": "300", "x-ratelimit-remaining": "0",
                                                 "x-ratelimit-reset": str(reset)}}, {}]
    client = make_client(server, fake_time)
    client.get_json("/v1/messages")
    assert 42.0 <= fake_time.sleeps[0] <= 42.2


def test_reset_header_in_milliseconds_or_as_a_delta_is_tolerated() -> None:
    wall = 1_700_000_000.0
    assert parse_reset(str(int((wall + 30) * 1000)), wall) == pytest.approx(30)
    assert parse_reset("12", wall) == 12
    assert parse_reset(str(int(wall) + 5), wall) == 5
    assert parse_reset("soon", wall) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", wall) == 0.0
    assert parse_retry_after("3", wall) == 3.0


def test_remaining_zero_holds_the_next_request_until_reset(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.script = [{"headers": {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(fake_time.wall) + 20)}},
                     {}]
    client = make_client(server, fake_time)
    client.get_json("/v1/a")
    assert fake_time.sleeps == []
    client.get_json("/v1/b")
    assert fake_time.sleeps == [pytest.approx(20, abs=0.01)]
    assert client.stats.retries == 0 and client.stats.throttled == 0


def test_requests_per_minute_budget_spaces_requests(server: ScriptedServer, fake_time: FakeTime) -> None:
    client = make_client(server, fake_time, requests_per_minute=120)
    for _ in range(4):
        client.get_json("/v1/x")
    assert fake_time.sleeps == [pytest.approx(0.5)] * 3


def test_dropped_connection_is_retried(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.script = [{"drop": True}, {"json": {"after": "drop"}}]
    client = make_client(server, fake_time)
    assert client.get_json("/v1/x") == {"after": "drop"}
    assert client.stats.connection_errors == 1 and client.stats.retries == 1


def test_timeout_is_retried(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.script = [{"delay": 1.0}, {"json": {"after": "timeout"}}]
    client = make_client(server, fake_time, timeout=0.2)
    assert client.get_json("/v1/x") == {"after": "timeout"}
    assert client.stats.connection_errors == 1


def test_refused_connection_is_retried_then_gives_up(fake_time: FakeTime) -> None:
    client = HttpClient("http://127.0.0.1:9", BearerAuth(SECRET), service="Kustomer", max_retries=2,
                        sleep=fake_time.sleep, clock=lambda: fake_time.now, wall_clock=lambda: fake_time.wall)
    with pytest.raises(RetriesExhaustedError) as raised:
        client.get_json("/v1/x")
    assert "after 3 attempt(s)" in str(raised.value)
    assert client.stats.requests == 3


def test_malformed_json_is_retried_then_reported(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.script = [{"raw": b'{"data": [1, 2'}, {"json": {"data": [1, 2]}}]
    client = make_client(server, fake_time)
    assert client.get_json("/v1/x") == {"data": [1, 2]}
    server.script = [{"raw": b"<html>oops"}] * 5
    with pytest.raises(MalformedResponseError):
        client.get_json("/v1/x")
    assert client.stats.malformed == 4  # 1 + malformed_retries (2) + 1


def test_retries_exhausted_on_persistent_5xx(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.script = [{"status": 500}] * 10
    client = make_client(server, fake_time, max_retries=3)
    with pytest.raises(RetriesExhaustedError) as raised:
        client.get_json("/v1/x")
    assert "HTTP 500" in str(raised.value)
    assert client.stats.requests == 4


def test_401_is_a_clear_auth_error_without_the_secret(server: ScriptedServer, fake_time: FakeTime) -> None:
    echo = json.dumps({"errors": [{"status": 401, "title": f"Invalid key {SECRET}"}]}).encode()
    server.script = [{"status": 401, "raw": echo}]
    client = make_client(server, fake_time)
    with pytest.raises(AuthError) as raised:
        client.get_json("/v1/messages")
    message = str(raised.value)
    assert "KUSTOMER_API_KEY" in message and "HTTP 401" in message
    assert SECRET not in message and "***" in message
    assert client.stats.requests == 1  # never retried
    assert isinstance(raised.value, ExtractError)


def test_403_names_the_missing_permission(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.script = [{"status": 403, "json": {"errors": [{"title": "Forbidden"}]}}]
    client = make_client(server, fake_time, permission_hint=lambda p: "org.permission.customer.read"
                         if p.startswith("/v1/customers") else None)
    with pytest.raises(AuthError) as raised:
        client.get_json("/v1/customers/5f1a")
    assert "org.permission.customer.read" in str(raised.value) and raised.value.status == 403


def test_404_is_not_retried(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.script = [{"status": 404, "json": {"errors": [{"title": "Not Found"}]}}]
    client = make_client(server, fake_time)
    with pytest.raises(HttpStatusError) as raised:
        client.get_json("/v1/customers/gone")
    assert raised.value.status == 404 and client.stats.requests == 1


def test_links_to_another_host_are_refused(server: ScriptedServer, fake_time: FakeTime) -> None:
    client = make_client(server, fake_time)
    with pytest.raises(ExtractError, match="another host"):
        client.get_json("https://evil.example.com/v1/messages?page=2")
    assert server.seen == []
    client.get_json(f"{server.base_url}/v1/messages?page=2")  # same origin, full URL: fine
    client.get_json("/v1/messages?page=3&pageSize=100", {"extra": "x y"})
    assert [s["path"] for s in server.seen] == ["/v1/messages?page=2", "/v1/messages?page=3&pageSize=100&extra=x+y"]


def test_relative_links_resolve_below_a_base_path(server: ScriptedServer, fake_time: FakeTime) -> None:
    client = HttpClient(server.base_url + "/api", None, sleep=fake_time.sleep)
    client.get_json("tickets", {"limit": 100})
    client.get_json("/api/messages")
    assert [s["path"] for s in server.seen] == ["/api/tickets?limit=100", "/api/messages"]


def test_basic_auth_header_and_redaction(server: ScriptedServer, fake_time: FakeTime) -> None:
    client = HttpClient(server.base_url, BasicAuth("ops@shop.com", SECRET), sleep=fake_time.sleep)
    client.get_json("/api/tickets")
    header = server.seen[0]["headers"]["Authorization"]
    assert header.startswith("Basic ")
    assert SECRET not in client.redact(f"{SECRET} {header}") and "ops@shop.com" not in repr(client.auth)


def test_gzip_bodies_are_decoded(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.script = [{"json": {"zipped": "yes"}, "gzip": True}]
    assert make_client(server, fake_time).get_json("/v1/x") == {"zipped": "yes"}


def test_the_rate_shown_counts_the_requests_of_the_last_minute() -> None:
    from extract.http_client import RequestStats

    stats = RequestStats()
    for second in range(0, 120, 2):
        stats.note_request(float(second))
    assert stats.rate_text(now=120.0) == "30 requests/min"


def test_a_young_clients_burst_is_told_as_it_is_not_extrapolated_to_a_minute() -> None:
    from extract.http_client import RequestStats

    stats = RequestStats()
    assert stats.rate_text(now=5.0) == "0 requests"
    for moment in (10.0, 10.2, 10.5, 11.0):
        stats.note_request(moment)
    assert stats.rate_text(now=11.0) == "4 requests in 1s"  # not "240 requests/min"
    stats.note_request(69.0)
    assert stats.rate_text(now=70.5) == "3 requests/min"  # over a minute old: the last 60 s hold 10.5, 11.0, 69.0


def test_429s_have_their_own_retry_budget(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.script = [{"status": 429, "headers": {"Retry-After": "1"}}] * 6 + [{"json": {"finally": 1}}]
    client = make_client(server, fake_time, max_retries=2, max_throttle_retries=6)
    assert client.get_json("/v1/x") == {"finally": 1}  # 6 throttles > max_retries, within their own budget
    server.script = [{"status": 429, "headers": {"Retry-After": "1"}}] * 10
    with pytest.raises(RetriesExhaustedError, match="HTTP 429"):
        client.get_json("/v1/x")


def test_deflate_bodies_zlib_wrapped_or_raw_are_decoded(server: ScriptedServer, fake_time: FakeTime) -> None:
    import zlib

    body = json.dumps({"deflated": True}).encode()
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    for encoded in (zlib.compress(body), raw.compress(body) + raw.flush()):
        server.script = [{"raw": encoded, "headers": {"Content-Encoding": "deflate"}}]
        assert make_client(server, fake_time).get_json("/v1/x") == {"deflated": True}


def test_a_host_that_does_not_resolve_gives_up_in_seconds_each_retry_in_a_line(
        fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """No DNS query leaves the machine: the resolver answers "no such name" as glibc does (EAI_NONAME)."""
    real = socket.getaddrinfo
    host = "no-such-org.api.kustomerapp.test"

    def resolve(name: Any, *args: Any, **kwargs: Any) -> Any:
        if name == host:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    client = HttpClient(f"https://{host}", BearerAuth(SECRET), service="Kustomer", sleep=fake_time.sleep,
                        clock=lambda: fake_time.now, wall_clock=lambda: fake_time.wall)  # the default budgets
    with caplog.at_level(logging.WARNING, logger="extract.api"), pytest.raises(RetriesExhaustedError) as raised:
        client.get_json("/v1/customers")
    assert str(raised.value).startswith("Kustomer: GET /v1/customers failed after 4 attempt(s) in ")
    assert str(raised.value).endswith(f"last: the host {host} does not resolve (Name or service not known):"
                                      " check the base_url and this machine's network")
    retries = [r.getMessage() for r in caplog.records if r.name == "extract.api"]
    assert [line.split("; ")[-1].split(" in ")[0] for line in retries] == ["retry 1", "retry 2", "retry 3"]
    assert sum(fake_time.sleeps) < 8  # jittered 1 + 2 + 4 s at most, not minutes
