"""Whole imports of CSV files as people really save them (issue 22): Excel's Windows-1252, a European
';' file, US dates, a spreadsheet that is not a CSV at all. Fixtures are written as real bytes."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from tests.python.conftest import run_import, write_config

pytestmark = pytest.mark.slow

HEADER = ("Conversation Item ID,Customer Email,Customer Name,Customer Phone,Conversation Item Timestamp,"
          "Conversation Item Title,Conversation Item Body,Conversation Item Source,Tags")


def _excel_windows_csv(path: Path) -> None:
    """Excel on Windows, "CSV (Comma delimited)": Windows-1252, CRLF; one row another tool had
    already made safe for spreadsheets (a tab before =)."""
    path.write_bytes((HEADER + "\r\n"
                      "w-1,jose@example.com,José Núñez,+34 600 000 001,2021-03-04T15:22:10Z,Pedido,"
                      "Café crème €5 – “merci”,Help Scout,vip\r\n"
                      "w-2,formula@example.com,\t=1+1,,2021-03-05T08:00:00Z,Note,\t=1+1,Help Scout,\r\n")
                     .encode("cp1252"))


def _european_csv(path: Path) -> None:
    """French Excel, "CSV UTF-8": a BOM and ';' between fields (',' is the decimal separator)."""
    path.write_bytes(("\ufeff" + HEADER.replace(",", ";") + "\r\n"
                      "fr-1;marie@example.fr;Marie Dupont;;2021-03-06T09:30:00+01:00;Remboursement;"
                      '"Bonjour, le total était 5,00 €; merci";;\r\n').encode("utf-8"))


US_ROWS = [("us-1", "03/04/2021 15:22", "2021-03-04T15:22:00.000Z"),
           ("us-2", "12/31/2020 23:59", "2020-12-31T23:59:00.000Z"),
           ("us-3", "07/04/2021 09:05", "2021-07-04T09:05:00.000Z")]


def _us_csv(path: Path) -> None:
    path.write_text(HEADER + "\n" + "".join(f"{i},amy@example.com,Amy,,{when},Order,Where is it?,,\n"
                                            for i, when, _ in US_ROWS), encoding="utf-8")


def test_excel_windows_and_european_csvs_export_faithfully(tmp_path: Path) -> None:
    (tmp_path / "csv").mkdir()
    _excel_windows_csv(tmp_path / "csv" / "excel_windows.csv")
    _european_csv(tmp_path / "csv" / "export_fr.csv")
    result = run_import(write_config(tmp_path, {"csv": {"path": "csv/"}}))
    assert result.returncode == 0, result.stderr
    items = {row["Conversation Item ID"]: row for row in result.items()}
    assert (items["w-1"]["Customer Name"], items["w-1"]["Conversation Item Body"]) == (
        "José Núñez", "Café crème €5 – “merci”")
    assert items["fr-1"]["Conversation Item Body"] == "Bonjour, le total était 5,00 €; merci"
    assert items["fr-1"]["Conversation Item Timestamp"] == "2021-03-06T08:30:00.000Z"
    # trimming kept the tab: the Gladly CSV holds no live formula
    assert (items["w-2"]["Customer Name"], items["w-2"]["Conversation Item Body"]) == ("\t=1+1", "\t=1+1")
    assert "\ufffd" not in "".join(p.read_text(encoding="utf-8") for p in result.item_files())
    said = {i["file"]: i["read_as"] for i in result.summary["inputs"]}
    assert said == {"csv/excel_windows.csv": "Windows-1252, comma-separated",
                    "csv/export_fr.csv": "UTF-8 with BOM, semicolon-separated"}
    assert "csv/excel_windows.csv: Windows-1252 (detected), comma-separated (detected)" in result.stderr
    report = (result.output_dir / "import_report.html").read_text(encoding="utf-8")
    assert "read as Windows-1252, comma-separated" in report and "Every record is accounted for" in report
    assert result.summary["status"] == "ok"


def test_us_dates_import_with_timestamp_format(tmp_path: Path) -> None:
    _us_csv(tmp_path / "us.csv")
    result = run_import(write_config(tmp_path, {"csv": {"path": "us.csv", "timestamp_format": "%m/%d/%Y %H:%M"}}))
    assert result.returncode == 0, result.stderr
    assert {r["Conversation Item ID"]: r["Conversation Item Timestamp"] for r in result.items()} == {
        i: expected for i, _, expected in US_ROWS}


def test_us_dates_without_timestamp_format_quote_every_value_and_need_review(tmp_path: Path) -> None:
    _us_csv(tmp_path / "us.csv")
    result = run_import(write_config(tmp_path, {"csv": {"path": "us.csv"}}))
    assert result.returncode == 3, result.stderr
    rejects = result.rejects()
    assert [r["reject_reason"] for r in rejects] == ["unparseable_timestamp"] * 3
    for reject, (_, when, _) in zip(rejects, US_ROWS, strict=True):
        assert f'could not read the timestamp "{when}"' in reject["reject_detail"]
        assert "RFC 2822" in reject["reject_detail"] and "sources.csv.timestamp_format" in reject["reject_detail"]
    assert result.summary["status"] == "needs_review"
    assert "WARNING" not in result.stdout
    assert "WARNING: needs review: csv: no exportable item (3 records seen)" in result.stderr


def _xlsx_bytes() -> bytes:
    """A workbook as Excel writes one (a zip of XML parts), saved under a .csv name."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        book.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook><sheets><sheet name="Tickets"/></sheets></workbook>')
        book.writestr("xl/worksheets/sheet1.xml", "<worksheet>" + "<row><c t='s'><v>1</v></c></row>" * 200 + "</worksheet>")
    return buffer.getvalue()


def test_a_source_whose_only_file_is_unreadable_needs_review(tmp_path: Path) -> None:
    (tmp_path / "tickets.csv").write_bytes(_xlsx_bytes())
    result = run_import(write_config(tmp_path, {"csv": {"path": "tickets.csv"}}))
    assert result.returncode == 3, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert warnings == ["WARNING: needs review: csv: no exportable item (1 record seen): tickets.csv: an Excel "
                        'workbook (.xlsx) saved under a .csv name, not a CSV: open it in Excel and save it as '
                        '"CSV UTF-8 (Comma delimited)"']
    assert result.summary["status"] == "needs_review"
    assert result.summary["review"][0]["platform"] == "csv"
    report = (result.output_dir / "import_report.html").read_text(encoding="utf-8")
    assert 'id="needs-review"' in report and "an Excel workbook (.xlsx) saved under a .csv name" in report
    assert "Every record is accounted for" not in report
    assert (result.output_dir / "gladly_import_rejects.csv").exists()  # everything is still written
