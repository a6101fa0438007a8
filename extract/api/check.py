"""The preflight's vocabulary: what a platform's ``check`` finds, row by row, before a run is started.

``gladly-import check`` (``gladly_import/check.py``) calls the ``check`` a platform declares
(``extract.platform.Platform.check``: ``check(ctx) -> list[Finding]``), which sends a handful of
read-only requests and says, one ``Finding`` each: the credentials accepted, each permission the
run needs, the limits announced, the size of the work and the time it takes at those limits, and
the assumptions the extractor makes, tested on the account. A ``FAIL`` means the run cannot go
ahead as configured; ``info`` rows are facts the run does not depend on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from extract.errors import AuthError, ExtractError

if TYPE_CHECKING:
    from extract.api.source import ApiSource
    from extract.http_client import HttpClient

OK, FAIL, INFO = "ok", "FAIL", "info"


@dataclass
class Finding:
    check: str      # what was checked: "credentials", "permission: searches", "rate limit", ...
    result: str     # what was found, in words
    verdict: str = OK


@dataclass
class Checklist:
    """Findings in the order they were made."""

    findings: list[Finding] = field(default_factory=list)

    def ok(self, check: str, result: str) -> None:
        self.findings.append(Finding(check, result, OK))

    def fail(self, check: str, result: str) -> None:
        self.findings.append(Finding(check, result, FAIL))

    def info(self, check: str, result: str) -> None:
        self.findings.append(Finding(check, result, INFO))

    @property
    def failed(self) -> bool:
        return any(f.verdict == FAIL for f in self.findings)

    def first_request(self, send: Callable[[], Any], *, accepted: str, check: str, needs: str) -> tuple[bool, Any]:
        """The first request says whether the credentials are accepted: (go on, its answer). A 401 refuses
        them (the checks stop), a 403 accepts them and refuses ``check``, which ``needs`` a permission."""
        try:
            answer = send()
        except AuthError as error:
            if error.status == 401:
                self.fail("credentials", str(error))
                return False, None
            self.ok("credentials", accepted)
            self.fail(check, f"HTTP 403: the credentials lack {needs}")
            return True, None
        except ExtractError as error:
            self.fail("credentials", f"not tested: {error}")
            return False, None
        self.ok("credentials", accepted)
        return True, answer

    def request(self, check: str, send: Callable[[], Any], *, needs: str | None = None) -> Any:
        """``send()``'s answer; None when it failed, the failure written down (401: the credentials,
        403: ``needs``, the permission the request needs, anything else: the error's line)."""
        try:
            return send()
        except AuthError as error:
            if error.status == 401:
                self.fail("credentials", str(error))
            else:
                self.fail(check, f"HTTP 403: the credentials lack {needs or 'a permission this needs'}")
        except ExtractError as error:
            self.fail(check, str(error))
        return None


def preflight(source: ApiSource, steps: Callable[[HttpClient, Checklist], None]) -> list[Finding]:
    """A platform's ``check``: the account reached as a run reaches it (``source.account()``), then its
    ``steps`` (a handful of read-only requests); a credential not set, or that cannot be a header, fails."""
    found = Checklist()
    try:
        with source.account() as (client, account):
            found.info("account", f"the local {source.service} simulator (simulate: true)" if source.simulate
                       else account)
            steps(client, found)
    except ExtractError as error:
        found.fail("credentials", str(error))
    return found.findings


def at_least(total: int, capped_at: int | None) -> str:
    """A count, ``≥ n`` when it may be a capped count."""
    return f"≥ {total:,}" if capped_at is not None and total >= capped_at else f"{total:,}"


def hours(requests: float, per_minute: float, *, lower_bound: bool = False) -> str:
    """How long ``requests`` take at ``per_minute``, as a person reads it: ``≈ 23 min``, ``at least 2.1 h``."""
    if per_minute <= 0:
        return "unknown (no rate)"
    minutes = requests / per_minute
    if minutes < 1:
        return "under a minute"
    about = "at least " if lower_bound else "≈ "
    return about + (f"{math.ceil(minutes)} min" if minutes < 90 else f"{minutes / 60:.1f} h")
