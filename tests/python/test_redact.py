"""Redaction (extract/redact.py, extract/raw.py): what is removed, what is kept, the redact: block's
check, and the raw writer applying it to the declared free-text columns and the rejects' excerpts.

The card numbers are the schemes' published test numbers (Stripe's, PayPal's lists), written the
ways people type them; the IBANs are the registries' examples; look-alikes that must survive are
real shapes (Amazon order numbers, UPS/USPS tracking numbers, phone numbers, dates).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from extract import csv_template, freshdesk, gmail, gorgias, kustomer, zendesk
from extract.platforms import PLATFORMS
from extract.raw import (
    FIELD_CAP_CHARS,
    PlatformOutput,
    RawTableWriter,
    fingerprint,
    free_text,
    free_text_part,
    with_lineage,
)
from extract.redact import NO_REDACTION, SETTINGS, Redactor, kind_words, pattern_problem, redactor_from
from gladly_import.config import ConfigError, load_config

EVERYTHING = {"iban": True, "us_ssn": True,
              "patterns": [{"name": "order_token", "regex": "tok_[A-Za-z0-9]{24}"}]}


@pytest.fixture(scope="module")
def everything() -> Redactor:
    return redactor_from(EVERYTHING)


def redacted(redactor: Redactor, text: str) -> str:
    return redactor.redact(text)[0]


# -- card numbers ---------------------------------------------------------------------------------

CARDS_AS_TYPED = [
    ("Visa", "4111 1111 1111 1111"),
    ("Visa", "4012-8888-8888-1881"),
    ("Mastercard", "5555 5555 5555 4444"),
    ("Mastercard", "5105-1051-0510-5100"),
    ("Mastercard 2-series", "2223003122003222"),
    ("Amex, 4-6-5", "3782 822463 10005"),
    ("Amex", "371449635398431"),
    ("Discover", "6011 1111 1111 1117"),
    ("JCB", "3530 1113 3330 0000"),
    ("Diners, 14 digits", "3056 930902 5904"),
    ("UnionPay", "6200 0000 0000 0005"),
    ("no-break spaces (HTML as text)", "4242\u00a04242\u00a04242\u00a04242"),
]


@pytest.mark.parametrize(("scheme", "card"), CARDS_AS_TYPED, ids=[c[0] for c in CARDS_AS_TYPED])
def test_card_numbers_as_people_type_them_are_removed(scheme: str, card: str) -> None:
    redactor = redactor_from(None)  # the defaults: card numbers only
    text, counts = redactor.redact(f"Hi, please charge my card {card}, exp 04/27, CVC 123. Thanks!")
    assert text == "Hi, please charge my card [redacted card_number], exp 04/27, CVC 123. Thanks!"
    assert counts == {"card_number": 1}


@pytest.mark.parametrize("text, expected", [
    ("card:4111111111111111.", "card:[redacted card_number]."),
    ("Kartennummer4111-1111-1111-1111bitte", "Kartennummer[redacted card_number]bitte"),
    ("<td>5555555555554444</td>", "<td>[redacted card_number]</td>"),
    ("order 12 4111 1111 1111 1111 exp 0427", "order 12 [redacted card_number] exp 0427"),
    ("4111 1111 1111 1111 123", "[redacted card_number] 123"),
    ("two: 4111111111111111/5555555555554444", "two: [redacted card_number]/[redacted card_number]"),
    ("line\n4111 1111\n1111 1111", "line\n4111 1111\n1111 1111"),  # a line break is not a separator
], ids=["glued to punctuation", "inside words", "in HTML", "after an order number", "before a CVC-like group",
        "two in a row", "across lines"])
def test_card_numbers_inside_words_and_beside_other_numbers(text: str, expected: str) -> None:
    assert redacted(redactor_from(None), text) == expected


@pytest.mark.parametrize("text", [
    "4111 1111 1111 1112",             # a Visa prefix, but the Luhn check digit is wrong
    "5555-5555-5555-4445",
    "Order #112-4983371-5529041 shipped",  # Amazon's order number
    "Tracking 1Z999AA10123456784",      # UPS
    "USPS 9400 1000 0000 0000 0000 00",  # 22 digits starting with 9: no card prefix
    "USPS 9400 4111 1111 1111 1111 00",  # a valid card's digits inside a longer number grouped alike
    "EAN 4222222222222",                 # a 13-digit Visa test number is an EAN-13 barcode's shape
    "FedEx 7489 2345 1230",
    "Call +1 (415) 555-0100 or +44 20 7946 0958",
    "Between 2021-03-04 and 2021-03-05 at 10:30",
    "Invoice 0000123456789012",          # Luhn-valid, but 0 is no card prefix
    "1234 5678 9012 3456",               # no issuer starts with 1
    "3782 8224 6310 0051",               # an Amex prefix in 16 digits: Amex numbers have 15
    "49927398716",                       # Luhn-valid, 11 digits
    "12345678901234567890123",           # 23 digits
], ids=lambda t: t[:24])
def test_numbers_that_are_not_card_numbers_are_kept(text: str) -> None:
    assert redactor_from(None).redact(text) == (text, {})


def test_a_card_number_in_a_long_run_of_digits_is_found_on_its_group_boundaries() -> None:
    text = "ref 2021-07 4111 1111 1111 1111 22 99"
    assert redacted(redactor_from(None), text) == "ref 2021-07 [redacted card_number] 22 99"
    # groups of four before and after: a longer number grouped like a card (a tracking number)
    assert redacted(redactor_from(None), "ref 2021 4111 1111 1111 1111") == "ref 2021 4111 1111 1111 1111"
    assert redacted(redactor_from(None), "4111-1111-1111-1111-0425") == "4111-1111-1111-1111-0425"


# -- IBANs ----------------------------------------------------------------------------------------

IBANS = [
    ("DE", "DE89 3704 0044 0532 0130 00"),
    ("GB", "GB82 WEST 1234 5698 7654 32"),
    ("FR", "FR14 2004 1010 0505 0001 3M02 606"),
    ("NL", "NL91ABNA0417164300"),
    ("ES", "ES91 2100 0418 4502 0005 1332"),
    ("IT", "IT60 X054 2811 1010 0000 0123 456"),
    ("BE, dashes", "BE71-0961-2345-6769"),
    ("BE, a bank no registry lists", "BE68 5390 0754 7034"),
    ("PL", "PL61 1090 1014 0000 0712 1981 2874"),
    ("CH", "CH93 0076 2011 6238 5295 7"),
    ("lower case", "de89370400440532013000"),
]


@pytest.mark.parametrize(("country", "iban"), IBANS, ids=[i[0] for i in IBANS])
def test_ibans_of_several_countries_are_removed(everything: Redactor, country: str, iban: str) -> None:
    assert everything.redact(f"Please refund to {iban} thank you") == (
        "Please refund to [redacted iban] thank you", {"iban": 1})


@pytest.mark.parametrize("text", [
    "DE89 3704 0044 0532 0130 01",     # a wrong check: mod-97 fails
    "GB82 WEST 1234 5698 7654",        # too short for GB
    "XX89 3704 0044 0532 0130 00",     # no such country
    "Model AB12 CD34 EF56 GH78 IJ90",  # a product code shaped like one
    "AVDE89370400440532013000",        # glued to a word on the left
], ids=lambda t: t[:20])
def test_iban_look_alikes_are_kept(everything: Redactor, text: str) -> None:
    assert everything.redact(text) == (text, {})


def test_an_iban_is_cut_at_its_last_group_not_at_the_next_word(everything: Redactor) -> None:
    assert redacted(everything, "IBAN: DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX") == (
        "IBAN: [redacted iban] BIC COBADEFFXXX")


def test_ibans_are_off_by_default() -> None:
    text = "DE89 3704 0044 0532 0130 00"
    assert redactor_from(None).redact(text) == (text, {})
    assert redactor_from({"card_numbers": True}).kinds == ("card_number",)


# -- US social security numbers ------------------------------------------------------------------------


def test_a_social_security_number_is_removed(everything: Redactor) -> None:
    assert everything.redact("My SSN is 536-90-4399.") == ("My SSN is [redacted us_ssn].", {"us_ssn": 1})


@pytest.mark.parametrize("ssn", ["000-12-3456", "666-12-3456", "900-12-3456", "987-65-4321", "123-00-4567",
                                 "123-45-0000", "078-05-1120"],
                         ids=["area 000", "area 666", "area 900", "area 9xx", "group 00", "serial 0000",
                              "the Woolworth wallet card"])
def test_numbers_in_ranges_never_issued_are_kept(everything: Redactor, ssn: str) -> None:
    assert everything.redact(f"ssn {ssn}") == (f"ssn {ssn}", {})


@pytest.mark.parametrize("text", ["part 1-536-90-4399", "536-90-4399-12", "536904399", "536 90 4399"])
def test_ssn_shapes_that_are_part_of_something_else_are_kept(everything: Redactor, text: str) -> None:
    assert everything.redact(text) == (text, {})


def test_us_ssn_is_off_by_default() -> None:
    assert redactor_from(None).redact("536-90-4399") == ("536-90-4399", {})


# -- custom patterns, replacement, overlaps -----------------------------------------------------------


def test_a_custom_pattern_is_removed_under_its_name(everything: Redactor) -> None:
    text = "Your token is tok_4eC39HqLyjWDarjtT1zdp7dc; tok_short stays."
    assert everything.redact(text) == ("Your token is [redacted order_token]; tok_short stays.", {"order_token": 1})


def test_the_replacement_is_configurable_and_kind_is_optional() -> None:
    assert redacted(redactor_from({"replacement": "<{kind} removed>"}), "4111111111111111") == "<card_number removed>"
    assert redacted(redactor_from({"replacement": "XXXX"}), "a 4111111111111111 b") == "a XXXX b"


def test_overlapping_values_are_removed_once_the_earliest_and_longest_winning() -> None:
    redactor = redactor_from({"patterns": [{"name": "digits", "regex": "[0-9]{6,}"}]})
    assert redactor.redact("x 4111111111111111 and 12345678") == (
        "x [redacted card_number] and [redacted digits]", {"card_number": 1, "digits": 1})


def test_everything_off_is_no_redaction() -> None:
    redactor = redactor_from({"card_numbers": False})
    assert not redactor
    assert redactor.redact("4111111111111111") == ("4111111111111111", {})


def test_kinds_in_words() -> None:
    assert [kind_words("card_number", 1), kind_words("card_number", 1204), kind_words("iban"),
            kind_words("us_ssn"), kind_words("order_token", 3)] == [
        "card number", "card numbers", "IBANs", "US social security numbers", "order_token matches"]


def test_the_pre_filter_finds_every_text_the_detectors_would_change(everything: Redactor) -> None:
    """candidates() (RE2 over the column) must never miss a text the Python detectors redact."""
    builtin = redactor_from({"iban": True, "us_ssn": True})
    texts = [f"a {card} b" for _, card in CARDS_AS_TYPED] + [f"x {iban}" for _, iban in IBANS] + [
        "536-90-4399", "nothing here", None, "4111 1111 1111 1112", ""]
    changed = {i: builtin.redact(t)[1] for i, t in enumerate(texts) if t is not None and builtin.redact(t)[1]}
    candidates = builtin.candidates(pa.array(texts, pa.string()))
    assert set(changed) <= set(candidates)
    for row, counts in changed.items():  # each kind found is among the detectors run on that text
        assert set(counts) <= {d.kind for d in candidates[row]}
        assert builtin.redact(texts[row], candidates[row]) == builtin.redact(texts[row])
    assert texts.index("nothing here") not in candidates and texts.index(None) not in candidates
    # a custom pattern is looked for in every non-null text (RE2's \\d, \\w, \\b are ASCII, Python's
    # are not), unless it starts with a literal text, case-sensitive: then in the texts holding that
    custom = redactor_from({"card_numbers": False, "patterns": [{"name": "otp", "regex": r"\b\d{6}\b"}]})
    assert sorted(custom.candidates(pa.array(texts, pa.string()))) == [i for i, t in enumerate(texts) if t is not None]
    tokens = ["a tok_4eC39HqLyjWDarjtT1zdp7dc", "TOK_4eC39HqLyjWDarjtT1zdp7dc", "tok-", None, "x tok_"]
    looked_for = everything.candidates(pa.array(tokens, pa.string()))
    assert [row for row, detectors in sorted(looked_for.items()) if "order_token" in {d.kind for d in detectors}] == [0, 4]
    assert everything.redact_array(pa.array(tokens, pa.string()))[0].to_pylist()[0] == "a [redacted order_token]"
    insensitive = redactor_from({"patterns": [{"name": "t", "regex": "(?i)tok_[a-z0-9]{24}"}]})
    assert insensitive.redact_array(pa.array(tokens, pa.string()))[1] == {0: {"t": 1}, 1: {"t": 1}}
    redacted_array, found = builtin.redact_array(pa.array(texts, pa.string()))
    assert found == changed
    assert redacted_array.to_pylist() == [None if t is None else builtin.redact(t)[0] for t in texts]


# -- the redact: block --------------------------------------------------------------------------------


def _config(tmp_path: Path, redact_block: str) -> Path:
    (tmp_path / "z").mkdir(exist_ok=True)
    (tmp_path / "z" / "t.json").write_text('{"id": 1, "subject": "s", "comments": []}\n', encoding="utf-8")
    path = tmp_path / "config.yml"
    path.write_text(f"sources:\n  zendesk:\n    path: z/\n{redact_block}", encoding="utf-8")
    return path


def test_no_redact_block_means_card_numbers_removed(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, ""))
    assert config.redact is None and config.redactor.kinds == ("card_number",)


def test_a_full_redact_block_loads(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, """redact:
  card_numbers: true
  iban: true
  us_ssn: true
  patterns:
    - {name: order_token, regex: 'tok_[A-Za-z0-9]{24}'}
    - name: otp
      regex: '(?i)one-time code:? [0-9]{6}'
  replacement: "[removed {kind}]"
