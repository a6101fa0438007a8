"""The local Kustomer API simulator answers like Kustomer: shapes, paging, key, rate limit, faults."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

import pytest

from extract.simulators.kustomer import Faults, KustomerSimulator
from tests.python.kustomer_helpers import KEY, write_jsonl


@pytest.fixture
def data(tmp_path: Path) -> Path:
    messages = [{"type": "message", "id": f"m{n}", "attributes": {"preview": f"p{n}"},
                 "relationships": {"customer": {"links": {"self": "/v1/customers/c1"},
                                                "data": {"type": "customer", "id": "c1"}}}} for n in range(1, 6)]
    customers = [{"type": "customer", "id": "c1", "attributes": {"emails": [{"email": "a@example.com"}]}}]
    return write_jsonl(tmp_path / "data", messages, customers)


def get(sim: KustomerSimulator, path: str, key: str | None = KEY) -> tuple[int, dict[str, str], Any]:
    conn = http.client.HTTPConnection("127.0.0.1", int(sim.base_url.rsplit(":", 1)[1]), timeout=5)
    conn.request("GET", path, headers={"Authorization": f"Bearer {key}"} if key else {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    try:
        decoded = json.loads(body)
    except ValueError:
        decoded = body
    return response.status, {k.lower(): v for k, v in response.getheaders()}, decoded


def test_pages_follow_the_json_api_envelope(data: Path) -> None:
    with KustomerSimulator(data, api_key=KEY) as sim:
        status, _, first = get(sim, "/v1/messages?page=1&pageSize=2")
        _, _, last = get(sim, "/v1/messages?page=3&pageSize=2")
    assert status == 200
    assert first["meta"] == {"page": 1, "pageSize": 2, "total": 5, "totalPages": 3}
    assert first["links"] == {"self": "/v1/messages?page=1&pageSize=2", "first": "/v1/messages?page=1&pageSize=2",
                              "prev": None, "next": "/v1/messages?page=2&pageSize=2"}
    assert [m["id"] for m in first["data"]] == ["m1", "m2"]
    assert last["links"]["next"] is None and [m["id"] for m in last["data"]] == ["m5"]


def test_customer_by_id_and_404(data: Path) -> None:
    with KustomerSimulator(data, api_key=KEY) as sim:
        status, _, body = get(sim, "/v1/customers/c1")
        missing, _, error = get(sim, "/v1/customers/nope")
    assert status == 200 and body["data"]["attributes"]["emails"][0]["email"] == "a@example.com"
    assert missing == 404 and error["errors"][0]["status"] == 404


@pytest.mark.parametrize("key", [None, "wrong"])
def test_a_missing_or_wrong_key_is_401(data: Path, key: str | None) -> None:
    with KustomerSimulator(data, api_key=KEY) as sim:
        status, _, body = get(sim, "/v1/messages", key=key)
    assert status == 401 and KEY not in json.dumps(body)


def test_page_size_above_100_is_refused(data: Path) -> None:
    with KustomerSimulator(data, api_key=KEY) as sim:
        assert get(sim, "/v1/messages?page=1&pageSize=101")[0] == 400


def test_rate_limit_answers_429_with_the_real_headers(data: Path) -> None:
    with KustomerSimulator(data, api_key=KEY, rate_limit=2, window_seconds=60) as sim:
        answers = [get(sim, "/v1/customers/c1") for _ in range(3)]
    assert [a[0] for a in answers] == [200, 200, 429]
    assert answers[0][1]["x-ratelimit-remaining"] == "1" and answers[1][1]["x-ratelimit-remaining"] == "0"
    headers = answers[2][1]
    assert headers["x-ratelimit-limit"] == "2" and headers["x-ratelimit-remaining"] == "0"
    assert int(headers["x-ratelimit-reset"]) > 1_600_000_000  # epoch seconds


def test_injected_faults(data: Path) -> None:
    faults = Faults(status_on_request={1: 500, 2: 429}, drop_requests={3}, malformed_pages={1: 1},
                    throttle_requests={6})
    with KustomerSimulator(data, api_key=KEY, faults=faults) as sim:
        assert get(sim, "/v1/messages")[0] == 500
        bare = get(sim, "/v1/messages")
        assert bare[0] == 429 and "x-ratelimit-reset" not in bare[1]
        with pytest.raises(http.client.RemoteDisconnected):
            get(sim, "/v1/messages")
        status, _, truncated = get(sim, "/v1/messages")
        assert status == 200 and isinstance(truncated, bytes)
        assert isinstance(get(sim, "/v1/messages")[2], dict)
        status, headers, _ = get(sim, "/v1/messages")
        assert status == 429 and headers["x-ratelimit-remaining"] == "0" and "x-ratelimit-reset" in headers


def test_bench_generator_is_deterministic_and_the_baseline_counts_requests(tmp_path: Path) -> None:
    from bench.bench_kustomer import baseline
    from bench.generate_kustomer import generate

    first = generate(tmp_path / "a", 300, seed=5)
    generate(tmp_path / "b", 300, seed=5)
    other = generate(tmp_path / "c", 300, seed=6)
    for name in ("messages.jsonl", "customers.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "messages.jsonl").read_bytes() != (tmp_path / "c" / "messages.jsonl").read_bytes()
    assert other["messages"] == 300
    counts = baseline({**first, "dir": str(tmp_path / "a")})
    assert counts["requests"] == 1 + first["customers_referenced"]  # issue 28: one search page of 500 (was 3 of 100)
    lines = (tmp_path / "a" / "messages.jsonl").read_text(encoding="utf-8").splitlines()
    with_customer = sum(1 for line in lines if "customer" in json.loads(line)["relationships"])
    assert with_customer < 300  # a few messages have no customer at all
    assert counts["naive_requests"] == 3 + with_customer


def post(sim: KustomerSimulator, path: str, body: Any) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", int(sim.base_url.rsplit(":", 1)[1]), timeout=5)
    conn.request("POST", path, body=json.dumps(body), headers={"Authorization": f"Bearer {KEY}",
                                                              "Content-Type": "application/json"})
    response = conn.getresponse()
    decoded = json.loads(response.read())
    conn.close()
    return response.status, decoded


def dated(tmp_path: Path, stamps: list[tuple[str, str]]) -> Path:
    messages = [{"type": "message", "id": f"m{n}", "attributes": {"createdAt": created, "updatedAt": updated}}
                for n, (created, updated) in enumerate(stamps)]
    return write_jsonl(tmp_path / "dated", messages, [])


def search(gte: str, order: str = "asc", lt: str | None = None) -> dict[str, Any]:
    criteria: list[dict[str, Any]] = [{"message_created_at": {"gte": gte}}]
    if lt:
        criteria.append({"message_created_at": {"lt": lt}})
    return {"queryContext": "message", "and": criteria, "sort": [{"message_created_at": order}]}


def test_search_splits_on_updated_at_two_years_back_and_honours_criteria(tmp_path: Path) -> None:
    """Issue 28 changed this test: the standard search no longer honours a sort on message_created_at (its
    reference lists only customer attributes as sortable); the archive search does."""
    now = 1_780_000_000.0  # 2026-05-28
    folder = dated(tmp_path, [("2023-01-01T00:00:00.000Z", "2023-01-02T00:00:00.000Z"),   # archive
                              ("2023-06-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z"),   # updated lately
                              ("2026-02-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z"),
                              ("2026-03-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z"),
                              ("2022-01-01T00:00:00.000Z", "2022-01-02T00:00:00.000Z")])  # archive
    with KustomerSimulator(folder, api_key=KEY, now=now) as sim:
        _, standard = post(sim, "/v1/customers/search?page=1&pageSize=100", search("2020-01-01T00:00:00Z"))
        _, archive = post(sim, "/v1/customers/archive/search?pageSize=100", search("2020-01-01T00:00:00Z"))
        _, archive_desc = post(sim, "/v1/customers/archive/search", search("2020-01-01T00:00:00Z", "desc"))
        _, window = post(sim, "/v1/customers/search", search("2023-06-01T00:00:00.000Z", "desc",
                                                              lt="2026-03-01T00:00:00.000Z"))
        wrong = post(sim, "/v1/customers/search", {"queryContext": "conversation"})[0]
        assert get(sim, "/v1/customers/search")[0] == 405
    assert sorted(m["id"] for m in standard["data"]) == ["m1", "m2", "m3"]
    assert [m["id"] for m in archive["data"]] == ["m4", "m0"]
    assert [m["id"] for m in archive_desc["data"]] == ["m0", "m4"]
    assert sorted(m["id"] for m in window["data"]) == ["m1", "m2"] and window["meta"]["total"] == 2
    assert wrong == 400


def test_the_standard_search_ignores_a_message_sort_and_answers_in_a_stable_order_that_is_not_time_order(
        tmp_path: Path) -> None:
    folder = dated(tmp_path, [(f"2026-01-01T00:00:{n:02d}.000Z",) * 2 for n in range(40)])
    with KustomerSimulator(folder, api_key=KEY, now=1_780_000_000.0) as sim:
        answers = [post(sim, "/v1/customers/search?pageSize=500", body)[1]
                   for body in (search("2025-01-01T00:00:00Z"), search("2025-01-01T00:00:00Z", "desc"),
                                search("2025-01-01T00:00:00Z"))]
        paged = [post(sim, f"/v1/customers/search?page={n}&pageSize=15", search("2025-01-01T00:00:00Z"))[1]
                 for n in (1, 2, 3)]
    orders = [[m["attributes"]["createdAt"] for m in answer["data"]] for answer in answers]
    assert orders[0] == orders[1] == orders[2]  # asc, desc, asc again: the same order
    assert len(set(orders[0])) == 40 and orders[0] != sorted(orders[0])
    assert orders[0] != sorted(orders[0], reverse=True)
    assert [m["id"] for page in paged for m in page["data"]] == [m["id"] for m in answers[0]["data"]]


def test_pages_of_500_and_never_a_page_past_100(tmp_path: Path) -> None:
    folder = dated(tmp_path, [(f"2026-01-01T00:00:{n // 1000:02d}.{n % 1000:03d}Z",) * 2 for n in range(600)])
    with KustomerSimulator(folder, api_key=KEY, now=1_780_000_000.0) as sim:
        first = post(sim, "/v1/customers/search?page=1&pageSize=500", search("2025-01-01T00:00:00Z"))
        too_big = post(sim, "/v1/customers/search?page=1&pageSize=501", search("2025-01-01T00:00:00Z"))
        hundred = post(sim, "/v1/customers/archive/search?page=100&pageSize=1", search("2025-01-01T00:00:00Z"))
        past = post(sim, "/v1/customers/archive/search?page=101&pageSize=1", search("2025-01-01T00:00:00Z"))
    assert first[0] == 200 and len(first[1]["data"]) == 500 and first[1]["links"]["next"]
    assert too_big[0] == 400 and hundred[0] == 200
    assert past[0] == 400 and "100" in past[1]["errors"][0]["title"]


def test_meta_total_is_capped_like_the_search_engine_counts(tmp_path: Path) -> None:
    folder = dated(tmp_path, [(f"2026-01-01T00:00:{n // 1000:02d}.{n % 1000:03d}Z",) * 2 for n in range(130)])
    with KustomerSimulator(folder, api_key=KEY, now=1_780_000_000.0, total_cap=100, query_cap=None) as sim:
        capped = post(sim, "/v1/customers/search?pageSize=500", search("2025-01-01T00:00:00Z"))[1]
        small = post(sim, "/v1/customers/search?pageSize=500", search("2025-01-01T00:00:00Z",
                                                                      lt="2026-01-01T00:00:00.050Z"))[1]
    assert capped["meta"]["total"] == 100 and len(capped["data"]) == 130
    assert small["meta"]["total"] == 50


def test_searches_have_their_own_budget_of_100_a_minute(tmp_path: Path) -> None:
    folder = dated(tmp_path, [("2026-01-01T00:00:00.000Z",) * 2])
    with KustomerSimulator(folder, api_key=KEY, now=1_780_000_000.0, rate_limit=1000) as sim:
        statuses = [post(sim, "/v1/customers/search?pageSize=1", search("2025-01-01T00:00:00Z"))[0]
                    for _ in range(101)]
        throttled = post(sim, "/v1/customers/archive/search?pageSize=1", search("2025-01-01T00:00:00Z"))
        customer = get(sim, "/v1/customers/nope")
    assert statuses == [200] * 100 + [429] and throttled[0] == 429
    assert customer[0] == 404  # other requests go on: the org's budget is not used up
    assert int(customer[1]["x-ratelimit-remaining"]) > 800


def test_a_key_without_the_search_permission_gets_403_on_both_searches(tmp_path: Path) -> None:
    folder = dated(tmp_path, [("2026-01-01T00:00:00.000Z",) * 2])
    with KustomerSimulator(folder, api_key=KEY, forbidden_kinds=("search", "archive")) as sim:
        assert post(sim, "/v1/customers/search", search("2025-01-01T00:00:00Z"))[0] == 403
        assert post(sim, "/v1/customers/archive/search", search("2025-01-01T00:00:00Z"))[0] == 403
        assert get(sim, "/v1/customers/c1")[0] == 404


def test_every_query_stops_silently_at_the_cap(tmp_path: Path) -> None:
    folder = dated(tmp_path, [(f"2026-01-01T00:00:{n // 1000:02d}.{n % 1000:03d}Z",) * 2 for n in range(250)])
    with KustomerSimulator(folder, api_key=KEY, query_cap=120, now=1_780_000_000.0) as sim:
        pages = [post(sim, f"/v1/customers/search?page={n}&pageSize=50", search("2025-01-01T00:00:00Z"))[1]
                 for n in (1, 2, 3, 4)]
        listing = get(sim, "/v1/messages?page=3&pageSize=50")[2]
        past = get(sim, "/v1/messages?page=4&pageSize=50")[2]
    assert [len(p["data"]) for p in pages] == [50, 50, 20, 0]
    assert pages[2]["links"]["next"] is None and pages[3]["links"]["next"] is None
    assert pages[0]["meta"]["total"] == 250  # the total says more; the pages end at the cap
    assert len(listing["data"]) == 20 and listing["links"]["next"] is None and past["data"] == []
