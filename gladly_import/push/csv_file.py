"""The CSV to upload after a push: exactly the batch's items the push did not deliver.

``gladly_conversation_items_csv_only_NNNN.csv`` beside the batch's ``gladly_conversation_items_NNNN.csv``:
its rows that Gladly does not hold through the push (older than the API's window, refused, invalid
for the API, or still unanswered when a push stopped), written by the export's own writer (the same
bytes as the export's rows), so the upload is that file and nothing reaches a timeline twice. A
batch file whose every item was delivered leaves no such file (an earlier one is removed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gladly_import.export import export_items
from gladly_import.ledger import ITEMS_FILE_PREFIX
from gladly_import.push.batch import BATCH_TABLE

CSV_ONLY_PREFIX = f"{ITEMS_FILE_PREFIX}csv_only_"
NOT_DELIVERED = ("not exists (select 1 from ledger.push_ledger p where p.conversation_item_id = gladly_export_batch"
                 ".conversation_item_id and p.status in ('created', 'already_present'))")


def csv_only_name(batch_file: str) -> str:
    return CSV_ONLY_PREFIX + batch_file[len(ITEMS_FILE_PREFIX):]


def write_csv_only(engine: Any, output_dir: Path) -> list[dict[str, Any]]:
    """Write the not-delivered items of each batch file to its csv_only file; [{file, rows}] written."""
    written = export_items(engine, output_dir, only=NOT_DELIVERED, rename=csv_only_name)
    kept = {f["file"] for f in written}
    for (batch_file,) in engine.execute(f"select distinct file_name from {BATCH_TABLE}").fetchall():
        stale = output_dir / csv_only_name(batch_file)
        if stale.name not in kept:
            stale.unlink(missing_ok=True)
    return written
