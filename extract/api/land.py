"""Landing helpers shared by the API sources: the rejects spool into the run's rejects, watermarks."""

from __future__ import annotations

import re
from typing import Any

from extract.api.store import Spool, State
from extract.api.stream import millis_text, parse_instant, to_millis
from extract.raw import PlatformOutput
from extract.values import as_text


def split_where(where: str) -> tuple[str, str]:
    """``"POST /v1/x window <start>/<end> page 3, item 4"`` -> (``"POST /v1/x"``, ``"window <start>/<end> page 3,
    item 4"``): the request as the source file, the place in it as the position (short: reports show it)."""
    match = re.search(r" (window \S+ |query \d+ |page \d+)", where)
    return (where[:match.start()], where[match.start() + 1:]) if match else (where, where)


def land_rejects(state: State, out: PlatformOutput) -> int:
    """Pages that could not be read, spooled as they were met, as rows of the rejects file."""
    count = 0
    for where, reject in Spool.read(state.spool_path("rejects")):
        reject = reject if isinstance(reject, dict) else {}
        source_file, position = split_where(where)
        out.reject(reason=as_text(reject.get("reason")) or "malformed_page", detail=as_text(reject.get("detail")),
                   raw=as_text(reject.get("raw")), source_file=source_file, position=position)
        count += 1
    return count


def newest_mark(current: dict[str, Any] | None, timestamp: Any, record_id: Any) -> dict[str, Any] | None:
    """The newer of ``current`` and (timestamp, id): a delta's watermark is the newest record landed."""
    instant = parse_instant(timestamp)
    if instant is None:
        return current
    if current is not None:
        known = parse_instant(current.get("newest"))
        if known is not None and (known, str(current.get("id"))) >= (instant, str(record_id)):
            return current
    return {"newest": millis_text(to_millis(timestamp) or 0), "id": record_id}
