"""Readings (a listing walked by a paginator into a spool), child lookups, and the run that drives them.

A platform declares, per run, a few ``Reading``s: a name (its key in the state), the spool its
records go to, and a paginator that knows the API's paging:

- ``KeysetSearch``: a search sorted ascending on a timestamp, read in queries that each stop after
  a cap (Kustomer: 10,000 records, possibly silently). Each query starts at the newest timestamp
  seen so far and skips the ids already seen at that instant; a query that brings nothing new
  ends the reading, after one probe past that instant proves no millisecond held more than a
  query can return (if one did, it is said loudly, counted, and the reading goes on after it).
- ``CursorListing``: cursor pages (Gorgias ``meta.next_cursor``); a cursor the API no longer
  accepts restarts the listing from its first page (ids already spooled are skipped); a delta
  lists newest first and stops at the first page that reaches back past its start.

``Children`` declares a lookup per record (Kustomer: the customer of each message, once per
id), fetched by a pool of workers while the pages are read, so the rate limit is used instead of
waiting on one answer at a time. ``Extraction.run`` drives it all: one thread per reading, the
workers, a checkpoint every few seconds (spools fsynced, then the state), the progress line with
the achieved rate, and, on any error or Ctrl-C, a last checkpoint before it stops.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from extract.api.store import Spool, State
from extract.context import SourceContext
from extract.errors import ExtractError
from extract.http_client import HttpClient, HttpStatusError, MalformedResponseError

CHECKPOINT_SECONDS = 5.0
CHECKPOINT_PAGES = 5                # a checkpoint every 5 pages too: an fsync per page costs more than it saves
REPORT_SECONDS = 2.0
MAX_PAGES_PER_QUERY = 1000          # a guard against a server whose links.next never ends
EXPIRED_CURSOR_STATUSES = frozenset({400, 404, 410, 422})
MAX_RESTARTS_WITHOUT_PROGRESS = 3


@dataclass
class Page:
    """One page read: its records, where they come from, and how to move the reading past it."""

    items: list[Any]
    where: str
    advance: Callable[[int], None] = lambda new: None  # called with how many records were new
    reject: str | None = None                            # the page could not be read: why
    raw: str | None = None


class Paginator(Protocol):
    def pages(self, client: HttpClient, progress: dict[str, Any], stop: threading.Event) -> Iterator[Page]: ...


@dataclass
class Reading:
    name: str          # its key in the state, e.g. "messages:search"
    spool: str         # the spool its records go to, e.g. "messages"
    paginator: Paginator


@dataclass
class Children:
    """A lookup per record: ``ref(item)`` -> (child id, path) or None; ``fetch`` -> the record to spool."""

    spool: str
    parent: str
    ref: Callable[[Any], tuple[str, str] | None]
    fetch: Callable[[HttpClient, str, str], Any]
    label: str = "children"


# -- time helpers -----------------------------------------------------------------------------------


def parse_instant(value: Any) -> datetime | None:
    """An ISO 8601 timestamp (``Z`` or an offset; a space for the T; none: UTC) as aware UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def to_millis(value: Any) -> int | None:
    instant = parse_instant(value)
    return None if instant is None else int(instant.timestamp() * 1000 + (0.5 if instant.microsecond % 1000 else 0))


