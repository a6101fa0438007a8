"""The local Gorgias simulator behaves like the API in source-formats.md (it is what the tests trust)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from extract.simulators.gorgias import Faults, GorgiasSimulator

EMAIL, KEY = "me@brand.example.com", "k-123"
TICKETS = [{"id": i, "subject": f"t{i}", "created_datetime": f"2024-02-{10 + i % 5:02d}T10:00:00+00:00"}
           for i in range(1, 8)]
MESSAGES = [{"id": 100 + i, "ticket_id": 1 + i % 3, "created_datetime": f"2024-02-14 21:30:{i:02d}.5+00:00"}
            for i in range(12)]


def get(base_url: str, path: str, auth: tuple[str, str] | None = (EMAIL, KEY)) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(base_url + path)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_cursor_pages_walk_the_whole_listing_once_in_order() -> None:
    with GorgiasSimulator(TICKETS, MESSAGES, email=EMAIL, api_key=KEY) as sim:
        seen, cursor, pages = [], None, 0
        while True:
            status, _, body = get(sim.base_url, "/api/messages?limit=5&order_by=created_datetime:asc"
                                  + (f"&cursor={cursor}" if cursor else ""))
            assert status == 200 and body["object"] == "list" and body["uri"].startswith("/api/messages?")
            assert (body["meta"]["prev_cursor"] is None) == (pages == 0)
            seen += [m["id"] for m in body["data"]]
            pages += 1
            cursor = body["meta"]["next_cursor"]
            if cursor is None:
                break
    assert seen == [100 + i for i in range(12)] and pages == 3


def test_basic_auth_is_required() -> None:
    with GorgiasSimulator(TICKETS, MESSAGES, email=EMAIL, api_key=KEY) as sim:
        assert get(sim.base_url, "/api/tickets", auth=None)[0] == 401
        assert get(sim.base_url, "/api/tickets", auth=(EMAIL, "wrong"))[0] == 401
        assert get(sim.base_url, "/api/tickets")[0] == 200


def test_limit_above_100_is_refused() -> None:
    with GorgiasSimulator(TICKETS, MESSAGES, email=EMAIL, api_key=KEY) as sim:
        assert get(sim.base_url, "/api/tickets?limit=101")[0] == 400
        assert get(sim.base_url, "/api/tickets?limit=100")[0] == 200


def test_leaky_bucket_answers_429_with_retry_after_and_the_call_limit_header() -> None:
    with GorgiasSimulator(TICKETS, MESSAGES, email=EMAIL, api_key=KEY, bucket_capacity=3, bucket_window=60) as sim:
        answers = [get(sim.base_url, "/api/tickets") for _ in range(4)]
    assert [status for status, _, _ in answers] == [200, 200, 200, 429]
    assert answers[0][1]["X-Gorgias-Account-Api-Call-Limit"] == "1/3"
    assert answers[3][1]["X-Gorgias-Account-Api-Call-Limit"] == "3/3"
    assert int(answers[3][1]["Retry-after"]) >= 1


def test_cursors_expire() -> None:
    with GorgiasSimulator(TICKETS, MESSAGES, email=EMAIL, api_key=KEY, cursor_ttl=-1) as sim:
        cursor = get(sim.base_url, "/api/tickets?limit=2")[2]["meta"]["next_cursor"]
        status, _, body = get(sim.base_url, f"/api/tickets?limit=2&cursor={cursor}")
    assert status == 400 and "cursor" in body["error"]["msg"].lower()


def test_a_ticket_messages_can_be_listed_alone() -> None:
    with GorgiasSimulator(TICKETS, MESSAGES, email=EMAIL, api_key=KEY) as sim:
        body = get(sim.base_url, "/api/tickets/2/messages?limit=100&order_by=created_datetime:asc")[2]
        filtered = get(sim.base_url, "/api/messages?ticket_id=2&limit=100&order_by=created_datetime:desc")[2]
    assert {m["ticket_id"] for m in body["data"]} == {2} and len(body["data"]) == 4
    assert [m["id"] for m in filtered["data"]] == [m["id"] for m in body["data"]][::-1]


def test_unknown_fault_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        Faults({1: "explode"})


def test_a_folder_account_is_served_from_its_files_like_an_in_memory_one(tmp_path: Path) -> None:
    (tmp_path / "tickets.jsonl").write_text("".join(json.dumps(t) + "\n" for t in TICKETS) + "\n", encoding="utf-8")
    (tmp_path / "messages.jsonl").write_text("".join(json.dumps(m) + "\r\n" for m in MESSAGES), encoding="utf-8")
    path = "/api/messages?limit=100&order_by=created_datetime:desc"
    with GorgiasSimulator.from_dir(tmp_path, email=EMAIL, api_key=KEY) as from_files:
        served = get(from_files.base_url, path)[2]["data"]
    with GorgiasSimulator(TICKETS, MESSAGES, email=EMAIL, api_key=KEY) as in_memory:
        assert served == get(in_memory.base_url, path)[2]["data"] == MESSAGES[::-1]
