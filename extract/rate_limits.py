"""How many requests an API allows, in which shape, and which requests count against which budget.

The HTTP client (``extract.http_client``) takes one ``RateLimiter`` for all its requests (an
org-wide or account-wide budget) and any number of ``Budget``s inside it: named shares that only
some requests count against, each with its own limiter and its own achieved rate. A request waits
for a slot in its budget, then for one in the client's limiter::

    searches = Budget("searches", lambda method, path: path.endswith("/search"),
                      RateLimiter.per_minute(95))          # Kustomer: 100 searches a minute per API key
    client = HttpClient(base_url, auth, budgets=[searches], announced_limit=...)

so Kustomer's searches go at most 95 a minute, and customer lookups, in no budget, use what is left
of the org's. (Zendesk's incremental exports, 10 a minute inside the plan's budget, are the same.)

A ``RateLimiter`` knows three shapes, the strictest of them applies:

- **configured**: ``RateLimiter([(1200, 60.0)])`` is "1,200 a minute", ``[(10, 1.0)]`` "10 in any
  second": requests go ``window / n`` apart, so no window of that length ever holds more than ``n``;
  ``RateLimiter(sliding=[(95, 60.0)])`` is "95 in any 60 s", bursts allowed (Kustomer's searches);
- **announced sliding window** (``announce(n, window)``: what a server says it allows, e.g.
  Kustomer's ``x-ratelimit-limit``): ``ANNOUNCED_SHARE * n`` requests in any ``window`` seconds, so
  the bursts the server allows are used and no window of the server's, fixed or sliding, receives more.
  A small limit whose share is not a whole number (Gladly's 10 a second: 9.5) is spaced instead,
  ``window / (ANNOUNCED_SHARE * n)`` apart, never more than ``n`` in a window: whole requests in a
  window would round it down to 9, 90% of what the account pays for;
- **announced leaky bucket** (``observe_bucket(used, capacity)``: Gorgias'
  ``X-Gorgias-Account-Api-Call-Limit: used/capacity``): the client keeps a model of the server's
  bucket (``LeakyBucketModel``): the level each answer reports, drained at ``capacity / window``
  since, plus the requests sent after it; a request waits until the level leaves room below
  ``ANNOUNCED_SHARE * capacity``. The window is learned from the account: the longest of the
  candidates (Gorgias: 20 s) until the answers prove the bucket drains faster (Enterprise: 10 s).

``hold(seconds)`` stops every request of the limiter for a while (a 429, ``x-ratelimit-remaining: 0``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

LOG = logging.getLogger("extract.api")
ANNOUNCED_SHARE = 0.95   # of an announced limit, what this client uses
# A drain rate is only judged over this long: the bucket's level is reported in whole requests.
BUCKET_MIN_SPAN = 4.0
BUCKET_MEMORY = 60.0     # seconds of observations kept to judge it
# A shorter window is believed when the drain proved is at least this share of what it allows
# (Gorgias' 40 a bucket: 3 requests a second proves 10 s, where 20 s would drain 2).
BUCKET_PROOF = 0.75
YIELD_SECONDS = 0.005  # how long a request waits when a free slot is left to a request that goes first


class TooLongAWait(Exception):
    """The next slot is further away than the caller waits (``seconds``)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the rate limit holds requests for {seconds:,.1f} s")
        self.seconds = seconds


