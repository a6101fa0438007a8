"""Zendesk JSON export -> raw rows: one per ticket comment; bad lines set aside with their location.

The guide's mapping (title, body fallback, tags, customer) is tested in the dbt unit tests of
stg_zendesk__conversation_items; here: what the extractor keeps, rejects and counts.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq

from extract import zendesk
from tests.python.conftest import run_extractor


def ticket(ticket_id: int, comments: list[dict], **fields) -> dict:
    return {
        "id": ticket_id, "subject": f"Ticket {ticket_id}", "tags": ["a", "b"], "status": "solved",
        "created_at": "2021-03-04T15:22:10Z",
        "requester": {"id": 7, "name": "Jane Doe", "email": "jane@example.com", "phone": "+1 415 555 0101"},
        "comments": comments, **fields,
    }


def comment(comment_id: int, body: str = "hello", **fields) -> dict:
    return {"id": comment_id, "author_id": 7, "body": body, "html_body": f"<p>{body}</p>", "plain_body": body,
            "public": True, "attachments": [], "created_at": "2021-03-04T15:22:10Z", **fields}


def write_lines(path: Path, lines: list[str | dict], gz: bool = False) -> Path:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line, ensure_ascii=False) for line in lines) + "\n"
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_one_row_per_ticket_comment_with_the_ticket_fields(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "t.json", [ticket(48213, [comment(1001), comment(1002, "second")])])
    result = run_extractor(zendesk, [path], tmp_path)
    rows = result.tables["ticket_comments"]
    assert [(r["ticket_id"], r["comment_id"], r["comment_index"]) for r in rows] == [("48213", "1001", 1),
                                                                                  ("48213", "1002", 2)]
    assert rows[1]["ticket_subject"] == "Ticket 48213"
    assert rows[1]["ticket_tags"] == ["a", "b"]
    assert rows[1]["requester_email"] == "jane@example.com"
    assert rows[1]["comment_html_body"] == "<p>second</p>"
    assert rows[1]["_source_file"] == "t.json"
    assert rows[1]["_source_row"] == 1
    assert rows[1]["_source_position"] == "line 1, comment 2"
    assert result.manifest["records_seen"] == 2


def test_malformed_lines_are_set_aside_with_their_line_and_the_run_goes_on(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "t.json", [
        ticket(1, [comment(1)]),
        '{"id": 2, "subject": "cut off mid-wri',
        "",
        "not json at all",
        ticket(3, [comment(3)]),
    ])
    result = run_extractor(zendesk, [path], tmp_path)
    assert [r["ticket_id"] for r in result.tables["ticket_comments"]] == ["1", "3"]
    assert [(r["reject_reason"], r["_source_position"]) for r in result.rejects] == [
        ("malformed_json", "line 2"), ("malformed_json", "line 4")]
    assert result.rejects[0]["raw_excerpt"].startswith('{"id": 2')
    assert result.manifest == {**result.manifest, "records_seen": 4, "records_extracted": 2, "records_rejected": 2}


def test_a_first_line_that_is_not_a_ticket_is_skipped_and_counted(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "t.json", [
        {"export": "tickets", "started_at": "2021-04-01T00:00:00Z"},
        ticket(1, [comment(1)]),
        ["an", "array"],
        42,
    ])
    result = run_extractor(zendesk, [path], tmp_path)
    assert len(result.tables["ticket_comments"]) == 1
    assert [(r["reject_reason"], r["_source_row"]) for r in result.rejects] == [
        ("not_a_ticket", 1), ("not_a_ticket", 3), ("not_a_ticket", 4)]


def test_gzip_input_is_read_by_its_magic_bytes(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "export.ndjson.gz", [ticket(1, [comment(1)]), ticket(2, [comment(2)])], gz=True)
    result = run_extractor(zendesk, [path], tmp_path)
    assert [r["comment_id"] for r in result.tables["ticket_comments"]] == ["1", "2"]
    assert result.tables["ticket_comments"][0]["_source_file"] == "export.ndjson.gz"


def test_requester_without_email_and_comment_without_text_are_kept_for_the_rules(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "t.json", [
        ticket(1, [comment(1)], requester={"id": 9, "name": "No Email", "email": None}),
        ticket(2, [comment(2, body="", html_body="", plain_body="", attachments=[{"file_name": "a.pdf"}])]),
        ticket(3, [comment(4, author_id=-1)]),
    ])
    rows = run_extractor(zendesk, [path], tmp_path).tables["ticket_comments"]
    assert rows[0]["requester_email"] is None and rows[0]["requester_name"] == "No Email"
    assert (rows[1]["comment_body"], rows[1]["comment_html_body"]) == ("", "")
    assert rows[2]["comment_author_id"] == "-1"


def test_a_ticket_without_comments_is_rejected_not_lost(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "t.json", [ticket(1, []), {k: v for k, v in ticket(2, []).items() if k != "comments"}])
    result = run_extractor(zendesk, [path], tmp_path)
    assert [(r["reject_reason"], r["record_id"]) for r in result.rejects] == [
        ("ticket_without_comments", "zendesk-1"), ("ticket_without_comments", "zendesk-2")]


def test_huge_bodies_and_long_emoji_subjects_survive_extraction_intact(tmp_path: Path) -> None:
    body = "é" * 30_000
    subject = "📦 Où est ma commande? " * 7  # 154 characters, emoji included
    path = write_lines(tmp_path / "t.json", [ticket(1, [comment(1, body=body)], subject=subject)])
    row = run_extractor(zendesk, [path], tmp_path).tables["ticket_comments"][0]
    assert row["comment_plain_body"] == body
    assert row["ticket_subject"] == subject


def test_duplicate_tickets_across_two_files_are_both_extracted(tmp_path: Path) -> None:
    first = write_lines(tmp_path / "a.json", [ticket(1, [comment(1), comment(2)])])
    second = write_lines(tmp_path / "b.json", [ticket(1, [comment(1), comment(2)]), ticket(2, [comment(3)])])
    rows = run_extractor(zendesk, [first, second], tmp_path).tables["ticket_comments"]
    assert [(r["_source_file"], r["comment_id"]) for r in rows] == [
        ("a.json", "1"), ("a.json", "2"), ("b.json", "1"), ("b.json", "2"), ("b.json", "3")]


def test_bytes_that_are_not_utf8_do_not_stop_the_run(tmp_path: Path) -> None:
    line = json.dumps(ticket(1, [comment(1, body="caf_")])).encode().replace(b"caf_", b"caf\xe9")
    path = tmp_path / "latin1.json"
    path.write_bytes(line + b"\n")
    rows = run_extractor(zendesk, [path], tmp_path).tables["ticket_comments"]
    assert rows[0]["comment_body"] == "caf\ufffd"


def test_a_tickets_wrapper_object_is_unwrapped(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "t.json", [{"tickets": [ticket(1, [comment(1)]), ticket(2, [comment(2)])]}])
    rows = run_extractor(zendesk, [path], tmp_path).tables["ticket_comments"]
    assert [r["ticket_id"] for r in rows] == ["1", "2"]


def test_raw_parquet_has_the_declared_schema(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "t.json", [ticket(1, [comment(1)])])
    run_extractor(zendesk, [path], tmp_path)
    schema = pq.read_schema(tmp_path / "raw" / "zendesk" / "ticket_comments.parquet")
    assert schema.remove_metadata() == zendesk.TABLES["ticket_comments"].remove_metadata()


def test_a_truncated_gzip_keeps_what_was_read_and_reports_the_damage(tmp_path: Path) -> None:
    lines = [ticket(i, [comment(i, body="x" * 2000 + str(i))]) for i in range(1, 200)]
    whole = write_lines(tmp_path / "whole.json.gz", lines, gz=True).read_bytes()
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    result = run_extractor(zendesk, [cut], tmp_path)
    kept = len(result.tables["ticket_comments"])
    assert 0 < kept < 199
    (reject,) = result.rejects
    assert reject["reject_reason"] == "unreadable_file"
    assert reject["_source_position"] == f"after line {kept}"
