"""The guide's Kustomer mapping, end to end: simulator -> extractor -> dbt -> the Gladly CSV.

One import of a hand-made account runs once for the module (with the dbt unit tests); each
test then checks one rule of the guide's section "Kustomer" on the exported files.
"""

from __future__ import annotations

import csv
from typing import Any

import pytest

from extract.kustomer import address_text, customer_ref, customer_rows
from tests.python.kustomer_helpers import run_cli, write_config, write_jsonl

pytestmark = pytest.mark.slow  # whole imports: make test-fast leaves these out

SUPPORT = "support@acme.example.com"


def message(mid: str, customer: str | None = "c-maria", **attributes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"channel": "email", "app": "postmark", "preview": "Hello there",
                            "createdAt": "2021-03-04T15:22:10.123Z", "meta": {}}
    base.update(attributes)
    resource: dict[str, Any] = {"type": "message", "id": mid, "attributes": base, "relationships": {}}
    if customer:
        resource["relationships"]["customer"] = {"links": {"self": f"/v1/customers/{customer}"},
                                                 "data": {"type": "customer", "id": customer}}
    return resource


def customer(cid: str, **attributes: Any) -> dict[str, Any]:
    return {"type": "customer", "id": cid, "attributes": {"emails": [], "phones": [], **attributes}}


MESSAGES = [
    message("m-subject", subject="Where is my order?", meta={"subject": "ignored meta subject"}),
    message("m-meta-subject", meta={"subject": "Only in meta"}),
    message("m-no-subject", channel="chat"),
    message("m-long-subject", subject="S" * 130),
    message("m-offset", createdAt="2021-03-04T17:22:10+02:00"),
    message("m-voice", preview=None, channel="voice", app="talkdesk",
            meta={"from": "+1 415 555 0199", "to": [{"email": SUPPORT}, {"email": "billing@acme.example.com"}]}),
    message("m-to-string", preview="", channel=None, app="",
            meta={"from": "+1 415 555 0199", "to": "+1 415 555 0000"}),
    message("m-bare", preview=None, meta={}),
    message("m-only-from", preview=None, meta={"from": "a@example.com", "to": []}),
    message("m-long-body", preview="B" * 26_000),
    message("m-anonymous", customer="c-anon"),
    message("m-no-customer", customer=None),
    message("m-gone", customer="c-gone"),
    message("m-second-email", customer="c-tom"),
]
CUSTOMERS = [
    customer("c-maria", name="Maria García", displayName="Maria G.",
             emails=[{"type": "home", "email": "maria.garcia@example.com"}, {"type": "work", "email": "mg@work.example"}],
             phones=[{"type": "mobile", "phone": "+1 415 555 0101"}, {"type": "home", "phone": "+1 415 555 0102"}]),
    customer("c-anon", displayName="Visitor 4821"),
    customer("c-tom", name=None, firstName="Tom", lastName="Ng",
             emails=[{"type": "home"}, {"type": "work", "email": "tom.ng@example.com"}]),
]


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("kustomer-mapping")
    write_jsonl(folder / "account", MESSAGES, CUSTOMERS)
    config = write_config(folder, {"simulate": True, "simulator_data": "account/"})
    done = run_cli(config, None, "--with-unit-tests")
    items = {}
    if (folder / "output" / "gladly_conversation_items_0001.csv").exists():
        with open(folder / "output" / "gladly_conversation_items_0001.csv", encoding="utf-8", newline="") as f:
            items = {row["Conversation Item ID"]: row for row in csv.DictReader(f)}
    with open(folder / "output" / "gladly_import_rejects.csv", encoding="utf-8", newline="") as f:
        rejects = {row["conversation_item_id"]: row for row in csv.DictReader(f)}
    return {"done": done, "items": items, "rejects": rejects}


def item(imported: dict[str, Any], mid: str) -> dict[str, str]:
    return imported["items"][f"kustomer-{mid}"]


def test_import_and_dbt_unit_tests_pass(imported: dict[str, Any]) -> None:
    assert imported["done"].returncode == 0, imported["done"].stderr[-3000:]
    assert "using the local Kustomer API simulator" in imported["done"].stderr


def test_every_message_is_exported_or_rejected(imported: dict[str, Any]) -> None:
    ids = {f"kustomer-{m['id']}" for m in MESSAGES}
    assert ids == set(imported["items"]) | set(imported["rejects"])


def test_timestamp_is_created_at_in_utc(imported: dict[str, Any]) -> None:
    assert item(imported, "m-subject")["Conversation Item Timestamp"] == "2021-03-04T15:22:10.123Z"
    assert item(imported, "m-offset")["Conversation Item Timestamp"] == "2021-03-04T15:22:10.000Z"


def test_title_is_the_subject(imported: dict[str, Any]) -> None:
    assert item(imported, "m-subject")["Conversation Item Title"] == "Where is my order?"


def test_title_falls_back_to_meta_subject(imported: dict[str, Any]) -> None:
    assert item(imported, "m-meta-subject")["Conversation Item Title"] == "Only in meta"


