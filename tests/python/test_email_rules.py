"""Gladly's email rule, as the dbt plugin registers it on DuckDB."""

from __future__ import annotations

import duckdb
import pytest

from gladly_import.dbt_plugin import register_functions
from gladly_import.email_rules import normalize_email


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


def test_the_rule_is_registered_as_a_duckdb_function() -> None:
    conn = duckdb.connect()
    register_functions(conn)
    rows = conn.execute(
        "select gladly_normalize_email(e) from (values ('Pat <pat@example.net>'), ('nope'), (null)) t(e)"
    ).fetchall()
    assert rows == [("pat@example.net",), (None,), (None,)]
