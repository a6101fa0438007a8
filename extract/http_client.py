"""The one HTTP client of the API sources (Kustomer, Gorgias, the Gladly push): JSON over HTTP(S),
standard library only, bounded in time and memory whatever the server does.

Usage::

    from extract.http_client import BearerAuth, HttpClient, RateLimiter

    limiter = RateLimiter([(1200, 60.0)])       # or [(10, 1.0)]: 10 in any 1 s window (Gladly)
    client = HttpClient(
        "https://acme.api.kustomerapp.com",
        BearerAuth(os.environ["KUSTOMER_API_KEY"]),     # or BasicAuth(email, api_key)
        service="Kustomer",
        credential_hint="the API key in KUSTOMER_API_KEY",
        permission_hint=lambda path: "org.permission.customer.read" if "/customers" in path else None,
        requests_per_minute=600,                 # optional budget of this client (ignored with limiter=)
        limiter=limiter,                         # optional: one limiter shared by several clients
        announced_limit=kustomer_limit,          # optional: headers -> (n, window s) the server allows
        budgets=[searches],                      # optional: shares of it some requests count against
    )
    page = client.get_json("/v1/messages", {"page": 1, "pageSize": 100})
    answer = client.request_json("POST", "/api/v1/items", body={...}, ok_statuses={400, 409})
    answer.status, answer.body, answer.headers   # 2xx and the listed statuses come back, parsed
    client.stats.requests, client.stats.retries, client.stats.rate_text()

One client may be used by several threads at once (a pool of workers): each thread has its own
connection, the counters are locked, and every request of every thread goes through the one
``RateLimiter``. POSTs are retried like GETs: a caller that must not create twice makes its
request idempotent (Gladly: the item id; a repeat answers 409, which it lists in ``ok_statuses``).

What it does for every request:

- **Links**: ``path_or_url`` is resolved like a browser resolves a link against ``base_url``
  (``/v1/x`` from the host root, ``tickets`` below the base path, a full URL as is). A link to
  another scheme/host/port is refused (``ExtractError``): the credential is only ever sent to
  ``base_url``'s host.
- **Rate** (``extract.rate_limits``): ``RateLimiter``: a configured budget spaces requests evenly;
  ``announced_limit(headers)`` (what the server says it allows, e.g. ``x-ratelimit-limit``) adds a
  sliding window of ``ANNOUNCED_SHARE`` of it (so clocks and network jitter never push it over);
  ``announced_bucket(headers)`` (``(used, capacity)`` of a leaky bucket, e.g. Gorgias') keeps a
  model of the server's bucket, its window learned among ``bucket_windows``. A request of one of
  the ``budgets`` (e.g. Kustomer's searches) takes a slot of that budget first, then of the client's.
  ``x-ratelimit-remaining: 0`` holds every thread until ``x-ratelimit-reset`` (epoch seconds;
  epoch milliseconds and a seconds delta are tolerated); a 429 holds every request of its budget
  (of the client, when the answer says the client's own budget is used up) for its wait.
- **Retries**: 408 and 5xx, timeouts, refused/reset/dropped connections (``max_retries`` times); a
  host name that does not resolve (a typo in ``base_url``, or no DNS) ``UNRESOLVED_RETRIES`` times
  only, a few seconds, not minutes;
  a 2xx body that is not JSON (``malformed_retries`` times); 429 (``max_throttle_retries`` times,
  waiting ``Retry-After`` (seconds or HTTP date), else ``x-ratelimit-reset``, else the backoff
  ``backoff_base * 2**n`` capped at ``backoff_max`` times a random factor in [0.5, 1]). All the
  attempts and waits of one request fit in ``retry_seconds``; a server that asks for a wait
  longer than ``max_wait`` (``Retry-After: 1e9``, a reset days away) stops the request at once
  with ``RateLimitedError``: a clear line instead of a run that stalls. Each retry is logged in
  one line on ``logging.getLogger("extract.api")``: the service, method, path, reason and wait.
- **Bounds**: each attempt has an overall ``deadline`` (connect, headers, body), enforced by a
  watchdog that shuts the socket: a server trickling a byte every 20 s cannot hold it longer.
  The body is read in chunks up to ``max_body_bytes``, gzip/deflate decoded as it streams, up to
  ``max_body_bytes`` decoded: past either, ``ResponseTooLargeError``. JSON nested deeper than
  ``max_json_depth`` is malformed (never a ``RecursionError``).
- **Errors**, all ``extract.errors.ExtractError`` with a one-line message that never holds a secret:
  a credential that cannot be a header value (line break, control or non-Latin-1 character) is
  refused when the client is made; ``AuthError`` at once on 401/403 (says which credential, or
  which permission via ``permission_hint(path)``); ``HttpStatusError`` (``.status``, ``.body``) on
  any other 4xx not in ``ok_statuses``; ``RetriesExhaustedError`` when retries run out;
  ``MalformedResponseError`` (a subclass of it) when the last failure was a body that is not JSON.
- **Counting**: ``stats`` (``RequestStats``) counts requests sent, retries, 429s, waits, and the
  rate of the last minute.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import json
import logging
import random
import re
import socket
import ssl
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import urlencode, urljoin, urlsplit

from extract.context import duration
from extract.errors import AuthError, ExtractError
from extract.rate_limits import ANNOUNCED_SHARE, Budget, RateLimiter, RateWindow, TooLongAWait

__all__ = ["ANNOUNCED_SHARE", "BasicAuth", "BearerAuth", "Budget", "HttpClient", "HttpStatusError", "JsonResponse",
           "MalformedResponseError", "RateLimitedError", "RateLimiter", "ResponseTooLargeError",
           "RetriesExhaustedError"]

LOG = logging.getLogger("extract.api")
USER_AGENT = "gladly-historical-import/0.1 (+python http.client)"
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# A name that does not resolve is rarely fixed by waiting: a few retries ride out a resolver's hiccup.
UNRESOLVED_RETRIES = 3
CONNECTION_ERRORS = (TimeoutError, socket.timeout, ConnectionError, http.client.HTTPException, ssl.SSLError, OSError)
EPOCH_SECONDS_FLOOR = 1_000_000_000  # a reset header above this is an epoch, below it a delta
EPOCH_MILLIS_FLOOR = 100_000_000_000
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024  # a page of 100 records weighs well under 10 MB
DEFAULT_MAX_JSON_DEPTH = 64                # API objects nest fewer than 10 levels
READ_CHUNK = 64 * 1024
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class HttpStatusError(ExtractError):
    """A 4xx answer other than 401/403/408/429: not worth retrying (e.g. 404 for a deleted record)."""

    def __init__(self, message: str, status: int, path: str, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.path = path
        self.body = body


class RetriesExhaustedError(ExtractError):
    """Every attempt failed with a retryable problem (429, 5xx, timeout, dropped connection)."""


class MalformedResponseError(RetriesExhaustedError):
    """The server kept answering 2xx with a body that is not JSON (or nested beyond the limit)."""


class ResponseTooLargeError(MalformedResponseError):
    """The body, as sent or decoded, is larger than ``max_body_bytes``: it was not read to its end."""


class RateLimitedError(RetriesExhaustedError):
    """The server asks for a wait longer than the client's ``max_wait``."""


