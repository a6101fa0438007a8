"""Readings (a listing walked by a paginator into a spool), child lookups, and the run that drives them.

A platform declares, per run, a few ``Reading``s: a name (its key in the state), the spool its
records go to, and a paginator that knows the API's paging:

- ``WindowedSearch``: a search read in time windows bounded on both sides, each read whole in
  whatever stable order the server gives (no sort relied on); a window that may hold more than one
  query returns (Kustomer: 100 pages, 10,000 records, possibly silently) is split in two and each
  half read; a millisecond still too full is said loudly and counted, never silently cut.
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
from collections.abc import Callable, Iterator, Mapping
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
    sideloads: dict[str, list[Any]] = field(default_factory=dict)  # spool -> records the page side-loaded


class Paginator(Protocol):
    def pages(self, client: HttpClient, progress: dict[str, Any], stop: threading.Event) -> Iterator[Page]: ...


@dataclass
class Reading:
    name: str          # its key in the state, e.g. "messages:search"
    spool: str         # the spool its records go to, e.g. "messages"
    paginator: Paginator


@dataclass
class Children:
    """A lookup per record: ``ref(item)`` -> (child id, path) or None; ``fetch`` -> the record to spool.

    ``ends``: ``fetch`` yields the child's records instead (a listing of several pages: Zendesk's
    comments of a ticket), each spooled as it comes, and last a record whose key is the child id and
    that says how the lookup went: it goes to the ``ends`` spool, and the lookup is complete once it
    is spooled. A lookup cut short by a kill is fetched again by the next run (the records it
    spooled are skipped by their keys). A child id that changes when the parent does (a ticket's id
    and its update time) is looked up again when a delta lists the parent changed.
    """

    spool: str
    parent: str
    ref: Callable[[Any], tuple[str, str] | None]
    fetch: Callable[[HttpClient, str, str], Any]
    label: str = "children"
    ends: str | None = None

    @property
    def done_spool(self) -> str:
        """The spool that holds a record keyed by the child id once the lookup is complete."""
        return self.ends or self.spool


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


# The upper bound of a windowed search's first window: after any record's timestamp (a message
# dated in the future by a wrong clock is read too).
SEARCH_END_MS = to_millis("3000-01-01T00:00:00Z") or 0


# -- paginators ---------------------------------------------------------------------------------------


class WindowedSearch:
    """A POST search read in time windows ``[start, end)`` (milliseconds), each read whole, split when full.

    ``body(start_text, end_text)`` is the search body for the records created at or after the
    first and before the second. A window is read page by page (``page_size`` records, at most
    ``max_pages`` pages: page ``max_pages + 1`` is never asked), in whatever order the server gives,
    each id once. It may hold more than one query returns, and is then split in two halves read in
    turn, when: its ``meta.total`` is at or above ``query_cap`` (a total may itself be capped: at
    the cap it proves nothing), it came back full (``query_cap`` records, or a next page after the
    last allowed), or it ended with fewer distinct records than its ``meta.total`` says (a smaller
    cap than assumed, an unstable order). A one-millisecond window cannot be split: still full, it
    is said loudly and counted (``overflows``), with what it could not read. Records outside their
    window prove the server ignores the criteria: the reading stops rather than loop.

    ``sorted_on``: the body asks for a sort on the timestamp; each page is checked and a sort not
    honoured is said (``unsorted``), never relied on (nothing here depends on the order).

    Progress saved: ``windows`` (pending, the next one last), ``queries`` (windows started),
    ``splits``, ``overflows``, ``unsorted``, ``done``; a delta sets ``since_ms`` before the first page.
    A window interrupted is read again from its first page (its records are skipped by id).
    """

    def __init__(self, path: str, body: Callable[[str, str], dict[str, Any]], *,
                 timestamp: Callable[[Any], Any], item_id: Callable[[Any], str | None],
                 warn: Callable[[str], None], service: str = "the API", page_size: int = 500, max_pages: int = 100,
                 query_cap: int = 10_000, sorted_on: bool = False, end_ms: int = SEARCH_END_MS,
                 label: str = "") -> None:
        self.path = path
        self.body = body
        self.timestamp = timestamp
        self.item_id = item_id
        self.warn = warn
        self.service = service
        self.page_size = page_size
        self.max_pages = max_pages
        self.cap = min(query_cap, page_size * max_pages)
        self.sorted_on = sorted_on
        self.end_ms = end_ms
        self.label = label or f"POST {path}"

    def pages(self, client: HttpClient, progress: dict[str, Any], stop: threading.Event) -> Iterator[Page]:
        for key, value in (("queries", 0), ("splits", 0), ("overflows", []), ("unsorted", 0)):
            progress.setdefault(key, value)
        progress.setdefault("windows", [[int(progress.get("since_ms") or 0), self.end_ms]])
        while progress["windows"] and not stop.is_set():
            start, end = progress["windows"][-1]
            progress["queries"] += 1
            yield from self._window(client, progress, start, end)
        if not progress["windows"]:
            progress["done"] = True

    def _window(self, client: HttpClient, progress: dict[str, Any], start: int, end: int) -> Iterator[Page]:
        ids: set[str] = set()
        total: int | None = None
        rejected = 0
        newest: int | None = None  # the sort check: the newest timestamp of the window so far
        span = f"{millis_text(start)}/{millis_text(end)}"
        for number in range(1, self.max_pages + 1):
            # spaces between the bounds: a position people read (the report, a spreadsheet) can wrap
            where = f"{self.label} window from {millis_text(start)} to {millis_text(end)}, page {number}"
            try:
                body = client.request_json("POST", self.path, body=self.body(millis_text(start), millis_text(end)),
                                           params={"page": number, "pageSize": self.page_size}).body
            except MalformedResponseError as error:
                rejected += 1
                yield Page([], where, reject=str(error))
                continue  # the next page of the same window: this one's records are lost, counted
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list):
                rejected += 1
                yield Page([], where, reject="the page has no data array", raw=str(body)[:500])
                continue
            meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
            if isinstance(meta.get("total"), int) and not isinstance(meta.get("total"), bool):
                total = meta["total"]
            elif total is None and number == 1 and not progress.get("untotalled"):
                progress["untotalled"] = True
                self.warn(f"note: {self.label} answers no meta.total: a window that ends below"
                          f" {self.cap:,} records is taken as whole")
            stamps = [to_millis(self.timestamp(item)) for item in data]
            outside = next((m for m in stamps if m is not None and not start <= m < end), None)
            if outside is not None:
                raise ExtractError(f"{self.service}: {self.label} answered a record created at {millis_text(outside)}"
                                   f" for the window {span}: it does not honour its time criteria, so the history"
                                   " cannot be read in windows; stopping")
            if self.sorted_on:
                newest = self._check_order(stamps, newest, progress, where)
            ids.update(self.item_id(item) or f"#{number}.{index}" for index, item in enumerate(data))
            links = body.get("links") if isinstance(body.get("links"), dict) else {}
            last = not data or not links.get("next")
            splittable = end - start > 1
            if total is not None and total >= self.cap and splittable:
                outcome = "split"  # already known from its total: no need to read the rest
            elif last or number == self.max_pages:
                full = (not last) or len(ids) >= self.cap or (total is not None and (
                    total >= self.cap or total > len(ids) + rejected * self.page_size))
                outcome = ("split" if splittable else "overflow") if full else "whole"
            else:
                outcome = ""
            read = len(ids)
            yield Page(data, where, advance=lambda new, o=outcome, n=read, t=total: self._advance(
                progress, o, start, end, n, t))
            if outcome:
                return

    def _check_order(self, stamps: list[int | None], newest: int | None, progress: dict[str, Any],
                     where: str) -> int | None:
        """Whether a page continues the window in ascending order; the last timestamp seen."""
        sequence = ([newest] if newest is not None else []) + [m for m in stamps if m is not None]
        if any(a > b for a, b in zip(sequence, sequence[1:], strict=False)):
            progress["unsorted"] += 1
            if progress["unsorted"] == 1:
                self.warn(f"note: {self.label} was asked to sort on its timestamp and answered {where} out of"
                          " order: the sort is not relied on (every window is read whole, in any order)")
        return sequence[-1] if sequence else None

    def _advance(self, progress: dict[str, Any], outcome: str, start: int, end: int, read: int,
                 total: int | None) -> None:
        """The window's last page is spooled: move the reading past it (split it, or say what it hides)."""
        if not outcome:
            return
        progress["windows"].pop()
        if outcome == "split":
            middle = start + (end - start) // 2
            progress["windows"] += [[middle, end], [start, middle]]
            progress["splits"] += 1
        elif outcome == "overflow":
            unread = total - read if total is not None and total > read else None
            progress["overflows"].append({"at": millis_text(start), "read": read, "unread": unread})
            self.warn(f"WARNING: more records share the instant {millis_text(start)} than one {self.label} query"
                      f" returns: {read:,} of them were read, "
                      + (f"{unread:,} could not be" if unread is not None else "an unknown number could not be")
                      + "; the reading goes on after that millisecond (see docs/sources/kustomer.md, 'Caveats')")


