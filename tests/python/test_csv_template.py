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


def test_bytes_that_are_not_utf8_are_replaced_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes((HEADER + "\n").encode() + b"1,a@example.com,Ren\xe9,,2021-01-01T00:00:00Z,T,caf\xe9,S,\n")
    (row,) = run_extractor(csv_template, [path], tmp_path).tables["conversation_items"]
    assert row["customer_name"] == "Ren\ufffd"
    assert row["body"] == "caf\ufffd"


def test_blank_lines_are_not_records(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text(HEADER + "\n\n1,a@example.com,A,,2021-01-01T00:00:00Z,T,b,S,\n,,,,,,,,\n", encoding="utf-8")
    result = run_extractor(csv_template, [path], tmp_path)
    assert len(result.tables["conversation_items"]) == 1
    assert result.rejects == []
