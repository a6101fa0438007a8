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
    assert counts["requests"] == 3 + first["customers_referenced"]
    lines = (tmp_path / "a" / "messages.jsonl").read_text(encoding="utf-8").splitlines()
    with_customer = sum(1 for line in lines if "customer" in json.loads(line)["relationships"])
    assert with_customer < 300  # a few messages have no customer at all
    assert counts["naive_requests"] == 3 + with_customer
