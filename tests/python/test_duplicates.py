"""Copies of one conversation item (overlapping exports): the newest copy is kept, then one Gladly
takes, then the last read; the rule itself is unit-tested in models/intermediate (dbt)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.python.conftest import run_import, write_config

pytestmark = pytest.mark.slow  # whole imports: make test-fast leaves these out


def _ticket(updated_at: str, requester: dict, bodies: list[str]) -> dict:
    return {
        "id": 4711, "subject": "Parcel never arrived", "status": "open", "tags": ["shipping"],
        "created_at": "2021-03-04T15:22:10Z", "updated_at": updated_at, "requester": requester,
        "comments": [{"id": 1 + n, "author_id": 7, "body": body, "plain_body": body, "public": True,
                      "created_at": f"2021-03-0{4 + n}T15:22:10Z"} for n, body in enumerate(bodies)],
    }


def _export(path: Path, *tickets: dict) -> None:
    path.write_text("".join(json.dumps(t) + "\n" for t in tickets), encoding="utf-8")


def test_a_ticket_in_two_exports_gives_both_comments_from_the_importable_copy(tmp_path: Path) -> None:
    # The overlap: the file read last lost the requester's email (its user sideload was
    # missing); before, both comments were rejected missing_email and the good copy counted as a duplicate.
    (tmp_path / "exports").mkdir()
    jane = {"id": 7, "name": "Jane Doe", "email": "jane@example.com"}
    _export(tmp_path / "exports" / "2021-03-a.json",
            _ticket("2021-03-09T08:00:00Z", jane, ["Where is my parcel?", "Any news?"]))
    _export(tmp_path / "exports" / "2021-03-b.json",
            _ticket("2021-03-09T08:00:00Z", {"id": 7, "name": "Jane Doe"}, ["Where is my parcel?", "Any news?"]))
    result = run_import(write_config(tmp_path, {"zendesk": {"path": "exports/"}}))
    assert result.returncode == 0, result.stderr
    items = sorted(result.items(), key=lambda i: i["Conversation Item ID"])
    assert [(i["Conversation Item ID"], i["Customer Email"], i["Conversation Item Body"]) for i in items] == [
        ("zendesk-4711-1", "jane@example.com", "Where is my parcel?"),
        ("zendesk-4711-2", "jane@example.com", "Any news?")]
    counts = result.summary["platforms"]["zendesk"]
    assert (counts["exported"], counts["duplicates"], counts["rejected"], counts["unaccounted"]) == (2, 2, 0, 0)


def test_the_newest_copy_of_a_ticket_wins_even_when_read_first(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    jane = {"id": 7, "name": "Jane Doe", "email": "jane@example.com"}
    _export(tmp_path / "exports" / "a.json", _ticket("2021-03-20T08:00:00Z", jane, ["edited later"]))
    _export(tmp_path / "exports" / "b.json", _ticket("2021-03-09T08:00:00Z", jane, ["as first written"]))
    result = run_import(write_config(tmp_path, {"zendesk": {"path": "exports/"}}))
    assert result.returncode == 0, result.stderr
    assert [i["Conversation Item Body"] for i in result.items()] == ["edited later"]
