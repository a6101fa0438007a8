"""import_report.html: self-contained, escaped, names the run, and never splits a word or a number.

The layout tests render in headless Chromium at 1280 px and 390 px and measure, in the page, the
lines each word lies on. Set REPORT_SCREENSHOT_DIR to keep the screenshots.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from gladly_import.report import (
    SAMPLES_PER_REASON,
    ReportData,
    gather_report_data,
    month_view,
    platform_color,
    render_report,
)
from tests.python.conftest import SAMPLES_DIR, ImportResult, run_import
from tests.python.report_browser import measure, screenshot

WIDTHS = (1280, 390)
HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&amp;'


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> ImportResult:
    target = tmp_path_factory.mktemp("report")
    shutil.copytree(SAMPLES_DIR, target / "samples")
    result = run_import(target / "samples" / "config.yml")
    assert result.returncode == 0, result.stderr
    return result


def ugly_summary(platforms: dict[str, dict[str, int]], **top: Any) -> dict[str, Any]:
    """A summary as build_summary writes it, for platforms given as {name: {reason: count}}."""
    def counts(reasons: dict[str, int]) -> dict[str, Any]:
        rejected = sum(reasons.values())
        return {"files_read": 12, "records_seen": 1_234_567_890 + rejected, "exported": 1_234_567_890,
                "rejected": rejected, "rejected_by_reason": reasons, "duplicates": 0, "already_exported": 0,
                "unaccounted": 0, "titles_truncated": 0, "bodies_truncated": 0}
    body = {name: counts(reasons) for name, reasons in platforms.items()}
    totals = {key: sum(p[key] for p in body.values()) for key in next(iter(body.values())) if key != "rejected_by_reason"}
    return {"run_id": "20261202T070000Z-abc123", "started_at": "2026-12-02T07:00:00Z", "mode": "delta",
            "config": "/home/someone/very-long-folder-name-for-imports/acme-customer-service-history/gladly-import.yml",
            "inputs": [{"platform": "zendesk", "file": "exports/zendesk/tickets-2019-2021-full-export-part-0001.json.gz",
                        "bytes": 1_073_741_824},
                       {"platform": "kustomer", "api": "https://acme.api.kustomerapp.com"}],
            "platforms": body, "totals": totals,
            "files": [{"file": "gladly_conversation_items_0003.csv", "rows": 500_000}],
            "rejects_file": {"file": "gladly_import_rejects.csv", "rows": totals["rejected"]}, **top}


def ugly_data() -> ReportData:
    """Rejected rows of hostile, long and unbreakable text; a big and a tiny platform over 36 months."""
    samples = [("zendesk", "malformed_json", None, "exports/zendesk/tickets-2019-2021-full-export-part-0001.json.gz",
                f"line {n:,}", "Expecting ',' delimiter: line 1 column 4097 (char 4096)", None,
                '{"id":48215,"subject":"' + "x" * 300 + '"') for n in (17, 90_210, 1_000_001)]
    samples += [("kustomer", "invalid_email", "kustomer-" + "f" * 24, "/v1/messages?page=1&pageSize=100",
                 "page 1, item 9", HOSTILE, "zoë.sato at example dot com", HOSTILE)]
    per_month = [(2019 + m // 12, m % 12 + 1, "zendesk", 400_000 + m * 1_000) for m in range(36)]
    per_month += [(2020, 6, "kustomer", 3)]
    return ReportData(rejected_samples=samples, truncated=[], per_month=sorted(per_month))


@pytest.fixture(scope="module")
def ugly_report() -> str:
    return render_report(ugly_summary({"zendesk": {"malformed_json": 3}, "kustomer": {"invalid_email": 40}}),
                         ugly_data())


def text_of(html: str) -> str:
    """The page's text as read: inline tags join, block tags separate."""
    inline = re.sub(r"</?(?:span|code|b|wbr)\b[^>]*>", "", html)
    return " ".join(re.sub(r"<[^>]+>", " ", inline).split())


@pytest.mark.slow
def test_the_report_is_one_self_contained_file(sample_run: ImportResult) -> None:
    html = (sample_run.output_dir / "import_report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(?:src|href)\s*=""", html, re.IGNORECASE)
    assert "<script" not in html.lower()
    assert "url(" not in html
    assert "overflow-wrap: anywhere" not in html.split("td.text > div")[0]  # only free-text cells may break a token


