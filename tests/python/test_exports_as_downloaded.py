"""Issue 22's acceptance, whole imports: a two-part Takeout zip, a Takeout .tgz, a Zendesk export zip and
a pretty-printed Zendesk JSON document, each given as `path` exactly as downloaded, export the same
items as their unpacked mbox / NDJSON; Spam and Trash are rejected as such and none is exported."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.python.conftest import SAMPLES_DIR, ImportResult, run_import, write_config
from tests.python.test_gmail_takeout import (
    MAILBOX,
    MBOX_MEMBER,
    OTHER_PRODUCTS,
    SPAM,
    TRASH,
    two_part_takeout,
    write_tgz,
)

pytestmark = pytest.mark.slow  # whole imports: make test-fast leaves these out

SUPPORT = {"support_addresses": ["support@shop.example"]}


def sample_ndjson() -> bytes:
    """The bundled Zendesk export, both of its files, as one NDJSON text."""
    folder = SAMPLES_DIR / "zendesk"
    return (folder / "tickets-2021-03.json").read_bytes() + gzip.decompress(
        (folder / "tickets-2021-04.json.gz").read_bytes())


def tickets_of(ndjson: bytes) -> list[dict[str, Any]]:
    """The tickets of the NDJSON as a script would gather them (its malformed sample line left out)."""
    tickets = []
    for line in ndjson.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and "comments" in value:
            tickets.append(value)
    return tickets


def run(folder: Path, zendesk_path: str, gmail_path: str) -> ImportResult:
    result = run_import(write_config(folder, {"zendesk": {"path": zendesk_path},
                                              "gmail": {"path": gmail_path, **SUPPORT}}))
    assert result.returncode == 0, result.stderr
    return result


def items_by_id(result: ImportResult) -> dict[str, dict[str, str]]:
    return {item["Conversation Item ID"]: item for item in result.items()}


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> ImportResult:
    folder = tmp_path_factory.mktemp("unpacked")
    (folder / "tickets.json").write_bytes(sample_ndjson())
    (folder / "All mail Including Spam and Trash.mbox").write_bytes(MAILBOX)
    return run(folder, "tickets.json", "All mail Including Spam and Trash.mbox")


def test_a_two_part_takeout_zip_and_a_zendesk_export_zip_export_what_their_unpacked_files_do(
        tmp_path: Path, unpacked: ImportResult) -> None:
    two_part_takeout(tmp_path / "Downloads")
    with zipfile.ZipFile(tmp_path / "Downloads" / "export-2024-03-01-1234567.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("tickets-2024-03-01.json", sample_ndjson())
    result = run(tmp_path, "Downloads/export-*.zip", "Downloads/takeout-*.zip")
    assert items_by_id(result) == items_by_id(unpacked)
    assert result.summary["platforms"]["zendesk"]["exported"] == unpacked.summary["platforms"]["zendesk"]["exported"] > 0
    assert "other Google products" in result.stdout + result.stderr


def test_a_takeout_tgz_and_a_pretty_printed_zendesk_document_export_what_their_unpacked_files_do(
        tmp_path: Path, unpacked: ImportResult) -> None:
    write_tgz(tmp_path / "takeout-20240301T000000Z-001.tgz", {**OTHER_PRODUCTS, MBOX_MEMBER: MAILBOX})
    (tmp_path / "tickets.json").write_text(
        json.dumps({"tickets": tickets_of(sample_ndjson()), "next_page": None, "count": 9}, indent=2, ensure_ascii=False),
        encoding="utf-8")
    result = run(tmp_path, "tickets.json", "takeout-20240301T000000Z-001.tgz")
    assert items_by_id(result) == items_by_id(unpacked)
    zendesk = result.summary["platforms"]["zendesk"]
    assert zendesk.get("rejected_by_reason", {}).get("malformed_json") is None


def test_spam_and_trash_are_rejected_as_such_and_none_is_exported(unpacked: ImportResult) -> None:
    gmail = unpacked.summary["platforms"]["gmail"]
    assert gmail["rejected_by_reason"]["spam"] == len(SPAM)
    assert gmail["rejected_by_reason"]["trash"] == len(TRASH)
    exported_subjects = {item["Conversation Item Title"] for item in unpacked.items()}
    for message in SPAM + TRASH:
        subject = next(line for line in message.decode().splitlines() if line.startswith("Subject: "))[9:]
        assert subject not in exported_subjects
    assert not any("mailer-daemon" in item["Customer Email"].lower() for item in unpacked.items())
    rejects = {r["reject_reason"] for r in unpacked.rejects()}
    assert {"spam", "trash", "bounce", "auto_reply"} <= rejects
