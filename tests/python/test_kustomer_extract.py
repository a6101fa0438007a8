"""Kustomer extraction over real HTTP against the local simulator: searches, caps, counts, faults, resume, secrets."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.generate_kustomer import generate
from extract import kustomer
from extract.context import SourceContext
from extract.errors import AuthError, ExtractError
from extract.http_client import HttpClient
from extract.simulators.kustomer import Faults, KustomerSimulator
from tests.python.kustomer_helpers import (
    KEY,
    PROJECT_DIR,
    cli_command,
    cli_env,
    run_cli,
    run_extract,
    write_config,
)


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real retries, short waits: the tests would otherwise sleep for seconds per retry."""
    monkeypatch.setitem(kustomer.CLIENT_OPTIONS, "backoff_base", 0.01)
    monkeypatch.setitem(kustomer.CLIENT_OPTIONS, "backoff_max", 0.05)
    monkeypatch.setitem(kustomer.CLIENT_OPTIONS, "timeout", 5.0)


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> list[HttpClient]:
    """The clients the extractor makes, to read their counters."""
    made: list[HttpClient] = []
    original = kustomer.Kustomer.client

    def spy(self: kustomer.Kustomer, *args: Any) -> HttpClient:
        made.append(original(self, *args))
        return made[-1]

    monkeypatch.setattr(kustomer.Kustomer, "client", spy)
    return made


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("kustomer-data")
    return folder, generate(folder, 730, seed=11)  # 8 pages of 100, all older than 2 years: archive search


# The searches' budget (95 a minute, spaced evenly) is tested on its own (the progress line, the
# budget test, the acceptance run); elsewhere it would only make each window wait 0.63 s.
UNHURRIED_SEARCHES = {"search_requests_per_minute": 6000}


def options(sim: KustomerSimulator, **extra: Any) -> dict[str, Any]:
    return {"base_url": sim.base_url, "api_key_env": "KUSTOMER_API_KEY", **UNHURRIED_SEARCHES, **extra}


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("KUSTOMER_API_KEY", KEY)
    return KEY


def sorted_rows(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (r[key] or "", r.get("position") or 0))


def searches_of(sim: KustomerSimulator) -> list[tuple[str, str, str]]:
    """(path without the query, the gte and the lt of its body) of every search the simulator answered."""
    paths = [path.split("?")[0] for path, _ in sim.log if "/search" in path]
    windows = [(s["and"][0]["message_created_at"]["gte"], s["and"][1]["message_created_at"]["lt"])
               for s in sim.searches]
    return [(path, *window) for path, window in zip(paths, windows, strict=True)]


def test_every_message_once_through_both_searches_and_each_customer_once(
        tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, figures = dataset
    with KustomerSimulator(folder, api_key=api_key) as sim:
        result = run_extract(tmp_path, options(sim))
    ids = result.message_ids()
    assert len(ids) == len(set(ids)) == 730
    assert sim.by_kind["customer"] == figures["customers_referenced"]
    customer_paths = [path for path, _ in sim.log if path.startswith("/v1/customers/") and "search" not in path]
    assert len(customer_paths) == len(set(customer_paths)), "a customer was fetched twice"
    # Issue 28 changed these counts: pages of 500 and one window holding every message (730 < 10,000):
    # archive: 2 pages; standard search: 1 empty page. /v1/messages is not used.
    assert sim.by_kind["archive"] == 2 and sim.by_kind["search"] == 1 and sim.by_kind["messages"] == 0
    assert all(p.endswith("pageSize=500") for p, _ in sim.log if "/search" in p)
    # a sort only where the reference lists message_created_at as sortable: the archive search
    archive, standard = ([s for path, s in zip([p for p, _ in sim.log if "/search" in p], sim.searches, strict=True)
                          if ("archive" in path) == side] for side in (True, False))
    assert all(s["sort"] == [{"message_created_at": "asc"}] and s["queryContext"] == "message" for s in archive)
    assert all("sort" not in s and s["queryContext"] == "message" for s in standard)
    assert {(start, end) for _, start, end in searches_of(sim)} == {(kustomer.EPOCH, "3000-01-01T00:00:00.000Z")}


def test_a_capped_search_is_split_into_windows_each_read_whole(
        tmp_path: Path, dataset: tuple, api_key: str) -> None:
    """Issue 28 replaced the keyset (queries restarted at the newest instant) by windows bounded on both
    sides, split in two while a query cannot hold them: this test asserts the windows."""
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=api_key, query_cap=200) as sim:  # 730 messages, 200 a query
        result = run_extract(tmp_path, options(sim))
    ids = result.message_ids()
    assert len(ids) == len(set(ids)) == 730
    archive = [(start, end) for path, start, end in searches_of(sim) if "archive" in path]
    assert archive[0] == (kustomer.EPOCH, "3000-01-01T00:00:00.000Z")
    created = sorted(row["created_at"] for row in result.tables["messages"])
    # the windows read whole (those that are not halved again) tile the history: no gap, no overlap
    windows = set(archive)  # ISO texts of one width: their order is time order
    leaves = sorted(w for w in windows if not any(o != w and w[0] <= o[0] and o[1] <= w[1] for o in windows))
    assert leaves[0][0] == kustomer.EPOCH and leaves[-1][1] == "3000-01-01T00:00:00.000Z"
    assert all(a[1] == b[0] for a, b in zip(leaves, leaves[1:], strict=False))
    assert all(sum(1 for c in created if start <= c < end) <= 200 for start, end in leaves)
    assert len(leaves) >= 4  # at least ceil(730 / 200) windows