@pytest.mark.slow
def test_the_header_names_the_run_its_config_and_inputs(sample_run: ImportResult) -> None:
    summary = sample_run.summary
    run_id = re.search(r"^run (\S+):", sample_run.stdout, re.MULTILINE).group(1)
    assert summary["run_id"] == run_id
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", summary["started_at"])
    assert summary["config"].endswith("samples/config.yml")
    files = {i["file"]: i["bytes"] for i in summary["inputs"] if "file" in i}
    assert files["zendesk/tickets-2021-04.json.gz"] == (SAMPLES_DIR / "zendesk" / "tickets-2021-04.json.gz").stat().st_size
    assert {i["platform"] for i in summary["inputs"] if "api" in i} == {"kustomer", "gorgias"}
    header = text_of((sample_run.output_dir / "import_report.html").read_text(encoding="utf-8").split("</header>")[0])
    assert f"Run {run_id}" in header
    assert summary["started_at"][:10] in header and "full" in header
    assert f"Config {summary['config']}" in header
    for name, size in files.items():
        assert f"{size:,} bytes" in header and name.split("/")[-1] in header


@pytest.mark.slow
def test_every_summary_number_is_shown_without_hovering(sample_run: ImportResult) -> None:
    html = (sample_run.output_dir / "import_report.html").read_text(encoding="utf-8")
    visible = text_of(re.sub(r"<title>.*?</title>", " ", html, flags=re.DOTALL))
    summary = sample_run.summary
    for name, platform in summary["platforms"].items():
        assert re.search(rf"\b{name} {platform['files_read']:,} {platform['records_seen']:,} {platform['exported']:,} "
                         rf"{platform['rejected']:,} {platform['duplicates']:,} {platform['already_exported']:,}", visible)
        for reason, count in platform["rejected_by_reason"].items():
            assert f"{name} {reason} {count:,}" in visible
    for f in summary["files"]:
        assert f"{f['file']} {f['rows']:,}" in visible
    # The month table gives each platform's exported total, the same as the totals table.
    totals_row = re.search(r"\btotal ((?:[\d,]+ )+)Files written", visible).group(1).split()
    assert totals_row == [f"{p['exported']:,}" for p in summary["platforms"].values()] + [f"{summary['totals']['exported']:,}"]


def test_untrusted_text_is_escaped(ugly_report: str) -> None:
    assert "<script" not in ugly_report and "<img" not in ugly_report
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in ugly_report
    assert "&amp;amp;" in ugly_report  # an entity in the data is shown as typed, not decoded


def test_rejected_rows_are_grouped_by_reason_with_a_count_of_the_rest(ugly_report: str) -> None:
    text = text_of(ugly_report)
    assert "invalid_email &middot; 40 rows" in text
    assert "and 39 more rows with this reason in gladly_import_rejects.csv" in text
    assert "and 0 more" not in text  # the three zendesk rows are all there is
    assert text.count("exports/zendesk/tickets-2019-2021-full-export-part-0001.json.gz line") == SAMPLES_PER_REASON


def test_the_sample_rows_are_the_first_few_per_platform_and_reason(tmp_path: Path) -> None:
    class OnlyExecute:  # what the Spark engine offers: execute(sql[, params]).fetchall(), nothing else
        def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
            self._conn = conn

        def execute(self, sql: str, params: list[Any] | None = None) -> Any:
            result = self._conn.execute(sql, params or [])
            return type("Result", (), {"fetchall": lambda _self: result.fetchall()})()

    conn = duckdb.connect(str(tmp_path / "r.duckdb"))
    conn.execute("""create table gladly_import_rejects as select * from (values
        ('gmail', 'empty_body', 'g-3', 'b.mbox', 1, 'byte 9', 'd', 'x@y', 'e'),
        ('gmail', 'empty_body', 'g-1', 'a.mbox', 20, 'byte 20', 'd', 'x@y', 'e'),
        ('gmail', 'empty_body', 'g-2', 'a.mbox', 3, 'byte 3', 'd', 'x@y', 'e'),
        ('gmail', 'empty_body', null, null, null, null, 'd', null, null),
        ('gmail', 'empty_body', 'g-0', 'a.mbox', 2, 'byte 2', 'd', 'x@y', 'e'),
        ('csv', 'invalid_id', 'c-1', 'a.csv', 4, 'line 4', 'd', null, 'e'))
        t(source_platform, reject_reason, conversation_item_id, source_file, source_row, source_position,
          reject_detail, customer_email_raw, raw_excerpt)""")
    conn.execute("""create table gladly_export_batch as select * from (values
        ('zendesk', 'z-1', 'a.json', 1, 'line 1', true, false, timestamp '2021-01-31 23:59:59'),
        ('zendesk', 'z-2', 'a.json', 2, 'line 2', false, false, timestamp '2021-02-01 00:00:00'),
        ('csv', 'c-2', 'a.csv', 2, 'line 2', false, true, timestamp '2021-02-15 12:00:00'))
        t(source_platform, conversation_item_id, source_file, source_row, source_position,
          is_title_truncated, is_body_truncated, occurred_at)""")
    data = gather_report_data(OnlyExecute(conn))
    assert [(r[0], r[1], r[2]) for r in data.rejected_samples] == [
        ("csv", "invalid_id", "c-1"), ("gmail", "empty_body", "g-0"), ("gmail", "empty_body", "g-2"),
        ("gmail", "empty_body", "g-1")]  # by file then row, at most three; the row without a location last
    assert [(r[0], r[1]) for r in data.truncated] == [("csv", "c-2"), ("zendesk", "z-1")]
    assert sorted(data.per_month) == [(2021, 1, "zendesk", 1), (2021, 2, "csv", 1), (2021, 2, "zendesk", 1)]


