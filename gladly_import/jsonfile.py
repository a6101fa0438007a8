"""The one way a run writes a JSON file people and programs read (import_summary.json, push_summary.json).

Written whole to a ``.partial`` name, then renamed over the old one: a reader, or a run killed
mid-write, never sees half a file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_json(path: Path, data: Any) -> Path:
    """``data`` as indented, key-sorted UTF-8 JSON at ``path``, atomically; the folder is made if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    partial.replace(path)
    return path
