"""The benchmark's Freshdesk export generator: deterministic, and in the shape the extractor reads."""

from __future__ import annotations

from pathlib import Path

from bench.generate_freshdesk import generate
from tests.python.freshdesk_helpers import run_extract


def test_same_seed_gives_the_same_bytes(tmp_path: Path) -> None:
    first = generate(tmp_path / "a.zip", 400, seed=7)
    second = generate(tmp_path / "b.zip", 400, seed=7)
    third = generate(tmp_path / "c.zip", 400, seed=8)
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    assert (tmp_path / "a.zip").read_bytes() != (tmp_path / "c.zip").read_bytes()
    assert first["xml_bytes"] == second["xml_bytes"] != third["xml_bytes"]


def test_generated_export_accounts_for_every_item(tmp_path: Path) -> None:
    meta = generate(tmp_path / "export", 3_000, seed=42, tickets_per_file=100)
    files = sorted((tmp_path / "export").iterdir())
    assert {"Tickets0.xml", "ArchivedTickets4.xml", "Users0.xml", "Companies.xml"} <= {f.name for f in files}
    result = run_extract(files, tmp_path / "work")
    assert len(result.tickets) + len(result.notes) + len(result.rejects) == meta["items"] == 3_000
    assert {r["reject_reason"] for r in result.rejects} == {"deleted_ticket", "spam_ticket", "deleted_note"}
