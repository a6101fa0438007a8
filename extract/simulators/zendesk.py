"""A local Zendesk Support API, modelled on Zendesk's reference, to test the API reading against real HTTP.

Serves, on 127.0.0.1 through the simulators' harness (``harness.py``), an account made of tickets in
the JSON export's shape (a ticket with its ``requester`` and its ``comments``: the same data can be
written as an export file and served here, so both readings can be compared):

- ``GET /api/v2/incremental/tickets/cursor.json``: ``start_time`` (unix seconds; at least a minute
  in the past, else 400 ``StartTimeTooRecent``) on the first request, then ``cursor=<after_cursor>``;
  ``per_page`` up to 1,000; tickets in ``generated_timestamp`` order (a ticket changed later moves to
  the end: an export resumed from a cursor lists it again); ``{tickets, after_cursor, after_url,
  before_cursor, before_url, end_of_stream}``; tickets changed within the last minute are left out
  (Zendesk's rule). ``include=users`` side-loads the requesters (``users``: id, name, email, phone,
  role; a requester may have no email); ``include=comment_count`` sets each ticket's
  ``comment_count``. Archived tickets (closed over ``archive_after_days`` ago) are listed here;
  deleted ones too, ``status: "deleted"``, unless ``exclude_deleted=true``. Admins only (403 otherwise).
- ``GET /api/v2/tickets/{id}/comments.json``: cursor pagination (``page[size]`` up to 100, else 400;
  ``page[after]``), oldest first, ``{comments, meta: {has_more, after_cursor, before_cursor},
  links: {prev, next}}``; a deleted ticket answers 404 ``RecordNotFound``; archived tickets answer.
- ``GET /api/v2/tickets.json`` (offset pages, archived tickets left out, as Zendesk's list does),
  ``GET /api/v2/tickets/count.json`` (``{count: {value, refreshed_at}}``) and ``GET /api/v2/users/me.json``.

Limits: HTTP Basic ``{email}/token:{api_token}`` (else 401). The plan's limit, ``rate_limit`` requests
a minute (Team 200, Growth and Professional 400, Enterprise 700, High Volume 2,500; 0: none), a
window per minute announced in every answer (``X-Rate-Limit``, ``X-Rate-Limit-Remaining``); the
incremental exports' own, ``incremental_rate_limit`` in any 60 s (10; 30 with the High Volume
add-on). Over either: 429 with ``Retry-After`` (seconds) and a body that is not JSON
(``text/plain``), as Zendesk answers. ``latency`` delays every answer; ``Faults`` injects 500s,
429s, dropped connections, slow or held answers and malformed (cut) pages by request number.
``incremental_times()``: when each incremental request arrived, to measure the 10-a-minute rule
from the server's side.

Run it by hand: ``python -m extract.simulators.zendesk samples/zendesk_api``.
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from extract.readers.lines import LongLine, iter_lines
from extract.simulators import harness
from extract.simulators.harness import (
    Answer,
    FixedWindow,
    Request,
    SimulatorServer,
    SlidingWindow,
    basic_ok,
    serve_until_interrupted,
)

DEMO_EMAIL = "demo@example.com"
DEMO_TOKEN = "demo-api-token"  # the simulator's default when run by hand; not a real account's
EXPORT_PATH = "/api/v2/incremental/tickets/cursor.json"
MAX_PER_PAGE = 1000      # the incremental export's largest page
MAX_PAGE_SIZE = 100      # cursor pagination of the other lists: page[size] at most 100
TOO_RECENT_SECONDS = 60  # start_time must be at least a minute in the past
ARCHIVE_AFTER_DAYS = 120
FAULT_KINDS = ("500", "429", "drop", "slow", "hold", "malformed")
DATA_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")


class Faults(harness.Faults):
    """Faults to inject, keyed by the 1-based number of the request they hit."""

    kinds = FAULT_KINDS


def _epoch(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp())


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _token(*parts: Any) -> str:
    return base64.urlsafe_b64encode("|".join(str(p) for p in parts).encode()).decode().rstrip("=")


def _untoken(token: str) -> list[str] | None:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().split("|")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def read_export(folder: Path) -> list[dict[str, Any]]:
    """The tickets of the JSON export files in ``folder`` (plain or gzip): lines that are not a ticket
    object with an id are skipped (the API never answers them)."""
    tickets = []
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.name.lower().endswith(DATA_SUFFIXES))
    for path in paths:
        for _, line in iter_lines(path):
            if isinstance(line, LongLine) or not line.strip():
                continue
            try:
                ticket = json.loads(line)
            except ValueError:
                continue
            if isinstance(ticket, dict) and ticket.get("id") is not None and "comments" in ticket:
                tickets.append(ticket)
    return tickets


class ZendeskSimulator(SimulatorServer):
    """The simulated account: ``with ZendeskSimulator(tickets) as sim: sim.base_url`` (module doc)."""

    name = "zendesk"
    server_version = "ZendeskSimulator/1.0"

    def __init__(self, tickets: Iterable[dict[str, Any]], *, email: str = DEMO_EMAIL, api_token: str = DEMO_TOKEN,
                 role: str = "admin", rate_limit: int | None = 700, incremental_rate_limit: int | None = 10,
                 comment_count: bool = True, archive_after_days: float = ARCHIVE_AFTER_DAYS,
                 faults: Faults | None = None, latency: float = 0.0, port: int = 0,
                 clock: Any = time.time) -> None:
        super().__init__(latency=latency, port=port)
        self._credentials = base64.b64encode(f"{email}/token:{api_token}".encode()).decode()
        self.email, self.role = email, role
        self.plan = FixedWindow(rate_limit, 60.0) if rate_limit else None
        self.rate_limit = rate_limit
        self.incremental = SlidingWindow(incremental_rate_limit, 60.0) if incremental_rate_limit else None
        self.comment_count = comment_count
        self.archive_after = archive_after_days * 86400
        self.faults = faults or Faults()
        self._clock = clock
        self._lock = threading.Lock()
        self.tickets: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        for ticket in tickets:
            self._add_ticket(ticket)

    @classmethod
    def from_dir(cls, folder: Path, **options: Any) -> ZendeskSimulator:
        """An account holding the tickets of the JSON export files in ``folder``."""
        return cls(read_export(folder), **options)

    # -- the account -------------------------------------------------------------------------------

    def _add_ticket(self, exported: dict[str, Any]) -> None:
        ticket = {k: v for k, v in exported.items() if k not in ("comments", "requester")}
        comments = [c for c in exported.get("comments") or [] if isinstance(c, dict)]
        requester = exported.get("requester") if isinstance(exported.get("requester"), dict) else None
        if requester is not None and requester.get("id") is not None:
            ticket["requester_id"] = requester["id"]
            stamp = ticket.get("updated_at") or ticket.get("created_at")
            self.users[str(requester["id"])] = {"id": requester["id"], "name": requester.get("name"),
                                                "email": requester.get("email"), "phone": requester.get("phone"),
                                                "role": "end-user", "created_at": stamp, "updated_at": stamp}
        changed = _epoch(ticket.get("updated_at")) or max(
            [_epoch(c.get("created_at")) or 0 for c in comments] + [_epoch(ticket.get("created_at")) or 0])
        ticket.setdefault("updated_at", _iso(changed))
        ticket["generated_timestamp"] = changed
        key = str(ticket["id"])
        self.tickets[key] = ticket
        self.comments[key] = sorted(comments, key=lambda c: (_epoch(c.get("created_at")) or 0, str(c.get("id"))))

    def add_comment(self, ticket_id: Any, comment: dict[str, Any]) -> None:
        """A new comment on a ticket: the ticket is changed at the comment's ``created_at``."""
        with self._lock:
            key = str(ticket_id)
            self.comments[key].append(comment)
            at = _epoch(comment.get("created_at")) or int(self._clock()) - 3600
            self.tickets[key].update(updated_at=_iso(at), generated_timestamp=at)

    def delete_ticket(self, ticket_id: Any, at: str) -> None:
        """The ticket goes to the deleted tickets: listed ``status: "deleted"``, its comments 404."""
        with self._lock:
            stamp = _epoch(at) or int(self._clock()) - 3600
            self.tickets[str(ticket_id)].update(status="deleted", updated_at=at, generated_timestamp=stamp)

    def incremental_times(self) -> list[float]:
        """Arrival times of the incremental export requests (what the 10-a-minute limit counts)."""
        return [entry.at for entry in self.entries if entry.path.startswith("/api/v2/incremental/")]

    def comment_request_times(self) -> list[float]:
        return [entry.at for entry in self.entries if entry.path.endswith(("/comments.json", "/comments"))]

    def is_deleted(self, ticket: dict[str, Any]) -> bool:
        return ticket.get("status") == "deleted"

    def is_archived(self, ticket: dict[str, Any]) -> bool:
        return ticket.get("status") == "closed" and self._clock() - ticket["generated_timestamp"] > self.archive_after

    # -- the harness' hooks -------------------------------------------------------------------------

    def answer(self, request: Request) -> Answer:
        fault = request.fault.kind if request.fault else None
        if request.method != "GET":
            return Answer(405, {"error": "InvalidEndpoint", "description": "The simulator is read-only"})
        if not basic_ok(request.headers.get("Authorization"), self._credentials):
            return Answer(401, {"error": "Couldn't authenticate you"})
        headers: dict[str, str] = {}
        if self.plan is not None:
            allowed, remaining, reset = self.plan.take()
            headers = {"X-Rate-Limit": str(self.rate_limit), "X-Rate-Limit-Remaining": str(remaining)}
            if not allowed:
                return _throttled(max(1, reset - int(time.time())), headers)
        if fault == "429":
            return _throttled(self.faults.retry_after_seconds, headers)
        if fault == "500":
            return Answer(500, {"error": "InternalError", "description": "Internal server error"}, headers)
        path = request.path.removesuffix("/")
        parts = [p for p in path.split("/") if p]
        if path.startswith("/api/v2/incremental/"):
            if self.role != "admin":
                return Answer(403, {"error": "Forbidden", "description": "You do not have access to this page."
                                    " Please contact the account owner of this help desk for further help."}, headers)
            if self.incremental is not None:
                admitted, _, wait = self.incremental.take()
                if not admitted:
                    return _throttled(max(1, int(wait) + 1), headers)
            answer = self._export(request.params) if path == EXPORT_PATH else _not_found()
        elif parts[:3] == ["api", "v2", "tickets"] and len(parts) == 5 and parts[4] in ("comments", "comments.json"):
            answer = self._comments(parts[3], request.params)
        elif path in ("/api/v2/tickets/count.json", "/api/v2/tickets/count"):
            with self._lock:
                value = sum(1 for t in self.tickets.values() if not self.is_deleted(t))
            answer = Answer(200, {"count": {"value": value, "refreshed_at": _iso(self._clock())}})
        elif path in ("/api/v2/tickets.json", "/api/v2/tickets"):
            answer = self._list(request.params)
        elif path in ("/api/v2/users/me.json", "/api/v2/users/me"):
            answer = Answer(200, {"user": {"id": 1, "name": "Demo Admin", "email": self.email, "role": self.role}})
        else:
            answer = _not_found()
        answer.headers.update(headers)
        if fault == "malformed" and answer.status == 200:
            answer.body = answer.payload()[:-7]
        return answer

    # -- the endpoints ------------------------------------------------------------------------------

    def _export(self, params: dict[str, str]) -> Answer:
        now = int(self._clock())
        try:
            per_page = min(max(int(params.get("per_page", MAX_PER_PAGE)), 1), MAX_PER_PAGE)
        except ValueError:
            return Answer(400, {"error": "InvalidValue", "description": "per_page must be a number"})
        if params.get("cursor"):
            position = _untoken(params["cursor"])
            if position is None or len(position) != 2 or not position[0].lstrip("-").isdigit():
                return Answer(400, {"error": "InvalidPaginationParameter", "description": "Invalid cursor"})
            after: tuple[int, str] = (int(position[0]), position[1])
        elif "start_time" in params:
            try:
                start = int(float(params["start_time"]))
            except ValueError:
                return Answer(400, {"error": "InvalidValue", "description": "start_time must be a unix time"})
            if start > now - TOO_RECENT_SECONDS:
                return Answer(400, {"error": "StartTimeTooRecent",
                                    "description": "Too recent start_time. Use a start_time older than one minute."})
            after = (start, "")  # ids compare as text after "": every ticket changed at start_time or later
        else:
            return Answer(400, {"error": "InvalidValue", "description": "start_time or cursor is required"})
        include = set(params.get("include", "").split(","))
        exclude_deleted = params.get("exclude_deleted", "false").lower() == "true"
        with self._lock:
            visible = sorted(((t["generated_timestamp"], _sortable(t["id"])), key)
                             for key, t in self.tickets.items()
                             if t["generated_timestamp"] <= now - TOO_RECENT_SECONDS
                             and not (exclude_deleted and self.is_deleted(t)))
            following = [key for position, key in visible if position > (after[0], _sortable_text(after[1]))]
            chosen = following[:per_page]
            tickets = [dict(self.tickets[key]) for key in chosen]
            if self.comment_count and "comment_count" in include:
                for ticket in tickets:
                    ticket["comment_count"] = len(self.comments[str(ticket["id"])])
            users = {str(t.get(role)): self.users[str(t.get(role))] for t in tickets
                     for role in ("requester_id", "submitter_id", "assignee_id") if str(t.get(role)) in self.users}
        last = (tickets[-1]["generated_timestamp"], _sortable(tickets[-1]["id"])[1]) if tickets else after
        cursor = _token(last[0], last[1])
        body: dict[str, Any] = {"tickets": tickets, "after_cursor": cursor,
                                "after_url": f"{EXPORT_PATH}?cursor={cursor}",
                                "before_cursor": None, "before_url": None,
                                "end_of_stream": len(following) <= per_page}
        if "users" in include:
            body["users"] = list(users.values())
        return Answer(200, body)

    def _comments(self, ticket_id: str, params: dict[str, str]) -> Answer:
        with self._lock:
            ticket = self.tickets.get(ticket_id)
            comments = list(self.comments.get(ticket_id, []))
        if ticket is None or self.is_deleted(ticket):
            return Answer(404, {"error": "RecordNotFound", "description": "Not found"})
        if "page[size]" not in params:  # offset pagination, as Zendesk answers without page[size]
            return Answer(200, {"comments": comments[:100], "next_page": None, "previous_page": None,
                                "count": len(comments)})
        try:
            size = int(params["page[size]"])
        except ValueError:
            size = 0
        if not 1 <= size <= MAX_PAGE_SIZE:
            return Answer(400, {"error": "InvalidPaginationParameter",
                                "description": f"page[size] must be between 1 and {MAX_PAGE_SIZE}"})
        start = 0
        if params.get("page[after]"):
            position = _untoken(params["page[after]"])
            if position is None or len(position) != 1 or not position[0].isdigit():
                return Answer(400, {"error": "InvalidPaginationParameter", "description": "Invalid cursor"})
            start = int(position[0])
        page = comments[start:start + size]
        end = start + len(page)
        has_more = end < len(comments)
        after = _token(end) if page else None
        link = f"/api/v2/tickets/{quote(ticket_id)}/comments.json?page%5Bsize%5D={size}"
        return Answer(200, {"comments": page,
                            "meta": {"has_more": has_more, "after_cursor": after,
                                     "before_cursor": _token(start) if page else None},
                            "links": {"prev": None, "next": f"{link}&page%5Bafter%5D={after}" if has_more else None}})

    def _list(self, params: dict[str, str]) -> Answer:
        """``GET /api/v2/tickets.json``: offset pages; archived (and deleted) tickets are not in it."""
        try:
            page, per_page = max(int(params.get("page", 1)), 1), min(max(int(params.get("per_page", 100)), 1), 100)
        except ValueError:
            return Answer(400, {"error": "InvalidValue"})
        with self._lock:
            listed = [t for t in sorted(self.tickets.values(), key=lambda t: _sortable(t["id"]))
                      if not self.is_deleted(t) and not self.is_archived(t)]
        chosen = listed[(page - 1) * per_page:page * per_page]
        more = page * per_page < len(listed)
        return Answer(200, {"tickets": chosen, "count": len(listed), "previous_page": None,
                            "next_page": f"/api/v2/tickets.json?page={page + 1}&per_page={per_page}" if more else None})


def _sortable(value: Any) -> tuple[int, str]:
    """A ticket id in Zendesk's order: numbers as numbers."""
    return _sortable_text(str(value))


def _sortable_text(text: str) -> tuple[int, str]:
    return (len(text), text) if text.isdigit() else (1 << 30, text) if text else (-1, "")


def _throttled(retry_after: int, headers: dict[str, str]) -> Answer:
    """Zendesk's 429: ``Retry-After`` in seconds and a plain-text body, not JSON."""
    return Answer(429, f"Rate limited. Please retry after {retry_after} seconds.".encode(),
                  {**headers, "Retry-After": str(retry_after)}, content_type="text/plain; charset=utf-8")


def _not_found() -> Answer:
    return Answer(404, {"error": "InvalidEndpoint", "description": "Not found"})


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else Path(__file__).resolve().parents[2] / "samples" / "zendesk_api"
    simulator = ZendeskSimulator.from_dir(folder)
    return serve_until_interrupted(lambda: simulator.start().base_url, simulator.stop, lambda url: (
        f"Zendesk simulator at {url} ({len(simulator.tickets)} tickets); Basic auth {DEMO_EMAIL}/token:{DEMO_TOKEN}."))


if __name__ == "__main__":
    raise SystemExit(main())