def millis_text(millis: int) -> str:
    return datetime.fromtimestamp(millis / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


# -- paginators ---------------------------------------------------------------------------------------


class KeysetSearch:
    """A POST search sorted on a timestamp, walked in capped queries restarted at the newest instant seen.

    ``body(since_text, until_text)`` is the search body for records at or after ``since_text``
    (None: all) and, when ``until_text`` is given, before it (only to count an instant's records).
    The progress saved: ``since_ms`` and ``boundary`` (ids seen at that instant), the queries run,
    ``done``, and ``overflows`` (instants that held more than one query returns).
    """

    def __init__(self, path: str, body: Callable[[str | None, str | None], dict[str, Any]], *,
                 timestamp: Callable[[Any], Any], item_id: Callable[[Any], str | None],
                 warn: Callable[[str], None], page_size: int = 100, label: str = "") -> None:
        self.path = path
        self.body = body
        self.timestamp = timestamp
        self.item_id = item_id
        self.warn = warn
        self.page_size = page_size
        self.label = label or path

    def _post(self, client: HttpClient, since: int | None, page: int, size: int | None = None,
              until: int | None = None) -> Any:
        body = self.body(None if since is None else millis_text(since), None if until is None else millis_text(until))
        return client.request_json("POST", self.path, params={"page": page, "pageSize": size or self.page_size},
                                   body=body).body

    def pages(self, client: HttpClient, progress: dict[str, Any], stop: threading.Event) -> Iterator[Page]:
        progress.setdefault("queries", 0)
        progress.setdefault("overflows", [])
        while not progress.get("done") and not stop.is_set():
            since: int | None = progress.get("since_ms")
            boundary = set(progress.get("boundary", []))
            progress["queries"] += 1
            query = progress["queries"]
            state = {"newest": since, "at_newest": set(boundary), "fresh": 0}
            for page in range(1, MAX_PAGES_PER_QUERY + 1):
                where = f"{self.label} query {query} page {page}"
                try:
                    body = self._post(client, since, page)
                except MalformedResponseError as error:
                    yield Page([], where, reject=str(error))
                    continue  # the next page of the same query: the records of this one are lost, counted
                data = body.get("data") if isinstance(body, dict) else None
                if not isinstance(data, list):
                    yield Page([], where, reject="the page has no data array", raw=str(body)[:500])
                    continue
                for item in data:
                    self._note(item, since, boundary, state)
                newest, at_newest = state["newest"], sorted(state["at_newest"])
                yield Page(data, where, advance=lambda new, n=newest, b=at_newest: progress.update(
                    since_ms=n, boundary=b))
                links = body.get("links") if isinstance(body.get("links"), dict) else {}
                if not data or not links.get("next"):
                    break
            if state["fresh"] or stop.is_set():
                continue  # the next query starts at the newest instant seen
            if since is None:
                progress["done"] = True
                break
            self._probe(client, since, len(boundary), progress)

    def _note(self, item: Any, since: int | None, boundary: set[str], state: dict[str, Any]) -> None:
        millis = to_millis(self.timestamp(item))
        if millis is None:
            return
        item_id = self.item_id(item) or ""
        if since is None or millis > since or (millis == since and item_id not in boundary):
            state["fresh"] += 1
        if state["newest"] is None or millis > state["newest"]:
            state["newest"], state["at_newest"] = millis, {item_id}
        elif millis == state["newest"]:
            state["at_newest"].add(item_id)

    def _probe(self, client: HttpClient, since: int, read_at_since: int, progress: dict[str, Any]) -> None:
        """Nothing new at or after ``since``: done, unless records exist past it (the instant overflowed)."""
        body = self._post(client, since + 1, 1, size=1)
        data = body.get("data") if isinstance(body, dict) else None
        after = [to_millis(self.timestamp(item)) for item in data or []]
        if not after:
            progress["done"] = True
            return
        if any(m is None or m <= since for m in after):
            raise ExtractError(f"Kustomer: {self.label} ignored its {millis_text(since + 1)} start criterion"
                               " (it answered older records): cannot page past its cap; stopping")
        # how many records that millisecond holds: meta.total of a search of it alone, if the API says
        counted = self._post(client, since, 1, size=1, until=since + 1)
        meta = counted.get("meta") if isinstance(counted, dict) and isinstance(counted.get("meta"), dict) else {}
        total = meta.get("total") if isinstance(meta.get("total"), int) else None
        unread = None if total is None else max(total - read_at_since, 0)
        progress["overflows"].append({"at": millis_text(since), "read": read_at_since, "unread": unread})
        self.warn(f"WARNING: more records share the instant {millis_text(since)} than one {self.label} query"
                  f" returns: {read_at_since:,} of them were read, "
                  + (f"{unread:,} could not be" if unread is not None else "an unknown number could not be")
                  + "; the reading goes on after that millisecond (see docs/sources/kustomer.md, 'Caveats')")
        progress.update(since_ms=since + 1, boundary=[])


class CursorListing:
    """``GET path?limit=&order_by=&cursor=`` pages with ``meta.next_cursor``; optional stop before a time.

    Progress saved: ``cursor``, ``pages``, ``done``, ``restarts``.
    """

    def __init__(self, path: str, order_by: str, *, service: str, warn: Callable[[str], None],
                 page_size: int = 100, reached: Callable[[list[Any]], bool] | None = None) -> None:
        self.path = path
        self.order_by = order_by
        self.service = service
        self.warn = warn
        self.page_size = page_size
        self.reached = reached  # a delta: True when a page reaches back past its start

    def pages(self, client: HttpClient, progress: dict[str, Any], stop: threading.Event) -> Iterator[Page]:
        for key, value in (("cursor", None), ("pages", 0), ("done", False), ("restarts", 0)):
            progress.setdefault(key, value)
        while not progress["done"] and not stop.is_set():
            cursor = progress["cursor"]
            try:
                body = client.get_json(self.path, {"limit": self.page_size, "order_by": self.order_by,
                                                   "cursor": cursor})
            except HttpStatusError as error:
                if cursor is None or error.status not in EXPIRED_CURSOR_STATUSES:
                    raise
                if progress["restarts"] + 1 > MAX_RESTARTS_WITHOUT_PROGRESS:
                    raise ExtractError(f"{self.service}: GET {self.path} kept refusing fresh cursors "
                                       f"(HTTP {error.status}); run again later") from None
                progress["restarts"] += 1
                self.warn(f"{self.path}: the cursor expired (HTTP {error.status}); restarting the listing from"
                          " its first page, skipping the records already fetched")
                progress.update(cursor=None, pages=0)
                continue
            data, next_cursor = self._parts(body)
            number = progress["pages"] + 1
            done = next_cursor is None or (self.reached is not None and self.reached(data))

            def advance(new: int, n: int = number, c: str | None = next_cursor, d: bool = done) -> None:
                progress.update(pages=n, cursor=c, done=d, restarts=0 if new else progress["restarts"])

            order = "" if self.reached is None else " (newest first)"
            yield Page(data, f"GET {self.path} page {number}{order}", advance=advance)

    def _parts(self, page: Any) -> tuple[list[Any], str | None]:
        """A list page's items and next cursor (None on the last page); any other shape stops the run."""
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise ExtractError(f"{self.service}: GET {self.path} answered something that is not a list page "
                               "(no 'data' array); is base_url the account's https://<domain>.gorgias.com?")
        meta = page.get("meta")
        if not isinstance(meta, dict) or "next_cursor" not in meta:
            raise ExtractError(f"{self.service}: GET {self.path} answered a page without meta.next_cursor: "
                               "cannot tell whether more pages follow, so the import stops rather than miss them")
        next_cursor = meta["next_cursor"]
        return page["data"], next_cursor if isinstance(next_cursor, str) and next_cursor else None


# -- the run ----------------------------------------------------------------------------------------


@dataclass
class Counts:
    pages: int = 0
    new: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    rejected_pages: int = 0


class Extraction:
    """Drive readings and child lookups into spools, checkpointing; see the module doc."""

    def __init__(self, ctx: SourceContext, client: HttpClient, state: State, spools: dict[str, Spool],
                 rejects: Spool, *, workers: int = 8, children: Children | None = None) -> None:
        self.ctx = ctx
        self.client = client
        self.state = state
        self.spools = spools
        self.rejects = rejects
        self.children = children
        self.workers = workers if children else 0
        self.counts = Counts()
        self.stop = threading.Event()
        self._commit = threading.Lock()      # a page's records and its progress move together
        self._errors: list[BaseException] = []
        self._pending: queue.Queue[tuple[str, str] | None] = queue.Queue()  # at most one entry per child id
        self._requested: set[str] = set()
        self._requested_lock = threading.Lock()
        self._children_done = 0

    # -- child lookups ----------------------------------------------------------------------------

    def queue_children_of(self, item: Any) -> None:
        """Called for every parent record, spooled before or now: its child, if not fetched yet."""
        assert self.children is not None
        ref = self.children.ref(item)
        if ref is None:
            return
        child_id, link = ref
        with self._requested_lock:
            if child_id in self._requested or {"id": child_id} in self.spools[self.children.spool]:
                return
            self._requested.add(child_id)
        self._pending.put((child_id, link))

    def _worker(self) -> None:
        assert self.children is not None
        spool = self.spools[self.children.spool]
        while not self.stop.is_set():
            try:
                job = self._pending.get(timeout=0.2)
            except queue.Empty:
                continue
            if job is None:
                return
            child_id, link = job
            try:
                record = self.children.fetch(self.client, child_id, link)
                spool.add(link, record)
                with self._requested_lock:
                    self._children_done += 1
            except BaseException as error:  # noqa: BLE001 - handed to the main thread
                self._fail(error)
                return
            finally:
                self._pending.task_done()

    # -- readings -----------------------------------------------------------------------------------

    def _read_all(self, readings: list[Reading]) -> None:
        for reading in readings:
            if not self.stop.is_set():
                self._read(reading)

    def _read(self, reading: Reading) -> None:
        if self.state.reading(reading.name).get("done"):
            return
        spool = self.spools[reading.spool]
        progress = self.state.reading(reading.name)
        try:
            for page in reading.paginator.pages(self.client, progress, self.stop):
                parents = []
                with self._commit:
                    if page.reject is not None:
                        self.rejects.add(page.where, {"reason": "malformed_page", "detail": page.reject,
                                                      "where": page.where, "raw": page.raw})
                        self.counts.rejected_pages += 1
                    new = 0
                    for index, item in enumerate(page.items, start=1):
                        if spool.add(f"{page.where}, item {index}", item):
                            new += 1
                            parents.append(item)
                        else:
                            self.counts.skipped += 1
                    page.advance(new)
                    self.counts.pages += 1
                    self.counts.new[reading.spool] = self.counts.new.get(reading.spool, 0) + new
                if self.children is not None and reading.spool == self.children.parent:
                    for item in parents:
                        self.queue_children_of(item)
                if self.stop.is_set():
                    return
                if self.counts.pages % CHECKPOINT_PAGES == 0:
                    self.checkpoint()
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            self._fail(error)

    def _fail(self, error: BaseException) -> None:
        self._errors.append(error)
        self.stop.set()

    # -- driving ------------------------------------------------------------------------------------

    def run(self, readings: list[Reading], report: Callable[[], str], sequential: bool = False) -> None:
        """Read everything (the readings one after the other if ``sequential``, else at once); the last
        checkpoint is taken however it ends. Raises the first error."""
        groups = [readings] if sequential else [[r] for r in readings]
        threads = [threading.Thread(target=self._read_all, args=(group,), name=f"read-{group[0].name}", daemon=True)
                   for group in groups]
        workers = [threading.Thread(target=self._worker, name=f"child-{n}", daemon=True)
                   for n in range(self.workers)]
        for thread in (*threads, *workers):
            thread.start()
        last_checkpoint = last_report = time.monotonic()
        try:
            while not self.stop.is_set():
                readers_alive = any(t.is_alive() for t in threads)
                if not readers_alive and self._pending.unfinished_tasks == 0:
                    break
                if not readers_alive and all(not w.is_alive() for w in workers) and not self._pending.empty():
                    break  # no worker left (they failed): the error is raised below
                time.sleep(0.05)
                now = time.monotonic()
                if now - last_checkpoint >= CHECKPOINT_SECONDS:
                    self.checkpoint()
                    last_checkpoint = now
                if now - last_report >= REPORT_SECONDS:
                    self.ctx.report(report(), done=self.counts.pages, unit="pages")
                    last_report = now
        except BaseException:
            self.stop.set()
            raise
        finally:
            self.stop.set()
            # a few seconds for requests in flight to land; then the checkpoint counts what did
            # (a request still running after it is asked again by the next run: skipped by id)
            until = time.monotonic() + 5.0
            for thread in (*workers, *threads):
                thread.join(timeout=max(until - time.monotonic(), 0.01))
            self.checkpoint()
        if self._errors:
            raise self._errors[0]

    def checkpoint(self) -> None:
        with self._commit:
            for spool in (*self.spools.values(), self.rejects):
                spool.sync()
            self.state.save()

    @property
    def children_done(self) -> int:
        return self._children_done
