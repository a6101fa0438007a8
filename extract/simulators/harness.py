"""One harness for the local API simulators: what every simulated service does the same way.

A simulator (``extract/simulators/kustomer.py``, ``gorgias.py``) subclasses ``SimulatorServer`` and
writes ``answer(request) -> Answer``: its routes, shapes and rules. The harness gives it:

- **lifecycle**: ``start()`` (returns the simulator), ``stop()``, ``with Simulator(...) as sim``, and
  ``base_url`` (``http://127.0.0.1:<port>``; port 0 picks a free one); one thread per connection,
  HTTP/1.1 keep-alive, ``TCP_NODELAY`` (headers and body go out in two writes: without it Nagle and
  delayed ACKs add 40 ms to every answer);
- **a quiet handler**: nothing is ever printed (request lines carry credentials; tests and
  ``make import`` read stderr), nor a client that hangs up (a killed import) reported;
- **the auth check** helpers ``bearer_ok`` and ``basic_ok`` (constant-time comparisons);
- **the request log**: every request numbered from 1 in arrival order (``LoggedRequest``: method,
  path, query parameters, the target as sent, its monotonic arrival time and the status answered,
  0 when dropped without an answer), ``request_times``, ``by_status``, ``request_count``;
- **faults** by request number (``Faults``, or ``fault_for(number)``): ``drop`` (the connection closed without an
  answer), ``slow`` (``Fault.seconds`` more), ``hold`` (the answer waits until ``release()``: a test
  can kill a client mid-run); any other kind is the simulator's own, handed to ``answer`` in
  ``request.fault``;
- ``latency``: seconds every answer takes (real APIs take 100-500 ms);
- **rate limiter shapes** a simulator enforces as its service does: ``SlidingWindow`` (at most n
  admitted requests in any window: Kustomer's search budget), ``FixedWindow`` (n per window
  starting at its first request, with the epoch second it resets: Kustomer's org budget),
  ``LeakyBucket`` (a bucket of n requests draining in a window: Gorgias').
"""

from __future__ import annotations

import hmac
import json
import math
import socket
import sys
import threading
import time
from array import array
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, urlsplit

MAX_REQUEST_BODY = 1 << 20  # a request body larger than this is not read (simulated APIs take small JSON)
HOLD_SECONDS = 60.0         # a held request is answered after this long even if never released


@dataclass
class LoggedRequest:
    number: int
    path: str                         # without the query
    params: dict[str, str]            # the query's parameters (the last value of each)
    status: int | None = None         # None until answered; 0: dropped without an answer
    method: str = "GET"
    target: str = ""                  # path and query, as sent
    at: float = 0.0                   # monotonic arrival time


@dataclass
class Fault:
    kind: str              # "drop", "slow", "hold", or one of the simulator's own
    seconds: float = 0.0   # for "slow"


@dataclass
class Faults:
    """Faults to inject, keyed by the 1-based number of the request they hit; a simulator's subclass names
    the kinds it knows (``kinds``) beside the harness' own (drop, slow, hold)."""

    by_request: dict[int, str] = field(default_factory=dict)
    slow_seconds: float = 2.0
    retry_after_seconds: int = 1
    kinds: ClassVar[tuple[str, ...]] = ("drop", "slow", "hold")

    def __post_init__(self) -> None:
        unknown = sorted(set(self.by_request.values()) - set(self.kinds))
        if unknown:
            raise ValueError(f"unknown fault kind(s) {unknown}; use {self.kinds}")

    def fault(self, number: int) -> Fault | None:
        kind = self.by_request.get(number)
        return None if kind is None else Fault(kind, self.slow_seconds if kind == "slow" else 0.0)


@dataclass
class Request:
    entry: LoggedRequest
    headers: Any                      # the request's headers (case-insensitive lookups)
    body: bytes
    fault: Fault | None = None

    @property
    def method(self) -> str:
        return self.entry.method

    @property
    def path(self) -> str:
        return self.entry.path

    @property
    def params(self) -> dict[str, str]:
        return self.entry.params


