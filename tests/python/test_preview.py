"""timeline_preview.html: the sampled customers, their items in time order, every value escaped.

The batch is a hand-made ``gladly_export_batch`` (what the export writes to the CSVs): a busy
platform, a quiet one, and a platform with a single customer the busiest ten and the random ten
both miss; hostile and long text. The random draw is checked against md5 computed here.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from gladly_import.preview import (
    ITEMS_PER_CUSTOMER,
    PREVIEW_FILE,
    RANDOM_CUSTOMERS,
    SEED,
    TOP_CUSTOMERS,
    choose_customers,
    write_preview,
)
from tests.python.report_browser import measure, screenshot

HOSTILE_BODY = "<script>document.write('PWNED-BY-SCRIPT')</script><img src=x onerror=alert(2)> & &amp; \"quoted\""
LONG_BODY = "\n".join(f"line {n}: " + "the parcel arrived crushed, " * 6 for n in range(1, 31))
START = datetime(2019, 3, 1, 9, 0, tzinfo=UTC)
COLUMNS = ("conversation_item_id", "customer_email", "customer_name", "customer_phone", "occurred_at",
           "occurred_at_rfc3339", "title", "body", "source_name", "tags", "source_platform")


def _draw_rank(email: str) -> str:
    return hashlib.md5((SEED + email).encode()).hexdigest()


class Batch:
    """Rows of a hand-made export batch, added customer by customer."""

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    def add(self, platform: str, email: str, items: int, name: str | None = "Some One", phone: str | None = None,
            body: str = "Where is my order?", title: str = "Order question", source: str | None = None) -> None:
        for n in range(items):
            at = START + timedelta(days=len(self.rows) % 97, minutes=n * 7)
            self.rows.append((f"{platform}-{len(self.rows)}", email, name, phone, at.replace(tzinfo=None),
                              at.strftime("%Y-%m-%dT%H:%M:%S.000Z"), title, body, source or platform.title(),
                              "shipping,damaged" if n % 2 else None, platform))


def _address(prefix: str, others: list[str], drawn_among: range) -> str:
    """An address whose place in the fixed-seed draw of all customers (md5 of seed + email) is in ``drawn_among``."""
    keys = [(_draw_rank(e), e) for e in others]
    for n in range(5000):
        email = f"{prefix}-{n}@example.com"
        key = (_draw_rank(email), email)
        if sum(other < key for other in keys) in drawn_among:
            return email
    raise AssertionError("no such address")


@pytest.fixture
def batch(tmp_path: Path) -> tuple[duckdb.DuckDBPyConnection, dict[str, Any]]:
    rows = Batch()
    zendesk = [f"z{i:02d}@example.com" for i in range(1, 41)]
    for i, email in enumerate(zendesk, start=1):
        rows.add("zendesk", email, 60 if i == 40 else i, name=f"Zendesk Customer {i}", phone="+1 415 555 0100")
    # z39's name changed: the card shows the latest, and the other
    rows.rows = [r if r[1] != "z39@example.com" or int(r[0].split("-")[1]) % 2 else
                 (*r[:2], "Jane Doe", *r[3:]) for r in rows.rows]
    kustomer = [f"k{i:02d}@example.com" for i in range(1, 16)]
    for i, email in enumerate(kustomer, start=1):
        rows.add("kustomer", email, i % 3 + 1, name=None)
    # the hostile and the long customer are drawn (among the first few of the draw), the gmail one is not
    mallory = _address("mallory", [*zendesk, *kustomer], range(0, 3))
    long = _address("long", [*zendesk, *kustomer, mallory], range(0, 3))
    gmail = _address("only-gmail", [*zendesk, *kustomer, mallory, long], range(TOP_CUSTOMERS + RANDOM_CUSTOMERS, 10**6))
    rows.add("kustomer", mallory, 2, name='<b>Mallory</b> "\'&amp;', phone="<i>555</i>",
             body=HOSTILE_BODY, title="<img src=x onerror=alert(1)>")
    rows.add("kustomer", long, 1, body=LONG_BODY)
    rows.add("gmail", gmail, 1, source="GMail")
    conn = duckdb.connect(str(tmp_path / "batch.duckdb"))
    batch_rows = pa.Table.from_pylist([dict(zip(COLUMNS, row, strict=True)) for row in rows.rows])  # noqa: F841
    conn.execute("create table gladly_export_batch as select * from batch_rows")
    everyone = [*zendesk, *kustomer, mallory, long, gmail]
    return conn, {"gmail": gmail, "mallory": mallory, "long": long, "everyone": everyone, "rows": rows.rows}


class OnlyExecute:
    """What the Spark engine offers: execute(sql[, params]).fetchall(), nothing else."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: list[Any] | None = None) -> Any:
        result = self._conn.execute(sql, params or [])
        return type("Result", (), {"fetchall": lambda _self: result.fetchall()})()


def test_the_sample_is_the_busiest_ten_then_ten_drawn_with_a_fixed_seed_then_every_platform(batch) -> None:
    conn, known = batch
    chosen = choose_customers(OnlyExecute(conn))
    assert [c.email for c in chosen if c.why == "top"] == [f"z{i:02d}@example.com" for i in range(40, 30, -1)]
    busiest = {f"z{i:02d}@example.com" for i in range(31, 41)}
    drawn = [e for e in sorted(known["everyone"], key=lambda e: (_draw_rank(e), e)) if e not in busiest]
    assert [c.email for c in chosen if c.why == "random"] == drawn[:RANDOM_CUSTOMERS]
    # the gmail customer is neither among the busiest nor drawn: its platform brings it
    assert [(c.email, c.why) for c in chosen if c.why == "platform"] == [(known["gmail"], "platform")]
    assert len(chosen) == TOP_CUSTOMERS + RANDOM_CUSTOMERS + 1
    assert [c.email for c in choose_customers(conn)] == [c.email for c in chosen]  # the same draw every time


