"""Publishing a finished run's files into the output folder, crash-safe; numbering a delta's files.

A run writes its files to ``output_dir/.partial-<run id>/`` (same file system, so a rename is
atomic), then publishes them in steps, each of which can be cut by ``kill -9``:

1. record the batch as pending in the ledger: each file's name, rows and SHA-256;
2. record its items in the export ledger (one statement; the count must match the batch);
3. rename each file into place (a full run's files replace the earlier ones, same name or not);
4. confirm the batch; remove the empty staging folder.

The next run, holding the folder locks (gladly_import/lock.py), settles a batch left pending from
what is actually there, always the same way: items not all recorded → nothing was renamed yet,
drop it; every file present and intact (staged, or in place with the recorded SHA-256) → finish
step 3 and confirm; a file lost from both → roll back: remove the batch's files that did reach
the output folder and drop its items from the ledger, so the next delta exports them again. Only
then are the left-over ``.partial-*`` folders removed. So an item is never in the ledger without
being in a published file, nor in a published file without being in the ledger.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
from pathlib import Path
from typing import Any

import duckdb

from gladly_import.ledger import (
    CONFIRMED,
    DROPPED,
    ITEMS_FILE_PREFIX,
    ensure_tables,
    items_recorded,
    last_file_number,
    pending_batches,
    record_exports,
    record_pending_batch,
    settle_batch,
)

STAGING_PREFIX = ".partial-"
# Fault injection for the crash tests: at the named step (see `checkpoint` calls) the process
# SIGKILLs itself (KILL_AT) or SIGSTOPs itself (STOP_AT, to hold a run mid-way). Never set in
# normal use.
KILL_AT_ENV = "GLADLY_IMPORT_TEST_KILL_AT"
STOP_AT_ENV = "GLADLY_IMPORT_TEST_STOP_AT"


def checkpoint(step: str) -> None:
    if os.environ.get(KILL_AT_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get(STOP_AT_ENV) == step:
        os.kill(os.getpid(), signal.SIGSTOP)


def staging_dir(output_dir: Path, run_id: str) -> Path:
    return output_dir / f"{STAGING_PREFIX}{run_id}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def publish(conn: duckdb.DuckDBPyConnection, run_id: str, staging: Path, output_dir: Path, mode: str,
            rows: dict[str, int]) -> int:
    """Publish every file in ``staging`` and record the run's items; returns the items recorded.

    ``rows`` gives the data rows of each CSV written (item files and rejects).
    """
    checkpoint("staged")
    files = [{"file": p.name, "rows": rows.get(p.name), "sha256": sha256_of(p)} for p in sorted(staging.iterdir())]
    items = sum(f["rows"] or 0 for f in files if f["file"].startswith(ITEMS_FILE_PREFIX))
    batch = {"run_id": run_id, "mode": mode, "staging_dir": staging.name, "items": items, "files": files}
    record_pending_batch(conn, run_id, mode, staging.name, items, files)
    checkpoint("batch recorded")
    recorded = record_exports(conn, run_id, "main.gladly_export_batch")
    checkpoint("items recorded")
    if recorded != items:  # the files and the batch table disagree: publish nothing
        settle_batch(conn, run_id, DROPPED)
        raise RuntimeError(f"export batch has {recorded:,} items but its files {items:,}: nothing published")
    _finish(conn, batch, output_dir)
    return recorded


def _finish(conn: duckdb.DuckDBPyConnection, batch: dict[str, Any], output_dir: Path) -> None:
    """Steps 3 and 4: move what is still staged into place, then confirm. Safe to repeat."""
    staging = output_dir / batch["staging_dir"]
    names = {f["file"] for f in batch["files"]}
    for number, f in enumerate(batch["files"], start=1):
        staged = staging / f["file"]
        if staged.exists():
            os.replace(staged, output_dir / f["file"])
        checkpoint(f"published {number}")
    if batch["mode"] == "full":  # a full run replaces every earlier item file
        for old in sorted(output_dir.glob(f"{ITEMS_FILE_PREFIX}*.csv")):
            if old.name not in names:
                old.unlink()
        checkpoint("old files removed")
    settle_batch(conn, batch["run_id"], CONFIRMED)
    checkpoint("confirmed")
    shutil.rmtree(staging, ignore_errors=True)


def _intact(path: Path, sha256: str) -> bool:
    return path.is_file() and sha256_of(path) == sha256


def _settle(conn: duckdb.DuckDBPyConnection, batch: dict[str, Any], output_dir: Path) -> str:
    """Finish or roll back one pending batch, deterministically, from the files present."""
    if items_recorded(conn, batch["run_id"]) != batch["items"]:
        settle_batch(conn, batch["run_id"], DROPPED)  # killed before step 3: no file was renamed
        return DROPPED
    staging = output_dir / batch["staging_dir"]
    placed = {f["file"]: _intact(output_dir / f["file"], f["sha256"]) for f in batch["files"]}
    staged = {f["file"]: _intact(staging / f["file"], f["sha256"]) for f in batch["files"]}
    if all(placed[name] or staged[name] for name in placed):
        for name, ok in staged.items():
            if not ok:  # e.g. a torn copy left behind: the intact one is already in place
                (staging / name).unlink(missing_ok=True)
        _finish(conn, batch, output_dir)
        return CONFIRMED
    for name, ok in placed.items():
        if ok:
            (output_dir / name).unlink()
    settle_batch(conn, batch["run_id"], DROPPED)
    return DROPPED


def settle_earlier_runs(conn: duckdb.DuckDBPyConnection, output_dir: Path) -> list[tuple[str, str]]:
    """At start-up, holding the folder locks: settle pending batches, then clear stale staging folders.

    Returns [(run id, confirmed | dropped)] for the batches settled.
    """
    ensure_tables(conn)
    settled = [(batch["run_id"], _settle(conn, batch, output_dir)) for batch in pending_batches(conn)]
    for stale in output_dir.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
    return settled


def first_file_number(conn: duckdb.DuckDBPyConnection, output_dir: Path, mode: str) -> int:
    """Full runs number from 0001; a delta run continues after every file already written."""
    if mode == "full":
        return 1
    on_disk = [int(m.group(1)) for p in output_dir.glob(f"{ITEMS_FILE_PREFIX}*.csv")
               if (m := re.fullmatch(rf"{ITEMS_FILE_PREFIX}(\d+)\.csv", p.name))]
    return max([last_file_number(conn), *on_disk]) + 1
