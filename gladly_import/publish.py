"""Publishing a finished run's files into the output folder, crash-safe; numbering a delta's files.

A run writes its files to ``output_dir/.partial-<run id>/`` (same file system, so a rename is
atomic), then publishes them in steps, each of which can be cut by ``kill -9``:

1. record the batch as pending in the ledger: each file's name, rows and SHA-256;
2. rename each file into place (a full run's files replace the earlier ones, same name or not);
3. record its items in the export ledger, now that every file is in place; keep a copy of its
   report files in ``output_dir/runs/<run id>/`` (gladly_import/history.py);
4. confirm the batch; remove the empty staging folder.

The next run, holding the folder locks (gladly_import/lock.py) and before its dbt build rebuilds
the export batch table, settles a batch left pending from what is actually there, always the
same way: every item recorded → confirm it (step 4); some of its items recorded → every file was
in place, finish steps 3 and 4 (or, its export batch table gone meanwhile, stop with one line:
``PublishError``, nothing changed); else every
file present and intact (still staged, or in place with the recorded SHA-256) → finish steps 2 to
4; else (a staged file lost) → roll back: remove the batch's files that reached the output folder
and drop the batch, so the next delta exports its items again. Only then are the left-over
``.partial-*`` folders removed. So an item is in the ledger only once it is in a published file,
and a published file's items are in the ledger by the time the next run starts its export.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gladly_import import faults
from gladly_import.engines import Engine
from gladly_import.history import RUNS_DIR, keep_run, report_files
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
    relation_type,
    settle_batch,
)

logger = logging.getLogger(__name__)

STAGING_PREFIX = ".partial-"
BATCH_RELATION = "main.gladly_export_batch"  # this run's items, with the file each goes to (dbt)


class PublishError(RuntimeError):
    """A batch left pending that cannot be settled safely; ``str()`` is one line."""


def staging_dir(output_dir: Path, run_id: str) -> Path:
    return output_dir / f"{STAGING_PREFIX}{run_id}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Ctrl-C from the pending record to the confirmation is held, then ignored.

    That window is a moment (renames); the run then ends as succeeded, a little after it was
    asked to stop. So a run that ends "interrupted" has recorded nothing. (A kill cannot be held:
    that is what the next run settles.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    def held(signum: int, frame: object) -> None:
        logger.warning("Ctrl-C while publishing: the files are put in place first")
    previous = signal.signal(signal.SIGINT, held)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def publish(conn: Engine, run_id: str, staging: Path, output_dir: Path, mode: str,
            rows: dict[str, int], digests: dict[str, str] | None = None) -> int:
    """Publish every file in ``staging`` and record the run's items; returns the items recorded.

    ``rows`` gives the data rows of each CSV written (item files and rejects); ``digests`` the
    SHA-256 of staged files already hashed (the item files, for the report), the rest are hashed here.
    """
    faults.checkpoint("staged")
    known = digests or {}
    files = [{"file": p.name, "rows": rows.get(p.name), "sha256": known.get(p.name) or sha256_of(p)}
             for p in sorted(staging.iterdir())]
    items = sum(f["rows"] or 0 for f in files if f["file"].startswith(ITEMS_FILE_PREFIX))
    batch = {"run_id": run_id, "mode": mode, "staging_dir": staging.name, "items": items, "files": files}
    if not _is_the_batch_table_of(conn, batch):
        raise RuntimeError("the export batch table and the files written disagree: nothing published")
    with _ctrl_c_held():
        record_pending_batch(conn, run_id, mode, staging.name, items, files)
        faults.checkpoint("batch recorded")
        return _finish(conn, batch, output_dir)


def _is_the_batch_table_of(conn: Engine, batch: dict[str, Any]) -> bool:
    """main.gladly_export_batch holds exactly this batch's item files and rows (what step 3 records)."""
    if relation_type(conn, *BATCH_RELATION.split(".")) is None:
        return False
    counts = dict(conn.execute(f"select file_name, count(*) from {BATCH_RELATION} group by file_name").fetchall())
    return counts == {f["file"]: f["rows"] for f in batch["files"] if f["file"].startswith(ITEMS_FILE_PREFIX)}


