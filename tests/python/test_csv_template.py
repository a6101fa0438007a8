"""Gladly's CSV template as an input: header by name, RFC 4180 quoting, bad rows set aside."""

from __future__ import annotations

from pathlib import Path

from extract import csv_template
from tests.python.conftest import run_extractor

HEADER = ("Conversation Item ID,Customer Email,Customer Name,Customer Phone,Conversation Item Timestamp,"
          "Conversation Item Title,Conversation Item Body,Conversation Item Source,Tags")


def test_rows_are_read_by_header_name_in_any_order_with_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes("\ufeffcustomer email , Conversation Item Body,Conversation Item Timestamp\r\n"
                     "a@example.com,\"Hello, \"\"friend\"\"\r\nsecond line\",2021-01-01T00:00:00Z\r\n".encode())
    result = run_extractor(csv_template, [path], tmp_path, {"source_name": "Help Scout"})
    (row,) = result.tables["conversation_items"]
    assert row["customer_email"] == "a@example.com"
    assert row["body"] == 'Hello, "friend"\r\nsecond line'
    assert row["item_id"] is None
    assert row["default_source_name"] == "Help Scout"
    assert (row["_source_row"], row["_source_position"]) == (2, "line 2")


def test_a_row_with_the_wrong_number_of_fields_is_rejected_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text(HEADER + "\n"
                    "1,a@example.com,A,,2021-01-01T00:00:00Z,T,\"multi\nline\",S,\n"
                    "2,b@example.com,B,,2021-01-01T00:00:00Z,T,body,S,tag,EXTRA\n"
                    "3,c@example.com,C,,2021-01-01T00:00:00Z,T,body,S,\n", encoding="utf-8")
    result = run_extractor(csv_template, [path], tmp_path)
    assert [r["item_id"] for r in result.tables["conversation_items"]] == ["1", "3"]
    assert [r["_source_row"] for r in result.tables["conversation_items"]] == [2, 5]  # row 1 spans 2-3
    (reject,) = result.rejects
    assert (reject["reject_reason"], reject["_source_position"]) == ("malformed_csv_row", "line 4")
    assert reject["reject_detail"] == "10 fields where the header has 9"
    assert result.manifest["records_seen"] == 3


