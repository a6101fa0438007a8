"""import_summary.json and the table printed at the end of a run: the same numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gladly_import.engines import Engine

SUMMARY_FILE = "import_summary.json"
TOTAL_KEYS = ("records_seen", "exported", "rejected", "duplicates", "already_exported", "unaccounted",
              "titles_truncated", "bodies_truncated")


def build_summary(conn: Engine, files: list[dict[str, Any]],
                  rejects_file: dict[str, Any], mode: str = "full") -> dict[str, Any]:
    platforms: dict[str, Any] = {}
    rows = conn.execute(
        """
        select source_platform, is_configured, files_read, records_seen, records_exported,
               records_rejected, records_duplicate, records_already_exported, records_unaccounted,
               titles_truncated, bodies_truncated
        from main.import_reconciliation
        order by source_platform
        """
    ).fetchall()
    reasons = conn.execute(
        """
        select source_platform, reject_reason, count(*)
        from main.gladly_import_rejects
        group by source_platform, reject_reason
        order by source_platform, reject_reason
        """
    ).fetchall()
    for (platform, configured, files_read, seen, exported, rejected, duplicates, already, unaccounted,
         titles, bodies) in rows:
        if not configured:
            continue
        platforms[platform] = {
            "files_read": files_read,
            "records_seen": seen,
            "exported": exported,
            "rejected": rejected,
            "rejected_by_reason": {r: n for p, r, n in reasons if p == platform},
            "duplicates": duplicates,
            "already_exported": already,
            "unaccounted": unaccounted,
            "titles_truncated": titles,
            "bodies_truncated": bodies,
        }
    totals = {
        key: sum(p[key] for p in platforms.values())
        for key in TOTAL_KEYS
    }
    return {
        "mode": mode,
        "platforms": platforms,
        "totals": totals,
        "files": files,
        "rejects_file": rejects_file,
    }


def write_summary(summary: dict[str, Any], output_dir: Path) -> Path:
    path = output_dir / SUMMARY_FILE
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(summary, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def format_table(summary: dict[str, Any]) -> str:
    headers = ["platform", "seen", "exported", "rejected", "duplicates", "sent before", "unaccounted",
               "titles cut", "bodies cut"]
    keys = list(TOTAL_KEYS)
    body = [[name, *(f"{p[k]:,}" for k in keys)] for name, p in summary["platforms"].items()]
    body.append(["total", *(f"{summary['totals'][k]:,}" for k in keys)])
    widths = [max(len(str(row[i])) for row in [headers, *body]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(row) for row in body]
    reasons = [(name, reason, n) for name, p in summary["platforms"].items()
               for reason, n in p["rejected_by_reason"].items()]
    if reasons:
        out.append("")
        out.append("rejected, by reason:")
        out += [f"  {name:<10} {reason:<28} {n:>10,}" for name, reason, n in reasons]
    return "\n".join(out)