def test_a_small_platform_shows_next_to_a_big_one() -> None:
    view = month_view(ugly_data().per_month, ["zendesk", "kustomer"])
    kustomer = next(s for s in view["series"] if s["platform"] == "kustomer")
    zendesk = next(s for s in view["series"] if s["platform"] == "zendesk")
    assert [b["height"] for b in kustomer["bars"]] == [38.0]  # 3 items: its own scale, full height
    assert min(b["height"] for b in zendesk["bars"]) > 20
    assert len(view["months"]) == 36 and len(zendesk["bars"]) == 36
    june = next(r for r in view["rows"] if r["month"] == "2020-06")
    assert june["counts"] == [417_000, 3] and june["total"] == 417_003


def test_each_platform_keeps_its_colour_whatever_else_is_imported() -> None:
    alone = render_report(ugly_summary({"kustomer": {"invalid_email": 1}}), ReportData([], [], [(2020, 6, "kustomer", 3)]))
    with_others = render_report(ugly_summary({"zendesk": {"malformed_json": 3}, "kustomer": {"invalid_email": 40}}),
                                ugly_data())
    colour = platform_color("kustomer")
    for html in (alone, with_others):
        assert re.search(rf'background: {colour}"></span>kustomer', html)
        assert f'fill="{colour}"' in html
    assert len({platform_color(p) for p in ("zendesk", "csv", "freshdesk", "kustomer", "gorgias", "gmail")}) == 6
    assert platform_color("helpscout") == platform_color("helpscout")


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_no_word_or_number_is_split_on_a_wide_or_a_phone_screen(sample_run: ImportResult, ugly_report: str,
                                                                 width: int, tmp_path: Path) -> None:
    sample_html = (sample_run.output_dir / "import_report.html").read_text(encoding="utf-8")
    sample_run_id = sample_run.summary["run_id"]
    ugly_run_id = ugly_summary({"zendesk": {}})["run_id"]
    for name, page, run_id in (("sample", sample_html, sample_run_id), ("ugly", ugly_report, ugly_run_id)):
        layout = measure(page, width, tmp_path)
        assert layout["viewport"] == width
        assert layout["page_width"] <= width, f"{name}: the page itself scrolls sideways"
        assert layout["words"] > 300
        # Only a token wider than its free-text cell may break (a 300-character JSON excerpt).
        split = [w for w in layout["split"] if w["cell_width"] is None or w["width"] <= w["cell_width"]]
        assert split == [], f"{name} at {width} px splits {split}"
        assert run_id in layout["text"]  # the run this report is of, named on the page (not split)
        if width == 1280 and name == "sample":
            assert layout["scrolling_tables"] == {}, "a table of the sample does not fit 1280 px"
        shot = screenshot(page, width, layout["page_height"], tmp_path / f"{name}-{width}.png", tmp_path)
        assert shot.stat().st_size > 20_000
        keep = os.environ.get("REPORT_SCREENSHOT_DIR")
        if keep:
            shutil.copy(shot, Path(keep) / shot.name)
