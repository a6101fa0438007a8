"""One push, start to end: lock the folders, read the batch, send it, record every answer, report.

Exit codes are the command line's (gladly_import/cli.py): 0 done (refused items included: they are
reported), 1 failed (no import to push, a credential Gladly rejects, a request still unanswered after
every retry), 2 nothing was run (a bad config or credential variable: the command line finds those
first), 130 interrupted.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from gladly_import import log
from gladly_import.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from gladly_import.config import Config
from gladly_import.engines import open_engine
from gladly_import.history import keep_run
from gladly_import.ledger import ensure_tables, new_run_id
from gladly_import.lock import lock_run_folders
from gladly_import.push import ledger
from gladly_import.push.batch import (
    Batch,
    PushError,
    has_profile_answer,
    last_batch,
    plan,
    profile_customers,
    profiles_due,
    rows_to_send,
)
from gladly_import.push.csv_file import write_csv_only
from gladly_import.push.endpoint import allowed_rate, endpoint, make_client
from gladly_import.push.profiles import READ_FRESH_SECONDS, ProfileTally, ProfileTask
from gladly_import.push.report import REPORT_FILE, SUMMARY_FILE, add_to_report, format_summary, iso, write_summary
from gladly_import.push.rules import API_WINDOW, cutoff, payload, payload_problem
from gladly_import.push.sender import Answer, ItemTask, RateMeter, Sender, count_refusal, eta
from gladly_import.push.settings import PushSettings

logger = logging.getLogger("gladly_import.push")
PROFILE_REQUESTS = 2  # a customer's profile step: read, update (the estimate; a complete card costs 1)


class ItemTally:
    """Gladly's answers to this push's items, as they are recorded."""

    def __init__(self) -> None:
        self.answered = self.created = self.already = 0
        self.refused: Counter[str] = Counter()
        self.invalid: Counter[str] = Counter()


class PushRun:
    """The tasks of one push and the recording of their answers (on the thread that owns the engine)."""

    def __init__(self, engine: Any, batch: Batch, settings: PushSettings, oldest: datetime, now: Any,
                 push_id: str, to_send: int, profiles_to_do: int = 0) -> None:
        self.engine, self.batch, self.settings = engine, batch, settings
        self.oldest, self.now, self.push_id, self.to_send = oldest, now, push_id, to_send
        self.profiles_to_do = profiles_to_do
        self.items = ItemTally()
        self.profiles = ProfileTally()
        self.meter = RateMeter()
        self.pending: set[str] = set()  # customers whose profile step is queued or under way: bounded by the queue

    def tasks(self) -> Iterator[Any]:
        """The profile steps an earlier push left undone, then the batch's items."""
        stale = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=READ_FRESH_SECONDS)
        for due in profiles_due(self.engine, self.batch):
            task = self._profile_task(due["email"], due, item_created=bool(due["item_created"]))
            if due["status"] in ("read", "found") and due["profile"] and due["answered_at"] >= stale:
                task.recorded = {"customer_id": due["customer_id"], "profile": json.loads(due["profile"])}
            elif due["status"] == "moved":
                task.customer_id = due["customer_id"]
            if due["refused_status"] is not None:  # its phone was refused: not sent again, the name is set alone
                task.phone_refused = (due["refused_status"], due["refused_code"], due["refused_detail"])
            yield task
        for row in rows_to_send(self.engine, self.batch, self.oldest):
            body = payload(row, self.settings.activity_type)
            problem = payload_problem(body, self.now())
            if problem:
                self.items.invalid[problem] += 1
                continue
            yield ItemTask(body, {"name": row["contact_name"], "phone": row["contact_phone"]})

    def _profile_task(self, email: str, contact: dict[str, Any], **known: Any) -> ProfileTask:
        self.pending.add(email)
        return ProfileTask(email, contact.get("name"), contact.get("phone"), self.settings.phone_region, **known)

    def record(self, answer: Answer) -> list[Any]:
        self.meter.note(time.monotonic())
        if answer.kind == "profile":
            extra = answer.extra
            ledger.record_profile_answer(
                self.engine, email=answer.key, import_run_id=self.batch.run_id, push_id=self.push_id,
                step=extra.get("step", "read"), status=answer.status, outcome=extra.get("outcome"),
                http_status=answer.http_status, customer_id=extra.get("customer_id"), profile=extra.get("profile"),
                code=answer.code, detail=answer.detail)
            self.profiles.note(answer)
            if answer.final:
                self.pending.discard(answer.key)
            return []
        ledger.record_answer(self.engine, item_id=answer.key, import_run_id=self.batch.run_id, push_id=self.push_id,
                             status=answer.status, http_status=answer.http_status, code=answer.code,
                             detail=answer.detail)
        items = self.items
        items.answered += 1
        if answer.status == ledger.REFUSED:
            count_refusal(items.refused, answer)
            return []
        items.created += answer.status == ledger.CREATED
        items.already += answer.status == ledger.ALREADY_PRESENT
        email = str(answer.extra.get("email")).lower()  # one customer, whatever the case its items wrote it in
        if not (answer.extra.get("name") or answer.extra.get("phone")) or email in self.pending \
                or has_profile_answer(self.engine, self.batch, email):
            return []
        return [self._profile_task(email, answer.extra, customer_id=answer.extra.get("customer_id"),
                                   item_created=answer.status == ledger.CREATED)]

    def progress_line(self, now: float) -> str:
        items = self.items
        left = max(self.to_send - items.answered - sum(items.invalid.values()), 0)
        profiles_left = max(self.profiles_to_do - sum(self.profiles.outcomes.values()), 0)
        rate = self.meter.rate(now)
        return (f"{items.answered:,} sent ({items.created:,} created, {items.already:,} already in Gladly, "
                f"{sum(items.refused.values()):,} refused), {left:,} left; {sum(self.profiles.outcomes.values()):,} "
                f"profile(s) done, {profiles_left:,} left; {rate:,.1f} answers/s"
                f"{eta(left + PROFILE_REQUESTS * profiles_left, rate)}")


