"""The run history: every run's report files kept, ``gladly-import runs``, and the guard on a full run.

A report someone may already have signed must not be overwritten by the next run: each published
run's report, summary, rejects and timeline preview are kept in ``output_dir/runs/<run id>/`` (a
push's report and summary in ``runs/<push id>/``); the files at the top of output_dir are the
latest run's, as before. Keeping is a step of publishing (gladly_import/publish.py), safe to
repeat, so a run killed in between gets its folder when the next run settles it.

A full run re-exports every item and replaces every item file. After go-live that is almost
never meant (a forgotten ``MODE=delta``): a full run after a delta or a push, since the last full
run, must be asked for with ``--mode full``; any full run over a work dir that has exported before
says which files it replaces and how many items were already delivered.

Everything here reads the ledger with portable SQL (``conn.execute(sql[, params]).fetchall()``).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gladly_import.ledger import CONFIRMED, ITEMS_FILE_PREFIX

RUNS_DIR = "runs"
PUSH_SUMMARY_FILE = "push_summary.json"  # gladly_import/push/ writes it beside the import's files


def keep_run(output_dir: Path, run_id: str, names: list[str]) -> Path:
    """Copy the named files of output_dir into runs/<run id>/ (whole, then renamed in: never half a folder)."""
    runs = output_dir / RUNS_DIR
    target = runs / run_id
    partial = runs / f".partial-{run_id}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name in names:
        if (output_dir / name).is_file():
            shutil.copyfile(output_dir / name, partial / name)
    shutil.rmtree(target, ignore_errors=True)  # kept again (a settled run, a push rendered again): the newer copy
    os.replace(partial, target)
    return target


def report_files(names: list[str]) -> list[str]:
    """Of a batch's files, those kept in the run history: all but the item CSVs (report, summary, rejects, preview)."""
    return [name for name in names if not name.startswith(ITEMS_FILE_PREFIX)]


# -- gladly-import runs ---------------------------------------------------------------------------

@dataclass
class RunRow:
    run_id: str
    kind: str  # import | push
    mode: str  # full | delta (a push: the mode of the import it pushed)
    started_at: Any
    ended_at: Any
    status: str
    items: int | None  # items exported (a push: items sent to Gladly's API and accepted)
    files: list[str] = field(default_factory=list)
    kept: str = ""  # runs/<id>/ when its report files are kept


def _push_rows(conn: Any, output_dir: Path) -> list[RunRow]:
    """Pushes, from the push ledger (every push that sent something) and the kept push summaries."""
    pushes: dict[str, RunRow] = {}
    for push_id, import_run, first, last, delivered in conn.execute(
            """
            select push_id, min(import_run_id), min(answered_at), max(answered_at),
                   sum(case when status in ('created', 'already_present') then 1 else 0 end)
            from ledger.push_ledger
            group by push_id
            """).fetchall():
        pushes[push_id] = RunRow(push_id, "push", f"of {import_run}", first, last, "answered", int(delivered or 0))
    for path in sorted((output_dir / RUNS_DIR).glob(f"*/{PUSH_SUMMARY_FILE}")):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(summary, dict) or not summary.get("push_id"):
            continue
        row = pushes.setdefault(summary["push_id"], RunRow(summary["push_id"], "push", "", None, None, "", None))
        row.mode = f"of {summary.get('import_run_id', '?')}"
        row.started_at = summary.get("started_at") or row.started_at
        row.ended_at = summary.get("ended_at") or row.ended_at
        row.status = str(summary.get("status") or row.status)
        row.items = int(summary.get("sent", 0) or 0) + int(summary.get("already_in_gladly", 0) or 0)
    return list(pushes.values())


def list_runs(conn: Any, output_dir: Path) -> list[RunRow]:
    """Every import run of this work dir's ledger and every push, oldest first."""
    rows = [RunRow(run_id, "import", mode, started, ended, status, items,
                   [f["file"] for f in json.loads(files)] if files else [])
            for run_id, mode, started, ended, status, items, files in conn.execute(
                "select run_id, mode, started_at, ended_at, status, items_exported, files_written "
                "from ledger.import_runs").fetchall()]
    rows += _push_rows(conn, output_dir)
    for row in rows:
        if (output_dir / RUNS_DIR / row.run_id).is_dir():
            row.kept = f"{RUNS_DIR}/{row.run_id}/"
    return sorted(rows, key=lambda r: (_text(r.started_at), r.run_id))


def _text(moment: Any) -> str:
    """A ledger timestamp (a datetime) or a summary's (ISO text) as 2026-03-01 10:15:00."""
    if moment is None:
        return ""
    if hasattr(moment, "strftime"):
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return str(moment).replace("T", " ").removesuffix("Z")[:19]


