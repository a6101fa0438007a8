"""Where the push goes: the organization's Gladly (credentials from the environment), or the local simulator.

Every request, item or profile, goes through one ``HttpClient`` and so through its one rate limiter:
at most ``requests_per_second`` (Gladly: 10 per organization, across every method) in any second,
lowered to what the server announces in ``Ratelimit-Limit-Second``. Timeouts, dropped connections,
5xx and 429 are retried by the client with the same body (jittered backoff; a 429 holds every worker).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from extract.api.config import env_secret
from extract.http_client import ANNOUNCED_SHARE, BasicAuth, HttpClient, RateLimiter
from gladly_import.push.settings import SETTINGS, TOKEN, USER, PushSettings


@dataclass
class Endpoint:
    base_url: str
    auth: BasicAuth | None
    credential_hint: str
    now: Callable[[], datetime]  # aware: "today" for the window
    simulated: bool = False
    note: str = ""


def simulator_store(work_dir: Path) -> Path:
    return work_dir / "state" / "gladly_simulator" / "items.jsonl"


@contextmanager
def endpoint(settings: PushSettings, block: dict[str, Any], work_dir: Path, need_credentials: bool) -> Iterator[Endpoint]:
    """Gladly (credentials from the environment), or the local simulator for simulate: true."""
    if not settings.simulate:
        auth = BasicAuth(env_secret("Gladly", block, USER), env_secret("Gladly", block, TOKEN)) if need_credentials else None
        yield Endpoint(base_url=settings.base_url or "", auth=auth,
                       credential_hint=f"the API user and token in ${settings.user_env} / ${settings.token_env}",
                       now=lambda: datetime.now(UTC))
        return
    from gladly_import.push.simulator import DEMO_TOKEN, DEMO_USER, GladlySimulator

    today = (datetime.combine(settings.simulator_today, datetime.min.time(), tzinfo=UTC)
             if settings.simulator_today else None)
    simulator = GladlySimulator(user=DEMO_USER, token=DEMO_TOKEN, rate_limit=SETTINGS["requests_per_second"].default,
                                latency=settings.simulator_latency, today=today, store_path=simulator_store(work_dir))
    with simulator:
        as_of = f", taking {settings.simulator_today} as today" if today else ""
        note = (f"simulate: true: pushing to the local Gladly API simulator at {simulator.base_url}{as_of}, "
                "not to Gladly (10 requests a second, "
                f"{settings.simulator_latency:g} s a request; what it created is kept in {simulator.store_path})")
        yield Endpoint(base_url=simulator.base_url, auth=BasicAuth(DEMO_USER, DEMO_TOKEN),
                       credential_hint="the simulator's demo credentials", now=simulator.now,
                       simulated=True, note=note)


def announced_limit(headers: dict[str, str]) -> tuple[float, float] | None:
    """Gladly's ``Ratelimit-Limit-Second: N``: N requests in any second."""
    try:
        value = float(headers.get("ratelimit-limit-second", ""))
    except ValueError:
        return None
    return (value, 1.0) if value > 0 else None


def allowed_rate(settings: PushSettings) -> float:
    """Requests a second the limiter lets through: the same share of the configured limit as of an announced one."""
    return settings.requests_per_second * ANNOUNCED_SHARE


def make_client(where: Endpoint, settings: PushSettings) -> HttpClient:
    return HttpClient(
        where.base_url, where.auth, service="Gladly", credential_hint=where.credential_hint,
        permission_hint=lambda path: "API User",
        # jitter never pushes it over the limit
        limiter=RateLimiter([(allowed_rate(settings), 1.0)]), announced_limit=announced_limit,
        # Gladly's window is one second and it sends no Retry-After: short jittered waits, many of them
        timeout=30.0, deadline=60.0, backoff_base=0.25, backoff_max=5.0, max_retries=12,
        max_throttle_retries=100, retry_seconds=600.0,
    )
