"""Request budgets: a budget inside the client's, and the model of a server's leaky bucket, its window learned."""

from __future__ import annotations

import math

import pytest

from extract.rate_limits import Budget, LeakyBucketModel, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class ServerBucket:
    """A leaky bucket as Gorgias runs it: ``capacity`` requests that drain fully in ``window`` seconds."""

    def __init__(self, capacity: int, window: float) -> None:
        self.capacity, self.rate = capacity, capacity / window
        self.level, self.at = 0.0, 0.0
        self.refused = 0

    def take(self, now: float) -> int:
        self.level = max(self.level - (now - self.at) * self.rate, 0.0)
        self.at = now
        if self.level + 1 > self.capacity:
            self.refused += 1
            return math.ceil(self.level)
        self.level += 1
        return math.ceil(self.level)


def drive(window: float, requests: int, latency: float = 0.01) -> tuple[RateLimiter, ServerBucket, Clock, list[str]]:
    """One client thread against a bucket of 40 draining in ``window`` s; the candidates 20 s and 10 s."""
    clock = Clock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    server = ServerBucket(40, window)
    learned = []
    for _ in range(requests):
        limiter.acquire()
        clock.now += latency
        used = server.take(clock.now)
        if said := limiter.observe_bucket(used, 40, (20.0, 10.0)):
            learned.append(said)
    return limiter, server, clock, learned


def test_a_bucket_that_drains_in_10_s_is_learned_and_used_at_its_rate() -> None:
    limiter, server, clock, learned = drive(10.0, 400)
    assert server.refused == 0
    assert limiter.bucket is not None and limiter.bucket.window == 10.0
    assert len(learned) == 1 and "drains in 10 s" in learned[0]
    # after the first burst, 4 a second (the 10 s window), not 2 (the 20 s one)
    assert (400 - 38) / (clock.now - 1000.0) > 3.5
    assert limiter.per_minute_now() == pytest.approx(240.0)


def test_a_bucket_that_drains_in_20_s_keeps_the_20_s_window_and_is_never_overfilled() -> None:
    limiter, server, clock, learned = drive(20.0, 300)
    assert server.refused == 0 and learned == []
    assert limiter.bucket is not None and limiter.bucket.window == 20.0
    assert (300 - 38) / (clock.now - 1000.0) == pytest.approx(2.0, rel=0.08)


def test_the_proof_of_a_faster_drain_is_a_lower_bound_never_a_guess() -> None:
    model = LeakyBucketModel((20.0, 10.0))
    # the bucket emptied between two answers 10 s apart: 1 request then, 1 now: no proof of anything fast
    model.observe(0.0, 30, 40)
    model.observe(10.0, 1, 40)
    assert model.drain_proved == pytest.approx(3.0) and model.window == 10.0  # (30 + 1 - 1) / 10: proved
    other = LeakyBucketModel((20.0, 10.0))
    other.observe(0.0, 10, 40)
    other.observe(10.0, 1, 40)
    assert other.drain_proved == pytest.approx(1.0) and other.window == 20.0  # 10 in 10 s proves 1/s only
    other.observe(10.5, 40, 40)
    other.throttled()
    assert other.window == 20.0 and other.drain_proved == 0.0


def test_a_budget_inside_the_client_limits_its_requests_only() -> None:
    clock = Clock()
    org = RateLimiter.per_minute(600, clock=clock, sleep=clock.sleep)       # 10 a second
    searches = Budget("searches", lambda method, path: path.endswith("/search"),
                      RateLimiter.per_minute(60, clock=clock, sleep=clock.sleep))  # 1 a second
    sent = {"searches": [], "customers": []}
    for n in range(40):
        kind = "searches" if n % 4 == 0 else "customers"
        if kind == "searches":
            searches.limiter.acquire()
        org.acquire()
        sent[kind].append(clock.now)
    gaps = [b - a for a, b in zip(sent["searches"], sent["searches"][1:], strict=False)]
    assert min(gaps) >= 1.0 - 1e-9  # the search budget: 1 a second
    assert searches.text().endswith("(limit 60/min)")


def test_a_request_of_a_budget_takes_the_next_slot_before_the_others() -> None:
    """Customer lookups use what is left of the org's budget: a search waiting for a slot gets the next one."""
    import threading
    import time

    limiter = RateLimiter([(20, 1.0)])  # a slot every 50 ms
    stop = threading.Event()

    def others() -> None:
        while not stop.is_set():
            limiter.acquire()

    crowd = [threading.Thread(target=others, daemon=True) for _ in range(6)]
    for thread in crowd:
        thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    for _ in range(10):
        limiter.acquire(first=True)
    took = time.monotonic() - started
    stop.set()
    for thread in crowd:
        thread.join(2)
    # one slot each (~0.5 s), not one in seven (~3.5 s) as an equal among six others
    assert took < 1.5, took


def test_a_run_that_follows_a_killed_one_keeps_the_even_spacing() -> None:
    """Zendesk's incremental exports, 9 a minute against a limit of 10: a run killed right after a request
    and its resume started at once send, together, no more than 10 in any 60 s."""
    clock = Clock()
    killed = RateLimiter.per_minute(9, after_one_interval=True, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(6):
        killed.acquire()
        sent.append(clock.now)
    resumed = RateLimiter.per_minute(9, after_one_interval=True, clock=clock, sleep=clock.sleep)  # no pause between
    for _ in range(12):
        resumed.acquire()
        sent.append(clock.now)
    most = max(sum(1 for t in sent if start <= t < start + 60.0) for start in sent)
    assert most <= 10
    assert min(b - a for a, b in zip(sent, sent[1:], strict=False)) >= 60.0 / 9 - 1e-9
    fresh = RateLimiter.per_minute(9, clock=clock, sleep=clock.sleep)
    assert fresh.acquire() == 0.0  # without it the first request goes at once (two runs could then send 11)
