"""Does a run need a person's look before its files go to Gladly? A run never ends green on nothing.

A configured source needs review when, in a full run, it yields no exportable item, or when more
than ``UNREADABLE_SHARE`` of its records, and at least ``UNREADABLE_MIN`` of them, were set aside
as unreadable (a share of a handful is noise: the bundled samples hold a few broken lines on
purpose, and end 0): the extractors' format
rejects (``UNREADABLE_REASONS``: malformed, unparseable, a wrong header, undecodable bytes, a file
no reader opens). The run still writes everything; then it prints one WARNING per such source
naming the likely cause, the report shows the amber "needs review" banner instead of the green
line, the summary says ``"status": "needs_review"`` and the exit code is 3. A delta run with
nothing new is not a problem (the no-item rule is for full runs only).

The likely cause is, in this order: what the first bytes of an input file say it is when the
platform does not read such a file (a zip or tar where the platform reads no archive, a PDF, an old
Excel workbook, an empty file, a "mbox" with no "From " line), else what the extractor saw
(``PlatformOutput.likely_causes``: "the header splits on ';'"), else the commonest reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from extract.files import display_path
from extract.platforms import PLATFORMS
from extract.readers.archives import ARCHIVES, packing_of
from gladly_import.config import Config

NEEDS_REVIEW, OK = "needs_review", "ok"
EXIT_NEEDS_REVIEW = 3
UNREADABLE_SHARE = 0.10
UNREADABLE_MIN = 10
UNREADABLE_REASONS = frozenset({
    "malformed_json", "not_a_ticket", "record_too_large", "record_too_deep", "malformed_comment",
    "malformed_csv_row", "csv_header_invalid", "undecodable_csv_row",
    "malformed_xml", "unsafe_xml", "nested_archive", "unsafe_zip_member", "unsafe_archive",
    "unparseable_message", "unreadable_file", "unexpected_file",
    "malformed_page", "malformed_message", "malformed_ticket",
})
HEAD_BYTES = 64 * 1024
# What a file is, by its first bytes (a file's name says nothing: Takeout and Zendesk name theirs freely).
# Packings are recognised by the archive reader (extract/readers/archives.py: packing_of); these are the
# other files people hand over by mistake.
NOT_EXPORTS = ((b"%PDF", "a PDF"), (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) or Office file"))
PACKING_WORDS = {"zip": "a zip archive", "tar": "a tar archive", "bzip2": "a bzip2 file", "xz": "an xz file",
                 "zstd": "a zstd file", "7z": "a 7-Zip archive", "rar": "a RAR archive", "lz4": "an lz4 file"}


def _what_file(path: Path, platform: str) -> str | None:
    """What the file is, when its first bytes say it is not what the platform reads; None when they do not."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError:
        return None
    if not head.strip():
        return "is empty"
    packing = packing_of(head)  # gzip is read by every file platform; zip and tar where archives are read
    if packing in PACKING_WORDS and not (PLATFORMS[platform].reads_archives and packing in ARCHIVES):
        return f"is {PACKING_WORDS[packing]}"
    for magic, what in NOT_EXPORTS:
        if head.startswith(magic):
            return f"is {what}" + (", not a spreadsheet saved as CSV" if platform == "csv" and "Excel" in what else "")
    if platform == "gmail" and not head.lstrip().startswith(b"From "):
        return "does not start with a \"From \" line: not an mbox file"
    return None


def likely_cause(platform: str, counts: dict[str, Any], files: list[Path], base_dir: Path,
                 causes: dict[str, str], unreadable_only: bool) -> str:
    """What the files' first bytes say they are; else what the extractor saw; else the commonest reason."""
    for path in files:
        if (what := _what_file(path, platform)) is not None:
            return f"{display_path(path, base_dir)} {what}"
    for name, cause in causes.items():
        return f"{name}: {cause}"
    reasons = {r: n for r, n in (counts.get("rejected_by_reason") or {}).items()
               if r in UNREADABLE_REASONS or not unreadable_only}
    if reasons:
        reason, number = max(reasons.items(), key=lambda item: (item[1], item[0]))
        return f"most records were rejected as {reason} ({number:,}): see the rejects file"
    return "nothing was read from it: check its path and its files"


def assess(summary: dict[str, Any], config: Config | None, findings: dict[str, dict[str, Any]],
           mode: str) -> list[dict[str, str]]:
    """One entry per configured source that needs review: {platform, problem, cause}."""
    entries = []
    for platform, counts in summary["platforms"].items():
        seen = counts["records_seen"]
        unreadable = sum(n for r, n in (counts.get("rejected_by_reason") or {}).items() if r in UNREADABLE_REASONS)
        unreadable_only = False
        if mode == "full" and not counts["exported"] and not counts.get("already_exported"):
            problem = f"no exportable item ({seen:,} {'record' if seen == 1 else 'records'} seen)"
        elif unreadable >= UNREADABLE_MIN and unreadable / seen > UNREADABLE_SHARE:
            problem = f"{unreadable:,} of {seen:,} records ({unreadable / seen:.0%}) set aside as unreadable"
            unreadable_only = True
        else:
            continue
        source = config.sources.get(platform) if config is not None else None
        files = source.files if source is not None and PLATFORMS[platform].reads_files_with(source.options) else []
        cause = likely_cause(platform, counts, files, config.base_dir if config is not None else Path.cwd(),
                             (findings.get(platform) or {}).get("likely_causes") or {}, unreadable_only)
        entries.append({"platform": platform, "problem": problem, "cause": f"{problem}: {cause}"})
    return entries


def apply(summary: dict[str, Any], entries: list[dict[str, str]]) -> None:
    """The summary's status, and what the report's banner lists."""
    summary["status"] = NEEDS_REVIEW if entries else OK
    if entries:
        summary["review"] = [{"platform": e["platform"], "cause": e["cause"]} for e in entries]
