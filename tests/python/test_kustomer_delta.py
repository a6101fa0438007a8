"""Kustomer delta runs: both searches from the last complete extraction's newest createdAt minus an
overlap, messages already extracted skipped by id, only new customers fetched."""

from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.generate_kustomer import generate
from extract import kustomer
from extract.http_client import HttpClient
from extract.simulators.kustomer import KustomerSimulator
from tests.python.conftest import item_ids, run_import
from tests.python.conftest import write_config as write_import_config
from tests.python.kustomer_helpers import KEY, run_extract

N_MESSAGES = 450  # created in 2019: all in the archive search


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(kustomer.CLIENT_OPTIONS, "backoff_base", 0.01)
    monkeypatch.setitem(kustomer.CLIENT_OPTIONS, "backoff_max", 0.05)
    monkeypatch.setitem(kustomer.CLIENT_OPTIONS, "timeout", 5.0)


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("KUSTOMER_API_KEY", KEY)
    return KEY


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def simulator(folder: Path, api_key: str, port: int) -> KustomerSimulator:
    """The account on a fixed port: the checkpoint belongs to its base URL, which must not change."""
    return KustomerSimulator(folder, api_key=api_key, port=port)


# The searches' budget (95 a minute, spaced evenly) is tested on its own (the progress line, the
# budget test, the acceptance run); elsewhere it would only make each window wait 0.63 s.
UNHURRIED_SEARCHES = {"search_requests_per_minute": 6000}


def options(sim: KustomerSimulator, **extra: Any) -> dict[str, Any]:
    return {"base_url": sim.base_url, "api_key_env": "KUSTOMER_API_KEY", **UNHURRIED_SEARCHES, **extra}


def customer(customer_id: str, email: str) -> dict[str, Any]:
    return {"type": "customer", "id": customer_id,
            "attributes": {"name": "Nadia Novak", "firstName": "Nadia", "lastName": "Novak",
                           "emails": [{"type": "home", "email": email}], "phones": [], "deleted": False}}


