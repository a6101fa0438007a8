"""Gmail as Google Takeout delivers it: .zip (or .tgz) parts with the mbox under Takeout/Mail/ beside
other products' files; Spam and Trash (in the account's language), bounces and automatic replies
set aside, never exported."""

from __future__ import annotations

import base64
import io
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from extract import gmail
from extract.context import Progress, SourceContext
from tests.python.conftest import Extracted, run_extractor
from tests.python.gmail_helpers import eml, mbox

MBOX_MEMBER = "Takeout/Mail/All mail Including Spam and Trash.mbox"
PART_1 = "takeout-20240301T000000Z-001.zip"
PART_2 = "takeout-20240301T000000Z-002.zip"


def message(n: int, labels: str, **extra: str) -> bytes:
    headers = {"X-GM-THRID": f"17{n:017d}", "X-Gmail-Labels": labels, "From": f"Customer {n} <c{n}@example.com>",
               "To": "support@shop.example", "Subject": f"Order {n}", "Date": f"Mon, 4 Jan 2021 10:{n % 60:02d}:00 +0000",
               "Message-ID": f"<m{n}@example.com>", "Content-Type": "text/plain; charset=UTF-8", **extra}
    return eml(headers, f"Message {n}: where is my order?\n")


def encoded(text: str) -> str:
    return "=?UTF-8?B?" + base64.b64encode(text.encode()).decode() + "?="


KEPT = [message(1, "Inbox,Opened"), message(2, '"Kunden, VIP",Posteingang'), message(3, "Sent")]
SPAM = [message(10, "Spam,Category Promotions"), message(11, encoded("Spam"))]
TRASH = [message(20, "Trash,Opened"), message(21, encoded("Posteingang,Papierkorb")),  # the whole list one word
         message(22, '"Corbeille",Ouvert'), message(23, "Papelera"), message(24, "Lixeira"),
         message(25, "Cestino"), message(26, "Prullenbak"), message(27, "Bin")]
BOUNCE = eml({"From": "Mail Delivery Subsystem <mailer-daemon@googlemail.com>", "To": "support@shop.example",
              "Subject": "Delivery Status Notification (Failure)", "Message-ID": "<b1@mx.google.com>",
              "Date": "Mon, 4 Jan 2021 11:00:00 +0000", "X-Gmail-Labels": "Inbox",
              "Content-Type": 'multipart/report; report-type=delivery-status; boundary="r"'},
             "--r\nContent-Type: text/plain\n\nAddress not found: jane@example.org\n--r\n"
             "Content-Type: message/delivery-status\n\nStatus: 5.1.1\n--r--\n")
OUT_OF_OFFICE = eml({"From": "Jane <jane@example.org>", "To": "support@shop.example", "Subject": "Abwesend",
                     "Message-ID": "<ooo@example.org>", "Date": "Mon, 4 Jan 2021 12:00:00 +0000",
                     "X-Gmail-Labels": "Inbox", "Auto-Submitted": "auto-replied"}, "I am away until Monday.\n")
VACATION = [OUT_OF_OFFICE,
            message(30, "Inbox", **{"X-Autoreply": "yes"}), message(31, "Inbox", **{"Precedence": "auto_reply"}),
            message(32, "Inbox", **{"X-Autorespond": "Out of office"})]
NOT_AUTOMATED = [message(40, "Inbox", **{"Auto-Submitted": "no"}), message(41, "Inbox", **{"Precedence": "bulk"})]
ALL = KEPT + SPAM + TRASH + [BOUNCE] + VACATION + NOT_AUTOMATED
MAILBOX = mbox(*ALL, crlf=True)
OTHER_PRODUCTS = {
    "Takeout/archive_browser.html": b"<html>Takeout</html>",
    "Takeout/Drive/Invoices/invoice-1042.pdf": b"%PDF-1.4 an invoice",
    "Takeout/Drive/backup.zip": b"PK\x03\x04 a zip on someone's Drive: not mail, not refused",
    "Takeout/YouTube and YouTube Music/history/watch-history.html": b"<html></html>",
}


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def write_tgz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1709251200
            tar.addfile(info, io.BytesIO(data))
    return path


def two_part_takeout(folder: Path) -> list[Path]:
    """Part 1: other products, then the mbox; part 2: the rest of the other products."""
    folder.mkdir(parents=True, exist_ok=True)
    items = list(OTHER_PRODUCTS.items())
    return [write_zip(folder / PART_1, {**dict(items[:2]), MBOX_MEMBER: MAILBOX}),
            write_zip(folder / PART_2, dict(items[2:]))]


def extract(tmp_path: Path, files: list[Path], options: dict[str, Any] | None = None) -> Extracted:
    return run_extractor(gmail, files, tmp_path, options)


def without_lineage(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "_source_file"} for row in rows]