@dataclass
class Answer:
    status: int
    body: bytes | dict[str, Any] | list[Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"  # e.g. text/plain: a 429 whose body is not JSON

    def payload(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


def bearer_ok(header: str | None, token: str) -> bool:
    return header is not None and hmac.compare_digest(header.encode(), f"Bearer {token}".encode())


def basic_ok(header: str | None, encoded: str) -> bool:
    """``Authorization: Basic <encoded>`` where ``encoded`` is base64 of ``user:password``."""
    if not header or not header.startswith("Basic "):
        return False
    return hmac.compare_digest(header[len("Basic "):].strip().encode(), encoded.encode())


# -- rate limiter shapes ------------------------------------------------------------------------


class SlidingWindow:
    """At most ``limit`` admitted requests in any ``window`` seconds; a refused one does not count."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self._clock = limit, window, clock
        self._admitted: deque[float] = deque()
        self._lock = threading.Lock()

    def take(self) -> tuple[bool, int, float]:
        """(admitted, admitted in the window so far, seconds until one more would be admitted)."""
        with self._lock:
            now = self._clock()
            while self._admitted and now - self._admitted[0] >= self.window:
                self._admitted.popleft()
            if len(self._admitted) >= self.limit:
                return False, len(self._admitted), self._admitted[0] + self.window - now
            self._admitted.append(now)
            return True, len(self._admitted), 0.0


class FixedWindow:
    """``limit`` requests per ``window`` seconds, the window starting at the first request after the last
    one ended (Kustomer's org budget, announced in ``x-ratelimit-*`` headers); a refused one counts too."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.time) -> None:
        self.limit, self.window, self._clock = limit, window, clock
        self._start = clock()
        self._count = 0
        self._lock = threading.Lock()

    def take(self) -> tuple[bool, int, int]:
        """(admitted, remaining, the epoch second the window resets)."""
        with self._lock:
            now = self._clock()
            if now >= self._start + self.window:
                self._start, self._count = now, 0
            self._count += 1
            remaining = self.limit - self._count
            return remaining >= 0, max(remaining, 0), math.ceil(self._start + self.window)


class LeakyBucket:
    """A bucket of ``capacity`` requests that drains fully in ``window`` seconds (Gorgias')."""

    def __init__(self, capacity: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity, self.window, self._clock = capacity, window, clock
        self.rate = capacity / window
        self.level = 0.0
        self.updated = clock()
        self._lock = threading.Lock()

    def take(self) -> tuple[bool, int, int]:
        """(admitted, requests in the bucket, whole seconds to wait when refused)."""
        with self._lock:
            now = self._clock()
            self.level = max(0.0, self.level - (now - self.updated) * self.rate)
            self.updated = now
            if self.level + 1 > self.capacity:
                wait = math.ceil((self.level + 1 - self.capacity) / self.rate)
                return False, math.ceil(self.level), max(1, wait)
            self.level += 1
            return True, math.ceil(self.level), 0


def serve_until_interrupted(start: Callable[[], str], stop: Callable[[], None], says: Callable[[str], str]) -> int:
    """Run a simulator by hand: ``start()`` (its base URL), print ``says(url)``, serve until Ctrl-C, ``stop()``."""
    url = start()
    print(f"{says(url)} Ctrl-C to stop.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stop()
    return 0


def max_in_any_window(times: list[float], window: float) -> int:
    """The most of ``times`` (seconds) that any ``window``-long span holds: what a server measures."""
    ordered = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


# -- the server ---------------------------------------------------------------------------------


class ServedLocally:
    """The lifecycle every simulator shares: a threaded HTTP server on 127.0.0.1, its URL, its end."""

    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def _run_server(self, server: ThreadingHTTPServer, name: str, poll_interval: float) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": poll_interval},
                                        name=name, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _shut_down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class SimulatorServer(ServedLocally):
    """A simulated API on 127.0.0.1 (see the module doc); subclasses write ``answer``."""

    name = "simulator"
    server_version = "Simulator/1.0"

    def __init__(self, *, latency: float = 0.0, port: int = 0) -> None:
        self.latency = latency
        self.entries: list[LoggedRequest] = []
        self.request_times = array("d")          # monotonic arrival time of every request: the rate, server side
        self.by_status: Counter[int] = Counter()
        self._log_lock = threading.Lock()
        self._released = threading.Event()
        self._port = port

    # -- what a simulator writes ----------------------------------------------------------------

    def answer(self, request: Request) -> Answer:
        raise NotImplementedError

    faults: Faults | None = None  # a simulator's faults by request number, if it takes them

    def fault_for(self, number: int) -> Fault | None:
        """The fault injected into request ``number`` (from 1), if any."""
        return self.faults.fault(number) if isinstance(self.faults, Faults) else None

    def closed(self) -> None:
        """Called once the server has stopped: release files and the like."""

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> Self:
        self._run_server(_QuietServer(("127.0.0.1", self._port), _handler(self)), f"{self.name}-simulator", 0.1)
        return self

    def release(self) -> None:
        """Let requests held by a ``hold`` fault be answered."""
        self._released.set()

    def stop(self) -> None:
        self.release()
        self._shut_down()
        self.closed()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the log -------------------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        return len(self.entries)

    def _register(self, method: str, target: str) -> LoggedRequest:
        split = urlsplit(target)
        params = {k: v[-1] for k, v in parse_qs(split.query).items()}
        with self._log_lock:
            entry = LoggedRequest(len(self.entries) + 1, split.path, params, None, method, target, time.monotonic())
            self.entries.append(entry)
            self.request_times.append(entry.at)
        return entry

    def _answered(self, entry: LoggedRequest, status: int) -> None:
        with self._log_lock:
            entry.status = status
            self.by_status[status] += 1

    # -- one request ----------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = handler.headers.get("Content-Length", "0")
        body = b""
        if length.isdigit() and 0 < int(length) <= MAX_REQUEST_BODY:
            body = handler.rfile.read(int(length))
        entry = self._register(handler.command, handler.path)
        fault = self.fault_for(entry.number)
        if self.latency:
            time.sleep(self.latency)
        if fault is not None and fault.kind == "drop":
            self._answered(entry, 0)
            handler.close_connection = True
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "hold":
            self._released.wait(timeout=HOLD_SECONDS)
        answer = self.answer(Request(entry, handler.headers, body, fault))
        self._answered(entry, answer.status)
        payload = answer.payload()
        try:
            handler.send_response(answer.status)
            handler.send_header("Content-Type", answer.content_type)
            handler.send_header("Content-Length", str(len(payload)))
            for name, value in answer.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (killed, timed out) is no error of the simulator's: not reported."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def _handler(simulator: SimulatorServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = simulator.server_version

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:  # noqa: N802 - the base class' name
            simulator._serve(self)

        def do_POST(self) -> None:  # noqa: N802 - the base class' name
            simulator._serve(self)

        def do_PUT(self) -> None:  # noqa: N802 - the base class' name
            simulator._serve(self)

        def do_DELETE(self) -> None:  # noqa: N802 - the base class' name
            simulator._serve(self)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class' name
            """Silent: never echo requests (their headers carry credentials)."""

    return Handler