def push(config: Config, dry_run: bool = False) -> int:
    """Push the last successful import's batch (``config.gladly`` as the config check left it)."""
    settings = PushSettings.from_block(config.gladly)
    if config.engine != "duckdb":
        # the push ledger sits beside the export ledger in the DuckDB file; a Spark one is not built yet
        raise PushError(f"make push works on a DuckDB import only, and this config says engine: {config.engine}; "
                        "run the import with engine: duckdb to push (the Gladly CSVs are the same)")
    if not config.database_path.exists():
        raise PushError(f"no staged history at {config.database_path}: run `make import` first")
    push_id = new_run_id()
    started_wall, started = datetime.now(UTC), time.monotonic()
    folders = lock_run_folders(push_id, config.work_dir, config.output_dir)  # no import while it pushes
    engine = open_engine(config)
    log_path = log.add_run_file(config.work_dir, push_id, "push")
    try:
        logger.debug(f"log file {log_path}")
        return _push(config, engine, settings, dry_run, push_id, started_wall, started)
    finally:
        log.remove_run_file(log_path)
        engine.close()
        folders.release()


def _push(config: Config, engine: Any, settings: PushSettings, dry_run: bool, push_id: str, started_wall: datetime,
          started: float) -> int:
    with endpoint(settings, config.gladly, config.work_dir, need_credentials=not dry_run) as where:
        ensure_tables(engine)
        batch = last_batch(engine)
        now = where.now()
        rate = allowed_rate(settings)
        # the window's margin: every item and every customer's profile requests at the rate limit
        oldest = cutoff(now, batch.items + PROFILE_REQUESTS * profile_customers(engine, batch, None), rate)
        split = plan(engine, batch, oldest)
        profiles_to_do = profile_customers(engine, batch, oldest)
        if where.note:
            logger.info(where.note)
        logger.info(f"push {push_id}: import {batch.run_id} ({batch.mode}), {batch.items:,} item(s) in its batch: "
                    f"{split['to_send']:,} to send, {split['csv_only']:,} CSV only (before {oldest:%Y-%m-%d %H:%M} UTC), "
                    f"{split['delivered_before']:,} already delivered, {split['refused_before']:,} refused before; "
                    f"{profiles_to_do:,} customer profile(s) to complete"
                    + (" [dry run: nothing is sent]" if dry_run else f", to {where.base_url}"))
        summary: dict[str, Any] = {
            "push_id": push_id, "import_run_id": batch.run_id, "import_mode": batch.mode,
            "dry_run": dry_run, "simulated": where.simulated, "endpoint": where.base_url,
            "started_at": iso(started_wall), "window": {
                "api_limit_days": API_WINDOW.days, "safety_margin": "1 day + the batch's requests / requests per second",
                "oldest_sent": iso(oldest)},
            "batch_items": batch.items, **split, "profiles_to_complete": profiles_to_do,
        }
        run = PushRun(engine, batch, settings, oldest, where.now, push_id, split["to_send"], profiles_to_do)
        if dry_run:
            for _ in run.tasks():
                pass
            invalid = run.items.invalid
            valid = split["to_send"] - sum(invalid.values())
            profile_requests = PROFILE_REQUESTS * profiles_to_do
            summary.update(status="dry_run", valid_payloads=valid, invalid_payload=sum(invalid.values()),
                           invalid_by_reason=dict(invalid), profile_requests_estimated=profile_requests,
                           estimated_requests=valid + profile_requests,
                           estimated_seconds=round((valid + profile_requests) / rate), requests_per_second=rate)
            log.result_logger.info(format_summary(summary))
            return EXIT_OK
        client = make_client(where, settings)
        sender = Sender(client, settings.concurrency, run.tasks(), run.record, run.progress_line)
        status = "completed"
        try:
            sender.run()
        except KeyboardInterrupt:
            status = "interrupted"
        finally:
            client.close()
        if sender.fatal and status == "completed":
            status = "failed"
        items = run.items
        answered_invalid = sum(items.invalid.values())
        elapsed = time.monotonic() - started
        stats = client.stats
        summary.update(
            status=status, ended_at=iso(datetime.now(UTC)), seconds=round(elapsed, 1),
            sent=items.created, already_in_gladly=items.already,
            refused=sum(items.refused.values()), refused_by_reason=dict(items.refused),
            invalid_payload=answered_invalid, invalid_by_reason=dict(items.invalid),
            unanswered=split["to_send"] - items.answered - answered_invalid,
            requests=stats.requests, retries=stats.retries, throttled=stats.throttled,
            items_per_second=round(items.answered / elapsed, 2) if elapsed > 0 else 0.0,
            requests_per_second_achieved=round(stats.requests / elapsed, 2) if elapsed > 0 else 0.0,
            profiles=run.profiles.summary(), error=sender.fatal,
        )
        summary["csv_files"] = {f["file"]: f["rows"] for f in write_csv_only(engine, config.output_dir)}
        write_summary(summary, config.output_dir)
        reported = add_to_report(engine, config.output_dir, summary)
        kept = [SUMMARY_FILE, *summary["csv_files"], *([REPORT_FILE] if reported else [])]
        keep_run(config.output_dir, push_id, kept)  # the run history: each push's files kept as they were
    log.result_logger.info(format_summary(summary))
    log.result_logger.info(f"wrote {config.output_dir / SUMMARY_FILE}"
                           + (f" and the push's section of {REPORT_FILE}" if reported else "")
                           + f"; Gladly's answers are in ledger.push_ledger of {config.database_path}")
    if status == "interrupted":
        logger.error(f"push {push_id} interrupted: {summary['unanswered']:,} item(s) left; run it again to send them")
        return EXIT_INTERRUPTED
    if status == "failed":
        logger.error(f"push failed: {sender.fatal}")
        return EXIT_FAILED
    return EXIT_OK