def test_title_defaults_to_kustomer_message(imported: dict[str, Any]) -> None:
    assert item(imported, "m-no-subject")["Conversation Item Title"] == "Kustomer message"


def test_title_is_cut_at_100_characters(imported: dict[str, Any]) -> None:
    assert item(imported, "m-long-subject")["Conversation Item Title"] == "S" * 100


def test_body_is_the_preview(imported: dict[str, Any]) -> None:
    assert item(imported, "m-subject")["Conversation Item Body"] == "Hello there"


def test_body_without_preview_is_the_communication_sentence(imported: dict[str, Any]) -> None:
    assert item(imported, "m-voice")["Conversation Item Body"] == (
        "Communication sent from +1 415 555 0199 to support@acme.example.com, billing@acme.example.com"
        " on 2021-03-04T15:22:10.123Z via voice using talkdesk. Kustomer API did not return"
        " communication contents to import.")


def test_body_sentence_with_meta_to_as_a_string_and_no_channel_or_app(imported: dict[str, Any]) -> None:
    assert item(imported, "m-to-string")["Conversation Item Body"] == (
        "Communication sent from +1 415 555 0199 to +1 415 555 0000 on 2021-03-04T15:22:10.123Z"
        " via unknown channel using unknown app. Kustomer API did not return communication contents to import.")


def test_body_without_preview_or_both_addresses_is_kustomer_message(imported: dict[str, Any]) -> None:
    assert item(imported, "m-bare")["Conversation Item Body"] == "Kustomer message"
    assert item(imported, "m-only-from")["Conversation Item Body"] == "Kustomer message"


def test_body_is_cut_at_25000_characters(imported: dict[str, Any]) -> None:
    assert item(imported, "m-long-body")["Conversation Item Body"] == "B" * 25_000


def test_source_is_kustomer(imported: dict[str, Any]) -> None:
    assert {row["Conversation Item Source"] for row in imported["items"].values()} == {"Kustomer"}


def test_email_is_the_customers_first_email(imported: dict[str, Any]) -> None:
    assert item(imported, "m-subject")["Customer Email"] == "maria.garcia@example.com"
    assert item(imported, "m-second-email")["Customer Email"] == "tom.ng@example.com"  # 1st with an address


def test_customer_without_email_cannot_be_imported(imported: dict[str, Any]) -> None:
    for mid in ("m-anonymous", "m-no-customer", "m-gone"):
        assert imported["rejects"][f"kustomer-{mid}"]["reject_reason"] == "missing_email", mid


def test_name_is_the_customers_name(imported: dict[str, Any]) -> None:
    assert item(imported, "m-subject")["Customer Name"] == "Maria García"
    assert item(imported, "m-second-email")["Customer Name"] == "Tom Ng"


def test_phone_is_the_customers_first_phone(imported: dict[str, Any]) -> None:
    assert item(imported, "m-subject")["Customer Phone"] == "+1 415 555 0101"
    assert item(imported, "m-second-email")["Customer Phone"] == ""


# -- shape knowledge in the extractor -----------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [
    ([{"email": "a@x.com"}, {"email": "b@y.com"}], "a@x.com, b@y.com"),
    ("  c@z.com ", "c@z.com"),
    ({"email": "d@x.com"}, "d@x.com"),
    (["e@x.com", {"phone": "+1 555"}, {"name": "no address"}, None], "e@x.com, +1 555"),
    ([], None),
    ("   ", None),
    (None, None),
])
def test_meta_addresses_flatten_to_text(value: Any, text: str | None) -> None:
    assert address_text(value) == text


def test_customer_link_is_followed_on_the_configured_host_only() -> None:
    ref = customer_ref({"relationships": {"customer": {"links": {"self": "https://evil.example/v1/customers/c1"}}}})
    assert ref == ("c1", "/v1/customers/c1")
    assert customer_ref({"relationships": {"customer": {"data": {"id": "a/b"}}}}) == ("a/b", "/v1/customers/a%2Fb")
    assert customer_ref({"relationships": None}) == (None, None)


def test_customer_emails_and_phones_are_numbered_in_api_order() -> None:
    row, emails, phones = customer_rows("c1", "/v1/customers/c1", {"data": {"attributes": {
        "name": "X", "emails": [{"type": "home"}, "plain@x.com", {"email": "w@x.com", "type": "work"}, 42],
        "phones": [{"phone": "  "}, {"phone": "+1 555", "type": "mobile"}], "deleted": "yes"}}})
    assert [(e["position"], e["email"]) for e in emails] == [(1, "plain@x.com"), (2, "w@x.com")]
    assert [(p["position"], p["phone"], p["phone_type"]) for p in phones] == [(1, "+1 555", "mobile")]
    assert row["fetch_status"] == "ok" and row["is_deleted"] is None
    assert customer_rows("c2", "/v1/customers/c2", {"data": "nope"})[0]["fetch_status"] == "malformed"
