"""Gladly's email rule: a well-formed address (syntax only, no DNS), in its normalized form."""

from __future__ import annotations

from email.utils import parseaddr
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email


@lru_cache(maxsize=4096)  # the models check each distinct address once; this only spares repeats
def normalize_email(value: str | None) -> str | None:
    """The normalized address, or None when there is no well-formed one.

    ``Jane Doe <Jane@Example.COM>`` keeps the address: ``Jane@example.com``.
    """
    if value is None:
        return None
    candidate = value.strip()
    if "<" in candidate:
        candidate = parseaddr(candidate)[1].strip()
    if not candidate:
        return None
    try:
        return validate_email(candidate, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def normalize_emails(values: list[str | None]) -> list[str | None]:
    """normalize_email over a batch (the Spark UDF's Arrow batches), each distinct value once."""
    seen: dict[str | None, str | None] = {}
    return [seen[v] if v in seen else seen.setdefault(v, normalize_email(v)) for v in values]


def is_normalized_address(value: str | None) -> bool | None:
    """The email data test's check, straight from email-validator (not through normalize_email):
    the value is a well-formed address already in its normalized form. NULL stays NULL."""
    if value is None:
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized == value
    except EmailNotValidError:
        return False
