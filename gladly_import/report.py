"""import_report.html: one self-contained page (no script, no network) for the people signing off.

It is the document a manager signs before a history is loaded into Gladly for good: who ran which
version when and for how long, the share exported, the customers and dates reached, each reject
reason with its meaning and what to do (gladly_import/reject_reasons.yml, the README's source
too), the files with their SHA-256, and a "needs review" state when the run says so.

Three steps, each in one place: ``gather_report_data`` runs every query of the report (portable SQL,
through nothing but ``conn.execute(sql[, params]).fetchall()``, so a DuckDB connection or the Spark
engine will do); ``report_context`` turns those rows and the summary into what the page shows; the
Jinja2 template ``templates/import_report.html.j2`` is the markup, with every value escaped (the
page shows untrusted text from the exports).
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from extract.context import duration
from extract.redact import kind_words
from gladly_import.reject_reasons import reject_reasons
from gladly_import.review import NEEDS_REVIEW  # summary["status"] of a run whose files need a person's look first

REPORT_FILE = "import_report.html"
TEMPLATE = "import_report.html.j2"
SAMPLES_PER_REASON = 3
TRUNCATIONS_SHOWN = 20
EXCERPT_CHARS = 160
IDENTIFIER_CHARS = 60
# One colour per platform, the same in every report (Okabe-Ito: tells apart with colour blindness).
PLATFORM_COLORS = {"zendesk": "#0072B2", "csv": "#7A7A7A", "freshdesk": "#009E73", "kustomer": "#CC79A7",
                   "gorgias": "#E69F00", "gmail": "#D55E00"}
OTHER_COLORS = ("#56B4E9", "#B8A21F", "#8C564B", "#5E4FA2")

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
)
_TEMPLATES.filters["n"] = lambda value: f"{value:,}"
_TEMPLATES.filters["color"] = lambda platform: platform_color(platform)
# A path may break after a slash on a narrow screen (user@host after its @), never inside a name
# (not even at its hyphens).
_TEMPLATES.filters["breakable"] = lambda text, at="/": (markupsafe.escape(at) + markupsafe.Markup("<wbr>")).join(
    markupsafe.Markup('<span class="nw">%s</span>') % part for part in str(text).split(at))


# A hyphenated word up to this long (an ISO timestamp and a comma) never breaks at its hyphen; a longer one
# may (it may not fit).
UNBROKEN_WORD_CHARS = 32


def _unbroken_hyphens(text: str) -> markupsafe.Markup:
    """Escaped text whose hyphenated words (a date, a name) never break at their hyphen: no word is split."""
    return markupsafe.Markup("").join(
        markupsafe.Markup('<span class="nw">%s</span>') % part if "-" in part and len(part) <= UNBROKEN_WORD_CHARS
        else markupsafe.escape(part) for part in re.split(r"(\S*-\S*)", text))


def inline_code(text: str) -> markupsafe.Markup:
    """`name` in a reason's meaning (reject_reasons.yml, Markdown like the README) as <code>name</code>; all escaped."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an odd backtick: shown as typed
        return _unbroken_hyphens(str(text))
    return markupsafe.Markup("").join(markupsafe.Markup("<code>%s</code>") % part if index % 2 else _unbroken_hyphens(part)
                                      for index, part in enumerate(parts))


_TEMPLATES.filters["inline_code"] = inline_code
_TEMPLATES.filters["words"] = _unbroken_hyphens


@dataclass
class ReportData:
    """Every row the report shows beyond the summary, as the queries return them."""

    rejected_samples: list[tuple[Any, ...]]  # platform, reason, item id, file, position, detail, raw email, excerpt
    truncated: list[tuple[Any, ...]]  # platform, item id, file, position, title cut?, body cut?
    per_month: list[tuple[Any, ...]]  # year, month, platform, items


def gather_report_data(conn: Any) -> ReportData:
    """All the report's SQL: portable (no dialect function), NULL order spelled out."""
    rejected_samples = conn.execute(
        """
        select source_platform, reject_reason, conversation_item_id, source_file, source_position,
               reject_detail, customer_email_raw, raw_excerpt
        from (
            select source_platform, reject_reason, conversation_item_id, source_file, source_position,
                   reject_detail, customer_email_raw, raw_excerpt,
                   row_number() over (
                       partition by source_platform, reject_reason
                       order by source_file nulls last, source_row nulls last, source_position nulls last,
                                conversation_item_id nulls last) as sample_number
            from gladly_import_rejects
        ) ranked
        where sample_number <= ?
        order by source_platform, reject_reason, sample_number
        """,
        [SAMPLES_PER_REASON],
    ).fetchall()
    truncated = conn.execute(
        f"""
        select source_platform, conversation_item_id, source_file, source_position,
               is_title_truncated, is_body_truncated
        from gladly_export_batch
        where is_title_truncated or is_body_truncated
        order by source_platform, source_file nulls last, source_row nulls last, conversation_item_id
        limit {TRUNCATIONS_SHOWN}
        """
    ).fetchall()
    per_month = conn.execute(
        """
        select occurred_year, occurred_month, source_platform, count(*) as items
        from (
            select extract(year from occurred_at) as occurred_year, extract(month from occurred_at) as occurred_month,
                   source_platform
            from gladly_export_batch
        ) batch
        group by occurred_year, occurred_month, source_platform
        order by occurred_year, occurred_month, source_platform
        """
    ).fetchall()
    return ReportData(rejected_samples=[tuple(r) for r in rejected_samples], truncated=[tuple(r) for r in truncated],
                      per_month=[tuple(r) for r in per_month])


