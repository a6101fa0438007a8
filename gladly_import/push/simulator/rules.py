"""Gladly's rules for a conversation item to create, as its published OpenAPI states them (the simulator's).

The simulator keeps its own copy of the limits, from the OpenAPI, not the push's: it checks the
push, so it must not share the push's reading of the rules.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

DEMO_USER = "api-user@demo.example"
DEMO_TOKEN = "demo-gladly-api-token"  # the simulator's default when run by hand; not a real account's
ITEMS_PATH = "/api/v1/conversation-items"
ACTIVITY_TYPES = ("EMAIL", "ISSUE", "SMS", "SURVEY")
MAX_ID_CHARS = 50
MAX_TITLE_CHARS = 100
MAX_BODY_CHARS = 25_000
MAX_SOURCE_NAME_CHARS = 50
MAX_LINK_TEXT_CHARS = 50
WINDOW = timedelta(days=365)
MAX_REQUEST_BYTES = 1_000_000
FAULT_KINDS = ("500", "500_after_create", "drop", "drop_after_create", "429", "400", "slow")
TAKEN = {"errors": [{"attr": "newConversationItems", "code": "taken", "detail": "conversation item already exists"}]}
URL_SAFE_ID = re.compile(r"[A-Za-z0-9._~-]+")
RFC3339_MILLIS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
TOP_LEVEL_FIELDS = {"id", "customer", "content"}
CUSTOMER_FIELDS = {"emailAddress", "mobilePhone"}
CONTENT_FIELDS = {"type", "activityType", "title", "body", "sourceName", "occurredAt", "link", "expandByDefault"}


def error(attr: str | None, code: str, detail: str) -> dict[str, str]:
    return {"attr": attr, "code": code, "detail": detail} if attr else {"code": code, "detail": detail}


def _check_text(errors: list[dict[str, str]], value: Any, attr: str, limit: int, required: bool = False) -> None:
    if value is None:
        if required:
            errors.append(error(attr, "blank", f"{attr} cannot be blank"))
        return
    if not isinstance(value, str):
        errors.append(error(attr, "invalid", f"{attr} must be a string"))
    elif len(value) > limit:
        errors.append(error(attr, "too_long", f"{attr} cannot be longer than {limit} characters"))
    elif required and not value.strip():
        errors.append(error(attr, "blank", f"{attr} cannot be blank"))


def _unknown_fields(errors: list[dict[str, str]], block: dict[str, Any], allowed: set[str], where: str) -> None:
    for name in sorted(set(block) - allowed):
        errors.append(error(f"{where}{name}", "invalid", f"unknown field {where}{name} (the simulator is strict)"))


def parse_rfc3339(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def validate_item(body: Any, now: datetime) -> list[dict[str, str]]:
    """Gladly's rules for a customer-activity item to create; [] when it is acceptable."""
    if not isinstance(body, dict):
        return [error(None, "invalid", "the request body must be a JSON object")]
    errors: list[dict[str, str]] = []
    _unknown_fields(errors, body, TOP_LEVEL_FIELDS, "")
    item_id = body.get("id")
    if item_id is not None:
        if not isinstance(item_id, str) or not item_id:
            errors.append(error("id", "invalid", "id must be a non-empty string"))
        elif len(item_id) > MAX_ID_CHARS:
            errors.append(error("id", "too_long", f"id cannot be longer than {MAX_ID_CHARS} characters"))
        elif not URL_SAFE_ID.fullmatch(item_id):
            errors.append(error("id", "invalid", "id must be URL safe"))

    customer = body.get("customer")
    if not isinstance(customer, dict):
        errors.append(error("customer", "blank", "customer cannot be blank"))
    else:
        _unknown_fields(errors, customer, CUSTOMER_FIELDS, "customer.")
        given = [k for k in ("emailAddress", "mobilePhone") if customer.get(k) not in (None, "")]
        if len(given) != 1:
            errors.append(error("customer", "blank" if not given else "invalid",
                                 "exactly one of emailAddress, mobilePhone must be present"))
        email = customer.get("emailAddress")
        if email not in (None, "") and (not isinstance(email, str) or not EMAIL.fullmatch(email)):
            errors.append(error("customer.emailAddress", "invalid", "emailAddress is not a valid email address"))

    content = body.get("content")
    if not isinstance(content, dict):
        errors.append(error("content", "blank", "content cannot be blank"))
        return errors
    _unknown_fields(errors, content, CONTENT_FIELDS, "content.")
    kind = content.get("type")
    if kind in (None, ""):
        errors.append(error("content.type", "blank", "content.type cannot be blank"))
    elif kind != "CUSTOMER_ACTIVITY":
        errors.append(error("content.type", "invalid", f"type [{kind}] is not supported by the simulator"))
    activity = content.get("activityType")
    if activity in (None, ""):
        errors.append(error("content.activityType", "blank", "content.activityType cannot be blank"))
    elif activity not in ACTIVITY_TYPES:
        errors.append(error("content.activityType", "invalid", f"activityType must be one of {', '.join(ACTIVITY_TYPES)}"))
    _check_text(errors, content.get("title"), "content.title", MAX_TITLE_CHARS)
    _check_text(errors, content.get("body"), "content.body", MAX_BODY_CHARS)
    _check_text(errors, content.get("sourceName"), "content.sourceName", MAX_SOURCE_NAME_CHARS)
    occurred = content.get("occurredAt")
    if occurred is not None:
        parsed = parse_rfc3339(occurred) if isinstance(occurred, str) and RFC3339_MILLIS.fullmatch(occurred) else None
        if parsed is None:
            errors.append(error("content.occurredAt", "invalid", "occurredAt must be RFC 3339 with milliseconds"))
        elif parsed < now - WINDOW:
            errors.append(error("content.occurredAt", "invalid", "occurredAt cannot be older than 1 year"))
    link = content.get("link")
    if link is not None:
        if not isinstance(link, dict) or not isinstance(link.get("url"), str):
            errors.append(error("content.link", "invalid", "link must be an object with a url"))
        else:
            _check_text(errors, link.get("text"), "content.link.text", MAX_LINK_TEXT_CHARS)
    if content.get("expandByDefault") is not None and not isinstance(content["expandByDefault"], bool):
        errors.append(error("content.expandByDefault", "invalid", "expandByDefault must be a boolean"))
    return errors


def customer_id(identifier: str) -> str:
    """A stable Gladly-like customer id (22 URL-safe characters) for an email address or phone."""
    digest = hashlib.sha256(identifier.lower().encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def rfc3339_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


