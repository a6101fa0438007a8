"""Hostile and broken export files (issue 11, file side): memory bounded whatever one line, field or
element weighs, and nothing lost or skipped silently.

Each test is the small, fast version of a case measured at full size by bench/hostile.py: the
byte limits are lowered for the test, and bounded reads are proven by sizes (bytes held, elements
kept), never by time. Figures from the full-size runs are in docs/sources/*.md.
"""

from __future__ import annotations

import gzip
import io
import json
import tracemalloc
import zlib
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from extract import csv_template, freshdesk, raw, zendesk
from extract.raw import PlatformOutput, RawTableWriter, with_lineage
from extract.readers import bounded_xml
from extract.readers.lines import LongLine, read_lines
from gladly_import.warehouse import raw_tables
from tests.python.conftest import run_extractor, write_config
from tests.python.freshdesk_helpers import run_extract, ticket, tickets_xml, write_zip

MB = 1024 * 1024
CSV_HEADER = ("Conversation Item ID,Customer Email,Customer Name,Customer Phone,Conversation Item Timestamp,"
              "Conversation Item Title,Conversation Item Body,Conversation Item Source,Tags")


def zendesk_ticket(ticket_id: int, body: str = "Box was crushed.", subject: str = "Damaged order") -> str:
    return json.dumps({
        "id": ticket_id, "subject": subject, "tags": ["damaged"],
        "requester": {"id": 9, "name": "Jane Doe", "email": "jane@example.com"},
        "comments": [{"id": ticket_id * 10, "author_id": 9, "body": body, "public": True,
                      "created_at": "2021-03-04T15:22:10Z"}],
    })


def truncations(tmp_path: Path, platform: str) -> list[dict]:
    return pq.read_table(tmp_path / "raw" / "extract_truncations" / f"{platform}.parquet").to_pylist()


def peak_python_bytes(action) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- the shared raw writer -------------------------------------------------------------------

SCHEMA = with_lineage(pa.field("body", pa.string()), pa.field("tags", pa.list_(pa.string())))


def body_row(i: int, body: str, tags: list[str] | None = None) -> dict:
    return {"body": body, "tags": tags, "_source_file": "f.json", "_source_row": i, "_source_position": f"line {i}"}


def test_the_raw_writer_flushes_by_bytes_not_only_rows_1500_tickets_of_1_mb(tmp_path: Path) -> None:
    """1,500 tickets x 1 MB held 4.6 GB (20,000 rows buffered whatever their size); now ~8 MB a batch."""
    writer = RawTableWriter(tmp_path / "t.parquet", SCHEMA, batch_rows=20_000, batch_bytes=1 * MB)
    for i in range(12):
        writer.write(body_row(i, "x" * 300_000))
        assert writer._buffered_bytes < 1 * MB + 300_100  # never more than the budget and one row
    writer.close()
    assert pq.ParquetFile(tmp_path / "t.parquet").metadata.num_row_groups == 3  # 4 rows of 300 KB each


def test_a_field_over_the_cap_keeps_a_prefix_and_its_real_length_is_queryable(tmp_path: Path) -> None:
    out = PlatformOutput(tmp_path / "raw", "zendesk", {"t": SCHEMA}, ("t",))
    body = "é" * 100 + "b" * 400_000
    out.table("t").write(body_row(7, body, tags=["ok", "t" * 300_000]))
    out.close()
    (row,) = pq.read_table(tmp_path / "raw" / "zendesk" / "t.parquet").to_pylist()
    assert row["body"] == body[:raw.FIELD_CAP_CHARS]
    assert raw.FIELD_CAP_CHARS >= 10 * 25_000  # Gladly's body cut and its flag stay exact downstream
    assert row["tags"] == ["ok", "t" * raw.FIELD_CAP_CHARS]
    assert [(t["column_name"], t["original_length"], t["length_unit"], t["kept_chars"], t["_source_position"])
            for t in truncations(tmp_path, "zendesk")] == [
        ("body", 400_100, "characters", raw.FIELD_CAP_CHARS, "line 7"),
        ("tags", 300_000, "characters", raw.FIELD_CAP_CHARS, "line 7"),
    ]
    glob, _ = raw_tables(str(tmp_path / "raw"))["extract_truncations"]  # what raw.extract_truncations reads
    with duckdb.connect() as conn:
        assert conn.execute("select count(*), max(original_length) from read_parquet(?, union_by_name = true)",
                            [glob]).fetchone() == (2, 400_100)