def _finish(conn: Engine, batch: dict[str, Any], output_dir: Path) -> int:
    """Steps 2 to 4: move what is still staged into place, record the items, confirm. Safe to repeat."""
    staging = output_dir / batch["staging_dir"]
    names = {f["file"] for f in batch["files"]}
    for number, f in enumerate(batch["files"], start=1):
        staged = staging / f["file"]
        if staged.exists():
            os.replace(staged, output_dir / f["file"])
        faults.checkpoint(f"published {number}")
    if batch["mode"] == "full":  # a full run replaces every earlier item file
        for old in sorted(output_dir.glob(f"{ITEMS_FILE_PREFIX}*.csv")):
            if old.name not in names:
                old.unlink()
        faults.checkpoint("old files removed")
    recorded = record_exports(conn, batch["run_id"], BATCH_RELATION)
    faults.checkpoint("items recorded")
    if recorded != batch["items"]:
        raise RuntimeError(f"run {batch['run_id']}: {recorded:,} items recorded for {batch['items']:,} published")
    keep_run(output_dir, batch["run_id"], report_files(sorted(names)))  # the run history: never overwritten
    faults.checkpoint("run kept")
    settle_batch(conn, batch["run_id"], CONFIRMED)
    faults.checkpoint("confirmed")
    shutil.rmtree(staging, ignore_errors=True)
    return recorded


def _intact(path: Path, sha256: str) -> bool:
    return path.is_file() and sha256_of(path) == sha256


def _settle(conn: Engine, batch: dict[str, Any], output_dir: Path) -> str:
    """Finish or roll back one pending batch, deterministically, from the files present."""
    recorded = items_recorded(conn, batch["run_id"])
    if recorded >= batch["items"] > 0:  # steps 2 and 3 done: only the confirmation is missing (and maybe the copy)
        keep_run(output_dir, batch["run_id"], report_files(sorted(f["file"] for f in batch["files"])))
        settle_batch(conn, batch["run_id"], CONFIRMED)  # (the batch table is not needed: maybe rebuilt)
        shutil.rmtree(output_dir / batch["staging_dir"], ignore_errors=True)
        return CONFIRMED
    if recorded:  # step 3 had begun: every file was in place
        if not _is_the_batch_table_of(conn, batch):
            raise PublishError(
                f"run {batch['run_id']} was stopped while recording its items ({recorded:,} of {batch['items']:,}"
                f" recorded) and its export batch table {BATCH_RELATION} no longer holds them: the rest cannot"
                " be recorded, and a delta would export them again; nothing was changed (see the README,"
                " 'A publish that cannot be settled')")
        _finish(conn, batch, output_dir)
        return CONFIRMED
    staging = output_dir / batch["staging_dir"]
    placed = {f["file"]: _intact(output_dir / f["file"], f["sha256"]) for f in batch["files"]}
    staged = {f["file"]: _intact(staging / f["file"], f["sha256"]) for f in batch["files"]}
    if all(placed[name] or staged[name] for name in placed) and _is_the_batch_table_of(conn, batch):
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


def settle_earlier_runs(conn: Engine, output_dir: Path) -> list[tuple[str, str]]:
    """At start-up, holding the folder locks: settle pending batches, then clear stale staging folders.

    Returns [(run id, confirmed | dropped)] for the batches settled.
    """
    ensure_tables(conn)
    settled = [(batch["run_id"], _settle(conn, batch, output_dir)) for batch in pending_batches(conn)]
    for stale in [*output_dir.glob(f"{STAGING_PREFIX}*"), *(output_dir / RUNS_DIR).glob(f"{STAGING_PREFIX}*")]:
        shutil.rmtree(stale, ignore_errors=True)
    return settled


def first_file_number(conn: Engine, output_dir: Path, mode: str) -> int:
    """Full runs number from 0001; a delta run continues after every file already written."""
    if mode == "full":
        return 1
    on_disk = [int(m.group(1)) for p in output_dir.glob(f"{ITEMS_FILE_PREFIX}*.csv")
               if (m := re.fullmatch(rf"{ITEMS_FILE_PREFIX}(\d+)\.csv", p.name))]
    return max([last_file_number(conn), *on_disk]) + 1