class _Failure(Exception):
    """One attempt failed in a way worth retrying; ``kind`` picks the retry budget, ``hold`` the
    limiter a 429 holds (every request of it waits, not only this one)."""

    def __init__(self, kind: str, reason: str, wait: float, server_asked: bool = False,
                 hold: RateLimiter | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.wait = wait
        self.server_asked = server_asked
        self.hold = hold


def _header_problem(value: str) -> str | None:
    """Why ``value`` cannot be sent in an HTTP header (http.client would echo it in its error)."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return "contains a line break or a control character"
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return "contains a character outside Latin-1 (often a pasted quote or space)"
    return None


class BearerAuth:
    """``Authorization: Bearer <token>`` (Kustomer, Gladly)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def secrets(self) -> tuple[str, ...]:
        return (self._token,)

    def problem(self) -> str | None:
        return _header_problem(self._token)

    def __repr__(self) -> str:
        return "BearerAuth(***)"


class BasicAuth:
    """HTTP Basic ``user:password`` (Gorgias: the account email and the API key)."""

    def __init__(self, user: str, password: str) -> None:
        self._user = user
        self._password = password

    def _encoded(self) -> str:
        return base64.b64encode(f"{self._user}:{self._password}".encode()).decode("ascii")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Basic {self._encoded()}"}

    def secrets(self) -> tuple[str, ...]:
        return (self._password, self._encoded())

    def problem(self) -> str | None:
        # base64 makes any text a valid header; a control character is still a pasting accident
        for value in (self._user, self._password):
            if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
                return "contains a line break or a control character"
        return None

    def __repr__(self) -> str:
        return "BasicAuth(***)"


@dataclass
class RequestStats:
    """What the client did: for tests (request counts) and progress (rate). Thread-safe."""

    retries: int = 0           # attempts after the first of a logical request
    throttled: int = 0         # 429 answers
    server_errors: int = 0     # 408 and 5xx answers
    connection_errors: int = 0  # timeouts, deadlines, dropped or refused connections
    malformed: int = 0         # 2xx bodies that were not JSON, too deep or too large
    waited_seconds: float = 0.0  # time slept for rate limits and backoff (summed over threads)
    by_status: Counter[int] = field(default_factory=Counter)
    sent: RateWindow = field(default_factory=RateWindow, repr=False)  # every attempt, as it leaves
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def requests(self) -> int:
        """HTTP requests sent (every attempt counts)."""
        return self.sent.requests

    def add(self, **counts: float) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def note_status(self, status: int) -> None:
        with self._lock:
            self.by_status[status] += 1

    def note_request(self, now: float) -> None:
        self.sent.note(now)


    def rate_text(self, now: float | None = None) -> str:
        """The achieved rate as a person reads it (``RateWindow.text``)."""
        return self.sent.text(now)


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    path: str

    def json(self, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> Any:
        return parse_json(self.body, max_depth)


@dataclass
class JsonResponse:
    """What ``request_json`` returns: the status, the parsed body (None if empty), the headers."""

    status: int
    body: Any
    headers: dict[str, str]


def json_depth(body: bytes) -> int:
    """How deep arrays and objects nest in a JSON text (brackets inside strings do not count)."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        if byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def parse_json(body: bytes, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that refuses nesting deeper than ``max_depth`` with a ValueError."""
    depth = json_depth(body)
    if depth > max_depth:
        raise ValueError(f"JSON nested {depth} levels deep, more than the {max_depth} accepted")
    try:
        return json.loads(body)
    except RecursionError:  # belt and braces: never let a parser recursion end the run
        raise ValueError("JSON nested too deep to parse") from None


def parse_retry_after(value: str | None, wall_now: float) -> float | None:
    """``Retry-After``: seconds, or an HTTP date. None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if seconds == seconds else None  # NaN is unreadable
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return max(when.timestamp() - wall_now, 0.0)


def parse_reset(value: str | None, wall_now: float) -> float | None:
    """Seconds until ``x-ratelimit-reset``: epoch seconds; epoch millis and a delta are tolerated."""
    if value is None or not value.strip():
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if number != number:
        return None
    if number >= EPOCH_MILLIS_FLOOR:
        return number / 1000.0 - wall_now
    if number >= EPOCH_SECONDS_FLOOR:
        return number - wall_now
    return number


class _Decoder:
    """Content-Encoding gzip/deflate decoded as the body streams in, never past ``limit`` bytes."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.parts: list[bytes] = []
        # gzip or zlib (auto-detected by wbits 32+15); raw deflate, which some servers send, on retry
        self._zlib = zlib.decompressobj(47) if encoding in ("gzip", "x-gzip", "deflate") else None
        self._deflate = encoding == "deflate"
        self._started = False

    def feed(self, data: bytes) -> None:
        if self._zlib is None:
            self._keep(data)
            return
        try:
            out = self._zlib.decompress(data, self.limit - self.size + 1)
        except zlib.error:
            if not (self._deflate and not self._started):
                raise
            self._zlib = zlib.decompressobj(-15)
            out = self._zlib.decompress(data, self.limit - self.size + 1)
        self._started = True
        self._keep(out)
        while self._zlib.unconsumed_tail:
            self._keep(self._zlib.decompress(self._zlib.unconsumed_tail, self.limit - self.size + 1))

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise _TooLarge("decoded")
        self.parts.append(data)

    def body(self) -> bytes:
        if self._zlib is not None:
            self._keep(self._zlib.flush())
        return b"".join(self.parts)


class _TooLarge(Exception):
    pass


class _Watchdog:
    """Shuts a connection's socket when an attempt's deadline passes (the socket timeout is per read)."""

    def __init__(self, conn: http.client.HTTPConnection, seconds: float) -> None:
        self.fired = False
        self._conn = conn
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        sock = self._conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cancel(self) -> None:
        self._timer.cancel()


class HttpClient:
    """JSON from and to one API, within its rate limit, retrying what is worth retrying (module doc)."""

    def __init__(
        self,
        base_url: str,
        auth: BearerAuth | BasicAuth | None,
        *,
        service: str = "the API",
        credential_hint: str = "the credential",
        permission_hint: Callable[[str], str | None] | None = None,
        requests_per_minute: float | None = None,
        limiter: RateLimiter | None = None,
        announced_limit: Callable[[Mapping[str, str]], tuple[float, float] | None] | None = None,
        announced_bucket: Callable[[Mapping[str, str]], tuple[float, float] | None] | None = None,
        bucket_windows: Sequence[float] = (),
        budgets: Sequence[Budget] = (),
        timeout: float = 60.0,
        deadline: float = 300.0,
        max_retries: int = 8,
        max_throttle_retries: int = 30,
        malformed_retries: int = 2,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        max_wait: float = 300.0,
        retry_seconds: float = 1800.0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_json_depth: int = DEFAULT_MAX_JSON_DEPTH,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ExtractError(f"{service}: base_url must be an http(s) URL, got '{base_url}'")
        problem = auth.problem() if auth is not None else None
        if problem:
            raise ExtractError(f"{service}: {credential_hint} {problem}, so it cannot be sent in an HTTP header;"
                               " set it again without it")
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._origin = (parts.scheme, parts.hostname.lower(), parts.port)
        self.auth = auth
        self.service = service
        self.credential_hint = credential_hint
        self.permission_hint = permission_hint
        self.limiter = limiter or RateLimiter.per_minute(requests_per_minute, clock=clock, sleep=sleep)
        self.announced_limit = announced_limit
        self.announced_bucket = announced_bucket
        self.bucket_windows = tuple(bucket_windows)
        self.budgets = tuple(budgets)
        self.learned: list[str] = []  # what the answers taught about the limits, in words
        self.timeout = timeout
        self.deadline = deadline
        self.max_retries = max_retries
        self.max_throttle_retries = max_throttle_retries
        self.malformed_retries = malformed_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_wait = max_wait
        self.retry_seconds = retry_seconds
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth
        self.stats = RequestStats()
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._local = threading.local()
        self._connections: set[http.client.HTTPConnection] = set()
        self._conn_lock = threading.Lock()

    # -- public -----------------------------------------------------------------------------

    def get_json(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET and decode JSON, retrying a body that is not JSON ``malformed_retries`` times."""
        return self._request("GET", path_or_url, params, None, want_json=True, ok_statuses=()).body

    def get(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> HttpResponse:
        """GET; a 2xx ``HttpResponse`` (the body not decoded)."""
        return self._request("GET", path_or_url, params, None, want_json=False, ok_statuses=())

    def request_json(self, method: str, path_or_url: str, *, body: Any = None,
                     params: Mapping[str, Any] | None = None, ok_statuses: Collection[int] = ()) -> JsonResponse:
        """Send ``body`` as JSON; a 2xx answer or one of ``ok_statuses`` comes back parsed (bounded).

        Other 4xx raise ``HttpStatusError`` (its ``.body`` parsed when it is JSON), 401/403 ``AuthError``.
        """
        payload = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        response = self._request(method.upper(), path_or_url, params, payload, want_json=True,
                                 ok_statuses=frozenset(ok_statuses))
        return response

    def redact(self, text: str) -> str:
        """``text`` with every secret of the credential replaced by ``***``."""
        for secret in self.auth.secrets() if self.auth else ():
            if secret:
                text = text.replace(secret, "***")
        return text

    def close(self) -> None:
        """Close every thread's connection."""
        with self._conn_lock:
            connections, self._connections = self._connections, set()
        for conn in connections:
            conn.close()
        self._local.__dict__.pop("conn", None)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one logical request ------------------------------------------------------------------

    def _request(self, method: str, path_or_url: str, params: Mapping[str, Any] | None, payload: bytes | None,
                 *, want_json: bool, ok_statuses: frozenset[int] | tuple[()]) -> Any:
        target = self._target(path_or_url, params)
        path = urlsplit(target).path
        what = f"{method} {path}"
        budget = next((b for b in self.budgets if b.applies(method, path)), None)
        limits = {"throttled": self.max_throttle_retries, "malformed": self.malformed_retries,
                  "failed": self.max_retries, "too_large": 0,  # a body too large stays too large
                  "unresolved": min(self.max_retries, UNRESOLVED_RETRIES)}
        used = dict.fromkeys(limits, 0)
        started = self._clock()
        attempt = 0
        while True:
            self._wait_for_slot(what, budget)
            try:
                return self._attempt(method, target, path, payload, want_json, ok_statuses, attempt, budget)
            except _Failure as failure:
                wait = failure.wait
                if failure.server_asked and wait > self.max_wait:
                    raise RateLimitedError(self.redact(
                        f"{self.service}: {what}: the server asks to wait {duration(wait)} ({failure.reason}),"
                        f" more than the {duration(self.max_wait)} this import waits; run again later")) from None
                spent = self._clock() - started
                out_of_time = spent + wait > self.retry_seconds
                if used[failure.kind] >= limits[failure.kind] or out_of_time:
                    error = {"malformed": MalformedResponseError, "too_large": ResponseTooLargeError}.get(
                        failure.kind, RetriesExhaustedError)
                    budget = f" (the {duration(self.retry_seconds)} allowed)" if out_of_time else ""
                    raise error(self.redact(
                        f"{self.service}: {what} failed after {attempt + 1} attempt(s) in {duration(spent)}"
                        f"{budget}; last: {failure.reason}")) from None
                used[failure.kind] += 1
                self.stats.add(retries=1)
                LOG.warning(self.redact(f"{self.service}: {what}: {failure.reason}; retry {attempt + 1}"
                                        f" in {duration(wait)}"))
                if failure.hold is not None:
                    failure.hold.throttled(wait)  # every request of that budget waits, not only this one
                else:
                    self._pause(wait)
                attempt += 1

    def _attempt(self, method: str, target: str, path: str, payload: bytes | None, want_json: bool,
                 ok_statuses: frozenset[int] | tuple[()], attempt: int, budget: Budget | None = None) -> Any:
        try:
            response = self._send(method, target, path, payload, budget)
        except _TooLarge as too_large:
            self._drop_connection()
            self.stats.add(malformed=1)
            raise _Failure("too_large", f"the {too_large} body is larger than {self.max_body_bytes:,} bytes",
                           0.0) from None
        except socket.gaierror as error:
            self._drop_connection()
            self.stats.add(connection_errors=1)
            host = self._origin[1]
            raise _Failure("unresolved", f"the host {host} does not resolve ({error.strerror or error}):"
                           " check the base_url and this machine's network", self._backoff(attempt)) from None
        except CONNECTION_ERRORS as error:
            self._drop_connection()
            self.stats.add(connection_errors=1)
            reason = f"{type(error).__name__}: {error}".strip(": ")
            raise _Failure("failed", reason, self._backoff(attempt)) from None
        status = response.status
        self.stats.note_status(status)
        self._note_rate_limit(response)
        if 200 <= status < 300 or status in ok_statuses:
            if not want_json:
                return response
            if not response.body.strip() and (status == 204 or status in ok_statuses or method != "GET"):
                return JsonResponse(status, None, response.headers)
            try:
                return JsonResponse(status, response.json(self.max_json_depth), response.headers)
            except ValueError as error:
                self.stats.add(malformed=1)
                raise _Failure("malformed", f"malformed JSON body ({_one_line(str(error))})",
                               self._backoff(attempt)) from None
        if status in (401, 403):
            raise AuthError(self._auth_message(status, method, path, response.body), status)
        if status == 429:
            self.stats.add(throttled=1)
            wait, asked = self._throttle_wait(response, attempt)
            # a 429 to a request of a budget holds that budget, unless the answer says the client's
            # own (the org's) is used up: customer lookups go on while the searches wait
            hold = self.limiter
            if budget is not None:
                budget.throttled += 1
                if not _exhausted(response.headers):
                    hold = budget.limiter
            raise _Failure("throttled", "HTTP 429 Too Many Requests", wait, server_asked=asked, hold=hold)
        if status in RETRYABLE_STATUSES or status >= 500:
            self.stats.add(server_errors=1)
            raise _Failure("failed", f"HTTP {status}", self._backoff(attempt))
        parsed = None
        try:
            parsed = response.json(self.max_json_depth)
        except ValueError:
            parsed = None
        raise HttpStatusError(
            self.redact(f"{self.service}: {method} {path} answered HTTP {status}{self._server_says(response.body)}"),
            status, path, parsed)

    def _send(self, method: str, target: str, path: str, payload: bytes | None,
              budget: Budget | None = None) -> HttpResponse:
        conn = self._connection()
        headers = {"Accept": "application/json", "Accept-Encoding": "gzip, deflate", "User-Agent": USER_AGENT}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        if self.auth is not None:
            headers.update(self.auth.headers())
        now = self._clock()
        self.stats.note_request(now)
        if budget is not None:
            budget.rate.note(now)
        watchdog = _Watchdog(conn, self.deadline)
        try:
            try:
                conn.request(method, target, body=payload, headers=headers)
                raw = conn.getresponse()
                response_headers = {k.lower(): v for k, v in raw.getheaders()}
                body = self._read_body(raw, response_headers)
            except (*CONNECTION_ERRORS, ValueError):
                if watchdog.fired:
                    raise TimeoutError(f"no complete answer within the {duration(self.deadline)} deadline") from None
                raise
            if watchdog.fired:
                raise TimeoutError(f"no complete answer within the {duration(self.deadline)} deadline")
        finally:
            watchdog.cancel()
        if raw.will_close:
            self._drop_connection()
        return HttpResponse(raw.status, response_headers, body, path)

    def _read_body(self, raw: http.client.HTTPResponse, headers: Mapping[str, str]) -> bytes:
        """The body, decoded, read in chunks: never more than ``max_body_bytes`` sent or decoded."""
        length = headers.get("content-length", "")
        if length.strip().isdigit() and int(length) > self.max_body_bytes:
            raise _TooLarge("announced")
        decoder = _Decoder(headers.get("content-encoding", "").strip().lower(), self.max_body_bytes)
        received = 0
        while True:
            chunk = raw.read1(READ_CHUNK)
            if not chunk:
                raw.close()  # read to its end: the connection can carry the next request
                break
            received += len(chunk)
            if received > self.max_body_bytes:
                raise _TooLarge("sent")
            try:
                decoder.feed(chunk)
            except zlib.error:
                return b"<undecodable compressed body>"
        try:
            return decoder.body()
        except zlib.error:
            return b"<undecodable compressed body>"

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            scheme, host, port = self._origin
            if scheme == "https":
                conn = http.client.HTTPSConnection(host, port, timeout=self.timeout,
                                                   context=ssl.create_default_context())
            else:
                conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
            self._local.conn = conn
            with self._conn_lock:
                self._connections.add(conn)
        return conn

    def _drop_connection(self) -> None:
        conn = self._local.__dict__.pop("conn", None)
        if conn is not None:
            conn.close()
            with self._conn_lock:
                self._connections.discard(conn)

    # -- where requests go --------------------------------------------------------------------

    def _target(self, path_or_url: str, params: Mapping[str, Any] | None) -> str:
        """The request target (path and query) for a link; only ever on base_url's host."""
        url = urljoin(self.base_url, path_or_url)
        parts = urlsplit(url)
        origin = (parts.scheme, (parts.hostname or "").lower(), parts.port)
        if origin != self._origin:
            raise ExtractError(
                f"{self.service}: refusing to follow a link to another host ({parts.scheme}://{parts.hostname});"
                f" the credential is only sent to {self.base_url}")
        target = parts.path or "/"
        query = parts.query
        if params:
            extra = urlencode({k: v for k, v in params.items() if v is not None})
            query = f"{query}&{extra}" if query else extra
        return f"{target}?{query}" if query else target

    # -- waiting ------------------------------------------------------------------------------

    def _wait_for_slot(self, what: str, budget: Budget | None = None) -> None:
        """A slot in the request's budget, then one in the client's limiter."""
        waited = 0.0
        for limiter in (budget.limiter, self.limiter) if budget is not None else (self.limiter,):
            try:
                if budget is not None and limiter is self.limiter:
                    # a budget's request takes the client's next slot before the others: they use what is left
                    waited += limiter.acquire(self.max_wait, first=True)
                else:
                    waited += limiter.acquire(self.max_wait)
            except TooLongAWait as error:
                raise RateLimitedError(f"{self.service}: {what}: the rate limit holds requests for"
                                       f" {duration(error.seconds)} (x-ratelimit-reset), more than the"
                                       f" {duration(self.max_wait)} this import waits; run again later") from None
        if waited:
            self.stats.add(waited_seconds=waited)

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self.stats.add(waited_seconds=seconds)
            self._sleep(seconds)

    def _jitter(self, low: float, high: float) -> float:
        with self._rng_lock:
            return self._rng.uniform(low, high)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** attempt))
        return ceiling * self._jitter(0.5, 1.0)

    def _throttle_wait(self, response: HttpResponse, attempt: int) -> tuple[float, bool]:
        """(seconds to wait after a 429, whether the server named them)."""
        wall_now = self._wall_clock()
        retry_after = parse_retry_after(response.headers.get("retry-after"), wall_now)
        if retry_after is not None:
            return retry_after + self._jitter(0.0, 0.1 * self.backoff_base), True
        reset = parse_reset(response.headers.get("x-ratelimit-reset"), wall_now)
        # the reset of a budget that still has room is not this 429's (Kustomer's searches have a
        # budget of their own; the headers describe the org's): a backoff then, not a wait for it
        has_room = "x-ratelimit-remaining" in response.headers and not _exhausted(response.headers)
        if reset is not None and reset > 0 and not has_room:
            return reset + self._jitter(0.0, 0.1 * self.backoff_base), True
        return self._backoff(attempt), False

    def _note_rate_limit(self, response: HttpResponse) -> None:
        """The announced limit or bucket, and ``x-ratelimit-remaining: 0``: hold every request until the reset."""
        if self.announced_limit is not None:
            announced = self.announced_limit(response.headers)
            if announced is not None:
                self.limiter.announce(*announced)
        if self.announced_bucket is not None:
            bucket = self.announced_bucket(response.headers)
            if bucket is not None:
                learned = self.limiter.observe_bucket(*bucket, self.bucket_windows or (60.0,))
                if learned:
                    self.learned.append(learned)
                    LOG.info(f"{self.service}: {learned}")
        if not _exhausted(response.headers) or response.status == 429:
            return
        reset = parse_reset(response.headers.get("x-ratelimit-reset"), self._wall_clock())
        if reset is not None and reset > 0:
            # a reset beyond max_wait is not waited for: the next request says so and stops
            LOG.info(f"{self.service}: x-ratelimit-remaining: 0; the next request waits {duration(reset)}")
            self.limiter.hold(reset)

    # -- messages -----------------------------------------------------------------------------

    def _auth_message(self, status: int, method: str, path: str, body: bytes) -> str:
        server = self._server_says(body)
        if status == 401:
            message = (f"{self.service} rejected {self.credential_hint} (HTTP 401 on {method} {path}){server}: "
                       "it is wrong, expired or revoked; set a valid one and run again")
        else:
            permission = self.permission_hint(path) if self.permission_hint else None
            needs = f"the permission {permission}" if permission else "a permission this request needs"
            message = (f"{self.service} refused {method} {path} (HTTP 403){server}: {self.credential_hint} "
                       f"lacks {needs}; grant it and run again")
        return self.redact(message)

    def _server_says(self, body: bytes) -> str:
        """A short, one-line excerpt of the server's error message, if it gave one."""
        text = ""
        try:
            data = parse_json(body[:65536], self.max_json_depth)
        except ValueError:
            data = None
        if isinstance(data, dict):
            errors = data.get("errors")
            first = errors[0] if isinstance(errors, list) and errors else data
            if isinstance(first, dict):
                for key in ("detail", "title", "message", "error"):
                    if isinstance(first.get(key), str) and first[key].strip():
                        text = first[key]
                        break
        elif body and not body.lstrip().startswith(b"<"):
            text = body[:200].decode("utf-8", errors="replace")
        text = _one_line(text)[:200]
        return f' ("{self.redact(text)}")' if text else ""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _exhausted(headers: Mapping[str, str]) -> bool:
    """``x-ratelimit-remaining: 0`` (or below): the client's budget is used up until the reset."""
    remaining = headers.get("x-ratelimit-remaining")
    try:
        return remaining is not None and float(remaining) <= 0
    except ValueError:
        return False
