"""What one item is on Gladly's API, and the API's rules for it (its published OpenAPI).

An item is ``POST /api/v1/conversation-items``: a ``CUSTOMER_ACTIVITY`` on the timeline of the
customer with that email, with the Conversation Item ID as its ``id`` (a re-send answers 409).
The length limits are Gladly's, read from the one place the models read them (dbt_project.yml's
vars); the one-year window is the API's own: "limited to events no older than 1 year".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from gladly_import.paths import project_vars
from gladly_import.push.settings import ACTIVITY_TYPES

ITEMS_PATH = "/api/v1/conversation-items"
API_WINDOW = timedelta(days=365)    # "limited to events no older than 1 year": read as 365 days
SAFETY_MARGIN = timedelta(days=1)   # + the batch's duration at the rate limit (see cutoff())
_VARS = project_vars()
MAX_ID_CHARS = int(_VARS["gladly_item_id_max_chars"])
MAX_TITLE_CHARS = int(_VARS["gladly_title_max_chars"])
MAX_BODY_CHARS = int(_VARS["gladly_body_max_chars"])
MAX_SOURCE_NAME_CHARS = int(_VARS["gladly_source_name_max_chars"])
URL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
RFC3339_MILLIS_UTC = "%Y-%m-%dT%H:%M:%S.%fZ"


def payload(row: dict[str, Any], activity_type: str) -> dict[str, Any]:
    """The API body for one exported item: the CSV row's id, email, timestamp, title, body and source.

    Gladly's customer specification takes exactly one identifier: the CSV's Customer Name and Phone
    go to the customer's profile (profiles.py), its Tags nowhere (an item has none).
    """
    return {
        "id": row["conversation_item_id"],
        "customer": {"emailAddress": row["customer_email"]},
        "content": {
            "type": "CUSTOMER_ACTIVITY",
            "activityType": activity_type,
            "occurredAt": row["occurred_at_rfc3339"],
            "title": row["title"],
            "body": row["body"],
            "sourceName": row["source_name"],
        },
    }


def payload_problem(body: dict[str, Any], now: datetime) -> str | None:
    """Why Gladly's API would refuse this body (its OpenAPI rules), or None when it is acceptable."""
    item_id = body.get("id")
    if not isinstance(item_id, str) or not item_id:
        return "no id"
    if len(item_id) > MAX_ID_CHARS:
        return f"id longer than {MAX_ID_CHARS} characters"
    if not set(item_id) <= URL_SAFE:
        return "id not URL safe"
    email = body.get("customer", {}).get("emailAddress")
    if not isinstance(email, str) or "@" not in email or any(c.isspace() for c in email):
        return "no usable customer email"
    content = body.get("content", {})
    if content.get("activityType") not in ACTIVITY_TYPES:
        return "activityType not one of " + ", ".join(ACTIVITY_TYPES)
    for key, limit in (("title", MAX_TITLE_CHARS), ("body", MAX_BODY_CHARS), ("sourceName", MAX_SOURCE_NAME_CHARS)):
        value = content.get(key)
        if not isinstance(value, str):
            return f"no {key}"
        if len(value) > limit:  # code points, as JSON Schema's maxLength counts
            return f"{key} longer than {limit:,} characters"
    occurred = content.get("occurredAt")
    try:
        moment = datetime.strptime(occurred, RFC3339_MILLIS_UTC).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return "occurredAt not RFC 3339 UTC with milliseconds"
    if len(occurred) != len("2021-01-01T00:00:00.000Z"):
        return "occurredAt not RFC 3339 UTC with milliseconds"
    if moment < now - API_WINDOW:
        return "occurredAt older than 1 year"
    return None


def cutoff(now: datetime, requests: int, requests_per_second: float) -> datetime:
    """The oldest occurredAt sent: a year ago, plus a day, plus the longest this batch's requests could take."""
    duration = timedelta(seconds=requests / requests_per_second)
    return now - API_WINDOW + SAFETY_MARGIN + duration
