"""The one HTTP client of the API extractors (Kustomer, Gorgias): JSON over HTTP(S), standard library only.

Usage::

    from extract.http_client import BearerAuth, HttpClient

    client = HttpClient(
        "https://acme.api.kustomerapp.com",
        BearerAuth(os.environ["KUSTOMER_API_KEY"]),     # or BasicAuth(email, api_key)
        service="Kustomer",
        credential_hint="the API key in KUSTOMER_API_KEY",
        permission_hint=lambda path: "org.permission.customer.read" if "/customers" in path else None,
        requests_per_minute=600,                          # optional budget of this client
    )
    page = client.get_json("/v1/messages", {"page": 1, "pageSize": 100})
    client.stats.requests, client.stats.retries, client.stats.rate_per_minute()

What it does for every request:

- **Links**: ``path_or_url`` is resolved like a browser resolves a link against ``base_url``
  (``/v1/x`` from the host root, ``tickets`` below the base path, a full URL as is). A link to
  another scheme/host/port is refused (``ExtractError``): the credential is only ever sent to
  ``base_url``'s host.
- **Budget**: with ``requests_per_minute``, requests are spaced at least ``60 / rpm`` seconds apart.
- **Rate-limit headers**: when a response says ``x-ratelimit-remaining: 0``, the next request waits
  until ``x-ratelimit-reset`` (epoch seconds; epoch milliseconds and a seconds delta are tolerated).
- **Retries** with exponential backoff ``backoff_base * 2**n`` capped at ``backoff_max``, times a
  random factor in [0.5, 1]: 408 and 5xx, timeouts, refused/reset/dropped connections
  (``max_retries`` times); a 2xx body that is not JSON (``get_json``, ``malformed_retries`` times);
  429 (``max_throttle_retries`` times, a budget of its own since waiting is what the server asks
  for), waiting ``Retry-After`` (seconds or HTTP date), else ``x-ratelimit-reset``, else the
  backoff: a bare 429 works. Every wait is capped at ``max_wait``.
- **Errors**, all ``extract.errors.ExtractError`` with a one-line message that never holds a secret:
  ``AuthError`` at once on 401/403 (says which credential, or which permission via
  ``permission_hint(path)``); ``HttpStatusError`` (``.status``) on any other 4xx, e.g. 404;
  ``RetriesExhaustedError`` when retries run out; ``MalformedResponseError`` (a subclass of it)
  when the last failure was a body that is not JSON.
- **Counting**: ``stats`` (``RequestStats``) counts requests sent, retries, 429s, waits.

Not thread-safe: one client per extraction thread.
"""

from __future__ import annotations

import base64
import email.utils
import gzip
import http.client
import json
import random
import socket
import ssl
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import urlencode, urljoin, urlsplit

from extract.errors import AuthError, ExtractError

USER_AGENT = "gladly-historical-import/0.1 (+python http.client)"
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
CONNECTION_ERRORS = (TimeoutError, socket.timeout, ConnectionError, http.client.HTTPException, ssl.SSLError, OSError)
EPOCH_SECONDS_FLOOR = 1_000_000_000  # a reset header above this is an epoch, below it a delta
EPOCH_MILLIS_FLOOR = 100_000_000_000


class HttpStatusError(ExtractError):
    """A 4xx answer other than 401/403/408/429: not worth retrying (e.g. 404 for a deleted record)."""

    def __init__(self, message: str, status: int, path: str) -> None:
        super().__init__(message)
        self.status = status
        self.path = path


class RetriesExhaustedError(ExtractError):
    """Every attempt failed with a retryable problem (429, 5xx, timeout, dropped connection)."""


class MalformedResponseError(RetriesExhaustedError):
    """The server kept answering 2xx with a body that is not JSON."""


