"""What a push reports: push_summary.json, the table printed at its end, and its section of the import report.

The three show the same numbers, the customer profiles' outcomes included (created, updated,
already complete, refused with Gladly's detail). They reconcile: ``batch_items = sent + already_in_gladly + refused
+ invalid_payload + unanswered + csv_only + delivered_before + refused_before``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from extract.context import duration
from gladly_import.history import PUSH_SUMMARY_FILE
from gladly_import.jsonfile import write_json
from gladly_import.report import REPORT_FILE, write_report
from gladly_import.summary import SUMMARY_FILE as IMPORT_SUMMARY_FILE

SUMMARY_FILE = PUSH_SUMMARY_FILE

logger = logging.getLogger("gladly_import.push")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_summary(summary: dict[str, Any], output_dir: Path) -> Path:
    return write_json(output_dir / SUMMARY_FILE, summary)


def add_to_report(engine: Any, output_dir: Path, summary: dict[str, Any]) -> bool:
    """Render the pushed import's import_report.html again, with the push's figures in it."""
    try:
        import_summary = json.loads((output_dir / IMPORT_SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(import_summary, dict) or import_summary.get("run_id") != summary["import_run_id"]:
        return False  # the report of another run: left as it is
    try:
        write_report(engine, {**import_summary, "push": summary}, output_dir)
    except Exception as error:  # noqa: BLE001 - the push is done and recorded; the page is a copy of its numbers
        logger.warning(f"push: could not add the push to {REPORT_FILE} ({error!r}); {SUMMARY_FILE} has the numbers")
        return False
    return True


def format_summary(summary: dict[str, Any]) -> str:
    """The end-of-push table: the same numbers as push_summary.json."""
    lines = [f"push {summary['push_id']} ({summary['status']}) of import {summary['import_run_id']}"
             + (" - simulated Gladly" if summary["simulated"] else "")]
    rows: list[tuple[str, int]] = [("items in the batch", summary["batch_items"])]
    if summary["dry_run"]:
        rows += [("to send", summary["to_send"]), ("  valid payloads", summary["valid_payloads"]),
                 ("  invalid payloads (never sent)", summary["invalid_payload"])]
    else:
        rows += [("sent: created in Gladly", summary["sent"]), ("already in Gladly", summary["already_in_gladly"]),
                 ("refused by Gladly", summary["refused"]),
                 ("invalid payloads (never sent)", summary["invalid_payload"]),
                 ("left unanswered (run again)", summary["unanswered"])]
    rows += [("CSV only (older than the API's window)", summary["csv_only"]),
             ("delivered by an earlier push", summary["delivered_before"]),
             ("refused by an earlier push", summary["refused_before"])]
    width = max(len(label) for label, _ in rows)
    lines += [f"  {label:<{width}}  {value:>9,}" for label, value in rows]
    for title, key in (("refused", "refused_by_reason"), ("invalid", "invalid_by_reason")):
        for reason, n in sorted(summary.get(key, {}).items()):
            lines.append(f"  {title}: {n:,} x {reason}")
    if summary["dry_run"]:
        lines.append("  after the push, gladly_conversation_items_csv_only_NNNN.csv holds the items it did not"
                     " deliver: the file to upload")
    else:
        for file_name, n in summary["csv_files"].items():
            lines.append(f"  to upload: {file_name}, the {n:,} item(s) of the batch not pushed (older than the"
                         " API's window, refused, or left)")
        if not summary["csv_files"]:
            lines.append("  nothing to upload: Gladly holds every item of the batch")
    profiles = summary.get("profiles")
    if profiles:
        lines.append(f"  customer profiles: {profiles['created']:,} created, {profiles['updated']:,} updated, "
                     f"{profiles['already_complete']:,} already complete, {profiles['refused']:,} refused, "
                     f"{profiles['not_found']:,} not found ({profiles['phones_sent_as_written']:,} phone(s) sent as "
                     "written: not readable as a number)")
        for reason, n in sorted(profiles["refused_by_reason"].items()):
            lines.append(f"  profile refused: {n:,} x {reason}")
    if summary["dry_run"]:
        lines.append(f"  customer profiles to complete: {summary['profiles_to_complete']:,} "
                     f"(up to {summary['profile_requests_estimated']:,} requests: read, update)")
        lines.append(f"  sending takes about {duration(summary['estimated_seconds'])}: "
                     f"{summary['estimated_requests']:,} requests at {summary['requests_per_second']:g} a second")
    else:
        lines.append(f"  {summary['requests']:,} requests ({summary['retries']:,} retries, {summary['throttled']:,} "
                     f"answered 429) in {summary['seconds']:,.1f}s, {summary['items_per_second']:g} items/s")
    return "\n".join(lines)
