"""One push, start to end: lock the folders, read the batch, send it, record every answer, report.

Exit codes are the command line's (gladly_import/cli.py): 0 done (refused items included: they are
reported), 1 failed (no import to push, a credential Gladly rejects, a request still unanswered after
every retry), 2 nothing was run (a bad config or credential variable: the command line finds those
first), 130 interrupted.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from gladly_import import log
from gladly_import.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from gladly_import.config import Config
from gladly_import.engines import open_engine
from gladly_import.ledger import ensure_tables, new_run_id
from gladly_import.lock import lock_run_folders
from gladly_import.push import ledger
from gladly_import.push.batch import Batch, PushError, last_batch, plan, rows_to_send
from gladly_import.push.endpoint import allowed_rate, endpoint, make_client
from gladly_import.push.report import REPORT_FILE, SUMMARY_FILE, add_to_report, format_summary, iso, write_summary
from gladly_import.push.rules import API_WINDOW, cutoff, payload, payload_problem
from gladly_import.push.sender import Answer, ItemTask, RateMeter, Sender, count_refusal, eta
from gladly_import.push.settings import PushSettings

logger = logging.getLogger("gladly_import.push")


class ItemTally:
    """Gladly's answers to this push's items, as they are recorded."""

    def __init__(self) -> None:
        self.answered = self.created = self.already = 0
        self.refused: Counter[str] = Counter()
        self.invalid: Counter[str] = Counter()
        self.meter = RateMeter()


class PushRun:
    """The tasks of one push and the recording of their answers (on the thread that owns the engine)."""

    def __init__(self, engine: Any, batch: Batch, settings: PushSettings, oldest: datetime, now: Any,
                 push_id: str, to_send: int) -> None:
        self.engine, self.batch, self.settings = engine, batch, settings
        self.oldest, self.now, self.push_id, self.to_send = oldest, now, push_id, to_send
        self.items = ItemTally()

    def tasks(self) -> Any:
        for row in rows_to_send(self.engine, self.batch, self.oldest):
            body = payload(row, self.settings.activity_type)
            problem = payload_problem(body, self.now())
            if problem:
                self.items.invalid[problem] += 1
                continue
            yield ItemTask(body)

    def record(self, answer: Answer) -> list[Any]:
        ledger.record_answer(self.engine, item_id=answer.key, import_run_id=self.batch.run_id, push_id=self.push_id,
                             status=answer.status, http_status=answer.http_status, code=answer.code,
                             detail=answer.detail)
        items = self.items
        items.answered += 1
        items.meter.note(time.monotonic())
        if answer.status == ledger.CREATED:
            items.created += 1
        elif answer.status == ledger.ALREADY_PRESENT:
            items.already += 1
        else:
            count_refusal(items.refused, answer)
        return []

    def progress_line(self, now: float) -> str:
        items = self.items
        left = max(self.to_send - items.answered - sum(items.invalid.values()), 0)
        rate = items.meter.rate(now)
        return (f"{items.answered:,} sent ({items.created:,} created, {items.already:,} already in Gladly, "
                f"{sum(items.refused.values()):,} refused), {left:,} left, {rate:,.1f}/s{eta(left, rate)}")


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
    log_path = log.add_run_file(config.output_dir, push_id, "push")
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
        oldest = cutoff(now, batch.items, rate)
        split = plan(engine, batch, oldest)
        if where.note:
            logger.info(where.note)
        logger.info(f"push {push_id}: import {batch.run_id} ({batch.mode}), {batch.items:,} item(s) in its batch: "
                    f"{split['to_send']:,} to send, {split['csv_only']:,} CSV only (before {oldest:%Y-%m-%d %H:%M} UTC), "
                    f"{split['delivered_before']:,} already delivered, {split['refused_before']:,} refused before"
                    + (" [dry run: nothing is sent]" if dry_run else f", to {where.base_url}"))
        summary: dict[str, Any] = {
            "push_id": push_id, "import_run_id": batch.run_id, "import_mode": batch.mode,
            "dry_run": dry_run, "simulated": where.simulated, "endpoint": where.base_url,
            "started_at": iso(started_wall), "window": {
                "api_limit_days": API_WINDOW.days, "safety_margin": "1 day + the batch's requests / requests per second",
                "oldest_sent": iso(oldest)},
            "batch_items": batch.items, **split,
        }
        run = PushRun(engine, batch, settings, oldest, where.now, push_id, split["to_send"])
        if dry_run:
            for _ in run.tasks():
                pass
            invalid = run.items.invalid
            summary.update(status="dry_run", valid_payloads=split["to_send"] - sum(invalid.values()),
                           invalid_payload=sum(invalid.values()), invalid_by_reason=dict(invalid),
                           estimated_seconds=round(split["to_send"] / rate), requests_per_second=rate)
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
            error=sender.fatal,
        )
        write_summary(summary, config.output_dir)
        reported = add_to_report(engine, config.output_dir, summary)
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
