"""import_report.html: self-contained, escaped, names the run, and never splits a word or a number.

The layout tests render in headless Chromium at 1280 px and 390 px and measure, in the page, the
lines each word lies on. Set REPORT_SCREENSHOT_DIR to keep the screenshots.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

import gladly_import
from extract.context import duration
from gladly_import.preview import PREVIEW_FILE
from gladly_import.reject_reasons import reject_reasons
from gladly_import.report import (
    SAMPLES_PER_REASON,
    ReportData,
    gather_report_data,
    inline_code,
    month_view,
    platform_color,
    render_report,
    share_exported,
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
                "unaccounted": 0, "titles_truncated": 0, "bodies_truncated": 0, "customers": 98_765_432,
                "first_item_at": "2009-02-13T23:31:30.000Z", "last_item_at": "2026-11-30T23:59:59.999Z"}
    body = {name: counts(reasons) for name, reasons in platforms.items()}
    totals = {key: sum(p[key] for p in body.values()) for key in next(iter(body.values()))
              if key not in ("rejected_by_reason", "customers", "first_item_at", "last_item_at")}
    return {"run_id": "20261202T070000Z-abc123", "started_at": "2026-12-02T07:00:00Z", "mode": "delta",
            "tool_version": "0.1.0", "finished_at": "2026-12-02T09:02:05Z", "duration_seconds": 7325,
            "engine": "spark hdfs://namenode.internal.example.com:8020/warehouse/acme-customer-service-history",
            "run_by": "analytics-engineer@etl-worker-07.internal.example.com", "customers": 123_456_789,
            "config": "/home/someone/very-long-folder-name-for-imports/acme-customer-service-history/gladly-import.yml",
            "inputs": [{"platform": "zendesk", "file": "exports/zendesk/tickets-2019-2021-full-export-part-0001.json.gz",
                        "bytes": 1_073_741_824},
                       {"platform": "kustomer", "api": "https://acme.api.kustomerapp.com"}],
            "platforms": body, "totals": totals,
            "files": [{"file": "gladly_conversation_items_0003.csv", "rows": 500_000,
                       "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}],
            "preview": {"file": "timeline_preview.html", "customers": 26},
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
    assert not re.search(r"""\bsrc\s*=""", html, re.IGNORECASE)
    # its one link: the timeline preview beside it, by its relative name
    assert re.findall(r"""\bhref\s*=\s*["']?([^"'\s>]*)""", html, re.IGNORECASE) == [PREVIEW_FILE]
    assert (sample_run.output_dir / PREVIEW_FILE).is_file()
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
    # each reason once: its total across platforms, then each platform's count, then what it means
    by_reason: dict[str, dict[str, int]] = {}
    for name, platform in summary["platforms"].items():
        for reason, count in platform["rejected_by_reason"].items():
            by_reason.setdefault(reason, {})[name] = count
    for reason, counts in by_reason.items():
        row = f"{reason} {sum(counts.values()):,} " + " ".join(f"{name} {n:,}" for name, n in counts.items())
        assert f"{row} {text_of(str(inline_code(reject_reasons()[reason]['meaning'])))}" in visible, row
    for f in summary["files"]:
        assert f"{f['file']} {f['rows']:,}" in visible
    # The month table gives each platform's exported total, the same as the totals table.
    totals_row = re.search(r"\btotal ((?:[\d,]+ )+)Files written", visible).group(1).split()
    assert totals_row == [f"{p['exported']:,}" for p in summary["platforms"].values()] + [f"{summary['totals']['exported']:,}"]


@pytest.mark.slow
def test_the_report_is_a_document_to_sign(sample_run: ImportResult) -> None:
    """Version, finish and duration, engine, who on which host; share exported, customers, dates, SHA-256."""
    summary = sample_run.summary
    html = (sample_run.output_dir / "import_report.html").read_text(encoding="utf-8")
    header = text_of(html.split("</header>")[0])
    assert summary["tool_version"] == gladly_import.__version__ and f"Tool gladly-import {gladly_import.__version__}" in header
    started = datetime.strptime(summary["started_at"], "%Y-%m-%dT%H:%M:%SZ")
    finished = datetime.strptime(summary["finished_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert summary["duration_seconds"] == (finished - started).total_seconds() > 0
    assert f"Finished {finished:%Y-%m-%d %H:%M:%S} UTC Duration {duration(summary['duration_seconds'])}" in header
    assert summary["engine"] == f"duckdb {sample_run.work_dir / 'gladly_import.duckdb'}" and summary["engine"] in header
    assert re.fullmatch(r"[^@\s]+@" + re.escape(socket.gethostname()), summary["run_by"])
    assert f"Run by {summary['run_by']}" in header
    visible = text_of(html)
    totals = summary["totals"]
    assert totals["records_seen"] == 547 and totals["exported"] == 480  # the samples (the Gmail bounce set aside)
    assert "87.7% exported: 480 of 547 records seen" in visible
    # distinct customers and each platform's dates, counted here from the CSV handed to Gladly
    items = sample_run.items()
    assert summary["customers"] == len({row["Customer Email"] for row in items}) > 50
    assert f"{summary['customers']:,} distinct customers" in visible
    native = tuple(p for p in summary["platforms"] if p != "csv")
    for name, platform in summary["platforms"].items():
        rows = [r for r in items if (r["Conversation Item ID"].split("-")[0] == name if name in native
                                     else r["Conversation Item ID"].split("-")[0] not in native)]
        stamps = sorted(r["Conversation Item Timestamp"] for r in rows)
        assert (platform["first_item_at"], platform["last_item_at"]) == (stamps[0], stamps[-1]), name
        assert platform["customers"] == len({r["Customer Email"] for r in rows})
        assert (f"{name} {platform['exported']:,} {platform['customers']:,} {stamps[0][:10]} {stamps[-1][:10]}"
                in visible), name
    # each file handed to Gladly with its rows and the SHA-256 of its bytes (what sha256sum says)
    for f in summary["files"]:
        digest = hashlib.sha256((sample_run.output_dir / f["file"]).read_bytes()).hexdigest()
        assert f["sha256"] == digest
        assert f"{f['file']} {f['rows']:,} {digest}" in visible
        if shutil.which("sha256sum"):
            said = subprocess.run(["sha256sum", f["file"]], cwd=sample_run.output_dir, capture_output=True, text=True,
                                  check=True).stdout
            assert said.split()[0] == digest


def test_the_share_exported_is_of_the_records_new_to_the_run() -> None:
    assert share_exported({"records_seen": 547, "exported": 481, "already_exported": 0}) == {
        "exported": 481, "of": 547, "what": "records seen", "percent": "87.9%"}
    delta = share_exported({"records_seen": 600, "exported": 9, "already_exported": 500})
    assert (delta["of"], delta["what"], delta["percent"]) == (100, "records new to this run", "9.0%")
    assert share_exported({"records_seen": 500, "exported": 0, "already_exported": 500})["percent"] == "\u2013"
    # rounded down: only everything is 100%
    assert share_exported({"records_seen": 2_000_000_001, "exported": 2_000_000_000})["percent"] == "99.9%"
    assert share_exported({"records_seen": 7, "exported": 7})["percent"] == "100.0%"


def test_a_run_that_needs_review_says_so_instead_of_all_accounted_for() -> None:
    review = [{"platform": "zendesk", "cause": "2 archives <b>could not</b> be opened: tickets.tar.bz2, old.7z"},
              {"cause": "a Freshdesk export without its Users file"}, "an entry of another shape", {"platform": None}]
    html = render_report(ugly_summary({"zendesk": {"malformed_json": 3}}, status="needs_review", review=review),
                         ugly_data())
    banner = html.split('<div class="review" id="needs-review">')[1].split("</div>")[0]
    assert "Needs review before these files are handed to Gladly." in banner
    assert "<b>zendesk</b>: 2 archives &lt;b&gt;could not&lt;/b&gt; be opened: tickets.tar.bz2, old.7z" in banner
    assert "<li>a Freshdesk export without its Users file</li>" in banner
    assert "<li>an entry of another shape</li>" in banner
    assert "Every record is accounted for" not in html
    # no list given: the banner still says it; status ok (or none): the green line, no banner
    bare = render_report(ugly_summary({"zendesk": {}}, status="needs_review"), ugly_data())
    assert 'id="needs-review"' in bare and "<ul>" not in bare.split('id="needs-review"')[1].split("</div>")[0]
    for status in ({"status": "ok"}, {}):
        plain = render_report(ugly_summary({"zendesk": {}}, **status), ugly_data())
        assert 'id="needs-review"' not in plain and "Every record is accounted for" in plain


def test_each_reason_once_with_its_total_meaning_and_what_to_do() -> None:
    html = render_report(ugly_summary({"zendesk": {"missing_email": 3, "brand_new_reason": 2},
                                       "kustomer": {"missing_email": 40, "malformed_page": 1}}), ugly_data())
    section = text_of(html.split('<h2 id="reasons">')[1].split('<h2 id="rejected-rows">')[0])
    known = reject_reasons()
    missing = f"missing_email 43 zendesk 3 kustomer 40 {known['missing_email']['meaning']} {known['missing_email']['action']}"
    assert missing in section
    assert f"malformed_page 1 kustomer 1 {known['malformed_page']['meaning']}" in section
    # documented reasons in the file's order, then one the file does not know, said so
    assert section.index("missing_email 43") < section.index("malformed_page 1") < section.index("brand_new_reason 2")
    assert "brand_new_reason 2 zendesk 2 (not documented in gladly_import/reject_reasons.yml)" in section
    assert section.count("missing_email") == 1


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
        # no count is cut off or hidden in a box that scrolls: every number cell is wholly in view
        assert layout["numbers"] > 60
        assert layout["hidden_numbers"] == [], f"{name} at {width} px hides {layout['hidden_numbers']}"
        assert run_id in layout["text"]  # the run this report is of, named on the page (not split)
        if width == 1280 and name == "sample":
            assert layout["scrolling_tables"] == {}, "a table of the sample does not fit 1280 px"
        shot = screenshot(page, width, layout["page_height"], tmp_path / f"{name}-{width}.png", tmp_path)
        assert shot.stat().st_size > 20_000
        keep = os.environ.get("REPORT_SCREENSHOT_DIR")
        if keep:
            shutil.copy(shot, Path(keep) / shot.name)