def format_runs(rows: list[RunRow]) -> str:
    """The table `gladly-import runs` prints."""
    headers = ["run", "kind", "mode", "started (UTC)", "ended (UTC)", "status", "items", "files", "report files"]
    body = [[r.run_id, r.kind, r.mode, _text(r.started_at), _text(r.ended_at), r.status,
             "" if r.items is None else f"{r.items:,}", _files(r.files), r.kept or "-"] for r in rows]
    widths = [max(len(row[i]) for row in [headers, *body]) for i in range(len(headers))]
    lines = ["  ".join(cell.rjust(w) if i == 6 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
             .rstrip() for row in [headers, ["-" * w for w in widths], *body]]
    return "\n".join(lines)


def _files(names: list[str]) -> str:
    """gladly_conversation_items_0001.csv … _0003.csv as '_0001.csv to _0003.csv'."""
    short = [name.removeprefix(ITEMS_FILE_PREFIX) for name in names]
    if not short:
        return "-"
    return f"_{short[0]}" if len(short) == 1 else f"_{short[0]} to _{short[-1]} ({len(short)})"


# -- the guard on a full run ----------------------------------------------------------------------

@dataclass
class Delivered:
    """What this work dir has delivered so far, and what a full run would replace."""

    runs: int  # confirmed exports
    items_in_files: int  # distinct items exported to CSVs by earlier runs
    items_pushed: int  # distinct items Gladly's API has accepted
    deltas_since_full: list[str]  # delta runs after the last full run
    pushes_since_full: list[str]  # pushes after the last full run
    files: list[str]  # the item CSVs in output_dir now (a full run replaces them all)

    @property
    def needs_saying_full(self) -> bool:
        return bool(self.deltas_since_full or self.pushes_since_full)


def delivered_so_far(conn: Any, output_dir: Path) -> Delivered:
    batches = conn.execute("select run_id, mode, recorded_at from ledger.export_batches where status = ?",
                           [CONFIRMED]).fetchall()
    fulls = [recorded for _, mode, recorded in batches if mode == "full"]
    last_full = max(fulls) if fulls else None
    deltas = sorted((recorded, run_id) for run_id, mode, recorded in batches
                    if mode == "delta" and (last_full is None or recorded > last_full))
    pushes = conn.execute(
        """
        select push_id, min(answered_at) as first_answer
        from ledger.push_ledger
        where status in ('created', 'already_present')
        group by push_id
        order by first_answer, push_id
        """).fetchall()
    in_files = conn.execute("select count(distinct conversation_item_id) from ledger.export_ledger").fetchall()[0][0]
    pushed = conn.execute("select count(distinct conversation_item_id) from ledger.push_ledger "
                          "where status in ('created', 'already_present')").fetchall()[0][0]
    return Delivered(
        runs=len(batches), items_in_files=int(in_files or 0), items_pushed=int(pushed or 0),
        deltas_since_full=[run_id for _, run_id in deltas],
        pushes_since_full=[push_id for push_id, first in pushes if last_full is None or first > last_full],
        files=sorted(p.name for p in output_dir.glob(f"{ITEMS_FILE_PREFIX}*.csv")))


def _listed(names: list[str], limit: int = 3) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit:,} more" if len(names) > limit else "")


def refusal(delivered: Delivered) -> str:
    """The one line that stops a full run nobody asked for (after a delta or a push)."""
    since = []
    if delivered.deltas_since_full:
        since.append(f"delta run {_listed(delivered.deltas_since_full)}")
    if delivered.pushes_since_full:
        since.append(f"push {_listed(delivered.pushes_since_full)}")
    return (f"import not started: a full run after a {' and a '.join(since)} would export every item again"
            f" ({delivered.items_in_files:,} already delivered in CSV files, {delivered.items_pushed:,} through the API)"
            f" and replace {_listed(delivered.files) or 'the item files'}: run with --mode delta for the new items,"
            " or say --mode full (make import MODE=full) to export everything again")


def replacing(delivered: Delivered, output_dir: Path) -> str | None:
    """What a full run over a work dir that has exported before says first (None: nothing exported yet)."""
    if not delivered.runs and not delivered.files:
        return None
    pushed = f", {delivered.items_pushed:,} of them through Gladly's API" if delivered.items_pushed else ""
    files = f"replaces {_listed(delivered.files, 6)} in {output_dir}" if delivered.files else "replaces no file"
    return (f"full run: {files}; {delivered.items_in_files:,} items were already delivered by earlier runs{pushed}"
            " (each earlier run's report stays in runs/)")
