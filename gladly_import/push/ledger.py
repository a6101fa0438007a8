"""The push ledgers in the DuckDB file: Gladly's answer to every item pushed (``ledger.push_ledger``) and to
every profile request (``ledger.push_profile_ledger``).

One row per answer, written as it arrives (autocommit, one insert each): a push killed at any instant
loses at most the answers in flight, and those items are sent again with the same id, where a 409
says they had arrived. Statuses:

- ``created``: Gladly answered 200: the item is on the customer's timeline;
- ``already_present``: 409 ``taken``: an item with that id was already there (an earlier push whose
  answer was lost, or a retry after a 500 that had in fact created it);
- ``refused``: 400 (or 413/422): Gladly's error ``code`` and ``detail`` are kept; not sent again for
  the same import run.

``created`` and ``already_present`` count as delivered: the push never sends those again, and a later
delta import does not export them again (``models/staging/pipeline/stg_pipeline__push_ledger.sql``).
Profile answers (profiles.py) are kept the same way, one row per answered request, keyed by the
customer's email and the import run: ``step`` (find, read, update, update_name), ``status`` (what
Gladly answered: found, not_found, moved, read, updated, refused), and on the customer's last row
its ``outcome`` (created, updated, complete, refused, not_found). A read keeps the profile as read
(name, phones), so a push killed before the update sends the update without reading again.

dbt never builds or drops the ``ledger`` schema (see gladly_import/ledger.py, which creates this
table with the others), so this survives every rebuild of the models.
"""

from __future__ import annotations

from typing import Any

from gladly_import.ledger import utc_now

CREATED = "created"
ALREADY_PRESENT = "already_present"
REFUSED = "refused"

# Portable types (DuckDB and Spark); gladly_import/ledger.py creates it with the other ledger tables.
COLUMNS = [
    "conversation_item_id string not null",
    "import_run_id string not null",
    "push_id string not null",
    "status string not null",
    "http_status integer",
    "gladly_code string",
    "gladly_detail string",
    "answered_at timestamp not null",
]
PROFILE_COLUMNS = [
    "customer_email string not null",
    "import_run_id string not null",
    "push_id string not null",
    "step string not null",
    "status string not null",
    "outcome string",
    "http_status integer",
    "gladly_customer_id string",
    "profile string",
    "gladly_code string",
    "gladly_detail string",
    "answered_at timestamp not null",
]
TABLES = {"ledger.push_ledger": COLUMNS, "ledger.push_profile_ledger": PROFILE_COLUMNS}


def record_answer(engine: Any, *, item_id: str, import_run_id: str, push_id: str,
                  status: str, http_status: int | None, code: str | None = None, detail: str | None = None) -> None:
    """One answer, committed at once."""
    engine.execute("insert into ledger.push_ledger values (?, ?, ?, ?, ?, ?, ?, cast(? as timestamp))",
                   [item_id, import_run_id, push_id, status, http_status, code, detail, utc_now()])


def record_profile_answer(engine: Any, *, email: str, import_run_id: str, push_id: str, step: str, status: str,
                          outcome: str | None, http_status: int | None, customer_id: str | None, profile: str | None,
                          code: str | None, detail: str | None) -> None:
    """One profile answer, committed at once."""
    engine.execute("insert into ledger.push_profile_ledger values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, cast(? as timestamp))",
                   [email, import_run_id, push_id, step, status, outcome, http_status, customer_id, profile, code,
                    detail, utc_now()])