"""))
    redactor = config.redactor
    assert redactor.kinds == ("card_number", "iban", "us_ssn", "order_token", "otp")
    assert redactor.redact("One-Time Code 12345")[0] == "One-Time Code 12345"
    assert redactor.redact("one-time code: 123456")[0] == "[removed otp]"
    assert redactor.redact("card 4111111111111111")[0] == "card [removed card_number]"


def _problems(tmp_path: Path, block: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_config(_config(tmp_path, block))
    return raised.value.problems


def test_bad_redact_settings_are_each_named(tmp_path: Path) -> None:
    long_regex = "a" * 400
    problems = _problems(tmp_path, f"""redact:
  iban: "yes"
  card_number: true
  replacement: "two\\nlines"
  patterns:
    - {{name: order_token, regex: 'tok_[A-Za-z0-9'}}
    - {{name: Bad-Name, regex: 'x'}}
    - {{name: iban, regex: 'x'}}
    - {{name: greedy, regex: '(a+)+b'}}
    - {{name: words, regex: '(\\w+\\s?){{1,20}}!'}}
    - {{name: empty, regex: 'x*'}}
    - {{name: long, regex: '{long_regex}'}}
    - {{name: order_token, regex: 'y', flags: i}}
    - just a text
""")
    text = "\n".join(problems)
    assert "redact: unknown key 'card_number' (did you mean 'card_numbers'?" in text
    assert "redact.iban: must be true or false, got 'yes'" in text
    assert "redact.replacement: must be one line of at most 100 characters" in text
    assert "entry 1 (order_token): regex is not a valid regular expression: unterminated character set" in text
    assert "entry 2: name must be a lower-case name such as order_token" in text
    assert "entry 3 (iban): name 'iban' is a built-in kind" in text
    assert "entry 4 (greedy): regex has a repetition inside a repetition" in text
    assert "entry 5 (words): regex has a repetition inside a repetition" in text
    assert "entry 6 (empty): regex matches an empty text" in text
    assert "entry 7 (long): regex is 400 characters long: at most 300" in text
    assert "entry 8 (order_token): unknown key 'flags' (allowed: name, regex)" in text
    assert "entry 8 (order_token): name 'order_token' is used by an earlier entry" in text
    assert "entry 9: must be a mapping {name: ..., regex: ...}, got a text of" not in text  # short texts are shown
    assert "entry 9: must be a mapping {name: ..., regex: ...}, got 'just a text'" in text
    assert long_regex not in text and "tok_[A-Za-z0-9" not in text  # the patterns are never echoed


def test_patterns_that_are_fine_pass_the_check() -> None:
    for regex in ["tok_[A-Za-z0-9]{24}", r"(?:[A-Z0-9]{4} ?)+", r"(\d+-){3}\d+", r"(?i)password:\s*\S+",
                  r"\b[0-9]{6}\b", r"(?<=code )[0-9]{4,8}"]:
        assert pattern_problem(regex) is None, regex


def test_the_redact_block_is_in_the_readmes_table() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for setting in SETTINGS:
        assert f"| `redact.{setting.key}` |" in readme


# -- which columns are free text ----------------------------------------------------------------------

# What each platform's staging model makes the title and the body from (models/staging/<platform>/),
# and the renderings of them the extractor lands beside (the HTML of a body, Gorgias's stripped text).
DECLARED_FREE_TEXT = {
    "zendesk": {"ticket_comments": {"ticket_subject": "title", "comment_body": "body", "comment_html_body": "body",
                                    "comment_plain_body": "body"}},
    "csv": {"conversation_items": {"title": "title", "body": "body"}},
    "freshdesk": {"tickets": {"subject": "title", "description": "body", "description_html": "body"},
                  "ticket_notes": {"subject": "title", "body": "body", "body_html": "body"}, "users": {}},
    "kustomer": {"messages": {"subject": "title", "meta_subject": "title", "preview": "body"},
                 "customers": {}, "customer_emails": {}, "customer_phones": {}},
    "gorgias": {"tickets": {"subject": "title"},
                "messages": {"subject": "title", "body_text": "body", "body_html": "body", "stripped_text": "body"}},
    "gmail": {"messages": {"subject": "title", "body_text": "body", "body_html_text": "body"}},
}


def test_each_platform_declares_the_columns_that_become_titles_and_bodies() -> None:
    declared = {name: {table: {f.name: free_text_part(f) for f in schema if free_text_part(f)}
                       for table, schema in platform.schemas.items()} for name, platform in PLATFORMS.items()}
    assert declared == DECLARED_FREE_TEXT
    assert {zendesk, csv_template, freshdesk, kustomer, gorgias, gmail} == {
        __import__(p.extract.__module__, fromlist=["x"]) for p in PLATFORMS.values()}


# Raw columns a body is built from that are no free text: Kustomer's sentence for a message
# without a preview ("Communication sent from <meta.from> to <meta.to> on <createdAt> via ...").
NOT_FREE_TEXT_IN_A_BODY = {"kustomer": {"meta_from", "meta_to", "created_at", "channel", "app"}}


def test_the_staging_models_build_titles_and_bodies_from_declared_columns() -> None:
    """Every raw column a staging model names between its "-- strings" comment and its body is
    declared free text (a column renamed by a base model is checked where the base model reads it)."""
    root = Path(__file__).resolve().parents[2] / "models" / "staging"
    for name, platform in PLATFORMS.items():
        columns = {f.name for schema in platform.schemas.values() for f in schema}
        free = {f.name for schema in platform.schemas.values() for f in schema if free_text_part(f)}
        sql = (root / name / f"stg_{name}__conversation_items.sql").read_text(encoding="utf-8")
        strings = re.search(r"-- strings:?(.*?) as body,", sql, re.S)
        assert strings, name
        named = set(re.findall(r"[a-z_]+", strings.group(1))) & columns
        assert named - free - NOT_FREE_TEXT_IN_A_BODY.get(name, set()) == set(), name


# -- the raw writer ---------------------------------------------------------------------------------

SCHEMA = with_lineage(
    pa.field("id", pa.string()),
    pa.field("email", pa.string()),
    free_text("subject", "title"),
    free_text("body"),
    free_text("body_html"),
    pa.field("tags", pa.list_(pa.string())),
)


def _row(n: int, **values: object) -> dict[str, object]:
    return {"id": str(n), "_source_file": "f.json", "_source_row": n, **values}


def test_the_writer_redacts_free_text_columns_only_and_counts_per_row(tmp_path: Path, everything: Redactor) -> None:
    writer = RawTableWriter(tmp_path / "t.parquet", SCHEMA, batch_rows=2, redactor=everything)
    writer.write(_row(1, email="4111111111111111@example.com", subject="Card 4111 1111 1111 1111",
                      body="It is 4111 1111 1111 1111 and 5555 5555 5555 4444", tags=["4111111111111111"],
                      body_html="<p>It is 4111 1111 1111 1111 and 5555 5555 5555 4444</p>"))
    writer.write(_row(2, subject="hello", body="refund to DE89 3704 0044 0532 0130 00\x00 please"))
    writer.write(_row(3, subject="nothing", body="order 112-4983371-5529041"))
    writer.close()
    rows = pq.read_table(tmp_path / "t.parquet").to_pylist()
    assert [(r["subject"], r["body"], r["body_html"]) for r in rows] == [
        ("Card [redacted card_number]", "It is [redacted card_number] and [redacted card_number]",
         "<p>It is [redacted card_number] and [redacted card_number]</p>"),
        ("hello", "refund to [redacted iban] please", None),
        ("nothing", "order 112-4983371-5529041", None)]
    assert rows[0]["email"] == "4111111111111111@example.com" and rows[0]["tags"] == ["4111111111111111"]
    # row 1: one card in its title, two in its body (as text and as HTML: one body) -> 3 values
    assert writer.redactions == {"card_number": [1, 3], "iban": [1, 1]}


def test_without_a_redactor_nothing_is_redacted(tmp_path: Path) -> None:
    writer = RawTableWriter(tmp_path / "t.parquet", SCHEMA)
    writer.write(_row(1, body="4111 1111 1111 1111"))
    writer.close()
    assert pq.read_table(tmp_path / "t.parquet").to_pylist()[0]["body"] == "4111 1111 1111 1111"
    assert writer.redactions == {} and not NO_REDACTION


def test_a_value_at_the_field_cap_is_cut_before_the_secret_not_through_it(tmp_path: Path) -> None:
    cuts: list[tuple] = []
    writer = RawTableWriter(tmp_path / "t.parquet", SCHEMA, field_cap=FIELD_CAP_CHARS, redactor=redactor_from(None),
                            on_truncate=lambda *args: cuts.append(args))
    body = "x" * (FIELD_CAP_CHARS - 10) + " 4111 1111 1111 1111 and more"
    writer.write(_row(1, body=body))
    writer.close()
    kept = pq.read_table(tmp_path / "t.parquet").to_pylist()[0]["body"]
    assert kept == "x" * (FIELD_CAP_CHARS - 10) + " "
    assert cuts == [("t", "body", len(body), "characters", len(kept), _row(1, body=body))]


def test_the_fingerprint_before_redaction_is_the_models_stable_hash(tmp_path: Path) -> None:
    """A CSV row without an ID keeps the id it has without redaction: the writer's fingerprint of
    the text before redaction equals what the stable_hash macro computes on that text."""
    schema = with_lineage(pa.field("email", pa.string()), free_text("title", "title"), free_text("body"),
                          fingerprint("fp", "email", "title", "body"))
    writer = RawTableWriter(tmp_path / "t.parquet", schema, redactor=redactor_from(None))
    original = ("a@example.com", None, "Card 4111-1111-1111-1111\x07 thanks")
    writer.write({"email": original[0], "title": original[1], "body": original[2], "_source_file": "f"})
    writer.write({"email": "b@example.com", "title": "t", "body": "nothing", "_source_file": "f"})
    writer.close()
    rows = pq.read_table(tmp_path / "t.parquet").to_pylist()
    assert rows[0]["body"] == "Card [redacted card_number] thanks" and rows[1]["fp"] is None
    landed_before = "Card 4111-1111-1111-1111 thanks"  # control characters go before anything else
    expected = duckdb.connect().execute("select md5(concat_ws('|', coalesce(?, '<null>'), coalesce(?, '<null>'),"
                                        " coalesce(?, '<null>')))", [original[0], original[1], landed_before]).fetchone()[0]
    assert rows[0]["fp"] == expected == hashlib.md5(f"a@example.com|<null>|{landed_before}".encode()).hexdigest()


def test_rejects_excerpts_and_details_are_redacted_before_they_are_cut(tmp_path: Path, everything: Redactor) -> None:
    out = PlatformOutput(tmp_path / "raw", "zendesk", zendesk.TABLES, zendesk.RECORD_TABLES, everything)
    line = ('{"id": 5, "subject": "' + "x" * 480 + ' 4111 1111 1111 1111", "comments": [')
    out.reject(reason="malformed_json", source_file="t.json", position="line 1", row=1, raw=line.encode(),
               detail="near 'card 5555 5555 5555 4444 ssn 536-90-4399'", customer_email_raw="4111111111111111@x.com")
    out.reject(reason="not_a_ticket", source_file="t.json", position="line 2", row=2, raw="[1, 2, 3]")
    out.close()
    rejects = pq.read_table(out.rejects_path).to_pylist()
    assert rejects[0]["raw_excerpt"] == ('{"id": 5, "subject": "' + "x" * 480 + " [redacted card_number]")[:500]
    assert rejects[0]["reject_detail"] == "near 'card [redacted card_number] ssn [redacted us_ssn]'"
    assert rejects[0]["customer_email_raw"] == "4111111111111111@x.com"  # not free text
    assert rejects[1]["raw_excerpt"] == "[1, 2, 3]"
    counts = pq.read_table(out.redactions_path).to_pylist()
    assert counts == [{"source_platform": "zendesk", "table_name": "extract_rejects", "is_record_table": True,
                       "redaction_kind": kind, "rows_redacted": 1, "values_redacted": values}
                      for kind, values in (("card_number", 2), ("us_ssn", 1))]


def test_the_redactions_table_is_written_for_every_platform_even_empty(tmp_path: Path) -> None:
    out = PLATFORMS["gorgias"].output(tmp_path / "raw", redactor_from(None))
    out.table("tickets").write({"ticket_id": "1", "subject": "card 4111111111111111", "_source_file": "p"})
    out.table("messages").write({"message_id": "m", "body_text": "5555555555554444", "_source_file": "p"})
    out.close()
    empty = PLATFORMS["csv"].output(tmp_path / "raw")
    empty.close()
    assert pq.read_table(out.redactions_path).to_pylist() == [
        {"source_platform": "gorgias", "table_name": "messages", "is_record_table": True, "redaction_kind": "card_number",
         "rows_redacted": 1, "values_redacted": 1},
        {"source_platform": "gorgias", "table_name": "tickets", "is_record_table": False,
         "redaction_kind": "card_number", "rows_redacted": 1, "values_redacted": 1}]
    assert pq.read_table(empty.redactions_path).num_rows == 0


# -- the summary's table and the report ------------------------------------------------------------


def _summary_with(redacted: dict[str, dict[str, dict[str, int]]], kinds: list[str] | None) -> dict:
    from tests.python.test_report import ugly_summary

    summary = ugly_summary({"zendesk": {}, "gmail": {}})
    for name, found in redacted.items():
        summary["platforms"][name]["redacted"] = found
    totals: dict[str, dict[str, int]] = {}
    for found in redacted.values():
        for kind, counts in found.items():
            total = totals.setdefault(kind, {"items": 0, "values": 0})
            total["items"] += counts["items"]
            total["values"] += counts["values"]
    summary["redaction"] = {"kinds": kinds, "totals": totals}
    return summary


def test_the_table_and_the_report_say_what_was_removed_in_words() -> None:
    from gladly_import.report import ReportData, render_report
    from gladly_import.summary import format_table

    summary = _summary_with({"zendesk": {"card_number": {"items": 1187, "values": 1204},
                                         "order_token": {"items": 1, "values": 1}},
                             "gmail": {"card_number": {"items": 1, "values": 1}}},
                            ["card_number", "order_token"])
    table = format_table(summary)
    assert table.splitlines()[-4:] == [
        "removed from titles and bodies before anything was written (redact:):",
        "  zendesk         1,204 card numbers                 from 1,187 items",
        "  zendesk             1 order_token match            from 1 item",
        "  gmail               1 card number                  from 1 item"]
    page = render_report(summary, ReportData([], [], []))
    assert "<li>1,205 card numbers removed from 1,188 items</li><li>1 order_token match removed from 1 item</li>" in page
    assert "before anything was written (no\nfile of this import holds them): card numbers, order_token matches." in page


def test_the_report_says_when_redaction_was_off_or_found_nothing() -> None:
    from gladly_import.report import ReportData, render_report
    from gladly_import.summary import format_table

    off = _summary_with({}, [])
    assert "Redaction was off (<code>redact:</code> in the config)" in render_report(off, ReportData([], [], []))
    assert "removed from titles" not in format_table(off)
    nothing = render_report(_summary_with({}, ["card_number"]), ReportData([], [], []))
    assert "card numbers.</p>\n<p class=\"ok\">None found.</p>" in nothing