class BearerAuth:
    """``Authorization: Bearer <token>`` (Kustomer)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def secrets(self) -> tuple[str, ...]:
        return (self._token,)

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

    def __repr__(self) -> str:
        return "BasicAuth(***)"


@dataclass
class RequestStats:
    """What the client did: for tests (request counts) and progress (rate)."""

    requests: int = 0          # HTTP requests sent (every attempt counts)
    retries: int = 0           # attempts after the first of a logical request
    throttled: int = 0         # 429 answers
    server_errors: int = 0     # 408 and 5xx answers
    connection_errors: int = 0  # timeouts, dropped or refused connections
    malformed: int = 0         # 2xx bodies that were not JSON
    waited_seconds: float = 0.0  # time slept for budgets, rate limits and backoff
    by_status: Counter[int] = field(default_factory=Counter)
    _recent: deque[float] = field(default_factory=deque, repr=False)

    def note_request(self, now: float) -> None:
        self.requests += 1
        self._recent.append(now)
        while self._recent and now - self._recent[0] > 60.0:
            self._recent.popleft()

    def rate_per_minute(self, now: float | None = None) -> float:
        """Requests sent over the last minute (extrapolated while the run is younger than that)."""
        now = time.monotonic() if now is None else now
        while self._recent and now - self._recent[0] > 60.0:
            self._recent.popleft()
        if not self._recent:
            return 0.0
        span = now - self._recent[0]
        if span >= 60.0:
            return float(len(self._recent))
        return len(self._recent) * 60.0 / max(span, 1.0)


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    path: str

    def json(self) -> Any:
        return json.loads(self.body)


def parse_retry_after(value: str | None, wall_now: float) -> float | None:
    """``Retry-After``: seconds, or an HTTP date. None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    try:
        return max(float(value.strip()), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError):
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
    if number >= EPOCH_MILLIS_FLOOR:
        return number / 1000.0 - wall_now
    if number >= EPOCH_SECONDS_FLOOR:
        return number - wall_now
    return number


