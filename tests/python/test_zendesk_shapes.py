"""A Zendesk export in every shape it is found: NDJSON, the export zip (or tar) as downloaded, one JSON
document (an object with a tickets array, pretty-printed or on one long line, or an array of
tickets), streamed, the same per-record limits, the same rows as the NDJSON."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from extract import zendesk
from extract.readers import json_text
from tests.python.conftest import run_extractor
from tests.python.test_zendesk import comment, ticket, write_lines

TICKETS = [ticket(48213, [comment(1001, "Box was crushed."), comment(1002, "Sorry: refund sent.")]),
           ticket(48214, [comment(1003, "Où est ma commande ? €5")], subject="Commande", tags="vip  late"),
           ticket(48215, []),  # no comments: a reject in every shape
           ticket(48216, [comment(1004, "x" * 3000), "not a comment"])]


def rows_of(tmp_path: Path, path: Path) -> Any:
    return run_extractor(zendesk, [path], tmp_path)


def comparable(result: Any) -> tuple[list[dict[str, Any]], list[tuple[str, str | None]]]:
    rows = [{k: v for k, v in r.items() if not k.startswith("_source")} for r in result.tables["ticket_comments"]]
    return rows, [(r["reject_reason"], r["record_id"]) for r in result.rejects]


@pytest.fixture
def ndjson(tmp_path: Path) -> Any:
    return comparable(rows_of(tmp_path / "nd", write_lines(tmp_path / "tickets.json", TICKETS)))


@pytest.mark.parametrize("shape", ["pretty object", "one-line object", "pretty array", "array, BOM, CRLF", "gzip"])
def test_one_json_document_gives_the_rows_and_rejects_of_its_ndjson(tmp_path: Path, ndjson: Any, shape: str) -> None:
    path = tmp_path / "tickets.json"
    if shape == "pretty object":
        path.write_text(json.dumps({"tickets": TICKETS, "count": 4, "next_page": None}, indent=2, ensure_ascii=False))
    elif shape == "one-line object":  # longer than a reader's first look: not read as a line
        path.write_text(json.dumps({"tickets": TICKETS * 1, "padding": "p" * 70_000}, ensure_ascii=False))
    elif shape == "pretty array":
        path.write_text(json.dumps(TICKETS, indent=4, ensure_ascii=False))
    elif shape == "array, BOM, CRLF":
        path.write_bytes(b"\xef\xbb\xbf" + json.dumps(TICKETS, indent=1, ensure_ascii=False).replace("\n", "\r\n").encode())
    else:
        path.write_bytes(gzip.compress(json.dumps({"tickets": TICKETS}, indent=2).encode()))
    result = rows_of(tmp_path / "doc", path)
    assert comparable(result) == ndjson
    positions = [r["_source_position"] for r in result.tables["ticket_comments"]]
    assert positions == ["ticket 1, comment 1", "ticket 1, comment 2", "ticket 2, comment 1", "ticket 4, comment 1"]
    assert result.manifest["records_seen"] == 4 + 2  # four comments, two rejects: not the document's lines


@pytest.mark.parametrize("packing", ["zip", "tgz"])
def test_the_export_archive_as_downloaded_gives_the_rows_of_its_ndjson(tmp_path: Path, ndjson: Any, packing: str) -> None:
    text = "\n".join(json.dumps(t) for t in TICKETS).encode() + b"\n"
    path = tmp_path / f"export-2024-03-01.{packing}"
    if packing == "zip":
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("tickets-2024-03-01.json", text)
    else:
        with tarfile.open(path, "w:gz") as tar:
            info = tarfile.TarInfo("export/tickets.json")
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text))
    result = rows_of(tmp_path / "z", path)
    assert comparable(result) == ndjson
    assert f"{path.name}!/" in result.tables["ticket_comments"][0]["_source_file"]


def test_a_document_that_breaks_off_keeps_the_tickets_before_and_says_where(tmp_path: Path) -> None:
    text = json.dumps({"tickets": TICKETS[:2] * 3}, indent=2)
    path = tmp_path / "t.json"
    path.write_text(text[: text.index('"id": 48214', len(text) // 2)])
    result = rows_of(tmp_path, path)
    assert [r["ticket_id"] for r in result.tables["ticket_comments"]] == ["48213", "48213", "48214", "48213", "48213"]
    assert [(r["reject_reason"], r["_source_position"]) for r in result.rejects] == [("malformed_json", "after ticket 3")]


def test_a_document_without_tickets_and_an_archive_member_of_another_kind_are_set_aside(tmp_path: Path) -> None:
    (tmp_path / "one.json").write_text(json.dumps({"id": 1, "subject": "not in a tickets array"}, indent=2))
    with zipfile.ZipFile(tmp_path / "export.zip", "w") as archive:
        archive.writestr("tickets.json", json.dumps(TICKETS[0]) + "\n")
        archive.writestr("attachments/photo.jpg", b"\xff\xd8\xff")
    result = run_extractor(zendesk, [tmp_path / "one.json", tmp_path / "export.zip"], tmp_path)
    assert [(r["reject_reason"], r["_source_file"]) for r in result.rejects] == [
        ("not_a_ticket", "one.json"), ("unexpected_file", "export.zip!/attachments/photo.jpg")]
    assert len(result.tables["ticket_comments"]) == 2


def test_a_documents_records_keep_the_per_record_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zendesk, "READ_CUT_BYTES", 1000)
    monkeypatch.setattr(zendesk, "MAX_LINE_BYTES", 50_000)
    huge = ticket(2, [comment(n, "y" * 900) for n in range(100)])  # ~90 KB: over the record limit
    long_body = ticket(3, [comment(5, "z" * 5000)])  # one string over the cut
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"tickets": [TICKETS[0], huge, long_body]}, indent=2))
    result = rows_of(tmp_path, path)
    assert [(r["reject_reason"], r["_source_position"]) for r in result.rejects] == [("record_too_large", "ticket 2")]
    body = next(r["comment_body"] for r in result.tables["ticket_comments"] if r["ticket_id"] == "3")
    assert body == "z" * 1000  # cut while reading; the truncation is recorded by the raw writer


@pytest.mark.parametrize("head,shape", [
    (b'{"id": 1, "comments": []}\n{"id": 2}\n', None),
    (b'{"tickets": [{"id": 1}]}\n', None),  # one short line: read as a line (its tickets array is read)
    (b'{\n  "tickets": [\n', "object"),
    (b'{"tickets": [\n', "object"),
    (b'\xef\xbb\xbf  [\n {"id": 1}', "array"),
    (b"[]", "array"),
    (b'{"export": "tickets"}\n{"id": 1}\n', None),  # the export's own header line, then tickets
])
def test_the_shape_is_read_from_the_first_bytes(head: bytes, shape: str | None) -> None:
    assert json_text.document_shape(head, "tickets") == shape
