"""extract/readers/csv.py: a CSV's encoding and delimiter decided from a bounded head of its bytes."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from extract import csv_template
from extract.readers.csv import detect_encoding, open_csv_text, shown_bytes, sniff_delimiter, undecodable
from extract.timestamps import parse_timestamp
from tests.python.conftest import run_extractor
from tests.python.test_archives import APPLE_DOUBLE, write_tar, write_zip


def _all(text) -> str:
    parts = []
    while chunk := text.read(7):
        parts.append(chunk)
    return "".join(parts)


def test_the_encoding_is_decided_by_the_bytes() -> None:
    assert detect_encoding("José Núñez;Café crème €5".encode("cp1252"), at_end=True) == "windows-1252"
    assert detect_encoding("José Núñez".encode(), at_end=True) == "utf-8"
    assert detect_encoding(b"\xef\xbb\xbfJos\xc3\xa9", at_end=True) == "utf-8-sig"
    assert detect_encoding("José".encode("utf-16-be").join([b"\xfe\xff", b""]), at_end=True) == "utf-16"
    # a character cut by the end of the head is not a stray byte
    assert detect_encoding("abc é".encode()[:-1], at_end=False) == "utf-8"


def test_only_the_head_is_judged_and_a_later_stray_byte_is_marked_not_replaced() -> None:
    data = b"a,b\r\n" + b"x,y\r\n" * 20 + b"caf\xe9,\x81\r\n"
    text = open_csv_text(io.BytesIO(data), sniff_bytes=16)
    assert text.encoding == "utf-8"
    decoded = _all(text)
    assert undecodable(decoded) == 2
    assert shown_bytes(decoded).endswith("caf\\xe9,\\x81\r\n")
    assert "\ufffd" not in decoded


def test_the_delimiter_is_the_one_that_splits_the_header_outside_quotes() -> None:
    assert sniff_delimiter('"Name, full";Email;Body\r\n"a,b";c;d') == ";"
    assert sniff_delimiter("Name\tEmail\tBody\n") == "\t"
    assert sniff_delimiter("\ufeffName,Email;x,y\n") == ","
    assert sniff_delimiter("Body\n") == ","
    forced = open_csv_text(io.BytesIO(b"a;b\n"), delimiter=",")
    assert (forced.delimiter, forced.delimiter_detected) == (",", False)


def test_timestamps_in_every_accepted_form() -> None:
    assert parse_timestamp("2021-03-04T15:22:10Z") == "2021-03-04T15:22:10Z"
    assert parse_timestamp(" 2021-03-04 16:22:10 +01:00 ") == "2021-03-04T15:22:10Z"
    assert parse_timestamp("Thu, 04 Mar 2021 15:22:10 +0000") == "2021-03-04T15:22:10Z"
    assert parse_timestamp("04 Mar 2021 10:22:10 -0500") == "2021-03-04T15:22:10Z"
    assert parse_timestamp("1614871330") == "2021-03-04T15:22:10Z"
    assert parse_timestamp("1614871330000") == "2021-03-04T15:22:10Z"
    assert parse_timestamp("03/04/2021 15:22") is None  # March 4th or April 3rd: not guessed
    assert parse_timestamp("03/04/2021 15:22", "%d/%m/%Y %H:%M") == "2021-04-03T15:22:00Z"
    assert parse_timestamp("20210304") is None  # 8 digits: neither epoch nor a date form
    assert parse_timestamp("2021-02-30") is None
    assert parse_timestamp("  ") is None


HEADER = ("Conversation Item ID,Customer Email,Customer Name,Customer Phone,Conversation Item Timestamp,"
          "Conversation Item Title,Conversation Item Body,Conversation Item Source,Tags")


def _rows(ids: list[str]) -> str:
    return HEADER + "\r\n" + "".join(f"{i},amy@example.com,Amy,,2021-03-04T15:22:10Z,Order,Où est-il ?,,\r\n"
                                      for i in ids)


@pytest.mark.parametrize("packing", ["zip", "tgz"])
def test_a_csv_export_as_downloaded_is_read_member_by_member(tmp_path: Path, packing: str) -> None:
    """A zip (Finder's, with its __MACOSX twins) or a .tgz of the export: each CSV member read with its own
    encoding, a gzipped member unpacked, a README and the macOS metadata set aside by name."""
    members = {"export/tickets.csv": _rows(["t-1", "t-2"]).encode("cp1252"),
               "export/older/notes.csv.gz": gzip.compress(_rows(["n-1"]).encode("utf-8")),
               "export/README.txt": b"Exported by Help Scout",
               ("__MACOSX/export/._tickets.csv" if packing == "zip" else "export/._tickets.csv"): APPLE_DOUBLE}
    name = f"helpscout-export.{packing}"
    path = (write_zip if packing == "zip" else write_tar)(tmp_path / name, members)
    got = run_extractor(csv_template, [path], tmp_path)
    rows = got.tables["conversation_items"]
    assert [(r["item_id"], r["_source_file"], r["body"]) for r in rows] == [
        ("t-1", f"{name}!/export/tickets.csv", "Où est-il ?"), ("t-2", f"{name}!/export/tickets.csv", "Où est-il ?"),
        ("n-1", f"{name}!/export/older/notes.csv.gz", "Où est-il ?")]
    assert sorted((r["_source_file"], r["reject_reason"]) for r in got.rejects) == sorted([
        (f"{name}!/export/README.txt", "unexpected_file"),
        (f"{name}!/{[m for m in members if '._' in m][0]}", "unexpected_file")])
    assert got.file_facts[f"{name}!/export/tickets.csv"]["encoding"].startswith("Windows-1252")
    assert got.manifest["files_read"] == 2


def test_an_excel_workbook_saved_as_csv_is_one_reject_that_says_so(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "tickets.csv", {"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>",
                                                "xl/worksheets/sheet1.xml": b"<worksheet/>"})
    got = run_extractor(csv_template, [path], tmp_path)
    assert got.tables["conversation_items"] == []
    (reject,) = got.rejects
    assert (reject["_source_file"], reject["reject_reason"]) == ("tickets.csv", "unexpected_file")
    assert "Excel workbook (.xlsx)" in reject["reject_detail"] and "CSV UTF-8" in got.likely_causes["tickets.csv"]