def test_every_value_is_shown_as_text(batch, tmp_path: Path) -> None:
    conn, known = batch
    html = _preview(conn, tmp_path)
    assert "<script" not in html and "<img" not in html and "<b>Mallory" not in html and "<i>555" not in html
    mallory = _section(html, known["mallory"])
    assert "&lt;script&gt;document.write(&#39;PWNED-BY-SCRIPT&#39;)&lt;/script&gt;" in mallory
    assert "&amp;amp;" in mallory  # an entity in the data is shown as typed
    assert "&lt;b&gt;Mallory&lt;/b&gt; &#34;&#39;&amp;amp;" in mallory and "&lt;i&gt;555&lt;/i&gt;" in mallory
    assert "&lt;img src=x onerror=alert(1)&gt;" in mallory
    # the run id is escaped too
    page = (tmp_path / write_preview(conn, tmp_path, '"><script>alert(3)</script>')["file"]).read_text(encoding="utf-8")
    assert "<script" not in page and "&lt;script&gt;alert(3)&lt;/script&gt;" in page


def _preview(conn: Any, folder: Path) -> str:
    written = write_preview(conn, folder, "20260301T101500Z-3f2a1c")
    assert written == {"file": PREVIEW_FILE, "customers": TOP_CUSTOMERS + RANDOM_CUSTOMERS + 1}
    return (folder / PREVIEW_FILE).read_text(encoding="utf-8")


def _section(html: str, email: str) -> str:
    found = re.search(r'<section class="customer" id="customer-\d+">(?:(?!</section>).)*?<dd>' + re.escape(email)
                      + r"</dd>.*?</section>", html, re.DOTALL)
    assert found, email
    return found.group(0)


def test_a_customer_shows_the_latest_items_oldest_first_with_the_latest_name(batch, tmp_path: Path) -> None:
    conn, known = batch
    html = _preview(conn, tmp_path)
    busiest = _section(html, "z40@example.com")
    times = re.findall(r"<time>([^<]+)</time>", busiest)
    theirs = sorted(r[5] for r in known["rows"] if r[1] == "z40@example.com")
    latest = [t.replace("T", " ").replace(".000Z", " UTC") for t in theirs[-ITEMS_PER_CUSTOMER:]]
    assert times == latest  # the most recent ITEMS_PER_CUSTOMER, oldest first
    assert f"{60 - ITEMS_PER_CUSTOMER} earlier items are not shown here." in busiest
    assert "<dt>Phone</dt><dd>+1 415 555 0100</dd>" in busiest and "<h2>Zendesk Customer 40</h2>" in busiest
    renamed = _section(html, "z39@example.com")
    newest_name = next(r[2] for r in sorted(known["rows"], key=lambda r: r[4], reverse=True)
                       if r[1] == "z39@example.com")
    other = ({"Jane Doe", "Zendesk Customer 39"} - {newest_name}).pop()
    assert f"<h2>{newest_name}</h2>" in renamed and f"<dt>Also named</dt><dd>{other}</dd>" in renamed
    assert "Shown because: one of the customers with the most items." in busiest


def test_a_long_body_is_folded_and_whole(batch, tmp_path: Path) -> None:
    conn, known = batch
    section = _section(_preview(conn, tmp_path), known["long"])
    assert "Shown because: drawn at random (fixed seed)." in section
    assert "<details>" in section and f"show all {len(LONG_BODY):,} characters (30 lines)" in section
    assert f'<div class="body">{LONG_BODY}</div></details>' in section  # all of it, once opened
    short = _section(_preview(conn, tmp_path), "z40@example.com")
    assert "<details>" not in short


def test_no_item_exported_is_said(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "empty.duckdb"))
    conn.execute("""create table gladly_export_batch (conversation_item_id varchar, customer_email varchar,
        customer_name varchar, customer_phone varchar, occurred_at timestamp, occurred_at_rfc3339 varchar, title varchar,
        body varchar, source_name varchar, tags varchar, source_platform varchar)""")
    assert write_preview(conn, tmp_path, "r") == {"file": PREVIEW_FILE, "customers": 0}
    assert "No item exported by this run: nothing to preview." in (tmp_path / PREVIEW_FILE).read_text(encoding="utf-8")


@pytest.mark.parametrize("width", (1280, 390))
def test_the_preview_fits_a_wide_and_a_phone_screen_and_runs_nothing(batch, tmp_path: Path, width: int) -> None:
    conn, _ = batch
    html = _preview(conn, tmp_path)
    layout = measure(html, width, tmp_path)
    assert layout["viewport"] == width
    assert layout["page_width"] <= width, "the preview scrolls sideways"
    assert "Timeline preview: what agents will see" in layout["text"]
    # the hostile body is shown as typed, and its script did not run (it would have written its word alone)
    assert "<script>document.write('PWNED-BY-SCRIPT')</script>" in layout["text"]
    assert layout["text"].count("PWNED-BY-SCRIPT") == 2  # the customer's two items, as text
    shot = screenshot(html, width, min(layout["page_height"], 6000), tmp_path / f"preview-{width}.png", tmp_path)
    assert shot.stat().st_size > 20_000
    keep = os.environ.get("REPORT_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, Path(keep) / shot.name)
