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