def test_a_two_part_takeout_zip_gives_the_rows_and_rejects_of_its_unpacked_mbox(tmp_path: Path) -> None:
    plain = tmp_path / "plain" / "All mail Including Spam and Trash.mbox"
    plain.parent.mkdir()
    plain.write_bytes(MAILBOX)
    expected = extract(tmp_path / "plain", [plain])
    parts = two_part_takeout(tmp_path / "takeout")
    got = extract(tmp_path / "takeout", parts)
    assert len(expected.tables["messages"]) == len(KEPT + NOT_AUTOMATED)
    assert without_lineage(got.tables["messages"]) == without_lineage(expected.tables["messages"])
    assert without_lineage(got.rejects) == without_lineage(expected.rejects)
    assert {r["_source_file"] for r in got.tables["messages"]} == {f"{PART_1}!/{MBOX_MEMBER}"}
    assert got.manifest["files_read"] == 1  # the mbox; the other products' files are skipped


def test_a_takeout_tgz_reads_like_its_zip(tmp_path: Path) -> None:
    members = {**OTHER_PRODUCTS, MBOX_MEMBER: MAILBOX}
    from_zip = extract(tmp_path / "z", [write_zip(tmp_path / "takeout.zip", members)])
    from_tgz = extract(tmp_path / "t", [write_tgz(tmp_path / "takeout-20240301T000000Z-001.tgz", members)])
    assert without_lineage(from_tgz.tables["messages"]) == without_lineage(from_zip.tables["messages"])
    assert [r["reject_reason"] for r in from_tgz.rejects] == [r["reject_reason"] for r in from_zip.rejects]


def test_spam_and_trash_in_seven_languages_bounces_and_auto_replies_are_set_aside_with_their_text(
        tmp_path: Path) -> None:
    result = extract(tmp_path, two_part_takeout(tmp_path / "takeout"))
    kept = sorted(r["message_id"] for r in result.tables["messages"])
    assert kept == sorted(["<m1@example.com>", "<m2@example.com>", "<m3@example.com>", "<m40@example.com>",
                           "<m41@example.com>"])
    reasons: dict[str, int] = {}
    for reject in result.rejects:
        reasons[reject["reject_reason"]] = reasons.get(reject["reject_reason"], 0) + 1
    assert reasons == {"spam": len(SPAM), "trash": len(TRASH), "bounce": 1, "auto_reply": len(VACATION)}
    bounce = next(r for r in result.rejects if r["reject_reason"] == "bounce")
    assert "Address not found: jane@example.org" in bounce["raw_excerpt"]
    assert bounce["_source_position"].startswith("byte ")
    away = next(r for r in result.rejects if r["customer_email_raw"] == "jane@example.org")
    assert (away["reject_reason"], "I am away until Monday." in away["raw_excerpt"]) == ("auto_reply", True)
    trash = next(r for r in result.rejects if r["customer_email_raw"] == "c21@example.com")
    assert "Papierkorb" in trash["reject_detail"]


def test_exclude_labels_adds_to_or_replaces_spam_and_trash_and_keep_automated_keeps_bounces(tmp_path: Path) -> None:
    mailbox = tmp_path / "m.mbox"
    mailbox.write_bytes(MAILBOX)
    added = extract(tmp_path / "added", [mailbox], {"exclude_labels": ["Spam", "Trash", "Papierkorb", "Sent"]})
    assert "<m3@example.com>" not in {r["message_id"] for r in added.tables["messages"]}
    assert sum(r["reject_reason"] == "excluded_label" for r in added.rejects) == 1
    assert sum(r["reject_reason"] == "trash" for r in added.rejects) == 2  # Trash and the one-word Papierkorb
    replaced = extract(tmp_path / "replaced", [mailbox], {"exclude_labels": [], "keep_automated": True})
    assert replaced.rejects == []
    assert len(replaced.tables["messages"]) == len(ALL)


def test_the_other_products_files_are_skipped_and_counted_in_one_line(tmp_path: Path) -> None:
    parts = two_part_takeout(tmp_path / "takeout")
    lines = io.StringIO()
    declared = gmail.PLATFORM
    out = declared.output(tmp_path / "raw")
    ctx = SourceContext(platform="gmail", options={}, base_dir=tmp_path / "takeout", files=parts,
                        progress=Progress("extract gmail", lines, files=parts))
    gmail.extract(ctx, out)
    out.close()
    said = [line for line in lines.getvalue().splitlines() if "other Google products" in line]
    assert len(said) == 1 and f"skipped {len(OTHER_PRODUCTS)} file(s)" in said[0], lines.getvalue()
    assert out.reject_reasons.get("nested_archive") is None  # a zip on Drive is not mail: skipped, not refused


