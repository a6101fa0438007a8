"""Gorgias end to end: `make import` against the simulator, one test per rule of the guide.

Guide, section "Gorgias": for each message in each ticket, timestamp created_datetime,
title subject, body body_text, source Gorgias, customer email and name from the ticket's
customer (may not always exist), no phone.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extract.simulators.gorgias import GorgiasSimulator
from tests.python.conftest import ImportResult, run_import, write_config
from tests.python.gorgias_helpers import API_KEY, EMAIL

pytestmark = pytest.mark.slow  # whole imports: make test-fast leaves these out

TICKETS: list[dict[str, Any]] = [
    {"id": 501, "subject": "Refund for order #1042", "tags": [{"id": 1, "name": "refund"}, {"id": 2, "name": "vip"}],
     "created_datetime": "2024-02-14T21:00:00+00:00",
     "customer": {"id": 9, "email": "Jane.Doe@Example.com", "name": "Jane Doe", "firstname": "Jane", "lastname": "Doe"}},
    {"id": 502, "subject": None, "tags": [], "created_datetime": "2024-02-15 08:00:00+00:00",
     "customer": {"id": 10, "email": "omar@example.com", "name": None, "firstname": "Omar", "lastname": "Haddad"}},
    {"id": 503, "subject": "No email", "customer": {"id": 11, "email": None, "name": "Anonymous chat visitor"},
     "created_datetime": "2024-02-15T09:00:00+00:00"},
    {"id": 504, "subject": "No customer at all", "customer": None, "created_datetime": "2024-02-15T09:30:00+00:00"},
]
MESSAGES: list[dict[str, Any]] = [
    {"id": 9001, "ticket_id": 501, "subject": "Re: Refund for order #1042", "body_text": "Box was crushed.",
     "body_html": "<p>Box was crushed.</p>", "created_datetime": "2024-02-14T21:30:50.201204+00:00"},
    {"id": 9002, "ticket_id": 501, "subject": "", "body_text": "Any update, please?",
     "created_datetime": "2024-02-14 22:30:50.201204+00:00"},
    {"id": 9003, "ticket_id": 501, "subject": None, "body_text": "Refund issued.",
     "created_datetime": "2024-02-15 07:00:00+00:00", "from_agent": True},
    {"id": 9004, "ticket_id": 502, "subject": "  ", "body_text": "Where is my parcel?",
     "created_datetime": "2024-02-15T10:15:00+02:00"},
    {"id": 9005, "ticket_id": 503, "subject": "Hi", "body_text": "hello?", "created_datetime": "2024-02-15T09:00:00+00:00"},
    {"id": 9006, "ticket_id": 504, "subject": "Hi", "body_text": "hello?", "created_datetime": "2024-02-15T09:30:00+00:00"},
    {"id": 9007, "ticket_id": 777, "subject": "Deleted ticket", "body_text": "still listed",
     "created_datetime": "2024-02-15T11:00:00+00:00"},
    {"id": 9008, "ticket_id": 501, "subject": "", "body_text": "", "body_html": "<img src='photo.jpg'>",
     "attachments": [{"name": "photo.jpg"}], "created_datetime": "2024-02-15T12:00:00+00:00"},
    {"id": 9009, "ticket_id": 501, "subject": "", "body_text": "no date", "created_datetime": None},
]


@pytest.fixture(scope="module")
def credentials() -> Iterator[dict[str, str]]:
    yield {"GORGIAS_EMAIL": EMAIL, "GORGIAS_API_KEY": API_KEY}


@pytest.fixture(scope="module")
def gorgias_run(tmp_path_factory: pytest.TempPathFactory, credentials: dict[str, str]) -> ImportResult:
    folder = tmp_path_factory.mktemp("gorgias-import")
    with GorgiasSimulator(TICKETS, MESSAGES, email=EMAIL, api_key=API_KEY) as sim:
        config = write_config(folder, {"gorgias": {"base_url": sim.base_url}})
        result = run_import(config, env=credentials)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def items(gorgias_run: ImportResult) -> dict[str, dict[str, str]]:
    return {item["Conversation Item ID"]: item for item in gorgias_run.items()}


@pytest.fixture(scope="module")
def rejects(gorgias_run: ImportResult) -> dict[str, str]:
    return {r["conversation_item_id"]: r["reject_reason"] for r in gorgias_run.rejects()}


def test_each_gorgias_message_becomes_one_conversation_item(gorgias_run: ImportResult,
                                                            items: dict[str, dict[str, str]],
                                                            rejects: dict[str, str]) -> None:
    assert set(items) | set(rejects) == {f"gorgias-{m['id']}" for m in MESSAGES}
    counts = gorgias_run.summary["platforms"]["gorgias"]
    assert counts["records_seen"] == len(MESSAGES) and counts["unaccounted"] == 0


def test_conversation_item_timestamp_is_created_datetime(items: dict[str, dict[str, str]]) -> None:
    assert items["gorgias-9001"]["Conversation Item Timestamp"] == "2024-02-14T21:30:50.201Z"
    assert items["gorgias-9002"]["Conversation Item Timestamp"] == "2024-02-14T22:30:50.201Z"  # ' ' separator
    assert items["gorgias-9003"]["Conversation Item Timestamp"] == "2024-02-15T07:00:00.000Z"  # no fraction
    assert items["gorgias-9004"]["Conversation Item Timestamp"] == "2024-02-15T08:15:00.000Z"  # +02:00 to UTC


def test_conversation_item_title_is_subject_then_ticket_subject_then_default(items: dict[str, dict[str, str]]) -> None:
    assert items["gorgias-9001"]["Conversation Item Title"] == "Re: Refund for order #1042"
    assert items["gorgias-9002"]["Conversation Item Title"] == "Refund for order #1042"
    assert items["gorgias-9003"]["Conversation Item Title"] == "Refund for order #1042"
    assert items["gorgias-9004"]["Conversation Item Title"] == "Gorgias message"


def test_conversation_item_body_is_body_text(items: dict[str, dict[str, str]], rejects: dict[str, str]) -> None:
    assert items["gorgias-9001"]["Conversation Item Body"] == "Box was crushed."
    assert rejects["gorgias-9008"] == "empty_body", "body_html is not a fallback for an empty body_text"


def test_conversation_item_source_is_gorgias(items: dict[str, dict[str, str]]) -> None:
    assert {item["Conversation Item Source"] for item in items.values()} == {"Gorgias"}


def test_customer_email_and_name_come_from_the_ticket_customer(items: dict[str, dict[str, str]]) -> None:
    assert items["gorgias-9001"]["Customer Email"] == "Jane.Doe@example.com"
    assert items["gorgias-9001"]["Customer Name"] == "Jane Doe"
    assert items["gorgias-9004"]["Customer Email"] == "omar@example.com"
    assert items["gorgias-9004"]["Customer Name"] == "Omar Haddad"
    assert items["gorgias-9001"]["Tags"] == "refund,vip"


def test_customer_phone_is_not_imported(items: dict[str, dict[str, str]]) -> None:
    assert {item["Customer Phone"] for item in items.values()} == {""}


def test_customer_email_may_not_exist_then_the_message_is_rejected_missing_email(rejects: dict[str, str]) -> None:
    assert rejects["gorgias-9005"] == "missing_email"  # customer without email
    assert rejects["gorgias-9006"] == "missing_email"  # ticket without customer
    assert rejects["gorgias-9007"] == "missing_email"  # message of a ticket not listed (deleted)


def test_a_message_without_a_timestamp_is_rejected(rejects: dict[str, str]) -> None:
    assert rejects["gorgias-9009"] == "missing_timestamp"


def test_bad_credentials_stop_the_import_with_one_clear_line(tmp_path: Path, credentials: dict[str, str]) -> None:
    with GorgiasSimulator(TICKETS, MESSAGES, email=EMAIL, api_key=API_KEY) as sim:
        config = write_config(tmp_path, {"gorgias": {"base_url": sim.base_url}})
        result = run_import(config, env={**credentials, "GORGIAS_API_KEY": "not-the-key"})
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    line = next(line for line in result.stderr.splitlines() if line.startswith("extract error:"))
    assert "Gorgias rejected the account email and API key in GORGIAS_EMAIL and GORGIAS_API_KEY" in line
    assert "HTTP 401" in line and "not-the-key" not in result.stderr + result.stdout


def test_the_sample_import_includes_gorgias_items_from_the_simulator(tmp_path: Path) -> None:
    """The bundled sample config runs Gorgias with simulate: true, over real HTTP."""
    from tests.python.conftest import SAMPLES_DIR

    config = write_config(tmp_path, {"gorgias": {"simulate": True, "simulator_data": str(SAMPLES_DIR / "gorgias")}})
    result = run_import(config, env={"GORGIAS_EMAIL": "", "GORGIAS_API_KEY": ""})
    assert result.returncode == 0, result.stderr
    assert "using the local Gorgias API simulator at http://127.0.0.1:" in result.stderr
    summary = result.summary["platforms"]["gorgias"]
    sample_messages = (SAMPLES_DIR / "gorgias" / "messages.jsonl").read_text(encoding="utf-8").splitlines()
    assert summary["records_seen"] == len(sample_messages) and summary["exported"] > 0
    assert json.loads(sample_messages[0])["id"]


def test_secrets_appear_in_no_output_log_or_staged_file(gorgias_run: ImportResult) -> None:
    from tests.python.conftest import PROJECT_DIR
    from tests.python.gorgias_helpers import files_containing

    basic = base64.b64encode(f"{EMAIL}:{API_KEY}".encode()).decode()
    for text in (gorgias_run.stdout, gorgias_run.stderr):
        assert API_KEY not in text and basic not in text and EMAIL not in text
    for folder in (gorgias_run.work_dir, gorgias_run.output_dir, PROJECT_DIR / "logs"):
        if folder.exists():
            assert files_containing(folder, [API_KEY, basic]) == []


SET_ASIDE_TICKETS: list[dict[str, Any]] = [
    {**TICKETS[0], "id": 601},
    {**TICKETS[0], "id": 602, "subject": "In the bin", "trashed_datetime": "2024-03-01T10:00:00.000000+00:00"},
    {**TICKETS[0], "id": 603, "subject": "WIN A PRIZE", "spam": True},
]
SET_ASIDE_MESSAGES: list[dict[str, Any]] = [
    {"id": 9101, "ticket_id": 601, "body_text": "kept", "created_datetime": "2024-02-15T10:00:00+00:00"},
    {"id": 9102, "ticket_id": 601, "body_text": "typo, deleted by the agent",
     "created_datetime": "2024-02-15T10:01:00+00:00", "deleted_datetime": "2024-02-15T10:02:00+00:00"},
    {"id": 9103, "ticket_id": 601, "body_text": "never left", "from_agent": True,
     "created_datetime": "2024-02-15T10:03:00+00:00", "failed_datetime": "2024-02-15T10:03:05+00:00"},
    {"id": 9104, "ticket_id": 602, "body_text": "in a trashed ticket", "created_datetime": "2024-02-15T10:04:00+00:00"},
    {"id": 9105, "ticket_id": 602, "body_text": "also trashed", "created_datetime": "2024-02-15T10:05:00+00:00"},
    {"id": 9106, "ticket_id": 603, "body_text": "Claim your prize", "created_datetime": "2024-02-15T10:06:00+00:00"},
    {"id": 9107, "ticket_id": 601, "body_text": "kept too", "created_datetime": "2024-02-15T10:07:00+00:00",
     "deleted_datetime": None, "failed_datetime": None},
]


def test_trashed_deleted_undelivered_and_spam_messages_are_each_rejected_under_their_own_reason(
        tmp_path: Path, credentials: dict[str, str]) -> None:
    """Issue 28: none of them is exported; each is a reject row with its reason, counted."""
    with GorgiasSimulator(SET_ASIDE_TICKETS, SET_ASIDE_MESSAGES, email=EMAIL, api_key=API_KEY) as sim:
        config = write_config(tmp_path, {"gorgias": {"base_url": sim.base_url}})
        result = run_import(config, env=credentials)
        tickets_asked = [entry.params for entry in sim.log if entry.path == "/api/tickets"]
    assert result.returncode == 0, result.stderr
    assert all(params.get("trashed") == "true" for params in tickets_asked)
    exported = {item["Conversation Item ID"] for item in result.items()}
    assert exported == {"gorgias-9101", "gorgias-9107"}
    # set aside by the extractor: the rejects name the message by its Gorgias id
    reasons = {r["conversation_item_id"]: r["reject_reason"] for r in result.rejects()}
    assert reasons == {"9102": "deleted_message", "9103": "undelivered_message", "9104": "trashed_ticket",
                       "9105": "trashed_ticket", "9106": "spam_ticket"}
    counts = result.summary["platforms"]["gorgias"]
    assert counts["records_seen"] == len(SET_ASIDE_MESSAGES) and counts["unaccounted"] == 0
    assert counts["exported"] == 2 and counts["rejected"] == 5
    for line in ("1 tickets are in the trash: their 2 messages are rejected (trashed_ticket)",
                 "1 tickets are marked spam: their 1 messages are rejected (spam_ticket)",
                 "1 messages are deleted: rejected (deleted_message)",
                 "1 messages are undelivered (failed_datetime set): rejected (undelivered_message)"):
        assert line in result.stderr
