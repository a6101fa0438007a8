"""Kustomer delta runs (issue 7): start from the last complete extraction's last page minus an
overlap, fetch to the end, skip messages already extracted by id, fetch only new customers."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from bench.generate_kustomer import generate
from extract import kustomer
from extract.simulators.kustomer import KustomerSimulator
from tests.python.conftest import item_ids, run_import
from tests.python.conftest import write_config as write_import_config
from tests.python.kustomer_helpers import KEY, run_extract

N_MESSAGES = 450  # 5 pages of 100, the last one half full


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


def options(sim: KustomerSimulator, **extra: Any) -> dict[str, Any]:
    return {"base_url": sim.base_url, "api_key_env": "KUSTOMER_API_KEY", **extra}


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
    """Append n_new messages (spread over new customers and one old one), and, with during_run_at,
    insert one more message at that position: created while the last extraction ran, after it had
    passed that page. Returns the new message ids."""
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
        late = message(f"{prefix}late{0:020d}", old_customer, "2026-11-19T23:59:59.000Z")
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


def test_delta_reads_only_the_overlap_and_new_pages_and_new_customers(folder: Path, tmp_path: Path,
                                                                      api_key: str) -> None:
    port = free_port()
    work = tmp_path / "work"
    with simulator(folder, api_key, port) as sim:
        full = run_extract(work, options(sim))
    assert len(full.message_ids()) == N_MESSAGES
    # 120 new messages, 3 new customers; one message lands on page 4 (inside the 2-page overlap)
    new_ids = add_after_launch(folder, 120, 3, during_run_at=350)
    with simulator(folder, api_key, port) as sim:
        delta = run_extract(work, options(sim), mode="delta")
    # 571 messages = 6 pages. The last extraction ended at page 5; 2 pages of overlap: pages 4, 5, 6,
    # then the 3 new customers (the old customer is not fetched again): 3 + 3 requests, not 6 + 47
    pages = [path for path, _ in sim.log if path.startswith("/v1/messages")]
    assert [kustomer._page_number(p) for p in pages] == [4, 5, 6]
    assert sim.by_kind["customer"] == 3
    assert sim.requests == 3 + 3
    ids = delta.message_ids()
    assert len(ids) == len(set(ids)) == N_MESSAGES + 121  # every message exactly once
    assert set(ids) == set(full.message_ids()) | set(new_ids)
    assert "delta from page 4: 121 new messages (150 overlapping ones skipped) in 3 pages" in delta.progress
    assert len({row["customer_id"] for row in delta.tables["customers"]}) == len(delta.tables["customers"])


def test_a_message_created_during_the_last_run_inside_the_overlap_is_not_missed(
        folder: Path, tmp_path: Path, api_key: str) -> None:
    port = free_port()
    work = tmp_path / "work"
    with simulator(folder, api_key, port) as sim:
        run_extract(work, options(sim))
    late = add_after_launch(folder, 0, 0, during_run_at=320)  # page 4: the last run had read it already
    with simulator(folder, api_key, port) as sim:
        delta = run_extract(work, options(sim), mode="delta")
    ids = delta.message_ids()
    assert late[0] in ids and len(ids) == len(set(ids)) == N_MESSAGES + 1
    # 451 messages, still 5 pages: pages 4 and 5 re-read (100 + 51), the 150 old ones skipped by id
    assert "1 new messages (150 overlapping ones skipped)" in delta.progress
    assert sim.by_kind["messages"] == 2 and sim.by_kind["customer"] == 0


def test_a_second_delta_with_nothing_new_reads_the_overlap_only_and_changes_nothing(
        folder: Path, tmp_path: Path, api_key: str) -> None:
    port = free_port()
    work = tmp_path / "work"
    with simulator(folder, api_key, port) as sim:
        run_extract(work, options(sim))
        first = run_extract(work, options(sim), mode="delta")
        before = sim.requests
        second = run_extract(work, options(sim, delta_overlap_pages=1), mode="delta")
    assert sim.requests - before == 1  # page 5 only: the last page is always re-read
    assert second.message_ids() == first.message_ids()
    assert second.rejects == first.rejects
    assert "0 new messages" in second.progress


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
    new_ids = add_after_launch(folder, 250, 2)  # 700 messages: pages 4 to 7 in the delta
    calls = {"pages": 0}
    real_page = kustomer.Extraction._page

    def dying_page(self: kustomer.Extraction, path: str, part: kustomer.Part) -> str | None:
        calls["pages"] += 1
        if calls["pages"] == 4:
            raise KeyboardInterrupt
        return real_page(self, path, part)

    with simulator(folder, api_key, port) as sim:
        monkeypatch.setattr(kustomer.Extraction, "_page", dying_page)
        with pytest.raises(KeyboardInterrupt):
            run_extract(work, options(sim, checkpoint_every_pages=1), mode="delta")
        monkeypatch.setattr(kustomer.Extraction, "_page", real_page)
        resumed = run_extract(work, options(sim), mode="delta")
        full = run_extract(work, options(sim))
    assert "resuming the interrupted delta from page 4 at page 7" in resumed.progress
    ids = resumed.message_ids()
    assert len(ids) == len(set(ids)) == N_MESSAGES + 250 and set(new_ids) <= set(ids)
    assert "extracting afresh" in full.progress and sorted(full.message_ids()) == sorted(ids)


def test_delta_overlap_pages_must_be_at_least_one(tmp_path: Path, api_key: str) -> None:
    with pytest.raises(Exception, match="delta_overlap_pages"):
        kustomer.Settings.from_options({"simulate": True, "delta_overlap_pages": 0})



@pytest.mark.slow
def test_import_delta_file_holds_exactly_the_new_messages(folder: Path, tmp_path: Path) -> None:
    config = write_import_config(tmp_path, {"kustomer": {"simulate": True, "simulator_data": "data"}})
    full = run_import(config)
    assert full.returncode == 0, full.stderr
    full_files = {p.name for p in full.item_files()}
    new_ids = add_after_launch(folder, 30, 2, during_run_at=420)
    delta = run_import(config, "--mode", "delta")
    assert delta.returncode == 0, delta.stderr
    assert "delta from page 4" in delta.stderr
    new_files = [p for p in delta.item_files() if p.name not in full_files]
    assert sorted(item_ids(new_files)) == sorted(f"kustomer-{i}" for i in new_ids)
    counts = delta.summary["platforms"]["kustomer"]
    assert counts["duplicates"] == 0 and delta.summary["totals"]["unaccounted"] == 0
