"""Gladly's email rule (gladly_import/email_rules.py), and the table every engine gets it as."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gladly_import.config import Config
from gladly_import.email_rules import EMAIL_TABLE, hand_email_rule_to_engine, is_normalized_address, normalize_email
from gladly_import.engines import open_engine

# Gladly's rule is email-validator's: what it refuses (consecutive or leading dots, a domain label
# starting with a hyphen) and what it accepts and normalises (internationalised addresses,
# upper-case domains lower-cased, the local part kept as written). test_spark.py hands the same
# cases to Spark.
EMAIL_CASES = [
    ("jane@example.com", "jane@example.com"),
    ("Jane.Doe@EXAMPLE.COM", "Jane.Doe@example.com"),
    ("  Zoe@Example.ORG ", "Zoe@example.org"),
    ("Pat Lee <pat.lee@Example.net>", "pat.lee@example.net"),
    ("josé@exemple.fr", "josé@exemple.fr"),
    ("用户@例子.广告", "用户@例子.广告"),
    ("müller@BÜCHER.DE", "müller@bücher.de"),
    ("jane..doe@example.com", None),
    (".jane@example.com", None),
    ("jane.@example.com", None),
    ("jane@-example.com", None),
    ("jane@example", None),
    ("typo@@example.com", None),
    ("", None),
    (None, None),
]


def email_table_rows(engine: Any) -> dict[str | None, tuple[str | None, bool | None]]:
    """The rule's table as the engine reads it: raw -> (normalized, email-validator's check of it)."""
    hand_email_rule_to_engine(engine, [[raw for raw, _ in EMAIL_CASES[:8]], [raw for raw, _ in EMAIL_CASES[8:]]])
    rows = engine.execute(f"select customer_email_raw, customer_email, customer_email_is_normalized"
                          f" from raw.{EMAIL_TABLE}").fetchall()
    return {raw: (normalized, check) for raw, normalized, check in rows}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("jane@example.com", "jane@example.com"),
        ("  Jane@Example.COM ", "Jane@example.com"),
        ("Jane Doe <jane@example.com>", "jane@example.com"),
        ('"Doe, Jane" <jane@example.com>', "jane@example.com"),
        ("josé@exemple.fr", "josé@exemple.fr"),
        ("typo@@example.com", None),
        ("jane@example", None),
        ("jane@localhost", None),
        ("jane.example.com", None),
        ("Jane Doe <>", None),
        ("", None),
        (None, None),
    ],
)
def test_only_well_formed_addresses_pass_in_normalized_form(raw: str | None, expected: str | None) -> None:
    assert normalize_email(raw) == expected


def test_duckdb_gets_the_rule_as_a_table_with_email_validators_check_of_each_answer(tmp_path: Path) -> None:
    config = Config(path=tmp_path / "config.yml", output_dir=tmp_path / "output", work_dir=tmp_path / "work",
                    batch_size=10, sources={})
    engine = open_engine(config)
    try:
        engine.execute("create schema if not exists raw")
        table = email_table_rows(engine)
    finally:
        engine.close()
    assert {raw: normalized for raw, (normalized, _) in table.items()} == dict(EMAIL_CASES)
    assert {raw: check for raw, (_, check) in table.items()} == {
        raw: (None if normalized is None else True) for raw, normalized in EMAIL_CASES}
    assert (tmp_path / "work" / "raw" / f"{EMAIL_TABLE}.parquet").is_file()


def test_the_email_data_tests_check_is_email_validators_own() -> None:
    """customer_email_is_normalized (the data test's check) refuses a non-normalised or invalid address."""
    values = ["Jane@example.com", "Jane@EXAMPLE.COM", "jane..doe@example.com", "用户@例子.广告", None]
    assert [is_normalized_address(v) for v in values] == [True, False, False, True, None]


def test_many_addresses_are_decided_by_a_process_per_core_in_order_as_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past a second full batch the batches go to worker processes: the same answers, in the same order,
    as deciding them here; a run with fewer addresses starts no process."""
    import multiprocessing

    from gladly_import import email_rules

    monkeypatch.setattr(email_rules, "EMAIL_BATCH_ROWS", 300)
    cases = [raw for raw, _ in EMAIL_CASES]
    addresses = [f"User{i}@Example{i % 7}.COM" if i % 5 else f"user{i}..x@example.com" for i in range(1, 1500)]
    batches = [(cases + addresses)[i:i + 300] for i in range(0, len(cases) + len(addresses), 300)]
    answers = email_rules.decided_batches(batches, workers=2)
    first = next(answers)
    assert multiprocessing.active_children(), "no worker process"
    got = [first, *answers]
    assert [raws for raws, _, _ in got] == batches
    assert [(normalized, checks) for _, normalized, checks in got] == [email_rules.decided(raws) for raws in batches]
    assert got[0][1][:len(EMAIL_CASES)] == [expected for _, expected in EMAIL_CASES]
    assert sum(v is None for _, normalized, _ in got for v in normalized) > 250  # the 1 in 5 refused
    small = email_rules.decided_batches([cases], workers=2)
    assert next(small)[1] == [expected for _, expected in EMAIL_CASES] and not multiprocessing.active_children()


def test_remembered_domain_checks_give_email_validators_own_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule remembers email-validator's domain check (a run's addresses share few domains): the same
    answers as without it, for the cases above and addresses sharing domains, valid and refused, each
    domain checked once; an email-validator whose check moved would fail here (nothing remembered)."""
    import sys

    from gladly_import import email_rules

    module = sys.modules[email_rules.validate_email.__module__]
    remembered = module.validate_email_domain_name
    assert hasattr(remembered, "cache_info"), "email-validator's domain check is not remembered"
    domains = ["Example.COM", "bücher.DE", "例子.广告", "-bad.example", "example", "xn--bcher-kva.de", "EXAMPLE.com"]
    addresses = [raw for raw, _ in EMAIL_CASES] + [f"user{i}@{domains[i % len(domains)]}" for i in range(70)]

    def answers() -> list[tuple[list[str | None], list[bool | None]]]:
        email_rules.normalize_email.cache_clear()
        return [email_rules.decided([address]) for address in addresses]

    remembered.cache_clear()
    with_memory = answers()
    hits = remembered.cache_info().hits
    monkeypatch.setattr(module, "validate_email_domain_name", remembered.__wrapped__)
    assert answers() == with_memory
    assert hits > 50  # each valid domain checked once, then remembered
    assert [normalized[0] for normalized, _ in with_memory[:len(EMAIL_CASES)]] == [e for _, e in EMAIL_CASES]
