"""WindowedSearch against searches that behave in the inconvenient ways a reference allows."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from extract.api.stream import SEARCH_END_MS, WindowedSearch, millis_text, to_millis
from extract.errors import ExtractError


@dataclass
class Answer:
    body: Any


@dataclass
class Search:
    """An in-memory search: records (id, created ms); a page cap, a record cap, a total cap, an order."""

    records: list[tuple[str, int]]
    max_pages: int = 100
    record_cap: int | None = 10_000
    total_cap: int | None = 10_000
    send_total: bool = True
    order: str = "stride"            # "stride" (stable, not time), "time", "shuffled" (a new order every page)
    ignore_end: bool = False          # a server that ignores the lt criterion
    asked: list[tuple[int, int, int, int]] = field(default_factory=list)  # (start, end, page, size)

    def request_json(self, method: str, path: str, *, body: Any, params: dict[str, Any]) -> Answer:
        start = to_millis(body["and"][0]["message_created_at"]["gte"])
        end = to_millis(body["and"][1]["message_created_at"]["lt"])
        page, size = params["page"], params["pageSize"]
        self.asked.append((start, end, page, size))
        if page > self.max_pages:
            raise AssertionError(f"page {page} asked: past the hard limit")
        inside = sorted((c, i) for i, c in self.records if start <= c and (self.ignore_end or c < end))
        if self.order == "stride" and len(inside) > 2:
            step = max(int(len(inside) * 0.618), 2) | 1
            while math.gcd(step, len(inside)) != 1:
                step += 2
            inside = [inside[(k * step) % len(inside)] for k in range(len(inside))]
        elif self.order == "shuffled":
            inside = inside[page % 7:] + inside[:page % 7]
        reachable = inside if self.record_cap is None else inside[:self.record_cap]
        chosen = reachable[(page - 1) * size:page * size]
        more = page * size < len(reachable)
        total = len(inside) if self.total_cap is None else min(len(inside), self.total_cap)
        meta = {"total": total} if self.send_total else {}
        return Answer({"meta": meta, "links": {"next": f"?page={page + 1}" if more else None},
                       "data": [{"id": i, "createdAt": millis_text(c)} for c, i in chosen]})


def read(search: Search, page_size: int = 5, query_cap: int = 40, sorted_on: bool = False,
         since: int | None = None) -> tuple[list[str], dict[str, Any], list[str]]:
    said: list[str] = []
    paginator = WindowedSearch("/search", lambda start, end: {"and": [{"message_created_at": {"gte": start}},
                                                                      {"message_created_at": {"lt": end}}]},
                               timestamp=lambda item: item["createdAt"], item_id=lambda item: item["id"],
                               warn=said.append, service="Test", page_size=page_size, max_pages=10,
                               query_cap=query_cap, sorted_on=sorted_on)
    progress: dict[str, Any] = {} if since is None else {"since_ms": since}
    ids: list[str] = []
    for page in paginator.pages(search, progress, threading.Event()):  # type: ignore[arg-type]
        ids += [item["id"] for item in page.items]
        page.advance(len(page.items))
    return ids, progress, said


def history(n: int, *, start: int = 1_500_000_000_000, gap: int = 997, ties: int = 0) -> list[tuple[str, int]]:
    records = [(f"m{k}", start + k * gap) for k in range(n)]
    return records + [(f"t{k}", start + 123_456) for k in range(ties)]


def test_every_record_once_in_windows_each_read_whole_whatever_the_order() -> None:
    records = history(500, ties=30)
    for order in ("stride", "time"):
        search = Search(records, max_pages=10, record_cap=40, total_cap=40, order=order)
        ids, progress, said = read(search)
        assert sorted(set(ids)) == sorted(i for i, _ in records), order
        assert progress["done"] and progress["splits"] > 0 and progress["overflows"] == [] and said == []
        assert max(page for *_, page, _ in search.asked) <= 8  # 40 records at 5 a page: never past the cap


def test_a_window_is_split_as_soon_as_its_total_reaches_the_cap() -> None:
    search = Search(history(300), max_pages=10, record_cap=40, total_cap=None)
    read(search)
    first = search.asked[0]
    assert first[:3] == (0, SEARCH_END_MS, 1)
    assert search.asked[1][2] == 1 and search.asked[1][0:2] != first[0:2]  # one page, then its halves


def test_a_capped_total_is_no_proof_the_window_is_whole() -> None:
    """meta.total capped at 40 while 300 records match: the window is split, not taken as 40 records."""
    records = history(300)
    ids, _, _ = read(Search(records, max_pages=10, record_cap=None, total_cap=40))
    assert sorted(set(ids)) == sorted(i for i, _ in records)


def test_a_smaller_cap_than_assumed_is_seen_from_the_total_and_the_window_split() -> None:
    records = history(300)
    search = Search(records, max_pages=10, record_cap=17, total_cap=None)  # the server stops at 17, silently
    ids, _, _ = read(search, query_cap=40)
    assert sorted(set(ids)) == sorted(i for i, _ in records)


def test_an_unstable_order_is_caught_by_the_total_and_read_in_smaller_windows() -> None:
    records = history(120)
    ids, _, _ = read(Search(records, order="shuffled", total_cap=None, record_cap=None))
    assert sorted(set(ids)) == sorted(i for i, _ in records)


def test_the_page_past_the_hard_limit_is_never_asked_even_without_a_total() -> None:
    records = history(200)
    search = Search(records, max_pages=10, record_cap=None, total_cap=None, send_total=False)
    ids, _, said = read(search, query_cap=10_000)  # 10 pages of 5: the cap is 50 records a query
    assert sorted(set(ids)) == sorted(i for i, _ in records)
    assert max(page for *_, page, _ in search.asked) == 10
    assert any("answers no meta.total" in line for line in said)


def test_a_millisecond_fuller_than_a_query_is_said_loudly_and_counted() -> None:
    records = history(60, ties=55)
    ids, progress, said = read(Search(records, max_pages=10, record_cap=40, total_cap=None))
    assert len(set(ids)) == 60 + 40  # 15 of the 55 sharing one millisecond cannot be read: never silently
    assert progress["overflows"] == [{"at": millis_text(1_500_000_123_456), "read": 40, "unread": 15}]
    assert any(line.startswith("WARNING: more records share the instant") and "40 of them were read, 15 could not"
               in line for line in said)


def test_a_sort_asked_is_checked_and_one_not_honoured_is_said_never_relied_on() -> None:
    records = history(100)
    ids, progress, said = read(Search(records, order="stride", record_cap=40, total_cap=40), sorted_on=True)
    assert sorted(set(ids)) == sorted(i for i, _ in records)
    assert progress["unsorted"] > 0 and sum("not relied on" in line for line in said) == 1
    _, honoured, quiet = read(Search(records, order="time", record_cap=40, total_cap=40), sorted_on=True)
    assert honoured["unsorted"] == 0 and quiet == []


def test_a_server_that_ignores_the_window_stops_the_reading() -> None:
    with pytest.raises(ExtractError, match="does not honour its time criteria"):
        read(Search(history(100), ignore_end=True, record_cap=40, total_cap=40))


def test_an_interrupted_reading_resumes_at_its_pending_windows() -> None:
    records = history(400)
    search = Search(records, max_pages=10, record_cap=40, total_cap=40)
    paginator = WindowedSearch("/search", lambda s, e: {"and": [{"message_created_at": {"gte": s}},
                                                                {"message_created_at": {"lt": e}}]},
                               timestamp=lambda item: item["createdAt"], item_id=lambda item: item["id"],
                               warn=print, page_size=5, max_pages=10, query_cap=40)
    progress: dict[str, Any] = {}
    stop = threading.Event()
    seen: list[str] = []
    for number, page in enumerate(paginator.pages(search, progress, stop), start=1):  # type: ignore[arg-type]
        seen += [item["id"] for item in page.items]
        page.advance(len(page.items))
        if number == 25:
            stop.set()
            break
    assert progress["windows"] and not progress.get("done")
    saved = {**progress, "windows": [list(w) for w in progress["windows"]]}
    for page in paginator.pages(search, saved, threading.Event()):  # type: ignore[arg-type]
        seen += [item["id"] for item in page.items]
        page.advance(len(page.items))
    assert saved["done"] and set(seen) == {i for i, _ in records}


def test_a_delta_starts_its_first_window_at_its_since() -> None:
    records = history(100)
    since = records[60][1]
    search = Search(records)
    ids, _, _ = read(search, since=since)
    assert sorted(set(ids)) == sorted(i for i, c in records if c >= since)
    assert search.asked[0][:2] == (since, SEARCH_END_MS)


def test_a_deltas_watermark_is_the_newest_record_landed_whatever_the_order_and_the_offset() -> None:
    """newest_mark (called a record, on every API source) keeps the newest (time, then id) in milliseconds
    UTC, however the records come and however their times are written; an unparseable time changes nothing."""
    from extract.api.land import newest_mark

    records = [("2021-03-04T15:22:10.123Z", "b"), ("2021-03-04T16:22:10.123+01:00", "c"),  # the same instant
               ("2021-03-04 15:22:10", "a"), ("not a time", "z"), (None, "y"), ("2020-01-01T00:00:00Z", "x"),
               ("2021-03-04T15:22:10.5Z", "d")]
    for order in (records, records[::-1], records[2:] + records[:2]):
        mark = None
        for timestamp, record_id in order:
            mark = newest_mark(mark, timestamp, record_id)
        assert mark == {"newest": millis_text(to_millis("2021-03-04T15:22:10.5Z")), "id": "d"}
        assert mark["newest"] == "2021-03-04T15:22:10.500Z"
    assert newest_mark({"newest": "2021-03-04T15:22:10.123Z", "id": "b"}, "2021-03-04T15:22:10.123Z", "c") == {
        "newest": "2021-03-04T15:22:10.123Z", "id": "c"}
    assert newest_mark({"newest": 17, "id": "b"}, "2021-03-04T15:22:10Z", "a") == {
        "newest": "2021-03-04T15:22:10.000Z", "id": "a"}