def platform_color(platform: str) -> str:
    """A platform's colour: fixed for the known ones, stable (by name) for any other."""
    return PLATFORM_COLORS.get(platform) or OTHER_COLORS[zlib.crc32(platform.encode()) % len(OTHER_COLORS)]


def shorten(value: Any, limit: int) -> str:
    """Untrusted text cut to ``limit`` characters for the page (the CSV has all of it)."""
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def month_range(first: tuple[int, int], last: tuple[int, int]) -> list[tuple[int, int]]:
    """Every (year, month) from first to last, empty months included."""
    year, month = first
    months = []
    while (year, month) <= last:
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def month_view(per_month: list[tuple[Any, ...]], platforms: list[str]) -> dict[str, Any]:
    """The per-month table and chart: one row of bars per platform, each on its own scale.

    One shared scale would flatten a platform with 40 items next to one with 400,000; each row
    says its own peak, and the table beside it gives every value.
    """
    counts = {(int(y), int(m), p): int(n) for y, m, p, n in per_month}
    if not counts:
        return {"months": [], "rows": [], "series": []}
    months = month_range(min(k[:2] for k in counts), max(k[:2] for k in counts))
    shown = [p for p in platforms if any(k[2] == p for k in counts)]
    rows = [{"month": f"{y:04d}-{m:02d}",
             "counts": [counts.get((y, m, p), 0) for p in shown],
             "total": sum(counts.get((y, m, p), 0) for p in shown)} for y, m in months]
    width = len(months) * 10
    series = []
    for index, platform in enumerate(shown):
        values = [row["counts"][index] for row in rows]
        peak = max(values)
        peak_month = rows[values.index(peak)]["month"]
        bars = []
        for i, value in enumerate(values):
            if value:
                height = max(2.0, 38.0 * value / peak)  # a month with one item still shows
                bars.append({"x": i * 10 + 1, "y": round(40 - height, 2), "width": 8, "height": round(height, 2),
                             "label": f"{platform} {rows[i]['month']}: {value:,}"})
        series.append({"platform": platform, "color": platform_color(platform), "total": sum(values),
                       "peak": peak, "peak_month": peak_month, "bars": bars, "width": width})
    return {"months": [r["month"] for r in rows], "rows": [r for r in rows if r["total"]], "series": series,
            "platforms": shown, "empty_months": sum(1 for r in rows if not r["total"]),
            "totals": [s["total"] for s in series], "total": sum(s["total"] for s in series)}


def _when(value: Any) -> str:
    """2026-03-01T10:15:00Z as the page says it: 2026-03-01 10:15:00 UTC."""
    return str(value or "").replace("T", " ").replace("Z", " UTC").strip()


def share_exported(totals: dict[str, Any]) -> dict[str, Any]:
    """The share exported: of the records seen (a full run), of the records new to a delta run."""
    of = totals["records_seen"] - totals.get("already_exported", 0)
    what = "records seen" if not totals.get("already_exported") else "records new to this run"
    # rounded down: 99.99998% is not 100.0%, only everything is
    percent = f"{math.floor(1000 * totals['exported'] / of) / 10:.1f}%" if of > 0 else "\u2013"
    return {"exported": totals["exported"], "of": of, "what": what, "percent": percent}


def reason_rows(platforms: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per reason: its total across platforms, each platform's count, its meaning and what to do.

    Documented reasons in the file's order, then any other (a newer extractor's), said to be undocumented.
    """
    counts: dict[str, dict[str, int]] = {}
    for name, p in platforms.items():
        for reason, n in p["rejected_by_reason"].items():
            counts.setdefault(reason, {})[name] = n
    known = reject_reasons()
    order = [r for r in known if r in counts] + sorted(r for r in counts if r not in known)
    unknown = {"meaning": "(not documented in gladly_import/reject_reasons.yml)",
               "action": "see reject_detail in the rejects file"}
    return [{"reason": r, "count": sum(counts[r].values()),
             "platforms": [{"platform": n, "color": platform_color(n), "count": c} for n, c in counts[r].items()],
             "meaning": known.get(r, unknown)["meaning"], "action": known.get(r, unknown)["action"]} for r in order]


def review_entries(summary: dict[str, Any]) -> list[dict[str, str]] | None:
    """What needs a person's review (None: the run does not say it needs review); robust to any shape."""
    if summary.get("status") != NEEDS_REVIEW:
        return None
    entries = summary.get("review") or []
    if not isinstance(entries, list):
        entries = [entries]
    return [{"platform": str(e.get("platform") or ""), "cause": str(e.get("cause") or "")} if isinstance(e, dict)
            else {"platform": "", "cause": str(e)} for e in entries]
