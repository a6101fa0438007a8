"""The push: send the last successful import's batch straight to Gladly's API, resumable, nothing twice.

    python -m gladly_import.push --config my.yml [--dry-run]      (make push [CONFIG=...] [DRY_RUN=1])

What is sent: the export batch of the last successful import (``main.gladly_export_batch``: every
item of a full run, the new items of a delta run; checked against ``ledger.export_ledger`` for that
run), less the items Gladly has already accepted (``ledger.push_ledger``) and the items it refused
for this same batch, and only items inside the API's window: ``occurredAt`` "limited to events no
older than 1 year". An item is sent only when it is younger than 365 days minus a safety margin of
one day plus the time the whole batch could take at the rate limit (items / requests per second),
so no item ages out of the window while the push runs. Older items are "CSV only": the batch's CSV
carries them.

Each item is ``POST /api/v1/conversation-items`` with the Conversation Item ID as the item's ``id``
(see ``payload``), so a re-send answers 409 ``taken`` and is counted "already in Gladly". Answers go
to the push ledger as they arrive (gladly_import/push_ledger.py). A 400 is recorded with Gladly's
detail and the push goes on. Requests run concurrently through the shared HTTP client
(extract/http_client.py) and its one rate limiter: at most ``requests_per_second`` (Gladly: 10 per
organization) in any second, lowered to what the server announces in ``Ratelimit-Limit-Second``.
Timeouts, dropped connections, 5xx and 429 are retried by the client with the same id (jittered
backoff; a 429 holds every worker).

Exit codes: 0 done (refused items included: they are reported), 1 failed (no import to push, a
credential Gladly rejects, an item still unanswered after every retry), 2 bad config, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import secrets
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from extract import options as opt
from extract.context import Progress
from extract.errors import AuthError, ExtractError
from extract.http_client import ANNOUNCED_SHARE, BasicAuth, HttpClient, HttpStatusError, RateLimiter
from gladly_import import push_ledger
from gladly_import.config import Config, ConfigError, check_block, load_config
from gladly_import.history import PUSH_SUMMARY_FILE, keep_run
from gladly_import.ledger import ensure_tables
from gladly_import.lock import FolderInUse, lock_run_folders
from gladly_import.paths import SAMPLE_CONFIG
from gladly_import.report import REPORT_FILE, write_report
from gladly_import.summary import SUMMARY_FILE as IMPORT_SUMMARY_FILE

# -- the config block ----------------------------------------------------------------------------
# `gladly:` in the import's config. CONFIG_KEYS: key -> required?; CONFIG_TYPES: what each value
# must be (extract/options.py), checked by gladly_import/config.py with every other block before
# anything runs, every problem at once.
CONFIG_KEYS = {
    "base_url": False,             # https://<org>.gladly.com (sandbox https://<org>.gladly.qa); required unless simulate
    "user_env": False,             # env var holding the API user's email (default GLADLY_API_USER)
    "token_env": False,            # env var holding its API token (default GLADLY_API_TOKEN)
    "activity_type": False,        # EMAIL | ISSUE | SMS | SURVEY (default EMAIL): the timeline icon
    "requests_per_second": False,  # the organization's limit (default 10; Gladly may grant more)
    "concurrency": False,          # requests in flight at once (default 8)
    "simulate": False,             # push to the local Gladly API simulator instead (the demo)
    "simulator_today": False,      # the demo: the date the simulator (and the window) takes as today
    "simulator_latency": False,    # the demo: seconds the simulator takes per request (default 0.1)
}
ACTIVITY_TYPES = ("EMAIL", "ISSUE", "SMS", "SURVEY")

DEFAULT_USER_ENV = "GLADLY_API_USER"
DEFAULT_TOKEN_ENV = "GLADLY_API_TOKEN"
DEFAULT_REQUESTS_PER_SECOND = 10
DEFAULT_CONCURRENCY = 8


def _is_date(value: Any) -> bool:
    if isinstance(value, date):
        return True
    try:
        date.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


CONFIG_TYPES = {
    "base_url": opt.https_url("https://<org>.gladly.com (or .qa)", required_unless="simulate"),
    "user_env": opt.ENV_NAME,
    "token_env": opt.ENV_NAME,
    "activity_type": opt.one_of(ACTIVITY_TYPES),
    "requests_per_second": opt.number(maximum=1000, above=0),
    "concurrency": opt.number(1, 64, whole=True),
    "simulate": opt.FLAG,
    "simulator_today": opt.Option("a date (YYYY-MM-DD)", _is_date),
    "simulator_latency": opt.number(0, 10, what="seconds"),
}

# -- Gladly's API (its published OpenAPI) --------------------------------------------------------
ITEMS_PATH = "/api/v1/conversation-items"
API_WINDOW = timedelta(days=365)    # "limited to events no older than 1 year": read as 365 days
SAFETY_MARGIN = timedelta(days=1)   # + the batch's duration at the rate limit (see cutoff())
MAX_ID_CHARS = 50
MAX_TITLE_CHARS = 100
MAX_BODY_CHARS = 25_000
MAX_SOURCE_NAME_CHARS = 50
URL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
REFUSAL_STATUSES = frozenset({400, 413, 422})  # Gladly says no to this item: record it, go on
ANSWER_STATUSES = REFUSAL_STATUSES | {409}

SUMMARY_FILE = PUSH_SUMMARY_FILE
FETCH_ROWS = 500
PROGRESS_SECONDS = 5.0


class PushError(Exception):
    """A reason the push cannot run or go on, in one line."""


# -- settings ------------------------------------------------------------------------------------

@dataclass
class PushSettings:
    base_url: str | None = None
    user_env: str = DEFAULT_USER_ENV
    token_env: str = DEFAULT_TOKEN_ENV
    activity_type: str = "EMAIL"
    requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND
    concurrency: int = DEFAULT_CONCURRENCY
    simulate: bool = False
    simulator_today: date | None = None
    simulator_latency: float = 0.1


def parse_settings(block: dict[str, Any] | None) -> PushSettings:
    """The `gladly:` block as settings. Its keys and values are checked by the config's one check
    (``check_block``, run on every block when the config is read; again here for a block that did
    not come from a config file); what is left here joins two keys."""
    block = dict(block or {})
    problems = check_block("gladly", block, CONFIG_KEYS, CONFIG_TYPES)
    if "simulator_today" in block and block.get("simulate") is not True:
        problems.append("gladly.simulator_today: only with simulate: true")
    if problems:
        raise ConfigError("; ".join(problems))
    settings = PushSettings(**{k: v for k, v in block.items() if k not in ("base_url", "simulator_today")})
    if "simulator_today" in block:
        today = block["simulator_today"]
        settings.simulator_today = today if isinstance(today, date) else date.fromisoformat(today)
    if block.get("base_url"):
        settings.base_url = block["base_url"].strip().rstrip("/")
    return settings


# -- what is sent --------------------------------------------------------------------------------

def payload(row: dict[str, Any], activity_type: str) -> dict[str, Any]:
    """The API body for one exported item: the CSV row's id, email, timestamp, title, body and source.

    Gladly's customer specification takes exactly one identifier, so the CSV's Customer Name, Phone
    and Tags are not sent (the CSV import is the way to set them).
    """
    return {
        "id": row["conversation_item_id"],
        "customer": {"emailAddress": row["customer_email"]},
        "content": {
            "type": "CUSTOMER_ACTIVITY",
            "activityType": activity_type,
            "occurredAt": row["occurred_at_rfc3339"],
            "title": row["title"],
            "body": row["body"],
            "sourceName": row["source_name"],
        },
    }


def payload_problem(body: dict[str, Any], now: datetime) -> str | None:
    """Why Gladly's API would refuse this body (its OpenAPI rules), or None when it is acceptable."""
    item_id = body.get("id")
    if not isinstance(item_id, str) or not item_id:
        return "no id"
    if len(item_id) > MAX_ID_CHARS:
        return f"id longer than {MAX_ID_CHARS} characters"
    if not set(item_id) <= URL_SAFE:
        return "id not URL safe"
    email = body.get("customer", {}).get("emailAddress")
    if not isinstance(email, str) or "@" not in email or any(c.isspace() for c in email):
        return "no usable customer email"
    content = body.get("content", {})
    if content.get("activityType") not in ACTIVITY_TYPES:
        return "activityType not one of " + ", ".join(ACTIVITY_TYPES)
    for key, limit in (("title", MAX_TITLE_CHARS), ("body", MAX_BODY_CHARS), ("sourceName", MAX_SOURCE_NAME_CHARS)):
        value = content.get(key)
        if not isinstance(value, str):
            return f"no {key}"
        if len(value) > limit:  # code points, as JSON Schema's maxLength counts
            return f"{key} longer than {limit:,} characters"
    occurred = content.get("occurredAt")
    try:
        moment = datetime.strptime(occurred, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return "occurredAt not RFC 3339 UTC with milliseconds"
    if len(occurred) != len("2021-01-01T00:00:00.000Z"):
        return "occurredAt not RFC 3339 UTC with milliseconds"
    if moment < now - API_WINDOW:
        return "occurredAt older than 1 year"
    return None


def cutoff(now: datetime, batch_items: int, requests_per_second: float) -> datetime:
    """The oldest occurredAt sent: a year ago, plus a day, plus the longest this batch could take."""
    duration = timedelta(seconds=batch_items / requests_per_second)
    return now - API_WINDOW + SAFETY_MARGIN + duration


# -- the batch -----------------------------------------------------------------------------------

@dataclass
class Batch:
    run_id: str
    mode: str
    ended_at: datetime | None
    items: int


def last_batch(conn: duckdb.DuckDBPyConnection) -> Batch:
    """The last successful import's batch, checked: the staged batch table is that run's."""
    row = conn.execute(
        "select run_id, mode, ended_at from ledger.import_runs where status = 'succeeded' "
        "order by ended_at desc, started_at desc limit 1").fetchone()
    if row is None:
        raise PushError("no successful import to push yet: run `make import` (or MODE=delta) first")
    run_id, mode, ended_at = row
    try:
        staged, recorded, matched = conn.execute(
            """
            select
                (select count(*) from main.gladly_export_batch),
                (select count(*) from ledger.export_ledger where run_id = $run),
                (select count(*) from main.gladly_export_batch b
                 join ledger.export_ledger e on e.conversation_item_id = b.conversation_item_id and e.run_id = $run)
            """, {"run": run_id}).fetchone()
    except duckdb.CatalogException:
        raise PushError("the staged history has no export batch (main.gladly_export_batch): run the import again") from None
    if not staged == recorded == matched:
        raise PushError(f"the staged batch is not the one import {run_id} exported (a later import rebuilt it "
                        "and did not finish): run the import again, then push")
    return Batch(run_id=run_id, mode=mode, ended_at=ended_at, items=staged)


# Items of the batch not to send again: accepted by Gladly (any push), or refused for this batch.
_SETTLED = """
    exists (select 1 from ledger.push_ledger p
            where p.conversation_item_id = b.conversation_item_id
              and (p.status in ('created', 'already_present') or (p.status = 'refused' and p.import_run_id = $run)))
"""


def plan(conn: duckdb.DuckDBPyConnection, batch: Batch, oldest: datetime) -> dict[str, Any]:
    """How the batch divides: delivered before, refused before, CSV only, to send."""
    delivered, refused, csv_only, to_send = conn.execute(
        f"""
        select
            count(*) filter (where delivered),
            count(*) filter (where refused_before and not delivered),
            count(*) filter (where not settled and occurred_at < $oldest),
            count(*) filter (where not settled and occurred_at >= $oldest)
        from (
            select b.occurred_at,
                   exists (select 1 from ledger.push_ledger p where p.conversation_item_id = b.conversation_item_id
                           and p.status in ('created', 'already_present')) as delivered,
                   exists (select 1 from ledger.push_ledger p where p.conversation_item_id = b.conversation_item_id
                           and p.status = 'refused' and p.import_run_id = $run) as refused_before,
                   {_SETTLED} as settled
            from main.gladly_export_batch b
        )
        """, {"run": batch.run_id, "oldest": _naive(oldest)}).fetchone()
    files = conn.execute(
        f"""
        select file_name, count(*) from main.gladly_export_batch b
        where b.occurred_at < $oldest and not {_SETTLED}
        group by all order by 1
        """, {"run": batch.run_id, "oldest": _naive(oldest)}).fetchall()
    return {"delivered_before": delivered, "refused_before": refused, "csv_only": csv_only,
            "csv_only_files": dict(files), "to_send": to_send}


def rows_to_send(conn: duckdb.DuckDBPyConnection, batch: Batch, oldest: datetime) -> Iterator[dict[str, Any]]:
    """The items to send, in export order, streamed (memory stays flat whatever the batch)."""
    result = conn.execute(
        f"""
        select conversation_item_id, customer_email, occurred_at_rfc3339, title, body, source_name
        from main.gladly_export_batch b
        where b.occurred_at >= $oldest and not {_SETTLED}
        order by export_row_number
        """, {"run": batch.run_id, "oldest": _naive(oldest)})
    names = [d[0] for d in result.description]
    while chunk := result.fetchmany(FETCH_ROWS):
        for values in chunk:
            yield dict(zip(names, values, strict=True))


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


# -- where it goes -------------------------------------------------------------------------------

@dataclass
class Endpoint:
    base_url: str
    auth: BasicAuth
    credential_hint: str
    now: Any  # () -> aware datetime: "today" for the window
    simulated: bool = False
    note: str = ""


@contextmanager
def endpoint(settings: PushSettings, config: Config, need_credentials: bool) -> Iterator[Endpoint]:
    """Gladly (credentials from the environment), or the local simulator for simulate: true."""
    if not settings.simulate:
        user = os.environ.get(settings.user_env, "").strip()
        token = os.environ.get(settings.token_env, "").strip()
        if need_credentials and not (user and token):
            missing = settings.user_env if not user else settings.token_env
            raise ConfigError(f"gladly: ${missing} is not set: put the API user's email in ${settings.user_env} "
                              f"and its API token in ${settings.token_env}")
        yield Endpoint(base_url=settings.base_url or "", auth=BasicAuth(user, token),
                       credential_hint=f"the API user and token in ${settings.user_env} / ${settings.token_env}",
                       now=lambda: datetime.now(UTC))
        return
    from extract.simulators.gladly import DEMO_TOKEN, DEMO_USER, GladlySimulator

    today = (datetime.combine(settings.simulator_today, datetime.min.time(), tzinfo=UTC)
             if settings.simulator_today else None)
    simulator = GladlySimulator(user=DEMO_USER, token=DEMO_TOKEN, rate_limit=DEFAULT_REQUESTS_PER_SECOND,
                                latency=settings.simulator_latency, today=today,
                                store_path=config.work_dir / "state" / "gladly_simulator" / "items.jsonl")
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


def make_client(where: Endpoint, settings: PushSettings) -> HttpClient:
    return HttpClient(
        where.base_url, where.auth, service="Gladly", credential_hint=where.credential_hint,
        permission_hint=lambda path: "API User",
        # the same share of the configured limit as of an announced one: jitter never pushes it over
        limiter=RateLimiter([(settings.requests_per_second * ANNOUNCED_SHARE, 1.0)]), announced_limit=announced_limit,
        # Gladly's window is one second and it sends no Retry-After: short jittered waits, many of them
        timeout=30.0, deadline=60.0, backoff_base=0.25, backoff_max=5.0, max_retries=12,
        max_throttle_retries=100, retry_seconds=600.0,
    )


# -- sending -------------------------------------------------------------------------------------

@dataclass
class Answer:
    item_id: str
    status: str            # created | already_present | refused | invalid | failed
    http_status: int | None = None
    code: str | None = None
    detail: str | None = None
    fatal: str | None = None  # set when the whole push must stop


def gladly_error(body: Any) -> tuple[str | None, str | None]:
    """(code, 'attr: detail') of Gladly's first error, from {"errors":[{"attr","code","detail"}]}."""
    errors = body.get("errors") if isinstance(body, dict) else None
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code = first.get("code") if isinstance(first.get("code"), str) else None
    parts = [str(first[k]) for k in ("attr", "detail") if isinstance(first.get(k), str) and first[k]]
    details = [e.get("detail") for e in errors[1:] if isinstance(e, dict) and isinstance(e.get("detail"), str)] \
        if isinstance(errors, list) else []
    detail = ": ".join(parts) + ("".join(f"; {d}" for d in details) if details else "")
    return code, " ".join(detail.split())[:500] or None


def send_one(client: HttpClient, body: dict[str, Any]) -> Answer:
    item_id = body["id"]
    try:
        answer = client.request_json("POST", ITEMS_PATH, body=body, ok_statuses=ANSWER_STATUSES)
    except AuthError as error:
        return Answer(item_id, "failed", fatal=str(error))
    except HttpStatusError as error:
        return Answer(item_id, "failed", error.status, fatal=str(error))
    except ExtractError as error:  # retries exhausted: unanswered, sent again by the next push
        return Answer(item_id, "failed", fatal=f"no answer for item {item_id}: {error}")
    if answer.status == 409:
        code, detail = gladly_error(answer.body)
        return Answer(item_id, push_ledger.ALREADY_PRESENT, 409, code, detail)
    if answer.status in REFUSAL_STATUSES:
        code, detail = gladly_error(answer.body)
        return Answer(item_id, push_ledger.REFUSED, answer.status, code or f"http_{answer.status}", detail)
    return Answer(item_id, push_ledger.CREATED, answer.status)


@dataclass
class Tally:
    answered: int = 0
    created: int = 0
    already: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    invalid: Counter[str] = field(default_factory=Counter)
    recent: deque[float] = field(default_factory=deque)

    def rate(self, now: float, span: float = 30.0) -> float:
        while self.recent and now - self.recent[0] > span:
            self.recent.popleft()
        if len(self.recent) < 2:
            return 0.0
        return (len(self.recent) - 1) / max(self.recent[-1] - self.recent[0], 1e-6)


class Pusher:
    """Feeder thread (reads the batch) -> worker threads (send) -> this thread (ledger, progress)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, client: HttpClient, batch: Batch, settings: PushSettings,
                 oldest: datetime, now: Any, push_id: str, to_send: int) -> None:
        self.conn = conn
        self.client = client
        self.batch = batch
        self.settings = settings
        self.oldest = oldest
        self.now = now
        self.push_id = push_id
        self.to_send = to_send
        self.tally = Tally()
        self.stop = threading.Event()
        self.fatal: str | None = None
        self.work: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=settings.concurrency * 2)
        self.answers: queue.Queue[Answer | None] = queue.Queue()
        self.progress = Progress("push", interval=PROGRESS_SECONDS)
        self.started = time.monotonic()

    def run(self) -> None:
        feeder = threading.Thread(target=self._feed, name="push-feeder", daemon=True)
        workers = [threading.Thread(target=self._work, name=f"push-{n}", daemon=True)
                   for n in range(self.settings.concurrency)]
        feeder.start()
        for worker in workers:
            worker.start()
        running = len(workers)
        try:
            while running:
                try:
                    answer = self.answers.get(timeout=0.5)
                except queue.Empty:
                    self._report()
                    continue
                if answer is None:
                    running -= 1
                    continue
                self._record(answer)
                self._report()
        except KeyboardInterrupt:
            self.stop.set()
            self._drain(workers)
            raise
        finally:
            self.stop.set()
            feeder.join(timeout=5)

    def _drain(self, workers: list[threading.Thread]) -> None:
        """After Ctrl-C: record the answers of the requests in flight (each bounded by its deadline)."""
        deadline = time.monotonic() + self.client.deadline + 5
        while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
            try:
                answer = self.answers.get(timeout=0.2)
            except queue.Empty:
                continue
            if answer is not None:
                self._record(answer)
        while True:
            try:
                answer = self.answers.get_nowait()
            except queue.Empty:
                return
            if answer is not None:
                self._record(answer)

    def _feed(self) -> None:
        cursor = self.conn.cursor()
        try:
            for row in rows_to_send(cursor, self.batch, self.oldest):
                if self.stop.is_set():
                    break
                body = payload(row, self.settings.activity_type)
                problem = payload_problem(body, self.now())
                if problem:
                    self.answers.put(Answer(body["id"], "invalid", detail=problem))
                    continue
                while not self.stop.is_set():
                    try:
                        self.work.put(body, timeout=0.5)
                        break
                    except queue.Full:
                        continue
        except Exception as error:  # noqa: BLE001 - reported as the push's failure, never lost
            self.fatal = self.fatal or f"reading the batch failed: {error}"
            self.stop.set()
        finally:
            cursor.close()
            for _ in range(self.settings.concurrency):
                self.work.put(None)

    def _work(self) -> None:
        try:
            while True:
                body = self.work.get()
                if body is None:
                    return
                if self.stop.is_set():
                    continue  # left unsent: the next push sends it
                try:
                    answer = send_one(self.client, body)
                except Exception as error:  # noqa: BLE001 - a bug must stop the push, never lose the item quietly
                    answer = Answer(body["id"], "failed", fatal=f"unexpected error sending {body['id']}: {error!r}")
                if answer.fatal:
                    self.stop.set()
                self.answers.put(answer)
        finally:
            self.answers.put(None)

    def _record(self, answer: Answer) -> None:
        tally = self.tally
        if answer.status == "invalid":
            tally.invalid[answer.detail or "invalid"] += 1
            return
        if answer.fatal:
            self.fatal = self.fatal or answer.fatal
            return
        push_ledger.record_answer(self.conn, item_id=answer.item_id, import_run_id=self.batch.run_id,
                                  push_id=self.push_id, status=answer.status, http_status=answer.http_status,
                                  code=answer.code, detail=answer.detail)
        tally.answered += 1
        tally.recent.append(time.monotonic())
        if answer.status == push_ledger.CREATED:
            tally.created += 1
        elif answer.status == push_ledger.ALREADY_PRESENT:
            tally.already += 1
        else:
            tally.refused[refusal_reason(answer)] += 1

    def _report(self) -> None:
        tally = self.tally
        left = max(self.to_send - tally.answered - sum(tally.invalid.values()), 0)
        rate = tally.rate(time.monotonic())
        eta = f", about {_duration(left / rate)} left" if rate > 0 and left else ""
        self.progress.update(f"{tally.answered:,} sent ({tally.created:,} created, {tally.already:,} already in "
                             f"Gladly, {sum(tally.refused.values()):,} refused), {left:,} left, {rate:,.1f}/s{eta}")


def refusal_reason(answer: Answer) -> str:
    return f"{answer.code or 'refused'}: {answer.detail}" if answer.detail else (answer.code or "refused")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 86400:
        return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


# -- the run -------------------------------------------------------------------------------------

def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def push(config: Config, dry_run: bool = False) -> int:
    settings = parse_settings(config.gladly)
    if config.engine != "duckdb":
        # the push ledger sits beside the export ledger in the DuckDB file; a Spark one is not built yet
        raise PushError(f"make push works on a DuckDB import only, and this config says engine: {config.engine}; "
                        "run the import with engine: duckdb to push (the Gladly CSVs are the same)")
    if not config.database_path.exists():
        raise PushError(f"no staged history at {config.database_path}: run `make import` first")
    push_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
    started_wall = datetime.now(UTC)
    started = time.monotonic()
    folders = lock_run_folders(push_id, config.work_dir, config.output_dir)  # no import while it pushes
    try:
        return _push(config, settings, dry_run, push_id, started_wall, started)
    finally:
        folders.release()


def _push(config: Config, settings: PushSettings, dry_run: bool, push_id: str, started_wall: datetime,
          started: float) -> int:
    with duckdb.connect(str(config.database_path)) as conn, \
            endpoint(settings, config, need_credentials=not dry_run) as where:
        conn.execute("set TimeZone = 'UTC'")
        ensure_tables(conn)
        batch = last_batch(conn)
        now = where.now()
        rate = settings.requests_per_second * ANNOUNCED_SHARE  # what the limiter allows
        oldest = cutoff(now, batch.items, rate)
        split = plan(conn, batch, oldest)
        if where.note:
            say(where.note)
        say(f"push {push_id}: import {batch.run_id} ({batch.mode}), {batch.items:,} item(s) in its batch: "
            f"{split['to_send']:,} to send, {split['csv_only']:,} CSV only (before {oldest:%Y-%m-%d %H:%M} UTC), "
            f"{split['delivered_before']:,} already delivered, {split['refused_before']:,} refused before"
            + (" [dry run: nothing is sent]" if dry_run else f", to {where.base_url}"))
        summary: dict[str, Any] = {
            "push_id": push_id, "import_run_id": batch.run_id, "import_mode": batch.mode,
            "dry_run": dry_run, "simulated": where.simulated, "endpoint": where.base_url,
            "started_at": _iso(started_wall), "window": {
                "api_limit_days": API_WINDOW.days, "safety_margin": "1 day + batch items / requests per second",
                "oldest_sent": _iso(oldest)},
            "batch_items": batch.items, **split,
        }
        if dry_run:
            invalid: Counter[str] = Counter()
            for row in rows_to_send(conn, batch, oldest):
                problem = payload_problem(payload(row, settings.activity_type), now)
                if problem:
                    invalid[problem] += 1
            summary.update(status="dry_run", valid_payloads=split["to_send"] - sum(invalid.values()),
                           invalid_payload=sum(invalid.values()), invalid_by_reason=dict(invalid),
                           estimated_seconds=round(split["to_send"] / rate), requests_per_second=rate)
            print(format_summary(summary))
            return 0
        client = make_client(where, settings)
        pusher = Pusher(conn, client, batch, settings, oldest, where.now, push_id, split["to_send"])
        status = "completed"
        try:
            pusher.run()
        except KeyboardInterrupt:
            status = "interrupted"
        finally:
            client.close()
        if pusher.fatal and status == "completed":
            status = "failed"
        tally = pusher.tally
        answered_invalid = sum(tally.invalid.values())
        elapsed = time.monotonic() - started
        stats = client.stats
        summary.update(
            status=status, ended_at=_iso(datetime.now(UTC)), seconds=round(elapsed, 1),
            sent=tally.created, already_in_gladly=tally.already,
            refused=sum(tally.refused.values()), refused_by_reason=dict(tally.refused),
            invalid_payload=answered_invalid, invalid_by_reason=dict(tally.invalid),
            unanswered=split["to_send"] - tally.answered - answered_invalid,
            requests=stats.requests, retries=stats.retries, throttled=stats.throttled,
            items_per_second=round(tally.answered / elapsed, 2) if elapsed > 0 else 0.0,
            error=pusher.fatal,
        )
        write_summary(summary, config.output_dir)
        reported = add_to_report(conn, config, summary)
        keep_run(config.output_dir, push_id, [SUMMARY_FILE, *([REPORT_FILE] if reported else [])])  # the run history
    print(format_summary(summary))
    print(f"wrote {config.output_dir / SUMMARY_FILE}" + (f" and the push's section of {REPORT_FILE}" if reported else "")
          + f"; Gladly's answers are in ledger.push_ledger of {config.database_path}")
    if status == "interrupted":
        say(f"push {push_id} interrupted: {summary['unanswered']:,} item(s) left; run it again to send them")
        return 130
    if status == "failed":
        say(f"push failed: {pusher.fatal}")
        return 1
    return 0


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_summary(summary: dict[str, Any], output_dir: Path) -> Path:
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / SUMMARY_FILE
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(summary, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def add_to_report(conn: duckdb.DuckDBPyConnection, config: Config, summary: dict[str, Any]) -> bool:
    """Render the pushed import's import_report.html again, with the push's figures in it."""
    try:
        import_summary = json.loads((config.output_dir / IMPORT_SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(import_summary, dict) or import_summary.get("run_id") != summary["import_run_id"]:
        return False  # the report of another run: left as it is
    try:
        write_report(conn, {**import_summary, "push": summary}, config.output_dir)
    except Exception as error:  # noqa: BLE001 - the push is done and recorded; the page is a copy of its numbers
        say(f"push: could not add the push to {REPORT_FILE} ({error!r}); {SUMMARY_FILE} has the numbers")
        return False
    return True


def format_summary(summary: dict[str, Any]) -> str:
    """The end-of-push table: the same numbers as push_summary.json."""
    lines = [f"push {summary['push_id']} ({summary['status']}) of import {summary['import_run_id']}"
             + (" - simulated Gladly" if summary["simulated"] else "")]
    rows: list[tuple[str, int]] = [("items in the batch", summary["batch_items"])]
    if summary["dry_run"]:
        rows += [("to send", summary["to_send"]), ("  valid payloads", summary["valid_payloads"]),
                 ("  invalid payloads (never sent)", summary["invalid_payload"])]
    else:
        rows += [("sent: created in Gladly", summary["sent"]), ("already in Gladly", summary["already_in_gladly"]),
                 ("refused by Gladly", summary["refused"]),
                 ("invalid payloads (never sent)", summary["invalid_payload"]),
                 ("left unanswered (run again)", summary["unanswered"])]
    rows += [("CSV only (older than the API's window)", summary["csv_only"]),
             ("delivered by an earlier push", summary["delivered_before"]),
             ("refused by an earlier push", summary["refused_before"])]
    width = max(len(label) for label, _ in rows)
    lines += [f"  {label:<{width}}  {value:>9,}" for label, value in rows]
    for title, key in (("refused", "refused_by_reason"), ("invalid", "invalid_by_reason")):
        for reason, n in sorted(summary.get(key, {}).items()):
            lines.append(f"  {title}: {n:,} x {reason}")
    for file_name, n in summary["csv_only_files"].items():
        lines.append(f"  CSV only: {n:,} in {file_name}")
    if summary["dry_run"]:
        lines.append(f"  sending takes about {_duration(summary['estimated_seconds'])} at "
                     f"{summary['requests_per_second']:g} requests a second")
    else:
        lines.append(f"  {summary['requests']:,} requests ({summary['retries']:,} retries, {summary['throttled']:,} "
                     f"answered 429) in {summary['seconds']:,.1f}s, {summary['items_per_second']:g} items/s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gladly-import push",
                                     description="Send the last successful import's batch to Gladly's API.")
    parser.add_argument("--config", default=str(SAMPLE_CONFIG),
                        help="the import's YAML config, with its gladly: block (default: the bundled sample)")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate every payload against the API's rules and print the counts; send nothing")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        return push(config, dry_run=args.dry_run)
    except ConfigError as error:
        say(f"config error: {error}")
        return 2
    except (PushError, FolderInUse) as error:
        say(f"push failed: {error}")
        return 1
    except ExtractError as error:
        say(f"push failed: {error}")
        return 1
    except duckdb.IOException as error:
        say(f"push failed: cannot open the staged history ({' '.join(str(error).split())[:200]})")
        return 1
    except KeyboardInterrupt:
        say("push interrupted before sending")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
