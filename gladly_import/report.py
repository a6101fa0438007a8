"""import_report.html: one self-contained page (no script, no network) for the people signing off.

It shows every number of import_summary.json, rejects by reason with a sample of rejected rows
and where they are in the source, truncations, this run's items per month per platform as an SVG
chart, and the files written. No timestamps: the same input gives the same bytes.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from gladly_import.engines import Engine

REPORT_FILE = "import_report.html"
SAMPLES_PER_REASON = 5
COLORS = ["#2f6fde", "#e07b39", "#3a9d5d", "#b34bb8", "#c9a227", "#d64545", "#4bb3b8", "#7a7a7a"]

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d232b;
       margin: 2rem auto; max-width: 1100px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem;
     border-bottom: 1px solid #d9dee5; padding-bottom: .3rem; }
.muted { color: #5b6675; } .ok { color: #1f7a3f; font-weight: 600; } .bad { color: #b42318; font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin: .6rem 0; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #e6e9ee; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #f4f6f9; font-weight: 600; } td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: 600; border-top: 2px solid #c5ccd6; }
.cards { display: flex; gap: 1rem; flex-wrap: wrap; margin: 1rem 0; }
.card { background: #f4f6f9; border-radius: 8px; padding: .8rem 1.1rem; min-width: 130px; }
.card .v { font-size: 1.5rem; font-weight: 700; } .card .l { color: #5b6675; font-size: .85rem; }
code { background: #f4f6f9; padding: 0 .25rem; border-radius: 3px; font-size: .9em; }
.excerpt { max-width: 380px; overflow-wrap: anywhere; color: #5b6675; font-size: .85em; }
svg text { font: 11px system-ui, sans-serif; fill: #3b4552; }
"""


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else escape(str(value))


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int], total: list[Any] | None = None) -> str:
    head = "".join(f'<th class="n">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>"
                   for i, h in enumerate(headers))
    def cells(row: list[Any]) -> str:
        return "".join(f'<td class="n">{_n(v)}</td>' if i in numeric else f"<td>{_n(v) if v is not None else ''}</td>"
                       for i, v in enumerate(row))
    body = "".join(f"<tr>{cells(r)}</tr>" for r in rows)
    if total is not None:
        body += f'<tr class="total">{cells(total)}</tr>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _month_range(first: str, last: str) -> list[str]:
    """Every month from first to last ('YYYY-MM'), empty months included."""
    year, month = int(first[:4]), int(first[5:7])
    months = []
    while f"{year:04d}-{month:02d}" <= last:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _nice_step(raw: float) -> int:
    """The smallest of 1, 2, 5 x 10^k (whole numbers) at least ``raw``: even axis ticks."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if factor * magnitude >= raw:
                return factor * magnitude
        magnitude *= 10


def _month_chart(rows: list[tuple[str, str, int]], platforms: list[str]) -> str:
    """Stacked bars: items per month, one colour per platform."""
    if not rows:
        return '<p class="muted">No item exported by this run.</p>'
    months = _month_range(min(m for m, _, _ in rows), max(m for m, _, _ in rows))
    counts = {(m, p): n for m, p, n in rows}
    totals = {m: sum(counts.get((m, p), 0) for p in platforms) for m in months}
    step_value = _nice_step(max(totals.values()) / 4)
    peak = step_value * max(1, -(-max(totals.values()) // step_value))
    width, height, left, bottom, top = 1000, 260, 56, 40, 12
    plot_w, plot_h = width - left - 10, height - bottom - top
    step = plot_w / len(months)
    bar = min(60.0, max(1.0, step * 0.8))
    parts = [f'<svg role="img" aria-label="Items per month per platform" viewBox="0 0 {width} {height + 30}" '
             f'width="100%" xmlns="http://www.w3.org/2000/svg">']
    for k in range(int(peak // step_value) + 1):
        value = k * step_value
        y = top + plot_h - plot_h * (value / peak)
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e6e9ee"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value:,}</text>')
    label_every = max(1, len(months) // 12)
    for i, month in enumerate(months):
        x = left + i * step + (step - bar) / 2
        y = top + plot_h
        for j, platform in enumerate(platforms):
            n = counts.get((month, platform), 0)
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{COLORS[j % len(COLORS)]}"><title>{escape(platform)} {month}: {n:,}</title></rect>')
        if i % label_every == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{month}</text>')
    for j, platform in enumerate(platforms):
        x = left + j * 140
        parts.append(f'<rect x="{x}" y="{height + 8}" width="12" height="12" fill="{COLORS[j % len(COLORS)]}"/>')
        parts.append(f'<text x="{x + 18}" y="{height + 18}">{escape(platform)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def build_report(conn: Engine, summary: dict[str, Any]) -> str:
    platforms = summary["platforms"]
    totals = summary["totals"]
    names = list(platforms)
    ok = totals["unaccounted"] == 0

    overview_headers = ["platform", "files read", "records seen", "exported", "rejected", "duplicates",
                        "already exported", "unaccounted", "titles cut", "bodies cut"]
    keys = ["records_seen", "exported", "rejected", "duplicates", "already_exported", "unaccounted",
            "titles_truncated", "bodies_truncated"]
    overview = _table(
        overview_headers,
        [[name, p["files_read"], *(p[k] for k in keys)] for name, p in platforms.items()],
        numeric=set(range(1, len(overview_headers))),
        total=["total", sum(p["files_read"] for p in platforms.values()), *(totals[k] for k in keys)],
    )

    reason_rows = [[name, reason, n] for name, p in platforms.items() for reason, n in p["rejected_by_reason"].items()]
    reasons = _table(["platform", "reason", "rejected"], reason_rows, numeric={2},
                     total=["total", "", totals["rejected"]]) if reason_rows else '<p class="ok">Nothing rejected.</p>'

    samples = conn.execute(
        f"""
        select source_platform, reject_reason, conversation_item_id, source_file, source_position,
               reject_detail, customer_email_raw, raw_excerpt
        from (
            select *, row_number() over (
                partition by source_platform, reject_reason
                order by source_file, source_row, source_position, conversation_item_id) as n
            from main.gladly_import_rejects
        )
        where n <= {SAMPLES_PER_REASON}
        order by source_platform, reject_reason, n
        """
    ).fetchall()
    sample_table = _table(["platform", "reason", "item id", "file", "where", "detail", "raw email", "excerpt"],
                          [list(r[:7]) + [(r[7] or "")[:120]] for r in samples], numeric=set()) if samples else ""

    truncated = conn.execute(
        """
        select source_platform, conversation_item_id, source_file, source_position,
               case when is_title_truncated and is_body_truncated then 'title and body'
                    when is_title_truncated then 'title' else 'body' end
        from main.gladly_export_batch
        where is_title_truncated or is_body_truncated
        order by source_platform, source_file, source_row, conversation_item_id
        limit 20
        """
    ).fetchall()
    truncations = (
        f"<p>Titles cut to 100 characters: {totals['titles_truncated']:,}. "
        f"Bodies cut to 25,000 characters: {totals['bodies_truncated']:,} (Gladly's limits).</p>"
        + (_table(["platform", "item id", "file", "where", "cut"], [list(r) for r in truncated], numeric=set())
           if truncated else "")
    )

    per_month = conn.execute(
        """
        select substring(occurred_at_rfc3339, 1, 7) as month, source_platform, count(*)
        from main.gladly_export_batch group by substring(occurred_at_rfc3339, 1, 7), source_platform order by 1, 2
        """
    ).fetchall()

    files = summary["files"]
    files_table = _table(["file", "rows"], [[f["file"], f["rows"]] for f in files], numeric={1},
                         total=["total", sum(f["rows"] for f in files)]) if files else (
        '<p class="muted">No Gladly CSV written by this run (nothing '
        + ("new " if summary.get("mode") == "delta" else "") + "to export).</p>")
    rejects_file = summary["rejects_file"]

    cards = "".join(
        f'<div class="card"><div class="v">{totals[k]:,}</div><div class="l">{label}</div></div>'
        for k, label in [("records_seen", "records seen"), ("exported", "exported"), ("rejected", "rejected"),
                         ("duplicates", "duplicates"), ("already_exported", "already exported")]
    )
    status = ('<p class="ok">Every record is accounted for: seen = exported + rejected + duplicates + already exported.</p>'
              if ok else f'<p class="bad">{totals["unaccounted"]:,} records are unaccounted for.</p>')
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gladly import report</title>
<style>{CSS}</style>
</head>
<body>
<h1>Gladly historical import</h1>
<p class="muted">{escape(summary.get("mode", "full"))} run &middot; platforms: {escape(", ".join(names) or "none")}</p>
<div class="cards">{cards}</div>
{status}
<h2>Totals per platform</h2>
{overview}
<h2>Rejected, by reason</h2>
{reasons}
<h2>Sample of rejected rows</h2>
<p class="muted">Up to {SAMPLES_PER_REASON} per platform and reason; every row is in
<code>{escape(rejects_file["file"])}</code> ({rejects_file["rows"]:,} rows).</p>
{sample_table}
<h2>Truncations</h2>
{truncations}
<h2>Items per month</h2>
{_month_chart(per_month, names)}
<h2>Files written</h2>
{files_table}
</body>
</html>
"""


def write_report(conn: Engine, summary: dict[str, Any], directory: Path) -> Path:
    path = directory / REPORT_FILE
    path.write_text(build_report(conn, summary), encoding="utf-8")
    return path