class HttpClient:
    """GET JSON from one API, within its rate limit, retrying what is worth retrying (see module doc)."""

    def __init__(
        self,
        base_url: str,
        auth: BearerAuth | BasicAuth | None,
        *,
        service: str = "the API",
        credential_hint: str = "the credential",
        permission_hint: Callable[[str], str | None] | None = None,
        requests_per_minute: float | None = None,
        timeout: float = 60.0,
        max_retries: int = 8,
        max_throttle_retries: int = 30,
        malformed_retries: int = 2,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        max_wait: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ExtractError(f"{service}: base_url must be an http(s) URL, got '{base_url}'")
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._origin = (parts.scheme, parts.hostname.lower(), parts.port)
        self.auth = auth
        self.service = service
        self.credential_hint = credential_hint
        self.permission_hint = permission_hint
        self.min_interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_throttle_retries = max_throttle_retries
        self.malformed_retries = malformed_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_wait = max_wait
        self.stats = RequestStats()
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._rng = rng or random.Random()
        self._conn: http.client.HTTPConnection | None = None
        self._next_slot = 0.0   # budget: earliest time of the next request
        self._not_before = 0.0  # rate-limit headers: earliest time of the next request

    # -- public -----------------------------------------------------------------------------

    def get_json(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET and decode JSON, retrying a body that is not JSON ``malformed_retries`` times."""
        return self._request(path_or_url, params, want_json=True)

    def get(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> HttpResponse:
        """GET; a 2xx ``HttpResponse`` (the body not decoded)."""
        return self._request(path_or_url, params, want_json=False)

    def redact(self, text: str) -> str:
        """``text`` with every secret of the credential replaced by ``***``."""
        for secret in self.auth.secrets() if self.auth else ():
            if secret:
                text = text.replace(secret, "***")
        return text

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one logical request ------------------------------------------------------------------

    def _request(self, path_or_url: str, params: Mapping[str, Any] | None, want_json: bool) -> Any:
        target = self._target(path_or_url, params)
        path = urlsplit(target).path
        limits = {"throttled": self.max_throttle_retries, "malformed": self.malformed_retries,
                  "failed": self.max_retries}
        used = dict.fromkeys(limits, 0)
        attempt = 0
        while True:
            self._wait_for_slot()
            failure, wait = self._attempt(target, path, want_json, attempt)
            if failure is None:
                return wait  # the result, when there is no failure
            kind = "throttled" if failure.startswith("HTTP 429") else (
                "malformed" if failure.startswith("malformed") else "failed")
            if used[kind] >= limits[kind]:
                error = MalformedResponseError if kind == "malformed" else RetriesExhaustedError
                raise error(self.redact(
                    f"{self.service}: GET {path} failed after {attempt + 1} attempt(s); last: {failure}"))
            used[kind] += 1
            self.stats.retries += 1
            self._pause(min(wait, self.max_wait))
            attempt += 1

    def _attempt(self, target: str, path: str, want_json: bool, attempt: int) -> tuple[str | None, Any]:
        """(None, result) on success, else (why it failed, seconds to wait before retrying)."""
        try:
            response = self._send(target, path)
        except CONNECTION_ERRORS as error:
            self.close()
            self.stats.connection_errors += 1
            return f"{type(error).__name__}: {error}".strip(": "), self._backoff(attempt)
        self.stats.by_status[response.status] += 1
        self._note_rate_limit(response)
        status = response.status
        if 200 <= status < 300:
            if not want_json:
                return None, response
            try:
                return None, response.json()
            except ValueError as error:
                self.stats.malformed += 1
                return f"malformed JSON body ({error})", self._backoff(attempt)
        if status in (401, 403):
            raise AuthError(self._auth_message(status, path, response.body), status)
        if status == 429:
            self.stats.throttled += 1
            return "HTTP 429 Too Many Requests", self._throttle_wait(response, attempt)
        if status in RETRYABLE_STATUSES or status >= 500:
            self.stats.server_errors += 1
            return f"HTTP {status}", self._backoff(attempt)
        raise HttpStatusError(
            self.redact(f"{self.service}: GET {path} answered HTTP {status}{self._server_says(response.body)}"),
            status, path)

    def _send(self, target: str, path: str) -> HttpResponse:
        conn = self._connection()
        headers = {"Accept": "application/json", "Accept-Encoding": "gzip", "User-Agent": USER_AGENT}
        if self.auth is not None:
            headers.update(self.auth.headers())
        self.stats.note_request(self._clock())
        conn.request("GET", target, headers=headers)
        raw = conn.getresponse()
        body = raw.read()
        response_headers = {k.lower(): v for k, v in raw.getheaders()}
        if raw.will_close:
            self.close()
        encoding = response_headers.get("content-encoding", "").lower()
        if encoding == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError, zlib.error):
                body = b"<undecodable gzip body>"
        return HttpResponse(raw.status, response_headers, body, path)

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            scheme, host, port = self._origin
            if scheme == "https":
                self._conn = http.client.HTTPSConnection(host, port, timeout=self.timeout,
                                                         context=ssl.create_default_context())
            else:
                self._conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
        return self._conn

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

    def _wait_for_slot(self) -> None:
        now = self._clock()
        wait = max(self._next_slot, self._not_before) - now
        if wait > 0:
            self._pause(min(wait, self.max_wait))
            now = self._clock()
        self._next_slot = now + self.min_interval

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self.stats.waited_seconds += seconds
            self._sleep(seconds)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** attempt))
        return ceiling * self._rng.uniform(0.5, 1.0)

    def _throttle_wait(self, response: HttpResponse, attempt: int) -> float:
        wall_now = self._wall_clock()
        retry_after = parse_retry_after(response.headers.get("retry-after"), wall_now)
        if retry_after is not None:
            return retry_after + self._rng.uniform(0.0, 0.1 * self.backoff_base)
        reset = parse_reset(response.headers.get("x-ratelimit-reset"), wall_now)
        if reset is not None and reset > 0:
            return reset + self._rng.uniform(0.0, 0.1 * self.backoff_base)
        return self._backoff(attempt)

    def _note_rate_limit(self, response: HttpResponse) -> None:
        """``x-ratelimit-remaining: 0``: hold the next request until the window resets."""
        remaining = response.headers.get("x-ratelimit-remaining")
        try:
            exhausted = remaining is not None and float(remaining) <= 0
        except ValueError:
            exhausted = False
        if not exhausted or response.status == 429:
            return
        reset = parse_reset(response.headers.get("x-ratelimit-reset"), self._wall_clock())
        if reset is not None and reset > 0:
            self._not_before = max(self._not_before, self._clock() + min(reset, self.max_wait))

    # -- messages -----------------------------------------------------------------------------

    def _auth_message(self, status: int, path: str, body: bytes) -> str:
        server = self._server_says(body)
        if status == 401:
            message = (f"{self.service} rejected {self.credential_hint} (HTTP 401 on GET {path}){server}: "
                       "it is wrong, expired or revoked; set a valid one and run again")
        else:
            permission = self.permission_hint(path) if self.permission_hint else None
            needs = f"the permission {permission}" if permission else "a permission this request needs"
            message = (f"{self.service} refused GET {path} (HTTP 403){server}: {self.credential_hint} "
                       f"lacks {needs}; grant it and run again")
        return self.redact(message)

    def _server_says(self, body: bytes) -> str:
        """A short, one-line excerpt of the server's error message, if it gave one."""
        text = ""
        try:
            data = json.loads(body)
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
        text = " ".join(text.split())[:200]
        return f' ("{self.redact(text)}")' if text else ""
