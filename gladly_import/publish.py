"""Publishing a finished run's files into the output folder, and numbering the files of a delta."""

from __future__ import annotations

import os
import re
from pathlib import Path

from gladly_import.engines import Engine
from gladly_import.ledger import ITEMS_FILE_PREFIX, last_file_number


def publish(staging: Path, output_dir: Path, mode: str) -> None:
    """Move a finished run's files into the output folder; a full run replaces earlier item files."""
    if mode == "full":
        for old in output_dir.glob(f"{ITEMS_FILE_PREFIX}*.csv"):
            old.unlink()
    for path in sorted(staging.iterdir()):
        os.replace(path, output_dir / path.name)
    staging.rmdir()


def first_file_number(conn: Engine, output_dir: Path, mode: str) -> int:
    """Full runs number from 0001; a delta run continues after every file already written."""
    if mode == "full":
        return 1
    on_disk = [int(m.group(1)) for p in output_dir.glob(f"{ITEMS_FILE_PREFIX}*.csv")
               if (m := re.fullmatch(rf"{ITEMS_FILE_PREFIX}(\d+)\.csv", p.name))]
    return max([last_file_number(conn), *on_disk]) + 1
