"""How extract/freshdesk.py reads the export: zip, folder, Rails typing, damage, rejects."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pytest

from extract import freshdesk
from extract.files import resolve_files
from tests.python.freshdesk_helpers import note, run_extract, ticket, tickets_xml, user, users_xml, write_files, write_zip


def test_zip_export_is_read_as_streams_without_extracting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the zip must not be extracted")

    monkeypatch.setattr(zipfile.ZipFile, "extract", forbidden)
    monkeypatch.setattr(zipfile.ZipFile, "extractall", forbidden)
    export = write_zip(tmp_path / "export.zip", {
        "Tickets0.xml": tickets_xml(ticket(1, notes=note(11))),
        "Users.xml": users_xml(user()),
    })
    work = tmp_path / "work"
    result = run_extract([export], work, base_dir=tmp_path)
    assert [t["display_id"] for t in result.tickets] == ["1"]
    assert result.tickets[0]["_source_file"] == "export.zip!/Tickets0.xml"
    assert [u["user_id"] for u in result.users] == ["40001"]
    assert not list(tmp_path.rglob("*.xml"))


def test_several_ticket_archived_and_user_files_are_all_read(tmp_path: Path) -> None:
    export = write_zip(tmp_path / "export.zip", {
        "Tickets0.xml": tickets_xml(ticket(1), ticket(2)),
        "Tickets1.xml": tickets_xml(ticket(3)),
        "ArchivedTickets0.xml": tickets_xml(ticket(4)),
        "Users0.xml": users_xml(user(40001)),
        "Users1.xml": users_xml(user(40002)),
    })
    result = run_extract([export], tmp_path / "work")
    assert sorted(t["display_id"] for t in result.tickets) == ["1", "2", "3", "4"]
    assert sorted(u["user_id"] for u in result.users) == ["40001", "40002"]
    assert result.files_read == 5


def test_export_files_this_import_does_not_need_are_skipped(tmp_path: Path) -> None:
    export = write_zip(tmp_path / "export.zip", {
        "Tickets0.xml": tickets_xml(ticket(1)),
        "Companies.xml": '<companies type="array"><company><id>1</id></company></companies>',
        "Solutions.xml": "not even xml",
    })
    result = run_extract([export], tmp_path / "work")
    assert len(result.tickets) == 1
    assert result.rejects == []
    assert result.files_read == 1


def test_folder_of_unzipped_xml_files_is_read(tmp_path: Path) -> None:
    write_files(tmp_path / "export", {
        "Tickets0.xml": tickets_xml(ticket(1)),
        "Users.xml": users_xml(user()),
        "Groups.xml": "<groups/>",
    })
    files = resolve_files("export/", tmp_path, freshdesk.FILE_SUFFIXES)
    result = run_extract(files, tmp_path / "work", base_dir=tmp_path)
    assert [t["_source_file"] for t in result.tickets] == ["export/Tickets0.xml"]
    assert len(result.users) == 1


def test_glob_and_gzip_files_are_read(tmp_path: Path) -> None:
    (tmp_path / "Tickets7.xml.gz").write_bytes(gzip.compress(tickets_xml(ticket(7)).encode()))
    files = resolve_files("Tickets*", tmp_path, freshdesk.FILE_SUFFIXES)
    result = run_extract(files, tmp_path / "work")
    assert [t["display_id"] for t in result.tickets] == ["7"]


def test_description_row_carries_the_ticket_fields(tmp_path: Path) -> None:
    subject = "Dónde está mi pedido &amp; factura"
    export = write_files(tmp_path, {"Tickets0.xml": tickets_xml(ticket(5, subject=subject))})
    row = run_extract(export, tmp_path / "work").tickets[0]
    assert row["ticket_id"] == "7005"
    assert row["subject"] == "Dónde está mi pedido & factura"
    assert row["description"] == "My order has not arrived."
    assert row["description_html"] == "<div>My order has not arrived.</div>"
    assert row["requester_id"] == "40001"
    assert row["requester_name"] == "José Álvarez"
    assert row["created_at"] == "2023-11-02T10:15:00+05:30"
    assert row["_source_row"] == 3
    assert row["_source_position"] == "line 3, ticket 5"


def test_notes_under_notes_and_helpdesk_notes_wrappers_are_read_in_order(tmp_path: Path) -> None:
    export = write_files(tmp_path, {"Tickets0.xml": tickets_xml(
        ticket(1, notes=note(11, "first") + note(12, "second")),
        ticket(2, notes=note(21, "third"), wrapper="helpdesk-notes"),
    )})
    notes = run_extract(export, tmp_path / "work").notes
    assert [(n["display_id"], n["note_id"], n["note_index"], n["body"]) for n in notes] == [
        ("1", "11", 1, "first"), ("1", "12", 2, "second"), ("2", "21", 1, "third"),
    ]
    assert notes[0]["subject"] == "Where is my order?"
    assert notes[0]["requester_id"] == "40001"
    assert notes[0]["created_at"] == "2023-11-02T11:00:00+05:30"


def test_rails_nil_is_null_and_an_empty_element_is_empty(tmp_path: Path) -> None:
    export = write_files(tmp_path, {
        "Tickets0.xml": tickets_xml(ticket(1, subject="").replace("<subject></subject>", '<subject nil="true"/>')),
        "Users.xml": users_xml(user(email='<email nil="true"/>', phone="<phone></phone>")),
    })
    result = run_extract(export, tmp_path / "work")
    assert result.tickets[0]["subject"] is None
    assert result.users[0]["email"] is None
    assert result.users[0]["phone"] == ""


def test_rails_booleans_are_typed(tmp_path: Path) -> None:
    export = write_files(tmp_path, {
        "Tickets0.xml": tickets_xml(ticket(1, notes=note(11, private="true"))),
        "Users.xml": users_xml(user()),
    })
    result = run_extract(export, tmp_path / "work")
    assert result.notes[0]["is_private"] is True
    assert result.notes[0]["is_incoming"] is False
    assert result.users[0]["is_agent"] is False


def test_ticket_tags_are_read(tmp_path: Path) -> None:
    tags = '    <tags type="array"><tag><name>vip</name></tag><tag><name>refund</name></tag></tags>\n'
    export = write_files(tmp_path, {"Tickets0.xml": tickets_xml(ticket(1, extra=tags))})
    assert run_extract(export, tmp_path / "work").tickets[0]["tags"] == ["vip", "refund"]


def test_deleted_ticket_is_rejected_once_per_item_it_would_make(tmp_path: Path) -> None:
    export = write_files(tmp_path, {"Tickets0.xml": tickets_xml(
        ticket(1, deleted="true", notes=note(11) + note(12)), ticket(2),
    )})
    result = run_extract(export, tmp_path / "work")
    assert [t["display_id"] for t in result.tickets] == ["2"]
    assert result.notes == []
    assert [(r["reject_reason"], r["record_id"]) for r in result.rejects] == [
        ("deleted_ticket", "freshdesk-1"), ("deleted_ticket", "freshdesk-1-11"), ("deleted_ticket", "freshdesk-1-12"),
    ]
    assert result.rejects[1]["_source_position"].endswith("ticket 1, note 1")


def test_spam_ticket_is_rejected(tmp_path: Path) -> None:
    export = write_files(tmp_path, {"Tickets0.xml": tickets_xml(ticket(3, spam="true"))})
    result = run_extract(export, tmp_path / "work")
    assert result.tickets == []
    assert [(r["reject_reason"], r["record_id"]) for r in result.rejects] == [("spam_ticket", "freshdesk-3")]


def test_deleted_note_is_rejected_and_the_others_kept(tmp_path: Path) -> None:
    export = write_files(tmp_path, {"Tickets0.xml": tickets_xml(ticket(1, notes=note(11, deleted="true") + note(12)))})
    result = run_extract(export, tmp_path / "work")
    assert [n["note_id"] for n in result.notes] == ["12"]
    assert [(r["reject_reason"], r["record_id"]) for r in result.rejects] == [("deleted_note", "freshdesk-1-11")]


def test_truncated_file_keeps_tickets_before_the_damage_and_reports_where(tmp_path: Path) -> None:
    whole = tickets_xml(ticket(1), ticket(2), ticket(3))
    cut = whole[: whole.index("<display-id type=\"integer\">3")]
    export = write_zip(tmp_path / "export.zip", {"Tickets0.xml": cut, "Tickets1.xml": tickets_xml(ticket(4))})
    result = run_extract([export], tmp_path / "work", base_dir=tmp_path)
    assert sorted(t["display_id"] for t in result.tickets) == ["1", "2", "4"]
    [damage] = result.rejects
    assert damage["reject_reason"] == "malformed_xml"
    assert damage["_source_file"] == "export.zip!/Tickets0.xml"
    assert damage["_source_position"].startswith(f"line {cut.count(chr(10)) + 1}, column")


def test_malformed_markup_is_reported_with_line_and_column(tmp_path: Path) -> None:
    broken = tickets_xml(ticket(1), ticket(2).replace("<subject>", "<subject><b>"))
    export = write_files(tmp_path, {"Tickets0.xml": broken})
    result = run_extract(export, tmp_path / "work")
    assert [t["display_id"] for t in result.tickets] == ["1"]
    assert result.reasons() == ["malformed_xml"]
    assert "column" in result.rejects[0]["_source_position"]
    assert "mismatch" in result.rejects[0]["reject_detail"].lower()


def test_zip_member_climbing_out_of_the_folder_is_rejected_not_read(tmp_path: Path) -> None:
    export = write_zip(tmp_path / "export.zip", {
        "../../Tickets9.xml": tickets_xml(ticket(9)),
        "/etc/Tickets8.xml": tickets_xml(ticket(8)),
        "Tickets0.xml": tickets_xml(ticket(1)),
    })
    result = run_extract([export], tmp_path / "work")
    assert [t["display_id"] for t in result.tickets] == ["1"]
    assert result.reasons() == ["unsafe_zip_member", "unsafe_zip_member"]
    assert not (tmp_path.parent / "Tickets9.xml").exists()


def test_damaged_zip_is_rejected_not_crashing(tmp_path: Path) -> None:
    export = tmp_path / "export.zip"
    export.write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    empty = tmp_path / "empty.zip"
    empty.write_bytes(b"")
    result = run_extract([export, empty], tmp_path / "work")
    assert result.reasons() == ["unreadable_file", "unreadable_file"]


def test_ticket_or_user_nested_deeper_is_not_taken_for_a_record(tmp_path: Path) -> None:
    nested_user = "    <requester><user><id>666</id></user></requester>\n"
    export = write_files(tmp_path, {"Tickets0.xml": tickets_xml(ticket(1, extra=nested_user))})
    result = run_extract(export, tmp_path / "work")
    assert [t["display_id"] for t in result.tickets] == ["1"]
    assert result.users == []


def test_reject_ids_are_the_ids_staging_gives_items(tmp_path: Path) -> None:
    assert freshdesk.description_item_id("101") == "freshdesk-101"
    assert freshdesk.note_item_id("101", "8001", 1) == "freshdesk-101-8001"
    assert freshdesk.note_item_id("101", None, 3) == "freshdesk-101-n3"
    assert freshdesk.description_item_id(None) is None