class LeakyBucketModel:
    """The client's picture of a server's leaky bucket of ``capacity`` requests draining in ``window`` s.

    ``observe(now, used, capacity)`` after every answer that reports the bucket; ``sent(now)`` for
    every request that leaves; ``level(now)`` is what the bucket holds now, as far as the answers
    tell: the last level reported, drained since, plus the requests sent after it (counted whole:
    the server may not have counted them yet). ``windows`` are the candidate windows, the longest
    first: the model starts with it (a slower drain than the truth only costs speed) and moves to
    a shorter one when the answers prove the bucket drains faster. The proof is a lower bound: over
    any span, the drain was at least (level before + requests answered in between - level after) /
    span, whatever happened in between (a bucket that emptied only makes the bound lower). A 429
    (``throttled``) sends it back to the longest window.
    """

    def __init__(self, windows: Sequence[float], share: float = ANNOUNCED_SHARE) -> None:
        if not windows:
            raise ValueError("a leaky bucket needs at least one candidate window")
        self.windows = tuple(sorted((float(w) for w in windows), reverse=True))
        self.window = self.windows[0]
        self.share = share
        self.capacity = 0.0
        self.drain_proved = 0.0          # requests a second the answers prove the bucket drains at least
        self._level = 0.0
        self._at = 0.0
        self._sent_since = 0
        self._answers = 0
        self._seen: deque[tuple[float, float, int]] = deque()  # (time, level reported, answers so far)

    @property
    def drain(self) -> float:
        return self.capacity / self.window if self.capacity else 0.0

    @property
    def allowed(self) -> int:
        return max(int(self.capacity * self.share), 1)

    def level(self, now: float) -> float:
        return max(self._level - self.drain * (now - self._at), 0.0) + self._sent_since

    def wait(self, now: float) -> float:
        """Seconds until one more request fits below ``allowed``."""
        if not self.capacity:
            return 0.0
        over = self.level(now) + 1 - self.allowed
        return over / self.drain if over > 0 else 0.0

    def sent(self, now: float) -> None:
        self._sent_since += 1

    def observe(self, now: float, used: float, capacity: float) -> str | None:
        """An answer's report; what was learned (a new window), in words, else None."""
        self.capacity = float(capacity)
        self._level, self._at, self._sent_since = float(used), now, 0
        self._answers += 1
        while self._seen and now - self._seen[0][0] > BUCKET_MEMORY:
            self._seen.popleft()
        for at, level, answers in self._seen:
            span = now - at
            if span < BUCKET_MIN_SPAN:
                break
            self.drain_proved = max(self.drain_proved, (level + (self._answers - answers) - used) / span)
        self._seen.append((now, float(used), self._answers))
        faster = [w for w in self.windows if w < self.window and self.drain_proved >= BUCKET_PROOF * capacity / w]
        if faster:
            self.window = min(faster)
            return (f"the bucket of {capacity:g} requests drains in {self.window:g} s (at least"
                    f" {self.drain_proved:.1f} requests/s measured)")
        return None

    def throttled(self) -> None:
        self.window = self.windows[0]
        self.drain_proved = 0.0
        self._seen.clear()


