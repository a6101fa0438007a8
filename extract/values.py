"""Small conversions shared by the extractors."""

from __future__ import annotations

import json
from typing import Any


def as_text(value: Any) -> str | None:
    """A scalar as text; None stays None, booleans become true/false, nested values JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
