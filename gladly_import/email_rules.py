"""Gladly's email rule: a well-formed address (syntax only, no DNS), in its normalized form."""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Iterable, Iterator
from email.utils import parseaddr
from functools import lru_cache
from itertools import chain
from typing import Any

from email_validator import EmailNotValidError, validate_email

from extract.processes import available_cores, ordered_results

DOMAINS_REMEMBERED = 65_536


def _remember_domain_checks() -> None:
    """email-validator checks an address's domain afresh for every address (IDNA, UTS-46 a character:
    two thirds of its time, profiled), while a run's hundreds of thousands of addresses share far
    fewer domains (256,644 addresses, 150 domains at 1M items). Its domain check is a pure function of
    its arguments (the domain's forms, or an error), read and not changed by ``validate_email``: it is
    remembered where ``validate_email`` looks it up (a refused domain is checked again each time:
    errors are not remembered). The 1M corpus' addresses on one core: 3.5 s of CPU against 9.8 s, the
    same answers (a test compares them with and without)."""
    module = sys.modules[validate_email.__module__]
    check = getattr(module, "validate_email_domain_name", None)
    if check is not None and not hasattr(check, "cache_info"):
        module.validate_email_domain_name = lru_cache(maxsize=DOMAINS_REMEMBERED)(check)


_remember_domain_checks()


@lru_cache(maxsize=4096)  # the models check each distinct address once; this only spares repeats
def normalize_email(value: str | None) -> str | None:
    """The normalized address, or None when there is no well-formed one.

    ``Jane Doe <Jane@Example.COM>`` keeps the address: ``Jane@example.com``.
    """
    if value is None:
        return None
    candidate = value.strip()
    if "<" in candidate:
        candidate = parseaddr(candidate)[1].strip()
    if not candidate:
        return None
    try:
        return validate_email(candidate, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def is_normalized_address(value: str | None) -> bool | None:
    """The email data test's check, straight from email-validator (not through normalize_email):
    the value is a well-formed address already in its normalized form. NULL stays NULL."""
    if value is None:
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized == value
    except EmailNotValidError:
        return False


# The rule's one home on every engine and topology: the runner reads the distinct raw addresses
# (int_conversation_items_unioned), decides each here, and hands the engine the answers as the
# raw table `raw.email_normalizations`, which int_customer_emails_normalized joins. No engine runs
# Python (a plain Spark Thrift server cannot register a Python UDF), so every engine gives the
# same bytes. `customer_email_is_normalized` is the email data test's check on the answer,
# straight from email-validator (is_normalized_address), not through the rule it tests.
EMAIL_TABLE = "email_normalizations"
EMAIL_SOURCE_MODEL = "int_conversation_items_unioned"  # (a view in schema intermediate)
EMAIL_BATCH_ROWS = 20_000  # addresses fetched, decided and written at a time: memory flat


def email_table_schema() -> Any:
    import pyarrow as pa

    return pa.schema([("customer_email_raw", pa.string()), ("customer_email", pa.string()),
                      ("customer_email_is_normalized", pa.bool_())])


def decided(raws: list[str | None]) -> tuple[list[str | None], list[bool | None]]:
    """Each raw address's normalized form, and email-validator's check of that form."""
    normalized = [normalize_email(v) for v in raws]
    return normalized, [is_normalized_address(v) if v is not None else None for v in normalized]


def decided_batches(batches: Iterable[list[str | None]],
                    workers: int | None = None) -> Iterator[tuple[list[str | None], list[str | None], list[bool | None]]]:
    """(raws, normalized, checks) a batch at a time, in order. One core decides ~73,000 addresses a
    second (256,644 at 1M items: 3.5 s of CPU; 9.8 s before the domain checks were remembered): once a
    second full batch comes, the batches are decided by
    a process per core, two batches each in flight at most (memory flat); a run with fewer addresses
    decides them here."""
    workers = available_cores() if workers is None else workers
    iterator = iter(batches)
    first = next(iterator, None)
    if first is None:
        return
    second = next(iterator, None) if len(first) >= EMAIL_BATCH_ROWS else None
    if second is None or workers <= 1:
        for raws in chain([first], [second] if second is not None else [], iterator):
            yield (raws, *decided(raws))
        return
    handed_out: deque[list[str | None]] = deque()

    def batches_handed_out() -> Iterator[list[str | None]]:
        for raws in chain([first, second], iterator):  # pulled as handed out, never all at once
            handed_out.append(raws)
            yield raws

    for answer in ordered_results(decided, batches_handed_out(), workers, in_flight=2):
        yield (handed_out.popleft(), *answer)


def email_table_batches(batches: Iterable[list[str | None]]) -> Iterator[Any]:
    """Arrow record batches of the table, one per batch of distinct raw addresses."""
    import pyarrow as pa

    schema = email_table_schema()
    for raws, normalized, checks in decided_batches(batches):
        yield pa.record_batch([pa.array(raws, pa.string()), pa.array(normalized, pa.string()),
                               pa.array(checks, pa.bool_())], schema=schema)


def distinct_raw_addresses(engine: Any) -> Iterator[list[str | None]]:
    """The distinct raw customer emails of this run's items, streamed in batches (the unioned view built)."""
    result = engine.execute(f"select distinct customer_email_raw from intermediate.{EMAIL_SOURCE_MODEL}"
                            " where customer_email_raw is not null")
    while rows := result.fetchmany(EMAIL_BATCH_ROWS):
        yield [row[0] for row in rows]


def hand_email_rule_to_engine(engine: Any, batches: Iterable[list[str | None]]) -> None:
    """`raw.email_normalizations`: each raw address and its normalized form, written to the raw
    location the engine's workers read, and registered there."""
    from gladly_import.warehouse import write_raw_table

    path = write_raw_table(engine.raw_location, EMAIL_TABLE, email_table_schema(), email_table_batches(batches))
    engine.register_raw_table(EMAIL_TABLE, path, several=False)