def test_nul_and_other_control_characters_never_land_but_tab_cr_lf_do(tmp_path: Path) -> None:
    writer = RawTableWriter(tmp_path / "t.parquet", SCHEMA)
    writer.write(body_row(1, "a\x00b\x01c\x1bd\te\r\nf\x7f", tags=["x\x00y"]))
    writer.write(body_row(2, "lone \ud83d surrogate"))
    writer.close()
    rows = pq.read_table(tmp_path / "t.parquet").to_pylist()
    assert rows[0]["body"] == "abcd\te\r\nf\x7f"
    assert rows[0]["tags"] == ["xy"]
    assert rows[1]["body"] == "lone \ufffd surrogate"


# --- bounded line reading --------------------------------------------------------------------


class Zeros(io.RawIOBase):
    """``size`` zero bytes, never held: a stand-in for a gzip bomb's output."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = min(len(buffer), self.left)
        buffer[:n] = b"\x00" * n
        self.left -= n
        return n


def test_a_line_without_end_is_read_in_bounded_pieces() -> None:
    stream = io.BufferedReader(io.BytesIO(b'{"a": 1}\n' + b"\x00" * (40 * MB) + b"\n{\"b\": 2}\r\n"))
    seen: list[tuple[int, object]] = []

    def read_all() -> None:
        for number, line in read_lines(stream, max_line_bytes=1 * MB, chunk_bytes=256 * 1024):
            if isinstance(line, LongLine):
                biggest = max(len(piece) for piece in line.pieces())
                seen.append((number, ("long", line.size, biggest)))
            else:
                seen.append((number, line))

    peak = peak_python_bytes(read_all)
    assert seen == [(1, b'{"a": 1}'), (2, ("long", 40 * MB, 1 * MB + 1)), (3, b'{"b": 2}')] or (
        seen[0] == (1, b'{"a": 1}') and seen[1][1][:2] == ("long", 40 * MB) and seen[2] == (3, b'{"b": 2}'))
    assert seen[1][1][2] <= 1 * MB + 256 * 1024
    assert peak < 6 * MB  # the 40 MB line was never held


def test_cr_only_crlf_and_lf_line_endings_all_end_lines() -> None:
    data = b"one\rtwo\r\nthree\nfour\r\rsix"
    lines = list(read_lines(io.BytesIO(data), chunk_bytes=3))
    assert lines == [(1, b"one"), (2, b"two"), (3, b"three"), (4, b"four"), (5, b""), (6, b"six")]


# --- Zendesk ---------------------------------------------------------------------------------


def test_zendesk_gzip_bomb_line_is_a_reject_with_its_line_and_the_rest_goes_on(tmp_path: Path, monkeypatch) -> None:
    """A 2 MB .gz of zeros (2 GB, no newline) held a 2 GB line (4.8 GB RSS); now one bounded reject."""
    monkeypatch.setattr(zendesk, "MAX_LINE_BYTES", 1 * MB)
    path = tmp_path / "tickets.json.gz"
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as handle:
        handle.write(compressor.compress((zendesk_ticket(1) + "\n").encode()))
        for _ in range(32):
            handle.write(compressor.compress(b"\x00" * MB))
        handle.write(compressor.compress(("\n" + zendesk_ticket(3) + "\n").encode()))
        handle.write(compressor.flush())
    assert path.stat().st_size < 100_000
    result: dict = {}
    peak = peak_python_bytes(lambda: result.update(r=run_extractor(zendesk, [path], tmp_path)))
    extracted = result["r"]
    assert [c["ticket_id"] for c in extracted.tables["ticket_comments"]] == ["1", "3"]
    (reject,) = extracted.rejects
    assert (reject["reject_reason"], reject["_source_position"]) == ("record_too_large", "line 2")
    assert f"{32 * MB:,} bytes" in reject["reject_detail"]
    assert peak < 12 * MB  # the 32 MB line never held


def test_zendesk_huge_comment_body_is_exported_truncated_with_its_real_size(tmp_path: Path, monkeypatch) -> None:
    """A 150 MB comment body ran DuckDB out of memory; now the line is read in pieces, the body cut."""
    monkeypatch.setattr(zendesk, "MAX_LINE_BYTES", 2 * MB)
    huge = "<p>Attached log: \\\"" + "déjà vu " * 400_000 + "</p>"  # 7.2 MB as JSON
    path = tmp_path / "tickets.json"
    path.write_text(zendesk_ticket(1) + "\n" + zendesk_ticket(2, body=huge) + "\n" + zendesk_ticket(3) + "\n",
                    encoding="utf-8")
    source_bytes = len(json.dumps(huge).encode()) - 2  # as written in the file, escapes included
    result = run_extractor(zendesk, [path], tmp_path)
    comments = result.tables["ticket_comments"]
    assert [c["ticket_id"] for c in comments] == ["1", "2", "3"]
    assert result.rejects == []
    body = comments[1]["comment_body"]
    assert len(body) == raw.FIELD_CAP_CHARS and huge.startswith(body)
    (cut,) = truncations(tmp_path, "zendesk")
    assert (cut["column_name"], cut["original_length"], cut["length_unit"]) == (
        "comment_body", source_bytes, "source bytes")
    assert cut["_source_position"] == "line 2, comment 1"


def test_zendesk_json_nested_1000_deep_is_a_reject_and_the_rest_goes_on(tmp_path: Path) -> None:
    """Nested 1,000 deep raised RecursionError and the run failed, nothing exported."""
    deep_line = '{"id": 2, "subject": "x", "comments": ' + "[" * 100_000 + "]" * 100_000 + "}"
    deep_body = json.loads(zendesk_ticket(4))
    nested: object = "bottom"
    for _ in range(900):
        nested = [nested]
    deep_body["comments"][0]["body"] = nested
    path = tmp_path / "tickets.json"
    path.write_text("\n".join([zendesk_ticket(1), deep_line, zendesk_ticket(3)]) + "\n", encoding="utf-8")
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(deep_body) + "\n")
    result = run_extractor(zendesk, [path], tmp_path)
    assert [c["ticket_id"] for c in result.tables["ticket_comments"]] == ["1", "3", "4"]
    assert [(r["reject_reason"], r["_source_row"]) for r in result.rejects] == [("record_too_deep", 2)]
    assert result.manifest["records_seen"] == 4


def test_zendesk_cr_only_line_endings_10_tickets_are_10_tickets(tmp_path: Path) -> None:
    """CR-only line endings made 10 tickets 1 malformed_json reject."""
    path = tmp_path / "tickets.json"
    path.write_bytes("\r".join(zendesk_ticket(i) for i in range(1, 11)).encode())
    result = run_extractor(zendesk, [path], tmp_path)
    assert [c["_source_row"] for c in result.tables["ticket_comments"]] == list(range(1, 11))
    assert result.rejects == []


def test_zendesk_truncated_gzip_keeps_every_complete_ticket_before_the_damage(tmp_path: Path) -> None:
    text = "".join(zendesk_ticket(i, body=f"comment {i} " * (i % 50)) + "\n" for i in range(1, 3001)).encode()
    whole = gzip.compress(text)
    cut = whole[: len(whole) * 3 // 5]
    path = tmp_path / "tickets.json.gz"
    path.write_bytes(cut)
    recoverable = zlib.decompressobj(31).decompress(cut)
    complete = recoverable.count(b"\n")
    assert 1000 < complete < 3000
    result = run_extractor(zendesk, [path], tmp_path)
    assert len(result.tables["ticket_comments"]) == complete
    (reject,) = result.rejects
    assert (reject["reject_reason"], reject["_source_position"]) == ("unreadable_file", f"after line {complete}")


def test_zendesk_control_characters_in_json_never_land(tmp_path: Path) -> None:
    path = tmp_path / "tickets.json"
    path.write_text(zendesk_ticket(1, body="a\u0000b\u0007c\td\ne", subject="nul\u0000here") + "\n", encoding="utf-8")
    (comment,) = run_extractor(zendesk, [path], tmp_path).tables["ticket_comments"]
    assert (comment["comment_body"], comment["ticket_subject"]) == ("abc\td\ne", "nulhere")


# --- CSV template ----------------------------------------------------------------------------


def csv_row(i: int, body: str = "Hello") -> str:
    return f"csv-{i},c{i}@example.com,C {i},,2021-01-0{1 + i % 9}T00:00:00Z,Title {i},{body},Help Scout,tag\n"


def test_csv_unterminated_quote_then_40_mb_is_one_bounded_reject(tmp_path: Path, monkeypatch) -> None:
    """An unterminated quote + ~1 GB held the whole field (6.3 GB RSS); now one reject, bounded."""
    monkeypatch.setattr(csv_template, "MAX_RECORD_CHARS", 1 * MB)
    path = tmp_path / "items.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(CSV_HEADER + "\n" + csv_row(1) + csv_row(2))
        handle.write('csv-3,c3@example.com,C,,2021-01-01T00:00:00Z,T,"never closed ')
        for _ in range(40):
            handle.write(("spam, eggs\n" * 95_000)[: MB])
    result: dict = {}
    peak = peak_python_bytes(lambda: result.update(r=run_extractor(csv_template, [path], tmp_path)))
    extracted = result["r"]
    assert [r["item_id"] for r in extracted.tables["conversation_items"]] == ["csv-1", "csv-2"]
    (reject,) = extracted.rejects
    assert (reject["reject_reason"], reject["_source_position"]) == ("record_too_large", "line 4")
    assert peak < 12 * MB


def test_csv_record_over_the_limit_is_rejected_and_the_records_after_it_are_read(tmp_path: Path,
                                                                                    monkeypatch) -> None:
    monkeypatch.setattr(csv_template, "MAX_RECORD_CHARS", 100_000)
    big = '"' + 'he said ""hi""\r\n' * 20_000 + '"'
    path = tmp_path / "items.csv"
    path.write_text(CSV_HEADER + "\r" + csv_row(1).replace("\n", "\r") + csv_row(2, big) + csv_row(3)
                    + 'csv-4,d@example.com,O"Brien,,2021-01-01T00:00:00Z,12" screen,body,S,\n', encoding="utf-8")
    result = run_extractor(csv_template, [path], tmp_path)
    rows = result.tables["conversation_items"]
    assert [(r["item_id"], r["_source_row"]) for r in rows] == [("csv-1", 2), ("csv-3", 20_004), ("csv-4", 20_005)]
    assert rows[2]["customer_name"] == 'O"Brien' and rows[2]["title"] == '12" screen'
    (reject,) = result.rejects
    assert (reject["reject_reason"], reject["_source_row"]) == ("record_too_large", 3)


def test_csv_truncated_gzip_keeps_every_complete_row_before_the_damage(tmp_path: Path) -> None:
    text = (CSV_HEADER + "\n" + "".join(csv_row(i, f'"line {i}\nsecond, line"') for i in range(1, 3001))).encode()
    whole = gzip.compress(text)
    cut = whole[: len(whole) * 3 // 5]
    path = tmp_path / "items.csv.gz"
    path.write_bytes(cut)
    recoverable = zlib.decompressobj(31).decompress(cut)
    complete = recoverable.count(b"Help Scout,tag\n")  # rows whose line end arrived
    assert 1000 < complete < 3000
    result = run_extractor(csv_template, [path], tmp_path)
    assert [r["item_id"] for r in result.tables["conversation_items"]] == [f"csv-{i}" for i in range(1, complete + 1)]
    assert [r["reject_reason"] for r in result.rejects] == ["unreadable_file"]


def test_csv_nul_bytes_never_land(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes((CSV_HEADER + "\n").encode() + b"1,a@example.com,A\x00,,2021-01-01T00:00:00Z,T\x00,b\x00\x01ody,S,\n")
    (row,) = run_extractor(csv_template, [path], tmp_path).tables["conversation_items"]
    assert (row["customer_name"], row["title"], row["body"]) == ("A", "T", "body")


# --- Freshdesk -------------------------------------------------------------------------------


def test_freshdesk_field_over_libxml2s_10_mb_limit_loses_no_ticket_after_it(tmp_path: Path) -> None:
    """A field over 10 MB stopped the parse: the 298 tickets after it were never counted."""
    big = "Order log &amp; notes, caf\u00e9 " * 420_000  # 11.3 MB of XML text
    tickets = [ticket(1), ticket(2, extra=f"    <custom-log>{big}</custom-log>\n").replace(
        "<description>My order has not arrived.</description>", f"<description>{big}</description>")]
    tickets += [ticket(i) for i in range(3, 301)]
    export = write_zip(tmp_path / "export.zip", {"Tickets0.xml": tickets_xml(*tickets)})
    result = run_extract([export], tmp_path / "work")
    assert len(result.tickets) == 300
    assert result.rejects == []
    second = next(t for t in result.tickets if t["display_id"] == "2")
    assert second["description"].startswith("Order log & notes, caf\u00e9 Order log")
    assert len(second["description"]) == raw.FIELD_CAP_CHARS
    (cut,) = pq.read_table(tmp_path / "work" / "raw" / "extract_truncations" / "freshdesk.parquet").to_pylist()
    assert (cut["column_name"], cut["original_length"], cut["length_unit"]) == (
        "description", len(big.encode()), "source bytes")


def test_freshdesk_ticket_with_many_large_fields_holds_only_their_prefixes(tmp_path: Path, monkeypatch) -> None:
    """One ticket with 100 x 9 MB fields held 1.0 GB; each field is now cut while reading."""
    monkeypatch.setattr(freshdesk, "READ_CUT_BYTES", 64 * 1024)
    fields = "".join(f"    <custom-{i}>{'x' * 2 * MB}</custom-{i}>\n" for i in range(30))
    export = write_zip(tmp_path / "export.zip", {"Tickets0.xml": tickets_xml(ticket(1, extra=fields), ticket(2))})
    longest: list[int] = []
    original = freshdesk.FreshdeskReader.ticket

    def spy(self, element, source_file):  # type: ignore[no-untyped-def]
        longest.append(max(len(child.text or "") for child in element))
        return original(self, element, source_file)

    monkeypatch.setattr(freshdesk.FreshdeskReader, "ticket", spy)
    result = run_extract([export], tmp_path / "work")
    assert [t["display_id"] for t in result.tickets] == ["1", "2"]
    assert max(longest) < 64 * 1024 + 100  # 2 MB fields held as 64 KB prefixes (plus the cut mark)


def test_freshdesk_flood_of_non_ticket_elements_under_the_root_is_dropped_as_read(tmp_path: Path,
                                                                                 monkeypatch) -> None:
    """20M non-ticket elements under the root (a 78 KB zip) held 2.6 GB: only tickets were cleared."""
    flood = "<x/>" * 300_000
    export = write_zip(tmp_path / "export.zip", {
        "Tickets0.xml": tickets_xml(ticket(1)).replace("</helpdesk-tickets>", flood + "</helpdesk-tickets>")
        .replace('<helpdesk-tickets type="array">\n', '<helpdesk-tickets type="array">\n' + flood),
    })
    held: list[int] = []
    original = bounded_xml.BoundedXml.read

    def spy(self, size=bounded_xml.READ_BYTES):  # type: ignore[no-untyped-def]
        if self.root is not None:
            held.append(len(self.root))
        return original(self, size)

    monkeypatch.setattr(bounded_xml.BoundedXml, "read", spy)
    result = run_extract([export], tmp_path / "work")
    assert [t["display_id"] for t in result.tickets] == ["1"]
    assert held and max(held) <= bounded_xml.READ_BYTES // 4 + 2  # one read's worth of <x/>, not 600,000


def test_freshdesk_zip_nested_archive_gz_member_and_other_files_are_never_skipped_silently(tmp_path: Path) -> None:
    """A zip in the zip or Tickets0.xml.gz in it were skipped or misread with records_seen 0."""
    inner = io.BytesIO()
    write_zip(inner, {"Tickets5.xml": tickets_xml(ticket(5))})  # type: ignore[arg-type]
    export = write_zip(tmp_path / "export.zip", {
        "Tickets0.xml": tickets_xml(ticket(1)),
        "Tickets1.xml.gz": gzip.compress(tickets_xml(ticket(2), ticket(3)).encode()),
        "more/export-part2.zip": inner.getvalue(),
        "attachments/invoice.pdf": b"%PDF-1.4 not xml",
        "Companies.xml": "<companies/>",
    })
    result = run_extract([export], tmp_path / "work", base_dir=tmp_path)
    assert sorted(t["display_id"] for t in result.tickets) == ["1", "2", "3"]
    assert sorted((r["reject_reason"], r["_source_file"]) for r in result.rejects) == [
        ("nested_archive", "export.zip!/more/export-part2.zip"),
        ("unexpected_file", "export.zip!/attachments/invoice.pdf"),
    ]


def test_an_export_packed_in_an_archive_no_reader_opens_is_a_reject_not_a_silent_skip(tmp_path: Path) -> None:
    """A folder's .mbox.bz2 or a gzip named .tar.gz was passed over: records_seen 0, no word of it.
    (A zip is read where it lies since archives are read by their bytes: its ticket counts.)"""
    from gladly_import.config import load_config
    from gladly_import.extraction import extract_all

    (tmp_path / "zendesk" / "2021").mkdir(parents=True)
    (tmp_path / "zendesk" / "tickets.json").write_text(zendesk_ticket(1) + "\n", encoding="utf-8")
    (tmp_path / "zendesk" / "tickets.json.gz").write_bytes(gzip.compress((zendesk_ticket(2) + "\n").encode()))
    write_zip(tmp_path / "zendesk" / "2021" / "tickets-2021.json.zip", {"tickets.json": zendesk_ticket(3)})
    (tmp_path / "zendesk" / "notes.txt").write_text("not an export", encoding="utf-8")
    (tmp_path / "zendesk" / "backup.tar.gz").write_bytes(gzip.compress(b"tickets.json"))
    (tmp_path / "gmail").mkdir()
    (tmp_path / "gmail" / "inbox.mbox.bz2").write_bytes(b"BZh91AY&SY")
    (tmp_path / "gmail" / "inbox.mbox").write_bytes(b"")
    config = load_config(write_config(tmp_path, {"zendesk": {"path": "zendesk/"}, "gmail": {"path": "gmail/"}}))
    manifest = {row["source_platform"]: row for row in extract_all(config)}
    rejects = pq.read_table(tmp_path / "work" / "raw" / "extract_rejects").to_pylist()
    assert sorted((r["source_platform"], r["reject_reason"], r["_source_file"]) for r in rejects) == [
        ("gmail", "unexpected_file", "gmail/inbox.mbox.bz2"),
        ("zendesk", "unexpected_file", "zendesk/backup.tar.gz"),
    ]
    assert (manifest["zendesk"]["records_seen"], manifest["zendesk"]["records_rejected"]) == (4, 1)
    comments = pq.read_table(tmp_path / "work" / "raw" / "zendesk" / "ticket_comments.parquet").to_pylist()
    assert sorted(c["_source_file"] for c in comments) == [
        "zendesk/2021/tickets-2021.json.zip!/tickets.json", "zendesk/tickets.json", "zendesk/tickets.json.gz"]
    assert manifest["gmail"]["records_rejected"] == 1


@pytest.mark.parametrize("cut_at", [0.3, 0.7])
def test_freshdesk_truncated_gz_member_keeps_the_tickets_before_the_damage(tmp_path: Path, cut_at: float) -> None:
    whole = gzip.compress(tickets_xml(*(ticket(i) for i in range(1, 201))).encode())
    export = write_zip(tmp_path / "export.zip", {"Tickets0.xml.gz": whole[: int(len(whole) * cut_at)]})
    recoverable = zlib.decompressobj(31).decompress(whole[: int(len(whole) * cut_at)])
    complete = recoverable.count(b"</helpdesk-ticket>")
    result = run_extract([export], tmp_path / "work")
    assert len(result.tickets) == complete > 0
    assert [r["reject_reason"] for r in result.rejects] in (["unreadable_file"], ["malformed_xml"])


def test_the_field_cap_is_one_setting_in_the_raw_writer() -> None:
    assert raw.FIELD_CAP_CHARS == 262_144


# --- end to end ------------------------------------------------------------------------------


@pytest.mark.slow
def test_import_end_to_end_no_control_character_reaches_the_gladly_csv_and_cuts_are_listed(tmp_path: Path) -> None:
    """NUL bytes from a CSV input reached the Gladly CSV; an oversize body is exported truncated."""
    from tests.python.conftest import run_import, write_config

    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "items.csv").write_bytes(
        (CSV_HEADER + "\n").encode()
        + b"nul-1,a@example.com,A\x00nn,,2021-01-01T00:00:00Z,Ti\x00tle,b\x00o\x1bdy\twith tab,Help Scout,\n")
    (tmp_path / "zendesk").mkdir()
    body = "Log line \u00e9\u0000 " * 60_000  # 660,000 characters with NULs
    (tmp_path / "zendesk" / "tickets.json").write_text(zendesk_ticket(5, body=body) + "\n", encoding="utf-8")
    config = write_config(tmp_path, {"csv": {"path": "csv/"}, "zendesk": {"path": "zendesk/"}})
    result = run_import(config)
    assert result.returncode == 0, result.stderr
    raw_bytes = b"".join(p.read_bytes() for p in result.item_files())
    assert not [c for c in raw_bytes if c < 0x20 and c not in (0x09, 0x0A, 0x0D)]
    items = {item["Conversation Item ID"]: item for item in result.items()}
    assert (items["nul-1"]["Customer Name"], items["nul-1"]["Conversation Item Body"]) == ("Ann", "body\twith tab")
    zendesk_body = items["zendesk-5-50"]["Conversation Item Body"]
    assert zendesk_body == body.replace("\u0000", "")[:25_000]
    assert result.summary["totals"]["bodies_truncated"] == 1
    with duckdb.connect(str(result.work_dir / "gladly_import.duckdb"), read_only=True) as conn:
        assert conn.execute("select source_platform, column_name, original_length from raw.extract_truncations"
                            ).fetchall() == [("zendesk", "comment_body", len(body))]


@pytest.mark.slow
def test_fat_bodies_import_within_duckdbs_memory_limit_every_comment_exported_cut_at_25000(tmp_path: Path) -> None:
    """1,200 Zendesk tickets of 1 MB bodies failed the import (DuckDB out of memory at its 400 MB cap): every
    model carried each body at the raw writer's 262,144-character cap. The same shape scaled down to DuckDB's
    memory limit lowered to 100 MB (out of memory here too before the fix): 400 tickets, every field of a comment
    (body, html_body, plain_body) of 300,000 characters. Every comment is exported, cut at 25,000, its whole
    (landed) length kept for the flag."""
    from tests.python.conftest import run_import, write_config

    (tmp_path / "zendesk").mkdir()
    with open(tmp_path / "zendesk" / "tickets.json", "w", encoding="utf-8") as handle:
        for i in range(1, 401):
            body = f"Ticket {i}: " + "café order refund déjà 東京 " * 12_000  # 300,011 characters
            ticket = json.loads(zendesk_ticket(i, body=body))
            ticket["comments"][0].update(html_body=f"<p>{body}</p>", plain_body=body)
            handle.write(json.dumps(ticket, ensure_ascii=False) + "\n")
    config = write_config(tmp_path, {"zendesk": {"path": "zendesk/"}})
    result = run_import(config, env={"GLADLY_DUCKDB_MEMORY_LIMIT": "100MB"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    items = result.items()
    assert len(items) == 400 and result.rejects() == []
    assert {len(item["Conversation Item Body"]) for item in items} == {25_000}
    assert items[0]["Conversation Item Body"].startswith("<p>Ticket ")
    assert result.summary["totals"]["bodies_truncated"] == 400
    with duckdb.connect(str(result.work_dir / "gladly_import.duckdb"), read_only=True) as conn:
        # the landed prefix's length (a space where the raw writer cut it is stripped as any trailing blank)
        assert conn.execute("select min(body_chars), max(body_chars) from main.gladly_conversation_items"
                            ).fetchone() == (raw.FIELD_CAP_CHARS - 1, raw.FIELD_CAP_CHARS)
