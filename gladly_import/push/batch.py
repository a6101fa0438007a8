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
    return {"delivered_before": delivered, "refused_before": refused, "csv_only": csv_only, "to_send": to_send}


# Each customer's contact card in the batch (a customer: an email, in any case, as Gladly reads it): the name
# and phone of its latest item that has one.
_CONTACTS = f"""
    select lower(customer_email) as customer_email,
           arg_max(trim(customer_name), occurred_at) filter (where trim(customer_name) <> '') as contact_name,
           arg_max(trim(customer_phone), occurred_at) filter (where trim(customer_phone) <> '') as contact_phone
    from {BATCH_TABLE} group by lower(customer_email)
"""
SENT_COLUMNS = ("conversation_item_id", "customer_email", "occurred_at_rfc3339", "title", "body", "source_name",
                "contact_name", "contact_phone", "export_row_number")


def rows_to_send(engine: Any, batch: Batch, oldest: datetime) -> Iterator[dict[str, Any]]:
    """The items to send, in export order, a page at a time (each page one short query, by export row number),
    each with its customer's contact card."""
    after = 0
    while True:
        page = engine.execute(
            f"""
            select {', '.join(f'items.{c}' if c == 'customer_email' else c for c in SENT_COLUMNS)}
            from ({_ITEM_STATE}) as items left join ({_CONTACTS}) as c on lower(items.customer_email) = c.customer_email
            where not delivered and not refused_before and occurred_at >= ? and export_row_number > ?
            order by export_row_number limit {PAGE_ROWS}
            """, [batch.run_id, naive_utc(oldest), after]).fetchall()
        for values in page:
            yield dict(zip(SENT_COLUMNS, values, strict=True))
        if len(page) < PAGE_ROWS:
            return
        after = page[-1][-1]


# Customers whose profile step is due: a name or phone to set, an item Gladly holds, no outcome for this batch yet;
# with the latest read an earlier push recorded (read, found, or moved to another id) and a phone it had refused.
_PROFILES_DUE = f"""
    select c.customer_email, c.contact_name, c.contact_phone,
           exists (select 1 from {BATCH_TABLE} b join ledger.push_ledger p using (conversation_item_id)
                   where lower(b.customer_email) = c.customer_email and p.status = 'created') as item_created,
           l.status, l.gladly_customer_id, l.profile, l.answered_at, r.http_status, r.gladly_code, r.gladly_detail
    from ({_CONTACTS}) as c
    left join (
        select *, row_number() over (partition by customer_email order by answered_at desc) as answer_rank
        from ledger.push_profile_ledger where import_run_id = ? and status in ('read', 'found', 'moved')
    ) as l on l.customer_email = c.customer_email and l.answer_rank = 1
    left join (
        select *, row_number() over (partition by customer_email order by answered_at desc) as answer_rank
        from ledger.push_profile_ledger where import_run_id = ? and step = 'update' and status = 'refused'
    ) as r on r.customer_email = c.customer_email and r.answer_rank = 1
    where (c.contact_name is not null or c.contact_phone is not null)
      and not exists (select 1 from ledger.push_profile_ledger o where o.customer_email = c.customer_email
                      and o.import_run_id = ? and o.outcome is not null)
      and exists (select 1 from {BATCH_TABLE} b join ledger.push_ledger p using (conversation_item_id)
                  where lower(b.customer_email) = c.customer_email and p.status in ('created', 'already_present'))
"""
DUE_COLUMNS = ("email", "name", "phone", "item_created", "status", "customer_id", "profile", "answered_at",
               "refused_status", "refused_code", "refused_detail")


def profiles_due(engine: Any, batch: Batch) -> Iterator[dict[str, Any]]:
    """Customers whose profile step an earlier push left undone (killed between an item and its profile), by email."""
    after = ""
    while True:
        page = engine.execute(f"select * from ({_PROFILES_DUE}) as due where customer_email > ? "
                              f"order by customer_email limit {PAGE_ROWS}", [batch.run_id] * 3 + [after]).fetchall()
        yield from (dict(zip(DUE_COLUMNS, values, strict=True)) for values in page)
        if len(page) < PAGE_ROWS:
            return
        after = page[-1][0]


def profile_customers(engine: Any, batch: Batch, oldest: datetime | None) -> int:
    """Customers of the batch with a name or phone to set and no profile outcome for this batch yet: those with an
    item Gladly holds or one to send after ``oldest`` (None: every customer, for the window's margin)."""
    return engine.execute(
        f"""
        select count(*) from ({_CONTACTS}) as c
        where (c.contact_name is not null or c.contact_phone is not null)
          and not exists (select 1 from ledger.push_profile_ledger l where l.customer_email = c.customer_email
                          and l.import_run_id = ? and l.outcome is not null)
          and (? or exists (select 1 from ({_ITEM_STATE}) as i where lower(i.customer_email) = c.customer_email
                            and (i.delivered or (not i.refused_before and i.occurred_at >= ?))))
        """, [batch.run_id, oldest is None, batch.run_id, naive_utc(oldest or datetime.now(UTC))]).fetchone()[0]


def has_profile_answer(engine: Any, batch: Batch, email: str) -> bool:
    """A profile answer for this customer and batch is recorded (its step is done or under way)."""
    return engine.execute("select count(*) from ledger.push_profile_ledger where customer_email = ? and import_run_id = ?",
                          [email, batch.run_id]).fetchone()[0] > 0