def redaction_view(summary: dict[str, Any]) -> dict[str, Any]:
    """The redaction section: the kinds that were on, a sentence per kind, a row per platform and kind."""
    redaction = summary.get("redaction") or {}
    kinds = redaction.get("kinds")
    lines = [f"{c['values']:,} {kind_words(kind, c['values'])} removed from {c['items']:,}"
             f" {'item' if c['items'] == 1 else 'items'}" for kind, c in (redaction.get("totals") or {}).items()]
    rows = [{"platform": name, "color": platform_color(name), "kind": kind_words(kind), **counts}
            for name, p in summary["platforms"].items() for kind, counts in (p.get("redacted") or {}).items()]
    return {"kinds": None if kinds is None else [kind_words(k) for k in kinds], "lines": lines, "rows": rows}


def report_context(summary: dict[str, Any], data: ReportData) -> dict[str, Any]:
    """What the template shows: the summary's numbers and the gathered rows, grouped and shortened."""
    platforms = summary["platforms"]
    names = list(platforms)
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for platform, reason, item_id, source_file, position, detail, email_raw, excerpt in data.rejected_samples:
        group = groups.setdefault((platform, reason), {
            "platform": platform, "reason": reason, "color": platform_color(platform),
            "count": platforms.get(platform, {}).get("rejected_by_reason", {}).get(reason, 0), "rows": []})
        group["rows"].append({"item_id": shorten(item_id, IDENTIFIER_CHARS), "file": source_file or "",
                              "position": position or "", "detail": shorten(detail, EXCERPT_CHARS),
                              "email": shorten(email_raw, IDENTIFIER_CHARS), "excerpt": shorten(excerpt, EXCERPT_CHARS)})
    for group in groups.values():
        group["more"] = max(0, group["count"] - len(group["rows"]))
    cut = {(True, True): "title and body", (True, False): "title", (False, True): "body"}
    truncated = [{"platform": p, "item_id": shorten(i, IDENTIFIER_CHARS), "file": f or "", "position": pos or "",
                  "cut": cut.get((bool(t), bool(b)), "")} for p, i, f, pos, t, b in data.truncated]
    reach = [{"name": n, "color": platform_color(n), "exported": p["exported"], "customers": p.get("customers", 0),
              "first": (p.get("first_item_at") or "")[:10], "last": (p.get("last_item_at") or "")[:10]}
             for n, p in platforms.items() if p["exported"]]
    seconds = summary.get("duration_seconds")
    return {
        "summary": summary,
        "run_id": summary.get("run_id") or "(not recorded)",
        "tool_version": summary.get("tool_version") or "(not recorded)",
        "started_at": _when(summary.get("started_at")),
        "finished_at": _when(summary.get("finished_at")),
        "duration": duration(seconds) if isinstance(seconds, int | float) else "",
        "engine": summary.get("engine") or "(not recorded)",
        "run_by": summary.get("run_by") or "(not recorded)",
        "mode": summary.get("mode", "full"),
        "config": summary.get("config") or "",
        "inputs": summary.get("inputs", []),
        "preview": summary.get("preview"),
        "platforms": [{"name": n, "color": platform_color(n), **platforms[n]} for n in names],
        "totals": summary["totals"],
        "share": share_exported(summary["totals"]),
        "customers": summary.get("customers"),
        "reach": reach,
        "reach_first": min((r["first"] for r in reach if r["first"]), default=""),
        "reach_last": max((r["last"] for r in reach if r["last"]), default=""),
        "review": review_entries(summary),
        "files_read": sum(p["files_read"] for p in platforms.values()),
        "reasons": reason_rows(platforms),
        "reject_groups": list(groups.values()),
        "samples_per_reason": SAMPLES_PER_REASON,
        "truncated": truncated,
        "truncations_shown": TRUNCATIONS_SHOWN,
        "redaction": redaction_view(summary),
        "months": month_view(data.per_month, names),
        "files": [{"sha256": "", **f} for f in summary["files"]],
        "files_rows": sum(f["rows"] for f in summary["files"]),
        "rejects_file": summary["rejects_file"],
        "push": summary.get("push"),  # added by `make push` (gladly_import/push.py), which renders the page again
    }


def render_report(summary: dict[str, Any], data: ReportData) -> str:
    return _TEMPLATES.get_template(TEMPLATE).render(report_context(summary, data))


def build_report(conn: Any, summary: dict[str, Any]) -> str:
    return render_report(summary, gather_report_data(conn))


def write_report(conn: Any, summary: dict[str, Any], directory: Path) -> Path:
    """Write the page whole, then rename it into place: a copy kept in the run history is never changed."""
    path = directory / REPORT_FILE
    partial = path.with_name(path.name + ".partial")
    partial.write_text(build_report(conn, summary), encoding="utf-8")
    partial.replace(path)
    return path
