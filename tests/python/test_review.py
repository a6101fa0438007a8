"""gladly_import/review.py: which sources need a person's look, and the likely cause it names."""

from __future__ import annotations

import bz2
import io
import zipfile
from pathlib import Path

import yaml

from gladly_import import review
from gladly_import.config import load_config
from gladly_import.reject_reasons import reject_reasons
from tests.python.conftest import write_config


def _counts(seen: int, exported: int, already: int = 0, **reasons: int) -> dict:
    return {"records_seen": seen, "exported": exported, "already_exported": already, "rejected_by_reason": reasons}


def test_every_unreadable_reason_is_a_declared_reject_reason() -> None:
    assert review.UNREADABLE_REASONS <= set(reject_reasons())


def test_no_exportable_item_in_a_full_run_needs_review_a_delta_with_nothing_new_does_not() -> None:
    summary = {"platforms": {"csv": _counts(12, 0, unparseable_timestamp=12)}}
    (entry,) = review.assess(summary, None, {}, "full")
    assert entry["platform"] == "csv"
    assert entry["cause"] == ("no exportable item (12 records seen): most records were rejected as "
                              "unparseable_timestamp (12): see the rejects file")
    assert review.assess({"platforms": {"csv": _counts(0, 0)}}, None, {}, "delta") == []
    assert review.assess({"platforms": {"csv": _counts(5, 0, already=5)}}, None, {}, "full") == []


def test_over_a_tenth_unreadable_needs_review_from_ten_records_on() -> None:
    many = {"platforms": {"zendesk": _counts(100, 89, malformed_json=11, missing_email=40)}}
    (entry,) = review.assess(many, None, {}, "full")
    assert entry["cause"].startswith("11 of 100 records (11%) set aside as unreadable: most records were "
                                     "rejected as malformed_json (11)")
    assert review.assess({"platforms": {"zendesk": _counts(100, 90, malformed_json=10)}}, None, {}, "full") == []
    assert review.assess({"platforms": {"zendesk": _counts(19, 16, malformed_json=3)}}, None, {}, "full") == []


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("export/tickets.json", '{"id": 1}\n')
    return buffer.getvalue()


def test_the_cause_is_what_the_files_first_bytes_say_they_are(tmp_path: Path) -> None:
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "tickets.csv").write_bytes(bz2.compress(b"id,email\n1,a@example.com\n"))  # bzip2, no .bz2
    (tmp_path / "old.csv").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))
    (tmp_path / "mail.mbox").write_bytes(b"%PDF-1.7\n" + bytes(100))
    config = load_config(write_config(tmp_path, {"csv": {"path": "csv/"}, "gmail": {"path": "mail.mbox"}}))
    summary = {"platforms": {"csv": _counts(3, 0, csv_header_invalid=3), "gmail": _counts(1, 0, unparseable_message=1)}}
    causes = {e["platform"]: e["cause"] for e in review.assess(summary, config, {}, "full")}
    assert causes["csv"].endswith("csv/tickets.csv is a bzip2 file")
    assert causes["gmail"].endswith("mail.mbox is a PDF")
    config = load_config(write_config(tmp_path, {"csv": {"path": "old.csv"}}))
    (entry,) = review.assess({"platforms": {"csv": _counts(3, 0, csv_header_invalid=3)}}, config, {}, "full")
    assert entry["cause"].endswith("old.csv is an old Excel (.xls) or Office file, not a spreadsheet saved as CSV")


def test_a_zip_is_no_cause_where_the_platform_reads_archives(tmp_path: Path) -> None:
    (tmp_path / "export.zip").write_bytes(_zip_bytes())
    config = load_config(write_config(tmp_path, {"zendesk": {"path": "export.zip"}}))
    (entry,) = review.assess({"platforms": {"zendesk": _counts(1, 0, malformed_json=1)}}, config, {}, "full")
    assert entry["cause"].endswith("most records were rejected as malformed_json (1): see the rejects file")


def test_the_extractors_hint_names_the_cause_of_a_text_file(tmp_path: Path) -> None:
    (tmp_path / "items.csv").write_text("a;b\n1;2\n", encoding="utf-8")
    config = load_config(write_config(tmp_path, {"csv": {"path": "items.csv"}}))
    findings = {"csv": {"likely_causes": {"items.csv": "the header splits on ';', not ','"}}}
    (entry,) = review.assess({"platforms": {"csv": _counts(1, 0, csv_header_invalid=1)}}, config, findings, "full")
    assert entry["cause"] == "no exportable item (1 record seen): items.csv: the header splits on ';', not ','"


def test_apply_says_the_status_and_what_the_banner_lists() -> None:
    summary: dict = {}
    review.apply(summary, [])
    assert summary == {"status": "ok"}
    review.apply(summary, [{"platform": "csv", "problem": "p", "cause": "p: c"}])
    assert summary["status"] == "needs_review" and summary["review"] == [{"platform": "csv", "cause": "p: c"}]
    assert yaml.safe_dump(summary)  # plain data
