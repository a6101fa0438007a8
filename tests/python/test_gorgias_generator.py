"""bench/generate_gorgias.py: deterministic, the requested size, and the ugly cases of real accounts."""

from __future__ import annotations

import json
from pathlib import Path

from bench.generate_gorgias import UGLY_CASES, generate


def _read(folder: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (folder / name).read_text(encoding="utf-8").splitlines()]


def test_same_seed_gives_the_same_bytes_and_another_seed_other_bytes(tmp_path: Path) -> None:
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        generate(tmp_path / name, 400, seed=seed)
    for listing in ("tickets.jsonl", "messages.jsonl"):
        assert (tmp_path / "a" / listing).read_bytes() == (tmp_path / "b" / listing).read_bytes()
        assert (tmp_path / "a" / listing).read_bytes() != (tmp_path / "c" / listing).read_bytes()


def test_it_writes_exactly_the_messages_asked_for(tmp_path: Path) -> None:
    info = generate(tmp_path, 1_234, seed=1)
    messages = _read(tmp_path, "messages.jsonl")
    assert len(messages) == info["messages"] == info["items"] == 1_234
    assert len({m["id"] for m in messages}) == 1_234
    assert info["config"]["simulator_data"] == str(tmp_path)


def test_a_small_account_shows_every_ugly_case(tmp_path: Path) -> None:
    generate(tmp_path, len(UGLY_CASES) * 6, seed=3)
    tickets, messages = _read(tmp_path, "tickets.jsonl"), _read(tmp_path, "messages.jsonl")
    ticket_ids = {t["id"] for t in tickets}
    assert any(t["customer"] is None for t in tickets)
    assert any(t["customer"] and t["customer"]["email"] is None for t in tickets)
    assert any(t["subject"] is None for t in tickets)
    assert any(m["ticket_id"] not in ticket_ids for m in messages), "a message of a deleted ticket"
    assert any(m["body_text"] == "" and m["attachments"] for m in messages)
    assert any(m["created_datetime"] is None for m in messages)
    formats = {("T" in (m["created_datetime"] or "")[:11], "." in (m["created_datetime"] or "")) for m in messages}
    assert formats >= {(True, True), (False, True), (True, False), (False, False)}
