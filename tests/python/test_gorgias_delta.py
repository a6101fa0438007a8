"""Gorgias delta runs (issue 7): list newest first, stop at the last complete extraction's newest
item minus an overlap window, skip the items already extracted by id."""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from extract import gorgias
from extract.simulators.gorgias import Faults, GorgiasSimulator
from tests.python.conftest import PROJECT_DIR, item_ids, run_import, write_config
from tests.python.gorgias_helpers import API_KEY, EMAIL, FAST_CLIENT, account, extract_once

N_MESSAGES = 1_050  # 11 pages of messages, 3 of tickets


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GORGIAS_EMAIL", EMAIL)
    monkeypatch.setenv("GORGIAS_API_KEY", API_KEY)
    monkeypatch.setattr(gorgias, "CLIENT_OPTIONS", {**gorgias.CLIENT_OPTIONS, **FAST_CLIENT})


@pytest.fixture
def data(tmp_path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return account(tmp_path / "account", N_MESSAGES)


def simulator(data: tuple[list, list], **options: Any) -> GorgiasSimulator:
    tickets, messages = data
    return GorgiasSimulator(list(tickets), list(messages), email=EMAIL, api_key=API_KEY, bucket_capacity=None,
                            **options)


def newest(items: list[dict[str, Any]]) -> datetime:
    return max(d for d in (gorgias.parse_datetime(i.get("created_datetime")) for i in items) if d)


def new_ticket(ticket_id: int, created: datetime) -> dict[str, Any]:
    return {"id": ticket_id, "subject": "After launch", "status": "open", "tags": [],
            "created_datetime": created.isoformat(), "updated_datetime": created.isoformat(),
            "customer": {"id": 990001, "email": "late.customer@example.com", "name": "Late Customer"}}


def new_message(message_id: int, ticket_id: int, created: datetime, *, space: bool = False) -> dict[str, Any]:
    text = created.isoformat()
    return {"id": message_id, "ticket_id": ticket_id, "channel": "email", "via": "email", "public": True,
            "from_agent": False, "subject": "", "body_text": f"New message {message_id}",
            "sender": {"id": 990001, "email": "late.customer@example.com", "name": "Late Customer"},
            "created_datetime": text.replace("T", " ", 1) if space else text, "attachments": []}


def _customer(ticket: dict[str, Any]) -> dict[str, Any]:
    return ticket.get("customer") or {}


def after_launch(data: tuple[list, list], n_new: int) -> tuple[list[dict], list[dict], dict[str, Any]]:
    """n_new messages after the account's newest (half on a new ticket, half on an old one) and one
    message created 30 minutes before the newest: during the last run, after it had listed that far."""
    tickets, messages = data
    top = newest(messages)
    ticket = new_ticket(90_000_001, top + timedelta(minutes=5))
    old = [t for t in tickets if re.fullmatch(r"[a-z.]+[0-9]*@[a-z.-]+", str(_customer(t).get("email")))]
    added = [new_message(900_000_000 + n, ticket["id"] if n % 2 else old[0]["id"],
                         top + timedelta(minutes=10 + n), space=n % 3 == 0) for n in range(n_new)]
    late = new_message(899_999_999, old[-1]["id"], top - timedelta(minutes=30))
    return [ticket], [*added, late], late


def pages_of(sim: GorgiasSimulator, path: str) -> int:
    return sum(1 for entry in sim.log if entry.path == path)


def test_delta_reads_only_the_pages_back_to_the_overlap_window(data: tuple, tmp_path: Path) -> None:
    with simulator(data) as sim:
        full = extract_once(sim.base_url, tmp_path, {"delta_overlap_hours": 2})
        assert sim.request_count == 11 + 3
        tickets, messages, late = after_launch(data, 40)
        sim.add(tickets=tickets, messages=messages)
        before = sim.request_count
        delta = extract_once(sim.base_url, tmp_path, {"delta_overlap_hours": 2}, mode="delta")
        delta_log = sim.log[before:]
    # newest first, down to the newest message of the last run minus 2 h: 40 new + the late one +
    # the few old ones of those 2 h fit on one page of messages; the new ticket on one page of tickets
    since = newest(data[1]) - timedelta(hours=2)
    in_window = sum(1 for m in data[1] + messages
                    if (c := gorgias.parse_datetime(m.get("created_datetime"))) and c >= since)
    assert in_window < 100
    assert [(e.path, e.params["order_by"]) for e in delta_log] == [
        ("/api/messages", "created_datetime:desc"), ("/api/tickets", "created_datetime:desc")]
    ids = delta.message_ids
    assert len(ids) == len(set(ids)) == N_MESSAGES + 41  # every message exactly once
    assert set(ids) == set(full.message_ids) | {str(m["id"]) for m in messages}
    assert str(late["id"]) in ids  # created during the last run, inside the overlap: not missed
    assert {row["ticket_id"] for row in delta.tickets} >= {"90000001"}
    assert len({row["ticket_id"] for row in delta.tickets}) == len(delta.tickets) == len(data[0]) + 1
    assert "delta 1: messages from" in delta.log and "41 new messages and 1 new tickets" in delta.log


def test_a_longer_overlap_reads_more_pages_and_still_keeps_each_message_once(data: tuple, tmp_path: Path) -> None:
    overlap_hours = 24 * 7
    with simulator(data) as sim:
        extract_once(sim.base_url, tmp_path)
        tickets, messages, _ = after_launch(data, 5)
        sim.add(tickets=tickets, messages=messages)
        before = sim.request_count
        delta = extract_once(sim.base_url, tmp_path, {"delta_overlap_hours": overlap_hours}, mode="delta")
    since = newest(data[1]) - timedelta(hours=overlap_hours)
    in_window = sum(1 for m in data[1] + messages
                    if (c := gorgias.parse_datetime(m.get("created_datetime"))) and c >= since)
    # the page holding the first message older than the window is the last one read: 284 messages
    # of the last 7 days (+ the new ones) -> 3 pages; tickets: 1 page; 4 requests instead of 14
    assert in_window == 284
    assert pages_of(sim, "/api/messages") - 11 == in_window // 100 + 1 == 3
    assert pages_of(sim, "/api/tickets") - 3 == 1
    assert sim.request_count - before == 4
    assert len(delta.message_ids) == len(set(delta.message_ids)) == N_MESSAGES + 6


def test_a_second_delta_with_nothing_new_reads_one_page_per_listing_and_changes_nothing(
        data: tuple, tmp_path: Path) -> None:
    with simulator(data) as sim:
        extract_once(sim.base_url, tmp_path, {"delta_overlap_hours": 1})
        tickets, messages, _ = after_launch(data, 3)
        sim.add(tickets=tickets, messages=messages)
        first = extract_once(sim.base_url, tmp_path, {"delta_overlap_hours": 1}, mode="delta")
        before = sim.request_count
        second = extract_once(sim.base_url, tmp_path, {"delta_overlap_hours": 1}, mode="delta")
    assert sim.request_count - before == 2
    assert second.message_ids == first.message_ids and len(second.tickets) == len(first.tickets)
    assert "0 new messages and 0 new tickets" in second.log


def test_a_cursor_that_expires_in_a_delta_restarts_it_from_the_newest_without_doubles(
        data: tuple, tmp_path: Path) -> None:
    with simulator(data, faults=Faults(by_request={16: "expire"})) as sim:
        extract_once(sim.base_url, tmp_path)
        tickets, messages, _ = after_launch(data, 150)  # 2 pages of new messages
        sim.add(tickets=tickets, messages=messages)
        delta = extract_once(sim.base_url, tmp_path, {"delta_overlap_hours": 1}, mode="delta")
    # request 15: messages page 1; 16: page 2 with an expired cursor -> page 1 again, then page 2
    assert "the cursor expired" in delta.log
    assert len(delta.message_ids) == len(set(delta.message_ids)) == N_MESSAGES + 151


def test_an_interrupted_delta_is_resumed_by_the_next_delta(data: tuple, tmp_path: Path) -> None:
    # the full run takes requests 1-14; the delta's messages page 1 is request 15, then page 2
    # fails on every attempt (1 + 6 retries): the run stops with page 1 checkpointed
    failing = {n: "500" for n in range(16, 23)}
    with simulator(data, faults=Faults(by_request=failing)) as sim:
        extract_once(sim.base_url, tmp_path, {"delta_overlap_hours": 1})
        tickets, messages, _ = after_launch(data, 150)
        sim.add(tickets=tickets, messages=messages)
        with pytest.raises(Exception, match="500"):
            extract_once(sim.base_url, tmp_path, {"delta_overlap_hours": 1}, mode="delta")
        resumed = extract_once(sim.base_url, tmp_path, {"delta_overlap_hours": 1}, mode="delta")
    assert "resuming the interrupted delta 1" in resumed.log
    assert len(resumed.message_ids) == len(set(resumed.message_ids)) == N_MESSAGES + 151
    assert "151 new messages and 1 new tickets" in resumed.log


def test_delta_without_a_complete_extraction_extracts_everything(data: tuple, tmp_path: Path) -> None:
    with simulator(data) as sim:
        result = extract_once(sim.base_url, tmp_path, mode="delta")
    assert len(result.message_ids) == N_MESSAGES
    assert "no previous complete extraction" in result.log
    assert [e.params["order_by"] for e in sim.log] == ["created_datetime:asc"] * 14



@pytest.mark.slow
def test_import_delta_file_holds_exactly_the_new_messages(tmp_path: Path) -> None:
    folder = tmp_path / "gorgias"
    shutil.copytree(PROJECT_DIR / "samples" / "gorgias", folder)
    config = write_config(tmp_path, {"gorgias": {"simulate": True, "simulator_data": "gorgias/"}})
    full = run_import(config)
    assert full.returncode == 0, full.stderr
    full_files = {p.name for p in full.item_files()}
    tickets = [json.loads(line) for line in (folder / "tickets.jsonl").read_text(encoding="utf-8").splitlines()]
    messages = [json.loads(line) for line in (folder / "messages.jsonl").read_text(encoding="utf-8").splitlines()]
    new_tickets, new_messages, _ = after_launch((tickets, messages), 12)
    for name, rows in (("tickets.jsonl", new_tickets), ("messages.jsonl", new_messages)):
        with open(folder / name, "a", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in rows)
    delta = run_import(config, "--mode", "delta")
    assert delta.returncode == 0, delta.stderr
    assert "delta 1: messages from" in delta.stderr
    new_files = [p for p in delta.item_files() if p.name not in full_files]
    assert sorted(item_ids(new_files)) == sorted(f"gorgias-{m['id']}" for m in new_messages)
    assert delta.summary["platforms"]["gorgias"]["duplicates"] == 0
    assert delta.summary["totals"]["unaccounted"] == 0