def message(message_id: str, customer_id: str, created: str) -> dict[str, Any]:
    return {"type": "message", "id": message_id,
            "attributes": {"channel": "email", "app": "postmark", "direction": "in",
                           "preview": f"New after launch ({message_id}): where is my parcel?",
                           "meta": {"from": "nadia@example.com", "to": [{"email": "support@example.com"}]},
                           "createdAt": created, "sentAt": created, "updatedAt": created},
            "relationships": {"customer": {"links": {"self": f"/v1/customers/{customer_id}"},
                                           "data": {"type": "customer", "id": customer_id}}}}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def add_after_launch(folder: Path, n_new: int, new_customers: int, *, during_run_at: int | None = None,
                     prefix: str = "d") -> list[str]:
    """Append n_new messages of late 2026 (spread over new customers and one old one), and, with
    during_run_at, insert one more at that position, created 1 h before the newest message the last
    extraction saw (inside the overlap) but only listed after it. Returns the new message ids."""
    messages = read_jsonl(folder / "messages.jsonl")
    customers = read_jsonl(folder / "customers.jsonl")
    old_customer = kustomer.customer_ref(messages[0])[0]
    fresh = [f"{prefix}c{n:022d}" for n in range(new_customers)]
    customers += [customer(cid, f"nadia.{n}@example.com") for n, cid in enumerate(fresh)]
    owners = [*fresh, old_customer]
    added = [message(f"{prefix}m{n:022d}", owners[n % len(owners)], f"2026-11-20T10:{n // 60:02d}:{n % 60:02d}.000Z")
             for n in range(n_new)]
    messages += added
    ids = [m["id"] for m in added]
    if during_run_at is not None:
        newest = max(m["attributes"]["createdAt"] for m in messages if m["id"] not in ids)
        when = datetime.fromisoformat(newest.replace("Z", "+00:00")) - timedelta(hours=1)
        late = message(f"{prefix}late{0:020d}", old_customer, when.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        messages.insert(during_run_at, late)
        ids.append(late["id"])
    write_jsonl(folder / "messages.jsonl", messages)
    write_jsonl(folder / "customers.jsonl", customers)
    return ids


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    generate(data, N_MESSAGES, seed=5)
    return data


def search_starts(sim: KustomerSimulator) -> list[str]:
    return [s["and"][0]["message_created_at"]["gte"] for s in sim.searches]


def test_delta_reads_from_the_newest_message_minus_the_overlap_and_fetches_only_new_customers(
        folder: Path, tmp_path: Path, api_key: str) -> None:
    port = free_port()
    work = tmp_path / "work"
    with simulator(folder, api_key, port) as sim:
        full = run_extract(work, options(sim))
    assert len(full.message_ids()) == N_MESSAGES
    newest = max(row["created_at"] for row in full.tables["messages"])
    new_ids = add_after_launch(folder, 120, 3, during_run_at=350)
    with simulator(folder, api_key, port) as sim:
        delta = run_extract(work, options(sim), mode="delta")
    since = datetime.fromisoformat(newest.replace("Z", "+00:00")) - timedelta(hours=24)
    assert search_starts(sim)[0] == since.strftime("%Y-%m-%dT%H:%M:%S.") + f"{since.microsecond // 1000:03d}Z"
    assert sim.by_kind["customer"] == 3  # the old customer of the new messages is not fetched again
    assert sim.by_kind["search"] + sim.by_kind["archive"] <= 8  # a few pages, not the whole history
    ids = delta.message_ids()
    assert len(ids) == len(set(ids)) == N_MESSAGES + 121  # every message exactly once
    assert set(ids) == set(full.message_ids()) | set(new_ids)
    assert "minus 24 h of overlap" in delta.progress
    assert len({row["customer_id"] for row in delta.tables["customers"]}) == len(delta.tables["customers"])


def test_a_message_listed_late_inside_the_overlap_is_not_missed(folder: Path, tmp_path: Path, api_key: str) -> None:
    port = free_port()
    work = tmp_path / "work"
    with simulator(folder, api_key, port) as sim:
        run_extract(work, options(sim))
    late = add_after_launch(folder, 0, 0, during_run_at=320)
    with simulator(folder, api_key, port) as sim:
        delta = run_extract(work, options(sim), mode="delta")
    ids = delta.message_ids()
    assert late[0] in ids and len(ids) == len(set(ids)) == N_MESSAGES + 1
    assert sim.by_kind["customer"] == 0


def test_a_second_delta_with_nothing_new_reads_the_overlap_only_and_changes_nothing(
        folder: Path, tmp_path: Path, api_key: str) -> None:
    port = free_port()
    work = tmp_path / "work"
    with simulator(folder, api_key, port) as sim:
        run_extract(work, options(sim))
        first = run_extract(work, options(sim), mode="delta")
        before = sim.requests
        second = run_extract(work, options(sim, delta_overlap_hours=1), mode="delta")
    assert sim.requests - before <= 6  # per search: the overlap's page, one query past it, a probe
    assert second.message_ids() == first.message_ids()
    assert second.rejects == first.rejects
    assert "0 fetched this run" in second.progress


def test_delta_without_a_complete_extraction_extracts_everything(folder: Path, tmp_path: Path, api_key: str) -> None:
    with simulator(folder, api_key, free_port()) as sim:
        result = run_extract(tmp_path / "work", options(sim), mode="delta")
    assert len(result.message_ids()) == N_MESSAGES
    assert "no previous complete extraction" in result.progress


def test_an_interrupted_delta_resumes_and_a_full_run_after_it_starts_afresh(
        folder: Path, tmp_path: Path, api_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    work = tmp_path / "work"
    with simulator(folder, api_key, port) as sim:
        run_extract(work, options(sim))
    new_ids = add_after_launch(folder, 250, 2)
    calls = {"n": 0}
    real = HttpClient.request_json

    def dying(self: HttpClient, method: str, path: str, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # issue 28: pages of 500, a delta of 2 searches (was the third of 6 pages)
            raise KeyboardInterrupt
        return real(self, method, path, **kwargs)

    with simulator(folder, api_key, port) as sim:
        monkeypatch.setattr(HttpClient, "request_json", dying)
        with pytest.raises(KeyboardInterrupt):
            run_extract(work, options(sim), mode="delta")
        monkeypatch.setattr(HttpClient, "request_json", real)
        resumed = run_extract(work, options(sim), mode="delta")
        full = run_extract(work, options(sim))
    assert "resuming the interrupted delta 1" in resumed.progress
    ids = resumed.message_ids()
    assert len(ids) == len(set(ids)) == N_MESSAGES + 250 and set(new_ids) <= set(ids)
    assert "extracts the account afresh" in full.progress and sorted(full.message_ids()) == sorted(ids)


@pytest.mark.slow
def test_import_delta_file_holds_exactly_the_new_messages(folder: Path, tmp_path: Path) -> None:
    config = write_import_config(tmp_path, {"kustomer": {"simulate": True, "simulator_data": "data"}})
    full = run_import(config)
    assert full.returncode == 0, full.stderr
    full_files = {p.name for p in full.item_files()}
    new_ids = add_after_launch(folder, 30, 2, during_run_at=420)
    delta = run_import(config, "--mode", "delta")
    assert delta.returncode == 0, delta.stderr
    assert "delta 1 after the extraction" in delta.stderr
    new_files = [p for p in delta.item_files() if p.name not in full_files]
    assert sorted(item_ids(new_files)) == sorted(f"kustomer-{i}" for i in new_ids)
    counts = delta.summary["platforms"]["kustomer"]
    assert counts["duplicates"] == 0 and delta.summary["totals"]["unaccounted"] == 0