@dataclass(frozen=True)
class CursorPages:
    """The shape of a cursor-paged listing: where a page keeps its records, how it says what comes next,
    how a request names the cursor and the page size, and which other records it side-loads.

    ``follow(page)`` -> (the cursor of the next page, whether this page is the last), or None when the
    page does not say (the run stops rather than miss pages); ``says`` names what it reads, for that
    error. The default is ``meta.next_cursor``, null on the last page (Gorgias).
    """

    records: str = "data"
    follow: Callable[[dict[str, Any]], tuple[str | None, bool] | None] = field(
        default=lambda page: _next_cursor_in_meta(page))
    says: str = "meta.next_cursor"
    cursor_param: str = "cursor"
    size_param: str | None = "limit"
    sideloads: Mapping[str, str] = field(default_factory=dict)  # key of side-loaded records -> their spool
    hint: str = ""  # what to check when a page has another shape (e.g. the base_url)

    def parts(self, page: Any, what: str) -> tuple[list[Any], str | None, bool]:
        """(records, next cursor, last) of one page; any other shape stops the run (``what``: the request)."""
        if not isinstance(page, dict) or not isinstance(page.get(self.records), list):
            raise ExtractError(f"{what} answered something that is not a list page (no '{self.records}' array)"
                               + (f"; {self.hint}" if self.hint else ""))
        followed = self.follow(page)
        if followed is None:
            raise ExtractError(f"{what} answered a page without {self.says}: cannot tell whether more pages"
                               " follow, so the import stops rather than miss them")
        cursor, last = followed
        return page[self.records], cursor if isinstance(cursor, str) and cursor else None, last

    def side(self, page: dict[str, Any]) -> dict[str, list[Any]]:
        """The side-loaded records of a page, by spool."""
        return {spool: page[key] for key, spool in self.sideloads.items() if isinstance(page.get(key), list)}


