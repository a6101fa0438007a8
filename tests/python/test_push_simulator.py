"""The local Gladly API simulator is strict like the OpenAPI says, and has Gladly's limits and faults.

Spoken to with the standard library's http.client, not the project's client, so these tests check the
simulator on its own.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from gladly_import.push.simulator import DEMO_TOKEN, DEMO_USER, TAKEN, Faults, GladlySimulator

AUTH = "Basic " + base64.b64encode(f"{DEMO_USER}:{DEMO_TOKEN}".encode()).decode()


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def item(item_id: str = "zendesk-1-11", **content: Any) -> dict[str, Any]:
    return {
        "id": item_id,
        "customer": {"emailAddress": "jane.doe@example.com"},
        "content": {"type": "CUSTOMER_ACTIVITY", "activityType": "EMAIL", "title": "Order 1042 late",
                    "body": "<p>Where is my order?</p>", "sourceName": "Zendesk",
                    "occurredAt": rfc3339(datetime.now(UTC) - timedelta(days=30)), **content},
    }


def call(sim: GladlySimulator, method: str, path: str, body: Any = None, auth: str | None = AUTH,
         raw: bytes | None = None, content_type: str = "application/json") -> tuple[int, dict[str, str], Any]:
    parts = urlsplit(sim.base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    headers = {"Content-Type": content_type}
    if auth:
        headers["Authorization"] = auth
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        text = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(text) if text else None
    finally:
        conn.close()


@pytest.fixture
def sim():
    with GladlySimulator(rate_limit=None) as simulator:
        yield simulator


def test_creates_a_customer_activity_and_a_reused_id_answers_409_with_gladlys_body(sim: GladlySimulator) -> None:
    status, _, created = call(sim, "POST", "/api/v1/conversation-items", item())
    assert status == 200
    assert created["id"] == "zendesk-1-11" and created["content"]["title"] == "Order 1042 late"
    assert created["customerId"] and created["timestamp"] == created["content"]["occurredAt"]
    status, _, body = call(sim, "POST", "/api/v1/conversation-items", item(title="another title"))
    assert status == 409 and body == TAKEN
    assert body == {"errors": [{"attr": "newConversationItems", "code": "taken",
                                "detail": "conversation item already exists"}]}
    assert sim.creations["zendesk-1-11"] == 1
    assert call(sim, "GET", "/api/v1/conversation-items/zendesk-1-11")[2]["content"]["title"] == "Order 1042 late"


@pytest.mark.parametrize(("change", "attr", "code"), [
    ({"title": "t" * 101}, "content.title", "too_long"),
    ({"body": "é" * 25_001}, "content.body", "too_long"),
    ({"sourceName": "s" * 51}, "content.sourceName", "too_long"),
    ({"activityType": "CHAT"}, "content.activityType", "invalid"),
    ({"activityType": None}, "content.activityType", "blank"),
    ({"occurredAt": "2026-01-05T10:00:00Z"}, "content.occurredAt", "invalid"),          # no milliseconds
    ({"occurredAt": "05/01/2026 10:00"}, "content.occurredAt", "invalid"),
    ({"occurredAt": rfc3339(datetime.now(UTC) - timedelta(days=366))}, "content.occurredAt", "invalid"),
    ({"type": "TASK"}, "content.type", "invalid"),
    ({"tags": "a,b"}, "content.tags", "invalid"),                                        # not in the schema
])
def test_refuses_what_the_openapi_refuses_with_gladlys_error_shape(sim: GladlySimulator, change: dict[str, Any],
                                                                   attr: str, code: str) -> None:
    body = item()
    body["content"].update(change)
    body["content"] = {k: v for k, v in body["content"].items() if v is not None}
    status, _, answer = call(sim, "POST", "/api/v1/conversation-items", body)
    assert status == 400
    assert {"attr": attr, "code": code} in [{"attr": e.get("attr"), "code": e["code"]} for e in answer["errors"]]
    assert all(set(e) <= {"attr", "code", "detail"} and e["detail"] for e in answer["errors"])
    assert sim.items == {}


def test_refuses_bad_ids_customers_and_bodies(sim: GladlySimulator) -> None:
    assert call(sim, "POST", "/api/v1/conversation-items", item("x" * 51))[0] == 400
    assert call(sim, "POST", "/api/v1/conversation-items", item("a/b"))[0] == 400
    no_customer = item()
    no_customer["customer"] = {}
    status, _, answer = call(sim, "POST", "/api/v1/conversation-items", no_customer)
    assert status == 400 and answer["errors"][0]["code"] == "blank"
    both = item()
    both["customer"]["mobilePhone"] = "+14155550100"
    assert call(sim, "POST", "/api/v1/conversation-items", both)[0] == 400
    assert call(sim, "POST", "/api/v1/conversation-items", raw=b'{"id": "x", "customer": ')[0] == 400
    assert call(sim, "POST", "/api/v1/conversation-items", item(), content_type="text/plain")[0] == 400
    assert call(sim, "POST", "/api/v1/conversation-items", raw=b"[1, 2]")[0] == 400
    assert sim.items == {}
    # 50 characters, URL safe: fine
    assert call(sim, "POST", "/api/v1/conversation-items", item("A-z_0" * 10))[0] == 200


def test_basic_auth_is_required(sim: GladlySimulator) -> None:
    assert call(sim, "POST", "/api/v1/conversation-items", item(), auth=None)[0] == 401
    wrong = "Basic " + base64.b64encode(f"{DEMO_USER}:wrong".encode()).decode()
    assert call(sim, "POST", "/api/v1/conversation-items", item(), auth=wrong)[0] == 401
    assert sim.items == {}


def test_delete_undoes_a_customer_activity(sim: GladlySimulator) -> None:
    call(sim, "POST", "/api/v1/conversation-items", item())
    assert call(sim, "DELETE", "/api/v1/conversation-items/zendesk-1-11")[0] == 204
    assert call(sim, "GET", "/api/v1/conversation-items/zendesk-1-11")[0] == 404
    assert call(sim, "DELETE", "/api/v1/conversation-items/zendesk-1-11")[0] == 404


def test_rate_limit_10_in_any_second_with_gladlys_headers() -> None:
    with GladlySimulator(rate_limit=10) as sim:
        answers = [call(sim, "GET", "/api/v1/conversation-items/none") for _ in range(14)]
        statuses = [status for status, _, _ in answers]
        assert statuses[:10] == [404] * 10 and statuses[10:] == [429] * 4
        assert [h["ratelimit-remaining-second"] for _, h, _ in answers[:10]] == [str(9 - n) for n in range(10)]
        assert all(h["ratelimit-limit-second"] == "10" for _, h, _ in answers)
        assert "retry-after" not in answers[-1][1]
        time.sleep(1.05)
        assert call(sim, "GET", "/api/v1/conversation-items/none")[0] == 404
        assert sim.max_admitted_in_any_window() == 10


def test_500_after_create_creates_then_fails_and_the_retry_answers_409() -> None:
    faults = Faults(by_item={"zendesk-1-11": ["500_after_create"]})
    with GladlySimulator(rate_limit=None, faults=faults) as sim:
        assert call(sim, "POST", "/api/v1/conversation-items", item())[0] == 500
        assert "zendesk-1-11" in sim.items
        status, _, body = call(sim, "POST", "/api/v1/conversation-items", item())
        assert (status, body) == (409, TAKEN)
        assert sim.creations["zendesk-1-11"] == 1


def test_dropped_connections_before_and_after_creating() -> None:
    faults = Faults(by_item={"a": ["drop"], "b": ["drop_after_create"]})
    with GladlySimulator(rate_limit=None, faults=faults) as sim:
        for item_id in ("a", "b"):
            with pytest.raises((http.client.HTTPException, ConnectionError)):
                call(sim, "POST", "/api/v1/conversation-items", item(item_id))
        assert "a" not in sim.items and "b" in sim.items
        assert call(sim, "POST", "/api/v1/conversation-items", item("a"))[0] == 200
        assert call(sim, "POST", "/api/v1/conversation-items", item("b"))[0] == 409


def test_latency_is_served_concurrently() -> None:
    with GladlySimulator(rate_limit=None, latency=0.3) as sim:
        threads = [threading.Thread(target=call, args=(sim, "POST", "/api/v1/conversation-items", item(f"i{n}")))
                   for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sim.max_in_flight == 4 and len(sim.items) == 4


def test_the_store_file_keeps_the_items_between_two_simulators(tmp_path: Path) -> None:
    store = tmp_path / "items.jsonl"
    with GladlySimulator(rate_limit=None, store_path=store) as sim:
        call(sim, "POST", "/api/v1/conversation-items", item("kept"))
        call(sim, "POST", "/api/v1/conversation-items", item("gone"))
        call(sim, "DELETE", "/api/v1/conversation-items/gone")
    with store.open("a", encoding="utf-8") as handle:
        handle.write('{"op": "create", "item": {"id"')  # a line cut by a kill
    with GladlySimulator(rate_limit=None, store_path=store) as sim:
        assert set(sim.items) == {"kept"}
        assert call(sim, "POST", "/api/v1/conversation-items", item("kept"))[0] == 409


def test_a_fixed_today_moves_the_one_year_window() -> None:
    with GladlySimulator(rate_limit=None, today=datetime(2024, 3, 1, tzinfo=UTC)) as sim:
        assert call(sim, "POST", "/api/v1/conversation-items", item("in", occurredAt="2023-06-01T10:00:00.000Z"))[0] == 200
        assert call(sim, "POST", "/api/v1/conversation-items", item("out", occurredAt="2023-02-01T10:00:00.000Z"))[0] == 400


# -- customer profiles -----------------------------------------------------------------------------

PROFILES = "/api/v1/customer-profiles"


def test_profiles_create_find_get_and_patch_replaces_the_whole_list(sim: GladlySimulator) -> None:
    status, headers, body = call(sim, "POST", PROFILES, {"name": "Jane", "emails": [{"original": "Jane@Example.com"}],
                                                         "phones": [{"original": "+14155550100", "type": "MOBILE"}]})
    assert status == 201 and body is None and headers["location"].startswith(PROFILES + "/")
    jane = headers["location"].rsplit("/", 1)[1]
    status, _, found = call(sim, "GET", f"{PROFILES}?email=jane%40example.com")
    assert status == 200 and [p["id"] for p in found] == [jane]
    assert call(sim, "GET", f"{PROFILES}?email=a%40b.c&phoneNumber=%2B1")[0] == 400      # exactly one identifier
    assert call(sim, "PATCH", f"{PROFILES}/{jane}", {"phones": [{"original": "650 123 4567"}]})[0] == 204
    profile = call(sim, "GET", f"{PROFILES}/{jane}")[2]
    assert profile["phones"] == [{"original": "650 123 4567", "normalized": "+16501234567"}]  # replaced, read as US
    assert profile["name"] == "Jane" and profile["emails"][0]["normalized"] == "jane@example.com"
    assert call(sim, "PATCH", f"{PROFILES}/{jane}", {"phones": [{"original": "not a number"}]})[0] == 400


def test_profiles_409_on_id_email_and_mobile_phone(sim: GladlySimulator) -> None:
    first = {"id": "cust-1", "emails": [{"original": "a@example.com"}], "phones": [{"original": "+14155550199",
                                                                                    "type": "MOBILE"}]}
    assert call(sim, "POST", PROFILES, first)[0] == 201
    assert call(sim, "POST", PROFILES, {"id": "cust-1", "emails": [{"original": "b@example.com"}]})[2]["errors"][0][
        "attr"] == "id"
    assert call(sim, "POST", PROFILES, {"emails": [{"original": "A@example.com"}]})[0] == 409
    assert call(sim, "POST", PROFILES, {"emails": [{"original": "c@example.com"}],
                                        "phones": [{"original": "+1 415 555 0199", "type": "MOBILE"}]})[0] == 409
    other = call(sim, "POST", PROFILES, {"emails": [{"original": "d@example.com"}]})[1]["location"].rsplit("/", 1)[1]
    status, _, body = call(sim, "PATCH", f"{PROFILES}/{other}", {"phones": [{"original": "+14155550199"}]})
    assert status == 409 and body["errors"][0]["code"] == "taken"   # another's MOBILE, even as OTHER


def test_a_merged_customer_answers_301_and_its_patch_404(sim: GladlySimulator) -> None:
    old = sim.add_profile(emails=[{"original": "old@example.com"}], phones=[{"original": "+14155550101"}])
    new = sim.add_profile(name="Kept", emails=[{"original": "new@example.com"}])
    sim.profile_store.merge(old, new)
    status, _, body = call(sim, "GET", f"{PROFILES}/{old}")
    assert status == 301 and body["errors"][0]["code"] == "moved" and body["errors"][0]["meta"] == {"old": old, "new": new}
    assert call(sim, "PATCH", f"{PROFILES}/{old}", {"name": "x"})[0] == 404
    merged = call(sim, "GET", f"{PROFILES}/{new}")[2]
    assert {e["normalized"] for e in merged["emails"]} == {"old@example.com", "new@example.com"}
    assert [p["id"] for p in call(sim, "GET", f"{PROFILES}?email=old%40example.com")[2]] == [new]


def test_a_new_item_creates_an_email_only_profile_and_carries_its_id(sim: GladlySimulator) -> None:
    created = call(sim, "POST", "/api/v1/conversation-items", item())[2]
    profile = call(sim, "GET", f"{PROFILES}/{created['customerId']}")[2]
    assert [e["normalized"] for e in profile["emails"]] == ["jane.doe@example.com"]
    assert "name" not in profile and profile["phones"] == []
    assert call(sim, "POST", "/api/v1/conversation-items", item("zendesk-1-12"))[2]["customerId"] == profile["id"]


def test_find_answers_at_most_50_most_recently_updated_first(sim: GladlySimulator) -> None:
    for n in range(55):
        sim.profile_store.profiles[f"p{n}"] = {"id": f"p{n}", "emails": [{"original": "x", "normalized": "shared@example.com"}],
                                               "phones": [], "updatedAt": f"2026-01-01T00:00:{n:02d}.000Z"}
    found = call(sim, "GET", f"{PROFILES}?email=shared%40example.com")[2]
    assert len(found) == 50 and found[0]["id"] == "p54"


def test_the_rate_limit_counts_every_method_together() -> None:
    with GladlySimulator(rate_limit=10) as sim:
        statuses = [call(sim, method, path, body)[0] for method, path, body in
                    [("POST", "/api/v1/conversation-items", item(f"r{n}")) for n in range(4)]
                    + [("GET", f"{PROFILES}?email=jane.doe%40example.com", None)] * 4
                    + [("PATCH", f"{PROFILES}/nobody", {"name": "x"})] * 4]
        assert statuses[:10].count(429) == 0 and statuses[10:] == [429, 429]