def test_a_nested_archive_where_mail_should_be_is_refused_with_its_location(tmp_path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("x.mbox", MAILBOX)
    path = write_zip(tmp_path / PART_1, {"Takeout/Mail/old.mbox": inner.getvalue(), MBOX_MEMBER: mbox(*KEPT)})
    result = extract(tmp_path, [path])
    assert [(r["reject_reason"], r["_source_file"]) for r in result.rejects] == [
        ("nested_archive", f"{PART_1}!/Takeout/Mail/old.mbox")]
    assert len(result.tables["messages"]) == len(KEPT)


def test_a_takeout_part_that_broke_off_keeps_the_messages_before_the_damage(tmp_path: Path) -> None:
    many = mbox(*(message(n, "Inbox") for n in range(100, 400)))
    whole = write_tgz(tmp_path / "whole.tgz", {MBOX_MEMBER: many}).read_bytes()
    cut = tmp_path / PART_1.replace(".zip", ".tgz")
    cut.write_bytes(whole[: len(whole) // 2])
    result = extract(tmp_path, [cut])
    assert 0 < len(result.tables["messages"]) < 300
    assert [r["reject_reason"] for r in result.rejects] == ["unreadable_file"]
    ids = [r["message_id"] for r in result.tables["messages"]]
    assert ids == [f"<m{n}@example.com>" for n in range(100, 100 + len(ids))]


# --- separators other tools wrote ------------------------------------------------------------------


def test_a_netscape_separator_right_after_a_body_line_starts_a_message_when_a_header_block_follows(
        tmp_path: Path) -> None:
    data = (b"From - Fri Aug 24 11:55:47 2018\r\nX-Mozilla-Status: 0001\r\nFrom: a@example.com\r\nSubject: one\r\n"
            b"X-Gmail-Labels: Inbox\r\n\r\nbody one\r\n"
            b"From - Fri Aug 24 11:56:47 2018\r\nX-Mozilla-Status: 0001\r\nFrom: b@example.com\r\nSubject: two\r\n\r\n"
            b"body two\r\nFrom here on we ship daily.\r\nNote: a body line, not a header block\r\nthanks\r\n")
    path = tmp_path / "netscape.mbox"
    path.write_bytes(data)
    rows = extract(tmp_path, [path]).tables["messages"]
    assert [(r["subject"], r["body_text"]) for r in rows] == [
        ("one", "body one"),
        ("two", "body two\nFrom here on we ship daily.\nNote: a body line, not a header block\nthanks")]


@pytest.mark.parametrize("shape", ["crlf", "header past 8 KB", "upper case"])
def test_content_length_is_found_in_any_header_shape(tmp_path: Path, shape: str) -> None:
    """The header's Content-Length is looked for cheaply first (a bounded window for the blank line):
    a CRLF message, a header longer than the window and an upper-case name still find it."""
    eol = b"\r\n" if shape == "crlf" else b"\n"
    name = b"CONTENT-LENGTH" if shape == "upper case" else b"Content-Length"
    long_header = b"X-Trace: " + b"a" * 10_000 + eol if shape == "header past 8 KB" else b""
    body = eol.join([b"Forwarded below.", b"", b"From me to you, as promised:", b"Subject: not a message", b"",
                     b"the end", b""])
    first = eol.join([b"From a@example.com Mon Jan  4 10:00:00 2021", b"From: a@example.com", b"Subject: one",
                      b"Message-ID: <1@x>"]) + eol + long_header + name + b": %d" % len(body) + eol + eol + body
    second = eol.join([b"", b"From b@example.com Mon Jan  4 10:00:01 2021", b"From: b@example.com", b"Subject: two",
                       b"Message-ID: <2@x>", b"", b"hi", b""])
    (tmp_path / "shaped.mbox").write_bytes(first + second)
    rows = extract(tmp_path / "out", [tmp_path / "shaped.mbox"]).tables["messages"]
    assert [r["message_id"] for r in rows] == ["<1@x>", "<2@x>"]
    assert rows[0]["body_text"].replace("\r\n", "\n").endswith("Subject: not a message\n\nthe end")


def test_content_length_is_honoured_only_when_it_lands_on_the_next_separator(tmp_path: Path) -> None:
    body = (b"Forwarded below.\n\nFrom me to you, as promised:\nX-Note: not a header\nSubject: not a message\n\n"
            b"the end\n")
    first = (b"From a@example.com Mon Jan  4 10:00:00 2021\nFrom: a@example.com\nSubject: one\nMessage-ID: <1@x>\n"
             b"Content-Length: %d\n\n" % len(body) + body)
    second = b"\nFrom b@example.com Mon Jan  4 10:00:01 2021\nFrom: b@example.com\nSubject: two\nMessage-ID: <2@x>\n\nhi\n"
    (tmp_path / "right.mbox").write_bytes(first + second)
    right = extract(tmp_path / "r", [tmp_path / "right.mbox"]).tables["messages"]
    assert [r["message_id"] for r in right] == ["<1@x>", "<2@x>"]
    assert right[0]["body_text"].endswith("Subject: not a message\n\nthe end")
    wrong = first.replace(b"Content-Length: %d" % len(body), b"Content-Length: %d" % (len(body) + 7))
    (tmp_path / "wrong.mbox").write_bytes(wrong + second)
    read_anyway = extract(tmp_path / "w", [tmp_path / "wrong.mbox"]).tables["messages"]
    assert len(read_anyway) == 3  # a length that lands nowhere is not trusted: the header block splits