def test_a_header_without_the_required_columns_rejects_every_row(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("email,text\na@example.com,hello\nb@example.com,bye\n", encoding="utf-8")
    result = run_extractor(csv_template, [path], tmp_path)
    assert result.tables["conversation_items"] == []
    assert [r["reject_reason"] for r in result.rejects] == ["csv_header_invalid"] * 2
    assert "customer email" in result.rejects[0]["reject_detail"]


def test_a_windows_1252_file_from_excel_is_read_as_such_and_said(tmp_path: Path) -> None:
    path = tmp_path / "excel export.csv"  # Excel on Windows, "CSV (Comma delimited)": cp1252, CRLF
    path.write_bytes((HEADER + "\r\n"
                      "1,jose@example.com,José Núñez,,2021-03-04T15:22:10Z,Café,Café crème €5 – “thanks”,S,\r\n")
                     .encode("cp1252"))
    result = run_extractor(csv_template, [path], tmp_path)
    (row,) = result.tables["conversation_items"]
    assert (row["customer_name"], row["body"]) == ("José Núñez", "Café crème €5 – “thanks”")
    assert result.file_facts["excel export.csv"] == {
        "encoding": "Windows-1252", "encoding_detected": True, "delimiter": "comma", "delimiter_detected": True}
    assert result.rejects == []


def test_utf16_with_a_bom_and_tabs_as_excel_unicode_text_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "unicode.csv"
    path.write_bytes((HEADER.replace(",", "\t") + "\r\n"
                      "1\tjose@example.com\tJosé Núñez\t\t2021-03-04T15:22:10Z\tT\t€5, 日本\tS\t\r\n").encode("utf-16"))
    result = run_extractor(csv_template, [path], tmp_path)
    (row,) = result.tables["conversation_items"]
    assert (row["customer_name"], row["body"]) == ("José Núñez", "€5, 日本")
    assert result.file_facts["unicode.csv"]["encoding"] == "UTF-16 with BOM"
    assert result.file_facts["unicode.csv"]["delimiter"] == "tab"


def test_stray_windows_1252_bytes_in_a_utf8_file_set_their_rows_aside_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes((HEADER + "\n").encode() + "1,a@example.com,José,,2021-01-01T00:00:00Z,T,crème brûlée,S,\n".encode()
                     + b"2,b@example.com,Ren\xe9,,2021-01-01T00:00:00Z,T,caf\xe9,S,\n"
                     + "3,c@example.com,Zoë,,2021-01-01T00:00:00Z,T,naïve,S,\n".encode())
    result = run_extractor(csv_template, [path], tmp_path)
    assert [r["customer_name"] for r in result.tables["conversation_items"]] == ["José", "Zoë"]
    (reject,) = result.rejects
    assert (reject["reject_reason"], reject["_source_position"]) == ("undecodable_csv_row", "line 3")
    assert reject["raw_excerpt"] == "2,b@example.com,Ren\\xe9,,2021-01-01T00:00:00Z,T,caf\\xe9,S,"
    assert "2 bytes that are not UTF-8" in reject["reject_detail"]
    assert "sources.csv.encoding" in reject["reject_detail"]
    assert result.file_facts["items.csv"]["undecodable_rows"] == 1
    assert result.manifest["records_seen"] == 3


def test_a_forced_encoding_reads_latin1_and_says_it_was_set(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes((HEADER + "\n1,a@example.com,Zoë Ångström,,2021-01-01T00:00:00Z,T,body,S,\n").encode("latin-1"))
    result = run_extractor(csv_template, [path], tmp_path, {"encoding": "latin-1"})
    assert result.tables["conversation_items"][0]["customer_name"] == "Zoë Ångström"
    assert result.file_facts["items.csv"]["encoding_detected"] is False


def test_a_semicolon_csv_from_european_excel_is_read(tmp_path: Path) -> None:
    path = tmp_path / "export_fr.csv"
    path.write_bytes((HEADER.replace(",", ";") + "\r\n"
                      "7;marie@example.fr;Marie Dupont;;2021-03-04T15:22:10Z;Remboursement;"
                      '"Bonjour, le total était 5,00 €; merci";Zendesk;vip\r\n')
                     .encode("cp1252"))
    result = run_extractor(csv_template, [path], tmp_path)
    (row,) = result.tables["conversation_items"]
    assert row["body"] == "Bonjour, le total était 5,00 €; merci"
    assert row["tags"] == "vip"
    assert result.file_facts["export_fr.csv"]["delimiter"] == "semicolon"


def test_a_forced_comma_on_a_semicolon_file_says_where_the_header_splits(tmp_path: Path) -> None:
    path = tmp_path / "export_fr.csv"
    path.write_text(HEADER.replace(",", ";") + "\n7;marie@example.fr;M;;2021-03-04T15:22:10Z;T;body;Z;\n", encoding="utf-8")
    result = run_extractor(csv_template, [path], tmp_path, {"delimiter": ","})
    (reject,) = result.rejects
    assert reject["reject_reason"] == "csv_header_invalid"
    assert "the header splits on ';', not ','" in reject["reject_detail"]
    assert "the header splits on ';'" in result.likely_causes["export_fr.csv"]


def test_timestamps_are_read_at_landing_and_kept_as_written(tmp_path: Path) -> None:
    path = tmp_path / "us.csv"
    path.write_text(HEADER + "\n1,a@example.com,A,,03/04/2021 15:22,T,b,S,\n"
                    "2,a@example.com,A,,\"Thu, 04 Mar 2021 15:22:10 +0100\",T,b,S,\n"
                    "3,a@example.com,A,,1614871330123,T,b,S,\n", encoding="utf-8")
    rows = run_extractor(csv_template, [path], tmp_path).tables["conversation_items"]
    assert [(r["occurred_at"], r["occurred_at_utc"]) for r in rows] == [
        ("03/04/2021 15:22", None), ("Thu, 04 Mar 2021 15:22:10 +0100", "2021-03-04T14:22:10Z"),
        ("1614871330123", "2021-03-04T15:22:10.123000Z")]
    rows = run_extractor(csv_template, [path], tmp_path, {"timestamp_format": "%m/%d/%Y %H:%M"}).tables["conversation_items"]
    assert rows[0]["occurred_at_utc"] == "2021-03-04T15:22:00Z"


def test_blank_lines_are_not_records(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text(HEADER + "\n\n1,a@example.com,A,,2021-01-01T00:00:00Z,T,b,S,\n,,,,,,,,\n", encoding="utf-8")
    result = run_extractor(csv_template, [path], tmp_path)
    assert len(result.tables["conversation_items"]) == 1
    assert result.rejects == []
