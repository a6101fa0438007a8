"""import_summary.json and the table printed at the end of a run: the same numbers, and which run.

Besides the counts it says what a person signing the report needs: the tool's version, when the
run started and finished, on which engine, who ran it on which host, and per platform how many
distinct customers the exported items reach and the date range they span.
"""

from __future__ import annotations

import getpass
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from extract.files import display_path
from extract.platforms import PLATFORMS
from extract.redact import kind_words
from gladly_import import __version__
from gladly_import.config import Config
from gladly_import.jsonfile import write_json

SUMMARY_FILE = "import_summary.json"
TOTAL_KEYS = ("records_seen", "exported", "rejected", "duplicates", "already_exported", "unaccounted",
              "titles_truncated", "bodies_truncated")
# The printed table's column for each key: the same words as the report and the JSON.
COLUMN_LABELS = {"records_seen": "records seen", "exported": "exported", "rejected": "rejected", "duplicates": "duplicates",
                 "already_exported": "already exported", "unaccounted": "unaccounted",
                 "titles_truncated": "titles cut", "bodies_truncated": "bodies cut"}


def reads_files(platform: str, options: dict[str, Any]) -> bool:
    """A source whose input is export files (its ``path:``), not an API."""
    return PLATFORMS[platform].reads_files_with(options)


def describe_inputs(config: Config) -> list[dict[str, Any]]:
    """What this run read: each input file with its size, each API by its host (never a credential)."""
    inputs: list[dict[str, Any]] = []
    for platform, source in sorted(config.sources.items()):
        if reads_files(platform, source.options):
            inputs += [{"platform": platform, "file": display_path(path, config.base_dir), "bytes": path.stat().st_size}
                       for path in source.files]
        elif source.options.get("simulate"):
            inputs.append({"platform": platform, "api": "local simulator (simulate: true)"})
        else:
            parts = urlsplit(str(source.options.get("base_url") or ""))
            host = parts.hostname or ""
            inputs.append({"platform": platform, "api": f"{parts.scheme}://{host}" if host else "(no base_url)"})
    return inputs


def _iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def run_by() -> str:
    """user@host of the person running the import (a container may have no name for the user: its uid)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def exported_reach(conn: Any) -> tuple[int, dict[str, tuple[int, str | None, str | None]]]:
    """(distinct customers of the batch, {platform: (distinct customers, first item, last item)}).

    The first and last are the CSV's own timestamps (RFC 3339 UTC, one fixed format, so text order
    is time order): the same text on every engine, whatever time zone a driver converts to.
    """
    rows = conn.execute(
        """
        select source_platform, count(distinct customer_email), min(occurred_at_rfc3339), max(occurred_at_rfc3339)
        from gladly_export_batch
        group by source_platform
        """
    ).fetchall()
    total = conn.execute("select count(distinct customer_email) from gladly_export_batch").fetchall()[0][0]
    return int(total or 0), {p: (int(n or 0), first, last) for p, n, first, last in rows}


def build_summary(conn: Any, files: list[dict[str, Any]], rejects_file: dict[str, Any], mode: str = "full",
                  run_id: str | None = None, config: Config | None = None) -> dict[str, Any]:
    """The run's accounting. ``conn`` needs only ``execute(sql[, params]).fetchall()``."""
    platforms: dict[str, Any] = {}
    rows = conn.execute(
        """
        select source_platform, is_configured, files_read, records_seen, records_exported,
               records_rejected, records_duplicate, records_already_exported, records_unaccounted,
               titles_truncated, bodies_truncated
        from import_reconciliation
        order by source_platform
        """
    ).fetchall()
    reasons = conn.execute(
        """
        select source_platform, reject_reason, count(*)
        from gladly_import_rejects
        group by source_platform, reject_reason
        order by source_platform, reject_reason
        """
    ).fetchall()
    redactions = conn.execute(
        """
        select source_platform, redaction_kind, items_redacted, values_redacted
        from import_redactions
        order by source_platform, redaction_kind
        """
    ).fetchall()
    started = None
    if run_id is not None:
        found = conn.execute("select started_at from ledger.import_runs where run_id = ?", [run_id]).fetchall()
        started = found[0][0] if found and found[0][0] else None
    finished = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    customers, reach = exported_reach(conn)
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
            "customers": reach.get(platform, (0, None, None))[0],
            "first_item_at": reach.get(platform, (0, None, None))[1],
            "last_item_at": reach.get(platform, (0, None, None))[2],
            "redacted": {kind: {"items": int(items), "values": int(values)}
                         for p, kind, items, values in redactions if p == platform and values},
        }
    totals = {
        key: sum(p[key] for p in platforms.values())
        for key in TOTAL_KEYS
    }
    redacted: dict[str, dict[str, int]] = {}
    for counts in platforms.values():
        for kind, found in counts["redacted"].items():
            total = redacted.setdefault(kind, {"items": 0, "values": 0})
            total["items"] += found["items"]
            total["values"] += found["values"]
    describe = getattr(conn, "describe", None)
    return {
        "run_id": run_id,
        "tool_version": __version__,
        "started_at": _iso(started),
        "finished_at": _iso(finished),
        "duration_seconds": round((finished - started.replace(microsecond=0)).total_seconds()) if started else None,
        "engine": describe() if describe else None,
        "run_by": run_by(),
        "customers": customers,
        "mode": mode,
        "config": str(config.path) if config is not None else None,
        "inputs": describe_inputs(config) if config is not None else [],
        "platforms": platforms,
        "totals": totals,
        # what was removed from titles and bodies as they were landed (extract/redact.py): the kinds
        # the config turned on, and per kind the values removed and the items they were in
        "redaction": {"kinds": list(config.redactor.kinds) if config is not None else None,
                      "totals": dict(sorted(redacted.items()))},
        "files": files,
        "rejects_file": rejects_file,
    }


def write_summary(summary: dict[str, Any], output_dir: Path) -> Path:
    return write_json(output_dir / SUMMARY_FILE, summary)


def format_table(summary: dict[str, Any]) -> str:
    headers = ["platform", *(COLUMN_LABELS[k] for k in TOTAL_KEYS)]
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
    out += redaction_lines(summary)
    return "\n".join(out)


def redaction_lines(summary: dict[str, Any]) -> list[str]:
    """The table's lines on redaction: per platform and kind, the values removed and from how many items."""
    found = [(name, kind, counts) for name, p in summary["platforms"].items()
             for kind, counts in p.get("redacted", {}).items()]
    if not found:
        return []
    lines = ["", "removed from titles and bodies before anything was written (redact:):"]
    for name, kind, counts in found:
        items = counts["items"]
        lines.append(f"  {name:<10} {counts['values']:>10,} {kind_words(kind, counts['values']):<28}"
                     f" from {items:,} {'item' if items == 1 else 'items'}")
    return lines