class RateLimiter:
    """One request budget shared by every thread and client that holds it (see the module doc)."""

    def __init__(self, limits: Collection[tuple[float, float]] = (), *,
                 sliding: Collection[tuple[float, float]] = (),
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self._interval = max((float(window) / n for n, window in limits if n and n > 0), default=0.0)
        # sliding windows, configured or announced: window -> requests allowed in any such window
        self._announced: dict[float, int] = {float(window): max(int(n), 1) for n, window in sliding if n and n > 0}
        self._sent: dict[float, deque[float]] = {window: deque() for window in self._announced}
        self._spacing: dict[float, float] = {}  # announced window -> interval, for the small limits
        self._bucket: LeakyBucketModel | None = None
        self._next = 0.0
        self._hold_until = 0.0
        self._waiting_first = 0  # requests of a budget waiting for a slot: they go before the others
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    @classmethod
    def per_minute(cls, requests_per_minute: float | None, *, after_one_interval: bool = False,
                   **kwargs: Any) -> RateLimiter:
        """``after_one_interval``: the first request too waits one interval, as if one had just been sent.
        An earlier run killed a moment ago may have sent one: the two runs together stay evenly spaced."""
        limiter = cls([(requests_per_minute, 60.0)] if requests_per_minute else [], **kwargs)
        if after_one_interval:
            limiter._next = limiter._clock() + limiter._interval
        return limiter

    def per_minute_now(self) -> float | None:
        """The budget in force, in requests a minute (None: unlimited)."""
        with self._lock:
            rates = [60.0 * n / window for window, n in self._announced.items()]
            if self._spaced():
                rates.append(60.0 / self._spaced())
            if self._bucket is not None and self._bucket.capacity:
                rates.append(60.0 * self._bucket.drain)
        return min(rates) if rates else None

    @property
    def bucket(self) -> LeakyBucketModel | None:
        return self._bucket

    def _spaced(self) -> float:
        """The interval in force: the configured one or an announced small limit's, the longer."""
        return max(self._interval, *self._spacing.values()) if self._spacing else self._interval

    def announce(self, n: float, window: float) -> None:
        share = n * ANNOUNCED_SHARE
        allowed = max(int(share), 1)
        with self._lock:
            if share - allowed > 0.01 * share:  # rounding down would cost more than 1% of the budget
                self._spacing[float(window)] = float(window) / share
                allowed = max(int(n), 1)
            else:
                self._spacing.pop(float(window), None)
            self._announced[float(window)] = allowed
            self._sent.setdefault(float(window), deque())

    def observe_bucket(self, used: float, capacity: float, windows: Sequence[float]) -> str | None:
        """An answer reports the server's leaky bucket: ``used`` of ``capacity``; what was learned, if anything."""
        if capacity <= 0:
            return None
        with self._lock:
            if self._bucket is None:
                self._bucket = LeakyBucketModel(windows)
            return self._bucket.observe(self._clock(), used, capacity)

    def throttled(self, seconds: float) -> None:
        """A 429 for a request of this limiter: every request waits ``seconds``; a bucket model is reset."""
        self.hold(seconds)
        with self._lock:
            if self._bucket is not None:
                self._bucket.throttled()

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._hold_until = max(self._hold_until, self._clock() + seconds)

    def _wait(self, now: float) -> float:
        wait = max(self._hold_until, self._next) - now
        for window, n in self._announced.items():
            sent = self._sent[window]
            while sent and now - sent[0] >= window:
                sent.popleft()
            if len(sent) >= n:
                wait = max(wait, sent[len(sent) - n] + window - now)
        if self._bucket is not None:
            wait = max(wait, self._bucket.wait(now))
        return wait

    def acquire(self, max_wait: float = float("inf"), first: bool = False) -> float:
        """Wait for the next slot and take it; the seconds waited. Over ``max_wait``: ``TooLongAWait``.

        ``first``: a request of a budget inside this limiter (Kustomer's searches): while one waits,
        the others leave it the next slot (customer lookups use what is left, not all of it)."""
        waited = 0.0
        queued = False
        try:
            while True:
                with self._lock:
                    now = self._clock()
                    wait = self._wait(now)
                    if wait <= 0 and (first or not self._waiting_first):
                        self._next = now + self._spaced()
                        for sent in self._sent.values():
                            sent.append(now)
                        if self._bucket is not None:
                            self._bucket.sent(now)
                        return waited
                    if wait <= 0:
                        wait = YIELD_SECONDS  # a slot is free, and a request that goes first waits for it
                    elif first and not queued:
                        self._waiting_first += 1
                        queued = True
                if waited + wait > max_wait:
                    raise TooLongAWait(wait)
                self._sleep(wait)
                waited += wait
        finally:
            if queued:
                with self._lock:
                    self._waiting_first -= 1


class RateWindow:
    """Requests counted as they leave, and the rate they achieved. Thread-safe."""

    def __init__(self) -> None:
        self.requests = 0
        self._recent: deque[float] = deque()
        self._first: float | None = None
        self._lock = threading.Lock()

    def note(self, now: float) -> None:
        with self._lock:
            self.requests += 1
            if self._first is None:
                self._first = now
            self._recent.append(now)
        self.last_minute(now)  # keeps the deque to the last minute

    def last_minute(self, now: float) -> tuple[int, float | None, float | None]:
        """(requests over the last 60 s, the oldest of them, the first request of all)."""
        with self._lock:
            while self._recent and now - self._recent[0] > 60.0:
                self._recent.popleft()
            return len(self._recent), (self._recent[0] if self._recent else None), self._first

    def text(self, now: float | None = None) -> str:
        """The achieved rate as a person reads it: requests over the last minute, or, while the
        count is younger than a minute, the requests so far and the seconds they took (a burst of
        4 requests in 1 s is not "240 requests/min" next to a limit of 114/min)."""
        now = time.monotonic() if now is None else now
        count, _, first = self.last_minute(now)
        if first is None:
            return "0 requests"
        if now - first >= 60.0:
            return f"{count:,} requests/min"
        return f"{count:,} requests in {max(now - first, 0.0):.0f}s"


@dataclass
class Budget:
    """A named share of a client's requests with its own limiter: those for which ``applies(method, path)``.

    A request of a budget takes a slot of the budget's limiter, then one of the client's; a 429 to
    it holds the budget only (unless the answer says the client's own budget is exhausted).
    """

    name: str                                  # as the progress line says it: "searches"
    applies: Callable[[str, str], bool]        # (method, path) -> whether the request counts against it
    limiter: RateLimiter
    rate: RateWindow = field(default_factory=RateWindow)
    throttled: int = 0                         # 429s to its requests

    def text(self) -> str:
        """``searches 93 requests/min (limit 95/min)``."""
        limit = self.limiter.per_minute_now()
        return f"{self.name} {self.rate.text()}" + (f" (limit {math.floor(limit):,}/min)" if limit else "")
