"""The benchmarks (``make bench``): each module measures one thing; ``write_result`` keeps each figure file alike."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_result(result: dict[str, Any], out: str | Path) -> None:
    """Write a benchmark's result as JSON (its folder made) and print it."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