def test_hundreds_sharing_one_millisecond_across_a_window_boundary_are_each_read_once(
        tmp_path: Path, api_key: str) -> None:
    folder = tmp_path / "ties"
    generate(folder, 600, seed=3, ties=250)  # 250 messages at one millisecond, across windows of 100
    with KustomerSimulator(folder, api_key=api_key, query_cap=300) as sim:
        result = run_extract(tmp_path / "work", options(sim))
    ids = result.message_ids()
    assert len(ids) == len(set(ids)) == 600
    assert "WARNING" not in result.progress


def test_a_millisecond_holding_more_than_the_cap_is_said_loudly_and_counted(tmp_path: Path, api_key: str) -> None:
    folder = tmp_path / "burst"
    generate(folder, 500, seed=4, ties=260)
    with KustomerSimulator(folder, api_key=api_key, query_cap=200) as sim:
        result = run_extract(tmp_path / "work", options(sim))
    ids = result.message_ids()
    assert len(ids) == len(set(ids)) == 500 - 60  # the cap hides 60 of the 260: never silently
    warning = next(line for line in result.progress.splitlines() if "WARNING: more records share the instant" in line)
    assert "200 of them were read, 60 could not be" in warning
    assert "1 millisecond(s) held more messages than one query returns, 60 message(s) could not be read" \
        in result.progress


def test_old_and_recent_messages_come_from_the_archive_and_the_standard_search(tmp_path: Path, api_key: str) -> None:
    folder = tmp_path / "mixed"
    start = datetime.now(UTC) - timedelta(days=4 * 365)
    generate(folder, 400, seed=8, start=start, gap_ms=(3_000_000, 10_000_000_00))
    with KustomerSimulator(folder, api_key=api_key) as sim:
        result = run_extract(tmp_path / "work", options(sim))
    assert len(set(result.message_ids())) == len(result.message_ids()) == 400
    recent = [p for p, _ in sim.log if p.startswith("/v1/customers/search")]
    archived = [p for p, _ in sim.log if p.startswith("/v1/customers/archive/search")]
    assert recent and archived
    assert sim.store.index["search"][0] and sim.store.index["archive"][0]  # both hold messages


def test_injected_429s_500s_drops_and_slow_answers_end_with_the_same_data(
        tmp_path: Path, dataset: tuple, api_key: str, monkeypatch: pytest.MonkeyPatch,
        clients: list[HttpClient]) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=api_key) as sim:
        clean = run_extract(tmp_path / "clean", options(sim))
    monkeypatch.setitem(kustomer.CLIENT_OPTIONS, "timeout", 0.5)
    faults = Faults(status_on_request={2: 500, 3: 429, 6: 503, 14: 500, 40: 502, 41: 500},
                    throttle_requests={17, 50}, drop_requests={9, 30}, slow_requests={20: 1.5},
                    malformed_pages={4: 1})
    with KustomerSimulator(folder, api_key=api_key, faults=faults, rate_limit=6000) as sim:
        faulty = run_extract(tmp_path / "faulty", options(sim))
    client = clients[-1]
    assert sim.by_status[429] >= 3 and sim.by_status[500] >= 3  # bare and real 429s, 5xx all happened
    for table in ("messages", "customers", "customer_emails", "customer_phones"):
        key = "message_id" if table == "messages" else "customer_id"
        strip = [{k: v for k, v in row.items() if not k.startswith("_")} for row in faulty.tables[table]]
        clean_rows = [{k: v for k, v in row.items() if not k.startswith("_")} for row in clean.tables[table]]
        assert sorted_rows(strip, key) == sorted_rows(clean_rows, key), table
    assert faulty.rejects == clean.rejects == []
    # every request the server saw was sent; a request timed out before the server read it is a
    # connection error of the client (the machine may be loaded: 0.5 s is a short timeout)
    assert sim.requests <= client.stats.requests <= sim.requests + client.stats.connection_errors


