"""A source's timestamp text read as one UTC instant, in Python at landing, so both engines see the same.

The forms accepted (the unparseable_timestamp reject names them: macros/gladly_rules.sql):
- ISO 8601 / RFC 3339: ``2021-03-04T15:22:10Z``, ``2021-03-04 15:22:10+01:00``, ``2021-03-04``;
- RFC 2822 (email dates): ``Thu, 04 Mar 2021 15:22:10 +0000``;
- epoch seconds (9 or 10 digits, a fraction allowed) or milliseconds (12 or 13 digits);
- with a ``timestamp_format`` (strftime form, e.g. ``%m/%d/%Y %H:%M``), that form first: the only
  way to read day-first or month-first numeric dates, which are ambiguous without it.
A text without an offset is UTC. The result is canonical ISO text (``2021-03-04T15:22:10Z``, with
microseconds when there are any), or None when no form reads it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

EPOCH = re.compile(r"(?P<seconds>\d{9,10})(?:\.(?P<fraction>\d{1,6}))?|(?P<millis>\d{12,13})")
RFC_2822 = re.compile(r"(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}\s+\d{1,2}:\d{2}")
ZONE_WORD = re.compile(r"\s*(?:UTC|GMT)$", re.IGNORECASE)
SPACED_OFFSET = re.compile(r"\s+(?=[+-]\d{2}:?\d{2}$)")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _canonical(moment: datetime) -> str:
    # isoformat leaves the microseconds out when there are none
    return _utc(moment).replace(tzinfo=None).isoformat() + "Z"


def parse_timestamp(value: str | None, timestamp_format: str | None = None) -> str | None:
    """``value`` as canonical UTC ISO text, or None when it is blank or no accepted form reads it."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        if timestamp_format:
            try:
                return _canonical(datetime.strptime(text, timestamp_format))
            except ValueError:
                pass
        if len(text) >= 10 and text[4] == "-" and text[:4].isdigit():  # ISO 8601, the common case first
            try:
                moment = datetime.fromisoformat(text)
                if len(text) == 20 and text[10] == "T" and text[19] == "Z":
                    return text  # already canonical (the template's own form): checked, not rewritten
                return _canonical(moment)
            except ValueError:
                return _canonical(datetime.fromisoformat(SPACED_OFFSET.sub("", ZONE_WORD.sub("", text))))
        epoch = EPOCH.fullmatch(text)
        if epoch:
            if epoch["millis"]:
                seconds, micros = divmod(int(epoch["millis"]) * 1000, 1_000_000)
            else:
                seconds, micros = int(epoch["seconds"]), int((epoch["fraction"] or "0").ljust(6, "0"))
            return _canonical(datetime.fromtimestamp(seconds, UTC).replace(microsecond=micros))
        if RFC_2822.match(text):
            return _canonical(parsedate_to_datetime(text))
    except (ValueError, OverflowError, OSError, TypeError, IndexError):
        return None
    return None