def _next_cursor_in_meta(page: dict[str, Any]) -> tuple[str | None, bool] | None:
    meta = page.get("meta")
    if not isinstance(meta, dict) or "next_cursor" not in meta:
        return None
    cursor = meta["next_cursor"]
    return cursor, not (isinstance(cursor, str) and cursor)


def cursor_pages(client: HttpClient, path: str, shape: CursorPages, *, service: str, page_size: int,
                 params: Mapping[str, Any] | None = None) -> Iterator[tuple[list[Any], dict[str, Any]]]:
    """Every page of a cursor listing, from its first: (records, page). For a child lookup that reads a
    whole listing per record (Zendesk: the comments of a ticket); a reading uses ``CursorListing``."""
    cursor: str | None = None
    while True:
        page = client.get_json(path, {**(params or {}), shape.cursor_param: cursor,
                                      **({shape.size_param: page_size} if shape.size_param else {})})
        records, cursor, last = shape.parts(page, f"{service}: GET {path}")
        yield records, page
        if last or cursor is None:
            return


class CursorListing:
    """``GET path?limit=&order_by=&cursor=`` pages (their ``shape``: ``CursorPages``); optional stop before a time.

    ``params``: more query parameters of every page (Gorgias' tickets: ``trashed=true``); ``start``:
    those of the first page only (Zendesk's exports: ``start_time``); a page's side-loaded records go
    to their own spools with it. Progress saved: ``cursor`` (after the last page: the cursor it gave,
    where a later delta can start), ``pages``, ``done``, ``restarts``.
    """

    def __init__(self, path: str, order_by: str | None, *, service: str, warn: Callable[[str], None],
                 page_size: int = 100, reached: Callable[[list[Any]], bool] | None = None,
                 params: Mapping[str, Any] | None = None, start: Mapping[str, Any] | None = None,
                 shape: CursorPages | None = None) -> None:
        self.path = path
        self.order_by = order_by
        self.params = dict(params or {})
        self.start = dict(start or {})
        self.service = service
        self.warn = warn
        self.page_size = page_size
        self.reached = reached  # a delta: True when a page reaches back past its start
        self.shape = shape or CursorPages(hint="is base_url the account's https://<domain>.gorgias.com?")

    def pages(self, client: HttpClient, progress: dict[str, Any], stop: threading.Event) -> Iterator[Page]:
        for key, value in (("cursor", None), ("pages", 0), ("done", False), ("restarts", 0)):
            progress.setdefault(key, value)
        shape = self.shape
        while not progress["done"] and not stop.is_set():
            cursor = progress["cursor"]
            params = {**self.params, **({shape.size_param: self.page_size} if shape.size_param else {}),
                      **({"order_by": self.order_by} if self.order_by else {}),
                      **({shape.cursor_param: cursor} if cursor is not None else self.start)}
            try:
                body = client.get_json(self.path, params)
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
            data, next_cursor, last = shape.parts(body, f"{self.service}: GET {self.path}")
            number = progress["pages"] + 1
            done = last or next_cursor is None or (self.reached is not None and self.reached(data))

            def advance(new: int, n: int = number, c: str | None = next_cursor, d: bool = done) -> None:
                progress.update(pages=n, cursor=c, done=d, restarts=0 if new else progress["restarts"])

            order = "" if self.reached is None else " (newest first)"
            yield Page(data, f"GET {self.path} page {number}{order}", advance=advance, sideloads=shape.side(body))

    def _parts(self, page: Any) -> tuple[list[Any], str | None]:
        """A list page's items and next cursor (None on the last page); any other shape stops the run."""
        data, cursor, last = self.shape.parts(page, f"{self.service}: GET {self.path}")
        return data, None if last else cursor


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
            if child_id in self._requested or {"id": child_id} in self.spools[self.children.done_spool]:
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
                fetched = self.children.fetch(self.client, child_id, link)
                if self.children.ends is None:
                    spool.add(link, fetched)
                elif not self._spool_lookup(fetched, link):
                    continue  # stopping: the lookup is fetched again by the next run
                with self._requested_lock:
                    self._children_done += 1
            except BaseException as error:  # noqa: BLE001 - handed to the main thread
                self._fail(error)
                return
            finally:
                self._pending.task_done()

    def _spool_lookup(self, records: Iterator[Any], where: str) -> bool:
        """A lookup of several records: each into the child spool as it comes, the last into ``ends``."""
        assert self.children is not None and self.children.ends is not None
        spool, ends = self.spools[self.children.spool], self.spools[self.children.ends]
        last = None
        for record in records:
            if last is not None:
                spool.add(where, last[0])
            last = (record,)
            if self.stop.is_set():
                return False
        if last is not None:
            ends.add(where, last[0])
        return True

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
                    for name, records in page.sideloads.items():
                        added = sum(self.spools[name].add(f"{page.where}, {name} {index}", record)
                                    for index, record in enumerate(records, start=1))
                        self.counts.new[name] = self.counts.new.get(name, 0) + added
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