def test_a_bare_429_without_headers_is_retried(tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=api_key, faults=Faults(status_on_request={1: 429, 2: 429})) as sim:
        result = run_extract(tmp_path, options(sim))
    assert len(result.tables["messages"]) == 730 and sim.by_status[429] == 2


def test_requests_per_minute_budget_is_respected(tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=api_key) as sim:
        run_extract(tmp_path, options(sim, requests_per_minute=3000))  # one request every 20 ms
    times = sorted(sim.request_times)
    assert len(times) > 90
    # spaced 20 ms apart when sent; arrival jitter of a few ms at most adds one to a window
    assert all(sum(1 for t in times if start <= t < start + 1.0) <= 51 for start in times)
    assert (times[-1] - times[0]) >= (len(times) - 1) * 0.02 * 0.95


def test_interrupted_run_resumes_with_every_message_exactly_once(
        tmp_path: Path, dataset: tuple, api_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _ = dataset
    calls = {"n": 0}
    real = HttpClient.request_json

    def interrupted(self: HttpClient, method: str, path: str, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt  # Ctrl-C amid the searches
        return real(self, method, path, **kwargs)

    monkeypatch.setattr(kustomer, "CHECKPOINT_SECONDS", 0.0, raising=False)
    with KustomerSimulator(folder, api_key=api_key, query_cap=200) as sim:
        monkeypatch.setattr(HttpClient, "request_json", interrupted)
        with pytest.raises(KeyboardInterrupt):
            run_extract(tmp_path, options(sim))
        monkeypatch.setattr(HttpClient, "request_json", real)
        first = len(sim.searches)
        result = run_extract(tmp_path, options(sim))
    resumed = [s["and"][0]["message_created_at"]["gte"] for s in sim.searches[first:]]
    assert kustomer.EPOCH not in resumed[:1] or len(set(resumed)) > 1
    assert "resuming the interrupted extraction" in result.progress
    ids = result.message_ids()
    assert len(ids) == len(set(ids)) == 730
    customer_ids = [row["customer_id"] for row in result.tables["customers"]]
    assert len(customer_ids) == len(set(customer_ids))


@pytest.mark.slow
def test_killed_run_resumes_with_every_message_exactly_once(tmp_path: Path, dataset: tuple, api_key: str) -> None:
    """SIGKILL a real `python -m gladly_import` mid-extraction, then run it again."""
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=KEY, latency=0.02, query_cap=200) as sim:
        config = write_config(tmp_path, {"base_url": sim.base_url})
        process = subprocess.Popen(cli_command(config), cwd=PROJECT_DIR, env=cli_env(KEY),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while sim.by_kind["customer"] < 40 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
        first_customers = sim.by_kind["customer"]
        sim.latency = 0.0
        result = run_extract(tmp_path / "work", {"base_url": sim.base_url})
    assert "resuming the interrupted extraction" in result.progress
    assert sim.by_kind["customer"] - first_customers < len(result.tables["customers"])  # not all again
    ids = result.message_ids()
    assert len(ids) == len(set(ids)) == 730


def test_completed_extraction_is_extracted_afresh_by_default(tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, figures = dataset
    with KustomerSimulator(folder, api_key=api_key) as sim:
        run_extract(tmp_path, options(sim))
        once = sim.requests
        again = run_extract(tmp_path, options(sim))
    assert sim.requests == 2 * once
    assert len(again.message_ids()) == 730 and "extracts the account afresh" in again.progress


def test_reuse_completed_copies_the_last_extraction_without_requests(
        tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=api_key) as sim:
        first = run_extract(tmp_path, options(sim))
        before = sim.requests
        again = run_extract(tmp_path, options(sim, reuse_completed=True))
    assert sim.requests == before
    assert again.message_ids() == first.message_ids()


def test_a_page_that_stays_malformed_is_rejected_and_the_next_page_is_read(
        tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, _ = dataset
    # issue 28: pages of 500 and a window in the position (730 messages: page 2 holds the last 230)
    with KustomerSimulator(folder, api_key=api_key, faults=Faults(malformed_pages={2: 99})) as sim:
        result = run_extract(tmp_path, options(sim))
    assert [r["reject_reason"] for r in result.rejects] == ["malformed_page"]
    assert result.rejects[0]["_source_file"] == "POST /v1/customers/archive/search"
    assert result.rejects[0]["_source_position"] == "window 1970-01-01T00:00:00.000Z/3000-01-01T00:00:00.000Z page 2"
    assert len(result.message_ids()) == 500
    assert result.out.records_rejected == 1  # accounted for, not dropped silently


def test_customer_that_answers_404_is_kept_as_not_found(tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=api_key) as sim:
        result = run_extract(tmp_path, options(sim))
    statuses = Counter(row["fetch_status"] for row in result.tables["customers"])
    assert statuses["not_found"] >= 1 and statuses["ok"] > 50


def test_bad_key_stops_with_a_clear_message(tmp_path: Path, dataset: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _ = dataset
    monkeypatch.setenv("KUSTOMER_API_KEY", "wrong-key-123")
    with KustomerSimulator(folder, api_key=KEY) as sim, pytest.raises(AuthError) as raised:
        run_extract(tmp_path, options(sim))
    assert "Kustomer rejected the API key in KUSTOMER_API_KEY (HTTP 401" in str(raised.value)
    assert "wrong-key-123" not in str(raised.value)


def test_missing_permission_is_named(tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=api_key, forbidden_kinds=("customer",)) as sim, \
            pytest.raises(AuthError) as raised:
        run_extract(tmp_path, options(sim))
    assert "org.permission.customer.read" in str(raised.value) and "HTTP 403" in str(raised.value)


def test_a_key_without_the_search_permission_is_told_the_permissions_the_searches_need(
        tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=api_key, forbidden_kinds=("search", "archive")) as sim, \
            pytest.raises(AuthError) as raised:
        run_extract(tmp_path, options(sim))
    text = str(raised.value)
    assert "HTTP 403" in text and "lacks the permission org.permission.search.create" in text
    for also in ("org.permission.search.update", "org.permission.search_global.create",
                 "org.permission.search_preview.create", "org.user.search.read", "org.admin.search.read"):
        assert also in text
    assert "org.permission.message.read" not in text


def test_searches_that_ignore_every_sort_still_give_every_message_once(tmp_path: Path, api_key: str) -> None:
    """Neither search honours a sort, a cap of 200 records a query: every message once, the archive's
    ignored sort said once and not relied on."""
    folder = tmp_path / "unsorted"
    start = datetime.now(UTC) - timedelta(days=4 * 365)
    generate(folder, 1_200, seed=28, start=start, gap_ms=(3_000_000, 2_000_000_000), ties=120)
    with KustomerSimulator(folder, api_key=api_key, sorted_searches=(), query_cap=200) as sim:
        result = run_extract(tmp_path / "work", options(sim))
        pages_asked = [int(re.search(r"page=(\d+)", path).group(1)) for path, _ in sim.log if "/search" in path]
    ids = result.message_ids()
    assert len(ids) == len(set(ids)) == 1_200
    assert sim.store.index["search"][0] and sim.store.index["archive"][0]  # both searches hold messages
    assert max(pages_asked) <= 100 and sim.by_status.get(400, 0) == 0
    assert result.progress.count("was asked to sort on its timestamp") == 1 and "WARNING" not in result.progress


def test_the_search_budget_paces_searches_while_customer_lookups_use_the_rest(tmp_path: Path, dataset: tuple,
                                                                             api_key: str) -> None:
    """The mechanism of issue 28's budgets, at a scale a test can wait for: a server allowing 5 searches in
    any second, a client budget of 4 (as 95 of Kustomer's 100 a minute), inside an org budget of 6,000 a
    minute; searches and customer lookups sent at once from several threads."""
    import threading

    from extract.http_client import BearerAuth, Budget, RateLimiter
    from extract.simulators.harness import max_in_any_window

    folder, _ = dataset
    body = kustomer.search_body(kustomer.EPOCH, "3000-01-01T00:00:00.000Z")
    with KustomerSimulator(folder, api_key=api_key, rate_limit=6000, search_rate_limit=5, search_window=1.0) as sim:
        searches = Budget("searches", kustomer.is_search, RateLimiter([(4, 1.0)]))  # spaced, as Kustomer's
        client = HttpClient(sim.base_url, BearerAuth(api_key), announced_limit=kustomer.announced_limit,
                            budgets=[searches], timeout=5.0)
        done: dict[str, float] = {}

        def run(kind: str, count: int) -> None:
            for _ in range(count):
                if kind == "searches":
                    client.request_json("POST", "/v1/customers/archive/search", body=body,
                                        params={"page": 1, "pageSize": 1})
                else:
                    client.request_json("GET", "/v1/customers/nope", ok_statuses={404})
            done[kind] = time.monotonic()

        started = time.monotonic()
        threads = [threading.Thread(target=run, args=("searches", 8)) for _ in range(2)]
        threads += [threading.Thread(target=run, args=("customers", 40)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        search_times = sim.search_times()
    assert len(search_times) == 16 and sim.by_status.get(429, 0) == 0
    assert max_in_any_window(search_times, 1.0) <= 5
    assert done["searches"] - started >= 3.0  # 16 searches at 4 a second
    assert done["customers"] - started < done["searches"] - started  # the lookups were not held by the searches
    assert searches.rate.requests == 16 and client.stats.requests == 16 + 160


def test_a_429_to_a_search_holds_the_searches_only_and_is_not_waited_to_the_org_reset(
        dataset: tuple, api_key: str) -> None:
    """The 429 of the search budget carries the org's headers (room left, a reset up to a minute away):
    the searches back off and retry, the customer lookups go on."""
    from extract.http_client import BearerAuth, Budget, RateLimiter

    folder, _ = dataset
    body = kustomer.search_body(kustomer.EPOCH, "3000-01-01T00:00:00.000Z")
    with KustomerSimulator(folder, api_key=api_key, rate_limit=6000, search_rate_limit=3, search_window=1.0) as sim:
        searches = Budget("searches", kustomer.is_search, RateLimiter(sliding=[(20, 1.0)]))  # too many: 429s
        client = HttpClient(sim.base_url, BearerAuth(api_key), announced_limit=kustomer.announced_limit,
                            budgets=[searches], timeout=5.0, backoff_base=0.2, backoff_max=1.0)
        started = time.monotonic()
        for _ in range(8):
            client.request_json("POST", "/v1/customers/search", body=body, params={"page": 1, "pageSize": 1})
        took = time.monotonic() - started
        lookups = time.monotonic()
        client.request_json("GET", "/v1/customers/nope", ok_statuses={404})
        lookup_took = time.monotonic() - lookups
    assert sim.by_status[429] >= 1 and searches.throttled == sim.by_status[429]
    assert took < 20, "a search 429 waited for the org window's reset"
    assert lookup_took < 1.0, "the org limiter was held by the searches' 429"


def test_a_key_with_a_line_break_is_one_line_that_never_shows_it(tmp_path: Path, dataset: tuple,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _ = dataset
    monkeypatch.setenv("KUSTOMER_API_KEY", "kst-first-half\nkst-second-half")
    with KustomerSimulator(folder, api_key=KEY) as sim, pytest.raises(ExtractError) as raised:
        run_extract(tmp_path, options(sim))
    text = str(raised.value)
    assert "KUSTOMER_API_KEY" in text and "\n" not in text and "half" not in text


def test_missing_environment_variable_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUSTOMER_API_KEY", raising=False)
    with pytest.raises(ExtractError, match="environment variable KUSTOMER_API_KEY is not set"):
        run_extract(tmp_path, {"base_url": "https://acme.api.kustomerapp.com"})


def test_progress_shows_messages_customers_and_the_achieved_rate(
        tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=api_key, latency=0.01, rate_limit=3000) as sim:
        result = run_extract(tmp_path, {"base_url": sim.base_url})  # the default search budget
    line = next(x for x in result.progress.splitlines() if "done:" in x)
    assert "730 messages" in line and "customers" in line
    assert re.search(r"; \d+ requests (in \d+s|/min) \(limit 2,850/min\)", line), line
    # the searches' own budget and achieved rate (issue 28)
    assert re.search(r", of which searches \d+ requests (in \d+s|/min) \(limit 95/min\)", line), line


def test_simulate_uses_the_local_simulator_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUSTOMER_API_KEY", raising=False)
    result = run_extract(tmp_path, {"simulate": True})
    assert "using the local Kustomer API simulator at http://127.0.0.1:" in result.progress
    assert len(result.message_ids()) == 250  # the bundled samples/kustomer


# -- the CLI: exit codes, and the key never written anywhere ----------------------------------


def test_cli_bad_key_exits_non_zero_with_one_line_and_no_traceback(tmp_path: Path, dataset: tuple) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=KEY) as sim:
        config = write_config(tmp_path, {"base_url": sim.base_url})
        done = run_cli(config, "not-the-key-" + KEY[::-1])
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("extract error:")]
    assert len(errors) == 1 and "HTTP 401" in errors[0] and "KUSTOMER_API_KEY" in errors[0]
    assert KEY[::-1] not in done.stderr + done.stdout


def test_cli_missing_key_exits_non_zero_without_traceback(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"base_url": "https://acme.api.kustomerapp.com"})
    done = run_cli(config, None)
    assert done.returncode == 2 and "Traceback" not in done.stderr  # found before anything runs
    assert "sources.kustomer.api_key_env: the environment variable KUSTOMER_API_KEY is not set" in done.stderr


@pytest.mark.slow
def test_the_key_never_appears_in_output_logs_parquet_or_state(tmp_path: Path, dataset: tuple) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=KEY, faults=Faults(status_on_request={2: 500})) as sim:
        config = write_config(tmp_path, {"base_url": sim.base_url})
        done = run_cli(config, KEY)
    assert done.returncode == 0, done.stderr[-2000:]
    assert KEY not in done.stdout + done.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    written += [p for p in (PROJECT_DIR / "logs").rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in written) and any(p.name == "state.json" for p in written)
    for path in written:
        data = path.read_bytes()
        assert KEY.encode() not in data, path


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_the_next_run_resumes(tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=KEY, latency=0.02) as sim:
        config = write_config(tmp_path, {"base_url": sim.base_url})
        process = subprocess.Popen(cli_command(config), cwd=PROJECT_DIR, env=cli_env(KEY), text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 60
        while sim.by_kind["customer"] < 20 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
        sim.latency = 0.0
        result = run_extract(tmp_path / "work", {"base_url": sim.base_url})
    assert "resuming the interrupted extraction" in result.progress
    ids = result.message_ids()
    assert len(ids) == len(set(ids)) == 730


def test_a_state_that_is_unreadable_or_of_another_account_starts_afresh(
        tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=api_key) as sim:
        run_extract(tmp_path, options(sim))
        state = tmp_path / "state" / "kustomer" / "state.json"
        state.write_text('{"version": 2, "identity": "https://other.api.kustomerapp.com", "status": "running"}')
        result = run_extract(tmp_path, options(sim))
        state.write_bytes(b"\x00junk")
        again = run_extract(tmp_path, options(sim))
    for run in (result, again):
        assert "extracting everything" in run.progress
        assert len(set(run.message_ids())) == len(run.message_ids()) == 730


def test_an_interrupted_state_of_the_keyset_reading_starts_afresh(tmp_path: Path, dataset: tuple, api_key: str) -> None:
    """Issue 28 changed the state: the identity derives from the paginator class, so a state written by the
    keyset reading of earlier versions (its own progress keys) is never resumed by the windows."""
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=api_key) as sim:
        opts = options(sim)
        identity = kustomer.Kustomer(SourceContext(platform="kustomer", options=opts, base_dir=tmp_path)).identity(
            sim.base_url)
        assert "(WindowedSearch)" in identity
        state = tmp_path / "state" / "kustomer"
        state.mkdir(parents=True)
        (state / "state.json").write_text(json.dumps({
            "version": 2, "identity": identity.replace("WindowedSearch", "KeysetSearch"), "status": "running",
            "kind": "full", "watermarks": {}, "readings": {"messages:archive": {"since_ms": 1, "boundary": ["x"],
                                                                                "queries": 3}}}))
        result = run_extract(tmp_path, opts)
    assert "extracting everything" in result.progress and "resuming" not in result.progress
    assert len(set(result.message_ids())) == len(result.message_ids()) == 730


def test_ratelimit_headers_are_honoured_so_no_429_is_collected(tmp_path: Path, dataset: tuple, api_key: str,
                                                               clients: list[HttpClient]) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=api_key, rate_limit=3000, latency=0.005) as sim:
        result = run_extract(tmp_path, options(sim))
    assert len(result.message_ids()) == 730
    assert sim.by_status[429] == 0
    # the announced x-ratelimit-limit became the budget: 95% of it, in any 60 s
    assert clients[-1].limiter.per_minute_now() == 2850
