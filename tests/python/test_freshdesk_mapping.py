"""The guide's Freshdesk rules, checked end to end on the bundled sample export.

The sample (samples/freshdesk/make_sample.py) is run through the whole import:
extract, dbt build, export. Each test reads the result like the guide reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from gladly_import.cli import main

pytestmark = pytest.mark.slow  # whole imports: make test-fast leaves these out

PROJECT_DIR = Path(__file__).resolve().parents[2]
SAMPLE_ZIP = PROJECT_DIR / "samples" / "freshdesk" / "freshdesk_export.zip"


def _records(conn: duckdb.DuckDBPyConnection, model: str) -> list[dict[str, Any]]:
    cursor = conn.execute(f"select * from main.{model} where source_platform = 'freshdesk'")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("freshdesk_import")
    config = folder / "config.yml"
    config.write_text(
        f"output_dir: output\nwork_dir: work\nsources:\n  freshdesk:\n    path: '{SAMPLE_ZIP.as_posix()}'\n",
        encoding="utf-8",
    )
    assert main(["--config", str(config)]) == 0
    with duckdb.connect(str(folder / "work" / "gladly_import.duckdb"), read_only=True) as conn:
        conn.execute("set TimeZone = 'UTC'")
        items = _records(conn, "gladly_conversation_items")
        rejects = _records(conn, "gladly_import_rejects")
        reconciliation = _records(conn, "import_reconciliation")[0]
    return {
        "items": {i["conversation_item_id"]: i for i in items},
        "rejects": {r["conversation_item_id"]: r for r in rejects},
        "reconciliation": reconciliation,
    }


def test_first_item_of_a_ticket_is_its_description(imported: dict[str, Any]) -> None:
    first = imported["items"]["freshdesk-101"]
    assert first["body"].startswith("Hi,\nthe mug in order #5521 arrived in pieces.")
    assert first["body"].endswith("Thanks, José")


def test_each_helpdesk_note_is_one_more_item_with_its_body(imported: dict[str, Any]) -> None:
    items = imported["items"]
    ticket_101 = sorted(i for i in items if i.startswith("freshdesk-101"))
    assert ticket_101 == ["freshdesk-101", "freshdesk-101-8001", "freshdesk-101-8002", "freshdesk-101-8004"]
    assert items["freshdesk-101-8001"]["body"] == "Sorry to hear that, José! A replacement ships today."
    assert items["freshdesk-101-8004"]["body"] == "Got it, thank you! 🙏"


def test_notes_under_helpdesk_notes_wrapper_are_items_too(imported: dict[str, Any]) -> None:
    note = imported["items"]["freshdesk-102-8010"]
    assert note["body"] == "We re-sent it from a new address; please check again."


def test_private_notes_are_imported_like_the_guide_says_each_note(imported: dict[str, Any]) -> None:
    assert imported["items"]["freshdesk-101-8002"]["body"] == "Internal: refund approved by Priya"


def test_title_is_ticket_hash_display_id_en_dash_subject(imported: dict[str, Any]) -> None:
    items = imported["items"]
    assert items["freshdesk-101"]["title"] == "Ticket # 101 – Order #5521 arrived damaged"
    assert items["freshdesk-101-8001"]["title"] == "Ticket # 101 – Order #5521 arrived damaged"
    assert items["freshdesk-102"]["title"] == "Ticket # 102 – Can't log in – password reset mail never comes"


def test_title_of_a_ticket_without_subject_is_ticket_number(imported: dict[str, Any]) -> None:
    assert imported["items"]["freshdesk-107"]["title"] == "Ticket # 107"


def test_email_is_the_users_email_for_the_requester_id(imported: dict[str, Any]) -> None:
    items = imported["items"]
    assert items["freshdesk-101"]["customer_email"] == "jose.alvarez@example.com"
    assert items["freshdesk-101-8001"]["customer_email"] == "jose.alvarez@example.com"
    # Users1.xml (read last) holds 40002 again; both files are read.
    assert items["freshdesk-12"]["customer_email"] == "hanako.yamada@example.jp"
    assert items["freshdesk-107"]["customer_email"] == "ana.souza@example.com.br"


def test_phone_is_the_users_phone_else_mobile(imported: dict[str, Any]) -> None:
    items = imported["items"]
    assert items["freshdesk-101"]["customer_phone"] == "+34 912 345 678"
    assert items["freshdesk-102"]["customer_phone"] == "+81 90-1234-5678"
    assert items["freshdesk-107"]["customer_phone"] == "+55 11 91234-5678"


def test_name_is_requester_name(imported: dict[str, Any]) -> None:
    assert imported["items"]["freshdesk-102"]["customer_name"] == "山田 花子"
    assert imported["items"]["freshdesk-102-8010"]["customer_name"] == "山田 花子"


def test_timestamp_is_created_at_with_its_offset_in_utc(imported: dict[str, Any]) -> None:
    items = imported["items"]
    assert str(items["freshdesk-101"]["occurred_at"]) == "2023-11-02 04:45:00"
    assert str(items["freshdesk-101-8001"]["occurred_at"]) == "2023-11-02 05:30:00"
    assert str(items["freshdesk-102"]["occurred_at"]) == "2023-11-06 07:50:00"
    assert str(items["freshdesk-12"]["occurred_at"]) == "2018-06-30 13:10:00"


def test_source_is_freshdesk(imported: dict[str, Any]) -> None:
    assert {i["source_name"] for i in imported["items"].values()} == {"Freshdesk"}


def test_archived_tickets_are_imported(imported: dict[str, Any]) -> None:
    assert {"freshdesk-12", "freshdesk-12-6001"} <= imported["items"].keys()


def test_requester_missing_from_users_file_is_rejected_missing_email(imported: dict[str, Any]) -> None:
    reject = imported["rejects"]["freshdesk-106"]
    assert reject["reject_reason"] == "missing_email"
    assert reject["source_file"].endswith("freshdesk_export.zip!/Tickets1.xml")


def test_requester_without_email_is_rejected_missing_email(imported: dict[str, Any]) -> None:
    rejects = imported["rejects"]
    assert rejects["freshdesk-105"]["reject_reason"] == "missing_email"
    assert rejects["freshdesk-105-8030"]["reject_reason"] == "missing_email"


def test_deleted_ticket_is_rejected_with_each_of_its_notes(imported: dict[str, Any]) -> None:
    rejects = imported["rejects"]
    assert rejects["freshdesk-103"]["reject_reason"] == "deleted_ticket"
    assert rejects["freshdesk-103-8020"]["reject_reason"] == "deleted_ticket"
    assert "freshdesk-103" not in imported["items"]


def test_spam_ticket_is_rejected(imported: dict[str, Any]) -> None:
    assert imported["rejects"]["freshdesk-104"]["reject_reason"] == "spam_ticket"


def test_deleted_note_is_rejected(imported: dict[str, Any]) -> None:
    assert imported["rejects"]["freshdesk-101-8003"]["reject_reason"] == "deleted_note"
    assert "freshdesk-101-8003" not in imported["items"]


def test_every_freshdesk_record_is_exported_or_rejected(imported: dict[str, Any]) -> None:
    reconciliation = imported["reconciliation"]
    assert reconciliation["records_seen"] == 16
    assert reconciliation["records_exported"] == 9
    assert reconciliation["records_rejected"] == 7
    assert reconciliation["records_unaccounted"] == 0
