"""What a push sends: the last successful import's batch, less what is settled and what the API's window leaves out.

The batch is ``main.gladly_export_batch`` as the last successful import left it (every item of a
full run, the new items of a delta run), checked against that run's rows in ``ledger.export_ledger``.
Settled, never sent again: items Gladly accepted (any push) and items it refused for this same
batch. Of the rest, an item older than the window's cutoff (rules.cutoff) is left to the CSV.
Every query goes through the engine (``?`` parameters) and streams in pages, so memory stays flat
whatever the batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

BATCH_TABLE = "main.gladly_export_batch"
PAGE_ROWS = 500


class PushError(Exception):
    """A reason the push cannot run or go on, in one line."""


@dataclass
class Batch:
    run_id: str
    mode: str
    ended_at: datetime | None
    items: int


def last_batch(engine: Any) -> Batch:
    """The last successful import's batch, checked: the staged batch table is that run's."""
    row = engine.execute(
        "select run_id, mode, ended_at from ledger.import_runs where status = 'succeeded' "
        "order by ended_at desc, started_at desc limit 1").fetchone()
    if row is None:
        raise PushError("no successful import to push yet: run `make import` (or MODE=delta) first")
    run_id, mode, ended_at = row
    if engine.relation_type("main", "gladly_export_batch") is None:
        raise PushError(f"the staged history has no export batch ({BATCH_TABLE}): run the import again")
    staged, recorded, matched = engine.execute(
        f"""
        select
            (select count(*) from {BATCH_TABLE}),
            (select count(*) from ledger.export_ledger where run_id = ?),
            (select count(*) from {BATCH_TABLE} b
             join ledger.export_ledger e on e.conversation_item_id = b.conversation_item_id and e.run_id = ?)
        """, [run_id, run_id]).fetchone()
    if not staged == recorded == matched:
        raise PushError(f"the staged batch is not the one import {run_id} exported (a later import rebuilt it "
                        "and did not finish): run the import again, then push")
    return Batch(run_id=run_id, mode=mode, ended_at=ended_at, items=staged)


# One row per item of the batch: delivered (Gladly accepted it, any push), refused for this batch, settled.
_ITEM_STATE = f"""
    select b.*,
           exists (select 1 from ledger.push_ledger p where p.conversation_item_id = b.conversation_item_id
                   and p.status in ('created', 'already_present')) as delivered,
           exists (select 1 from ledger.push_ledger p where p.conversation_item_id = b.conversation_item_id
                   and p.status = 'refused' and p.import_run_id = ?) as refused_before
    from {BATCH_TABLE} b
"""


def naive_utc(moment: datetime) -> datetime:
    """The batch's timestamps are naive UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def plan(engine: Any, batch: Batch, oldest: datetime) -> dict[str, Any]:
    """How the batch divides: delivered before, refused before, CSV only, to send."""
    delivered, refused, csv_only, to_send = engine.execute(
        f"""
        select
            count(*) filter (where delivered),
            count(*) filter (where refused_before and not delivered),
            count(*) filter (where not delivered and not refused_before and occurred_at < ?),
            count(*) filter (where not delivered and not refused_before and occurred_at >= ?)
        from ({_ITEM_STATE}) as items
        """, [naive_utc(oldest), naive_utc(oldest), batch.run_id]).fetchone()
    files = engine.execute(
        f"""
        select file_name, count(*) from ({_ITEM_STATE}) as items
        where not delivered and not refused_before and occurred_at < ?
        group by file_name order by file_name
        """, [batch.run_id, naive_utc(oldest)]).fetchall()
    return {"delivered_before": delivered, "refused_before": refused, "csv_only": csv_only,
            "csv_only_files": dict(files), "to_send": to_send}


SENT_COLUMNS = ("conversation_item_id", "customer_email", "occurred_at_rfc3339", "title", "body", "source_name",
                "export_row_number")


def rows_to_send(engine: Any, batch: Batch, oldest: datetime) -> Iterator[dict[str, Any]]:
    """The items to send, in export order, a page at a time (each page one short query, by export row number)."""
    after = 0
    while True:
        page = engine.execute(
            f"""
            select {', '.join(SENT_COLUMNS)} from ({_ITEM_STATE}) as items
            where not delivered and not refused_before and occurred_at >= ? and export_row_number > ?
            order by export_row_number limit {PAGE_ROWS}
            """, [batch.run_id, naive_utc(oldest), after]).fetchall()
        for values in page:
            yield dict(zip(SENT_COLUMNS, values, strict=True))
        if len(page) < PAGE_ROWS:
            return
        after = page[-1][-1]
