"""Errors that stop an extraction with a one-line message for the person running the import.

``gladly_import.run`` prints ``str(error)`` of any ``ExtractError`` as one line and exits
non-zero, without a traceback. Messages never contain a secret.
"""

from __future__ import annotations


class ExtractError(Exception):
    """An extraction cannot go on; ``str(error)`` says why in one line and what to do."""


class AuthError(ExtractError):
    """The API refused the credential (401) or a permission it needs (403)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status
