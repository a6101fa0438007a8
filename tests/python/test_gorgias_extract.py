"""The Gorgias extractor against the local simulator, over real HTTP on 127.0.0.1.

Every run that meets trouble (429s, 500s, dropped or slow answers, an expired cursor, a
kill half-way) must land exactly the messages of a clean run, no more, no fewer.
"""

from __future__ import annotations

import base64
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from extract import gorgias
from extract.api.stream import CHECKPOINT_PAGES, CursorListing
from extract.errors import AuthError, ExtractError
from extract.simulators.gorgias import Faults, GorgiasSimulator
from tests.python.gorgias_helpers import (
    API_KEY,
    EMAIL,
    FAST_CLIENT,
    PROJECT_DIR,
    account,
    extract_once,
    files_containing,
    state_identity,
)

N_MESSAGES = 1_050


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GORGIAS_EMAIL", EMAIL)
    monkeypatch.setenv("GORGIAS_API_KEY", API_KEY)
    monkeypatch.setattr(gorgias, "CLIENT_OPTIONS", {**gorgias.CLIENT_OPTIONS, **FAST_CLIENT})


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return account(tmp_path_factory.mktemp("gorgias-account"), N_MESSAGES)


@pytest.fixture(scope="module")
def clean_ids(data: tuple[list[dict[str, Any]], list[dict[str, Any]]],
              tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The message ids of a run that met no trouble."""
    tickets, messages = data
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GORGIAS_EMAIL", EMAIL)
        patch.setenv("GORGIAS_API_KEY", API_KEY)
        with GorgiasSimulator(tickets, messages, email=EMAIL, api_key=API_KEY) as sim:
            ids = extract_once(sim.base_url, tmp_path_factory.mktemp("clean")).message_ids
    assert len(ids) == len(messages) == N_MESSAGES
    return ids


def simulator(data: tuple[list[dict[str, Any]], list[dict[str, Any]]], **options: Any) -> GorgiasSimulator:
    tickets, messages = data
    return GorgiasSimulator(tickets, messages, email=EMAIL, api_key=API_KEY, **options)


def minimal_requests(n_tickets: int, n_messages: int) -> int:
    """One list request per page of 100, per listing; an empty listing still takes one."""
    return max(1, math.ceil(n_tickets / 100)) + max(1, math.ceil(n_messages / 100))


# -- request count ------------------------------------------------------------------------------


def test_request_count_is_one_list_request_per_100_items(data: Any, tmp_path: Path) -> None:
    tickets, messages = data
    with simulator(data) as sim:
        result = extract_once(sim.base_url, tmp_path)
    # requests = ceil(tickets / 100) + ceil(messages / 100): never one request per ticket
    assert sim.request_count == minimal_requests(len(tickets), len(messages)) == 3 + 11
    assert {entry.path for entry in sim.log} == {"/api/tickets", "/api/messages"}
    # messages first: a ticket listed after its messages always exists, even for new messages
    assert [entry.path for entry in sim.log] == ["/api/messages"] * 11 + ["/api/tickets"] * 3
    assert all(entry.params["limit"] == "100" for entry in sim.log)
    assert len(result.messages) == N_MESSAGES and len(result.tickets) == len(tickets)


def test_request_count_when_a_listing_fills_its_last_page_exactly(tmp_path: Path) -> None:
    tickets, messages = account(tmp_path / "account", 1_000)
    with GorgiasSimulator(tickets, messages, email=EMAIL, api_key=API_KEY) as sim:
        extract_once(sim.base_url, tmp_path / "work")
    # 1,000 messages = 10 full pages; the tenth says next_cursor null, no empty 11th request
    assert sim.request_count == minimal_requests(len(tickets), 1_000) == math.ceil(len(tickets) / 100) + 10


def test_empty_account_takes_one_request_per_listing(tmp_path: Path) -> None:
    with GorgiasSimulator([], [], email=EMAIL, api_key=API_KEY) as sim:
        result = extract_once(sim.base_url, tmp_path)
    assert sim.request_count == minimal_requests(0, 0) == 2
    assert result.messages == [] and result.rejects == []


# -- trouble on the way: the result is exactly the clean run's ----------------------------------


def test_rate_limit_429_with_retry_after_is_waited_out(data: Any, clean_ids: list[str], tmp_path: Path) -> None:
    # Gorgias' bucket (40 per 20 s, announced by every answer), plus two forced 429s (Retry-after: 1)
    faults = Faults({2: "429", 3: "429"}, retry_after_seconds=1)
    with simulator(data, faults=faults) as sim:
        started = time.monotonic()
        result = extract_once(sim.base_url, tmp_path)
    statuses = [entry.status for entry in sim.log]
    assert statuses.count(429) == 2, "the announced bucket is never overflowed by the extractor itself"
    assert result.message_ids == clean_ids
    assert time.monotonic() - started >= 2.0, "Retry-after (1 s, twice) was honoured"


@pytest.mark.slow  # ~15 s of Gorgias' real bucket timing
def test_an_enterprise_bucket_drained_in_10_s_is_learned_from_the_answers_and_used(tmp_path: Path) -> None:
    tickets, messages = account(tmp_path / "data", 5_000, seed=28)
    with GorgiasSimulator(tickets, messages, email=EMAIL, api_key=API_KEY, bucket_window=10.0) as sim:
        result = extract_once(sim.base_url, tmp_path / "work")
    assert len(result.messages) + len(result.rejects) == len(messages)
    assert sim.by_status.get(429, 0) == 0, "the model of the bucket never overfills it"
    assert "the bucket of 40 requests drains in 10 s" in result.log
    assert "a bucket of 40 drained in 10 s" in result.log  # the progress line says the window in force
    times = sorted(sim.request_times)
    after_burst = times[45:]  # past the first bucketful and the seconds that prove the drain
    assert len(after_burst) > 12 and (len(after_burst) - 1) / (after_burst[-1] - after_burst[0]) > 3.0


def test_server_errors_and_dropped_connections_are_retried(data: Any, clean_ids: list[str], tmp_path: Path) -> None:
    faults = Faults({1: "500", 4: "500", 5: "500", 7: "drop", 12: "drop"})
    with simulator(data, faults=faults) as sim:
        result = extract_once(sim.base_url, tmp_path)
    assert [entry.status for entry in sim.log].count(500) == 3
    assert sim.request_count == minimal_requests(len(data[0]), N_MESSAGES) + 5
    assert result.message_ids == clean_ids


def test_slow_answer_times_out_and_is_retried(data: Any, clean_ids: list[str], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gorgias, "CLIENT_OPTIONS", {**gorgias.CLIENT_OPTIONS, "timeout": 0.3})
    with simulator(data, faults=Faults({6: "slow"}, slow_seconds=1.5)) as sim:
        result = extract_once(sim.base_url, tmp_path)
    assert sim.request_count == minimal_requests(len(data[0]), N_MESSAGES) + 1
    assert result.message_ids == clean_ids


def test_expired_cursor_restarts_the_listing_without_losing_or_doubling(data: Any, clean_ids: list[str],
                                                                         tmp_path: Path) -> None:
    # 1,050 messages (11 pages) then 294 tickets (3 pages). Request 3 asks for messages page 3
    # with a cursor: it has expired; the listing restarts (requests 4-14), then tickets page 3
    # (request 17) meets an expired cursor too
    faults = Faults({3: "expire", 17: "expire"})
    with simulator(data, faults=faults) as sim:
        result = extract_once(sim.base_url, tmp_path)
    expired = [entry for entry in sim.log if entry.status == 400]
    assert [entry.number for entry in expired] == [3, 17] and all("cursor" in e.params for e in expired)
    assert result.message_ids == clean_ids
    assert sorted(row["ticket_id"] for row in result.tickets) == sorted(str(t["id"]) for t in data[0])
    assert "cursor expired" in result.log
    # each restart re-reads its listing from the first page: 2 message and 2 ticket pages again,
    # plus the 2 refusals
    assert sim.request_count == minimal_requests(len(data[0]), N_MESSAGES) + 2 + 2 + 2


def test_cursors_that_never_work_stop_with_a_clear_message(data: Any, tmp_path: Path) -> None:
    with simulator(data, cursor_ttl=-1.0) as sim, pytest.raises(ExtractError) as raised:
        extract_once(sim.base_url, tmp_path)
    assert "kept refusing fresh cursors" in str(raised.value)


def test_mid_run_kill_then_rerun_ends_with_exactly_the_messages_of_a_clean_run(
        data: Any, clean_ids: list[str], tmp_path: Path) -> None:
    # messages come first, with a checkpoint every 5 pages: the last one before the kill is after
    # page 5 (request 5); page 6 and 7 were spooled but not checkpointed, page 8 is in flight
    held = 8
    with simulator(data, faults=Faults({held: "hold"})) as sim:
        env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR), "GORGIAS_EMAIL": EMAIL, "GORGIAS_API_KEY": API_KEY}
        child = subprocess.Popen([sys.executable, str(Path(__file__).with_name("gorgias_helpers.py")),
                                  sim.base_url, str(tmp_path)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while sim.request_count < held and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.02)
        assert sim.request_count == held, child.stderr.read().decode() if child.stderr else ""
        child.kill()
        child.wait()
        sim.release()
        assert (tmp_path / "state" / "gorgias" / "state.json").exists()
        assert not (tmp_path / "raw" / "gorgias" / "messages.parquet").exists()
        before = sim.request_count
        result = extract_once(sim.base_url, tmp_path)
    assert result.message_ids == clean_ids
    # the rerun asks only for what comes after the checkpoint: messages pages 6 to 11, then tickets
    assert CHECKPOINT_PAGES == 5
    assert sim.request_count - before == minimal_requests(len(data[0]), N_MESSAGES) - 5
    assert "messages: resuming after page 5" in result.log


def test_a_run_that_gives_up_resumes_at_the_first_page_it_did_not_receive(data: Any, clean_ids: list[str],
                                                                          tmp_path: Path) -> None:
    # messages pages 1-7 arrive (no checkpoint due after page 7), then the server fails every
    # attempt of page 8 (1 + max_retries of them): the run stops, checkpointing page 7 on its way out
    dead = {n: "500" for n in range(8, 8 + 1 + FAST_CLIENT["max_retries"])}
    with simulator(data, faults=Faults(dead)) as sim:
        with pytest.raises(ExtractError, match="failed after 7 attempt"):
            extract_once(sim.base_url, tmp_path)
        before = sim.request_count
        result = extract_once(sim.base_url, tmp_path)
    assert result.message_ids == clean_ids
    assert sim.request_count - before == minimal_requests(len(data[0]), N_MESSAGES) - 7
    assert "messages: resuming after page 7" in result.log


def test_finished_run_keeps_its_spool_for_a_delta_and_the_next_full_run_fetches_afresh(
        data: Any, tmp_path: Path) -> None:
    with simulator(data) as sim:
        extract_once(sim.base_url, tmp_path)
        state = json.loads((tmp_path / "state" / "gorgias" / "state.json").read_text())
        assert state["status"] == "complete" and set(state["watermarks"]) == {"tickets", "messages"}
        again = extract_once(sim.base_url, tmp_path)
    assert sim.request_count == 2 * minimal_requests(len(data[0]), N_MESSAGES)
    assert len(again.messages) == N_MESSAGES and "a full run extracts the account afresh" in again.log


def test_checkpoint_of_another_account_is_not_reused(data: Any, tmp_path: Path) -> None:
    state = tmp_path / "state" / "gorgias"
    state.mkdir(parents=True)
    (state / "state.json").write_text(json.dumps({
        "version": 2, "identity": state_identity("https://other.gorgias.com", tmp_path), "status": "running",
        "kind": "full", "watermarks": {}, "readings": {"tickets": {"cursor": "abc", "pages": 3, "done": True},
                                                        "messages": {"cursor": "def", "pages": 2, "done": False}}}))
    (state / "messages.jsonl").write_text('["GET /api/messages page 1, item 1", {"id": 1, "ticket_id": 2}]\n')
    with simulator(data) as sim:
        result = extract_once(sim.base_url, tmp_path)
    assert len(result.messages) == N_MESSAGES and "1" not in result.message_ids


# -- credentials ----------------------------------------------------------------------------------


def test_bad_credentials_stop_with_a_clear_message(data: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GORGIAS_API_KEY", "wrong-" + API_KEY)
    with simulator(data) as sim, pytest.raises(AuthError) as raised:
        extract_once(sim.base_url, tmp_path)
    message = str(raised.value)
    assert "Gorgias rejected the account email and API key" in message and "401" in message
    assert "\n" not in message and API_KEY not in message
    assert sim.request_count == 1, "a refused credential is not retried"


def test_missing_environment_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GORGIAS_API_KEY")
    with pytest.raises(ExtractError, match="the environment variable GORGIAS_API_KEY is not set"):
        extract_once("https://acme.gorgias.com", tmp_path)


def test_environment_variable_names_are_configurable(data: Any, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_GORGIAS_USER", EMAIL)
    monkeypatch.setenv("ACME_GORGIAS_TOKEN", API_KEY)
    monkeypatch.delenv("GORGIAS_API_KEY")
    with simulator(data) as sim:
        result = extract_once(sim.base_url, tmp_path,
                              {"email_env": "ACME_GORGIAS_USER", "api_key_env": "ACME_GORGIAS_TOKEN"})
    assert len(result.messages) == N_MESSAGES


def test_secrets_never_appear_in_logs_or_files(data: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    basic = base64.b64encode(f"{EMAIL}:{API_KEY}".encode()).decode()
    secrets = [API_KEY, basic, EMAIL]
    with simulator(data, faults=Faults({2: "500", 5: "expire", 6: "drop"})) as sim:
        extract_once(sim.base_url, tmp_path / "ok")
        monkeypatch.setenv("GORGIAS_API_KEY", API_KEY + "-revoked")
        with pytest.raises(AuthError) as raised:
            extract_once(sim.base_url, tmp_path / "refused")
    captured = capfd.readouterr()
    for text in (captured.out, captured.err, str(raised.value), repr(raised.value)):
        assert not any(secret in text for secret in secrets)
    assert files_containing(tmp_path, secrets + [API_KEY + "-revoked"]) == []


# -- what lands ------------------------------------------------------------------------------------


@pytest.fixture
def ugly_account() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    tickets = [
        {"id": 10, "subject": "Refund", "status": "closed", "tags": [{"id": 3, "name": "refund"}, "vip", {"name": ""}],
         "created_datetime": "2024-02-14 21:30:50.201204+00:00",
         "customer": {"id": 5, "email": "jane@example.com", "name": None, "firstname": "Jane", "lastname": "Doe"}},
        {"id": 11, "subject": None, "customer": None, "created_datetime": "2024-02-14T21:30:50+00:00"},
        {"subject": "a ticket without an id"},
    ]
    messages = [
        {"id": 100, "ticket_id": 10, "subject": "", "body_text": "Hi 👋", "public": True, "from_agent": False,
         "created_datetime": "2024-02-14 21:30:50.201204+00:00", "attachments": [{"name": "a.png"}],
         "sender": {"id": 5, "email": "jane@example.com", "name": "Jane"}},
        {"id": 101, "ticket_id": 11, "subject": None, "body_text": None, "body_html": "<p>html only</p>",
         "created_datetime": "2024-02-14T21:31:00+00:00", "public": "yes"},
        {"ticket_id": 10, "body_text": "a message without an id", "created_datetime": "2024-02-14T21:32:00+00:00"},
        "not an object",
    ]
    return tickets, messages


def test_each_message_lands_as_one_raw_row_with_its_fields_as_given(ugly_account: Any, tmp_path: Path) -> None:
    with GorgiasSimulator(*ugly_account, email=EMAIL, api_key=API_KEY) as sim:
        result = extract_once(sim.base_url, tmp_path)
    by_id = {row["message_id"]: row for row in result.messages}
    assert set(by_id) == {"100", "101"}
    assert by_id["100"]["created_datetime"] == "2024-02-14 21:30:50.201204+00:00", "datetimes land verbatim"
    assert (by_id["100"]["ticket_id"], by_id["100"]["body_text"], by_id["100"]["attachment_count"]) == ("10", "Hi 👋", 1)
    assert by_id["101"]["body_text"] is None and by_id["101"]["is_public"] is None
    assert by_id["100"]["_source_file"] == "GET /api/messages"


def test_ticket_customer_and_tag_names_are_flattened(ugly_account: Any, tmp_path: Path) -> None:
    with GorgiasSimulator(*ugly_account, email=EMAIL, api_key=API_KEY) as sim:
        result = extract_once(sim.base_url, tmp_path)
    by_id = {row["ticket_id"]: row for row in result.tickets}
    assert by_id["10"]["tags"] == ["refund", "vip"]
    assert (by_id["10"]["customer_email"], by_id["10"]["customer_name"], by_id["10"]["customer_firstname"]) == (
        "jane@example.com", None, "Jane")
    assert by_id["11"]["customer_email"] is None and by_id["11"]["customer_id"] is None


def test_objects_without_an_id_are_rejected_and_counted_not_dropped(ugly_account: Any, tmp_path: Path) -> None:
    with GorgiasSimulator(*ugly_account, email=EMAIL, api_key=API_KEY) as sim:
        result = extract_once(sim.base_url, tmp_path)
    reasons = sorted(row["reject_reason"] for row in result.rejects)
    assert reasons == ["malformed_message", "malformed_message", "malformed_ticket"]
    assert all(row["_source_position"].startswith("page 1, item ") for row in result.rejects)


def test_simulate_true_uses_the_local_simulator_with_the_sample_account(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GORGIAS_EMAIL")
    monkeypatch.delenv("GORGIAS_API_KEY")
    result = extract_once("https://your-shop.gorgias.com", tmp_path, {"simulate": True})
    sample = (PROJECT_DIR / "samples" / "gorgias" / "messages.jsonl").read_text(encoding="utf-8")
    assert len(result.messages) == sum(1 for line in sample.splitlines() if line.strip())
    assert "using the local Gorgias API simulator at http://127.0.0.1:" in result.log


def test_a_spool_line_cut_short_by_a_kill_is_dropped_and_fetched_again(data: Any, clean_ids: list[str],
                                                                      tmp_path: Path) -> None:
    tickets, messages = data
    state = tmp_path / "state" / "gorgias"
    with simulator(data) as sim:
        state.mkdir(parents=True)
        (state / "state.json").write_text(json.dumps({
            "version": 2, "identity": state_identity(sim.base_url, tmp_path), "status": "running", "kind": "full",
            "watermarks": {}, "readings": {"tickets": {"cursor": None, "pages": 0, "done": False},
                                           "messages": {"cursor": None, "pages": 0, "done": False}}}))
        whole = json.dumps(["GET /api/tickets page 1, item 1", tickets[0]]) + "\n"
        cut = json.dumps(["GET /api/tickets page 1, item 2", tickets[1]])[:40]
        (state / "tickets.jsonl").write_text(whole + cut, encoding="utf-8")
        result = extract_once(sim.base_url, tmp_path)
    assert result.message_ids == clean_ids
    assert sorted(row["ticket_id"] for row in result.tickets) == sorted(str(t["id"]) for t in tickets)


@pytest.mark.parametrize("page", [{"data": {"id": 1}}, [], {"data": [], "meta": {}}, {"data": [{"id": 1}]}])
def test_a_page_of_another_shape_stops_the_run_rather_than_missing_pages(page: Any) -> None:
    with pytest.raises(ExtractError, match="GET /api/messages answered"):
        listing("/api/messages")._parts(page)


def listing(path: str) -> CursorListing:
    return CursorListing(path, gorgias.ORDER_BY, service="Gorgias", warn=print)


def test_the_last_page_has_a_null_next_cursor() -> None:
    assert listing("/api/tickets")._parts({"data": [], "meta": {"next_cursor": None}}) == ([], None)
    assert listing("/api/tickets")._parts({"data": [1], "meta": {"next_cursor": "c2"}}) == ([1], "c2")


def test_messages_of_trashed_tickets_are_rejected_with_their_own_reason_and_counted(
        data: Any, clean_ids: list[str], tmp_path: Path) -> None:
    tickets, messages = data
    trashed = {tickets[3]["id"], tickets[10]["id"]}
    marked = [{**t, "trashed_datetime": "2024-03-01T10:00:00.000000+00:00"} if t["id"] in trashed else t
              for t in tickets]
    in_trash = sorted(str(m["id"]) for m in messages if m.get("ticket_id") in trashed)
    assert in_trash
    with GorgiasSimulator(marked, messages, email=EMAIL, api_key=API_KEY) as sim:
        result = extract_once(sim.base_url, tmp_path)
    rejected = [r for r in result.rejects if r["reject_reason"] == "trashed_ticket"]
    assert sorted(r["record_id"] for r in rejected) == in_trash
    assert all("is in the trash" in r["reject_detail"] for r in rejected)
    assert sorted(result.message_ids + in_trash) == clean_ids  # every message landed or rejected
    assert {row["ticket_id"] for row in result.tickets if row["trashed_datetime"]} == {str(t) for t in trashed}
    assert f"2 tickets are in the trash: their {len(in_trash)} messages are rejected" in result.log


def test_deleted_undelivered_spam_and_trashed_messages_are_each_set_aside_under_their_reason(
        data: Any, clean_ids: list[str], tmp_path: Path) -> None:
    tickets, messages = data
    spam, trashed = tickets[5]["id"], tickets[8]["id"]
    marked = [{**t, "spam": True} if t["id"] == spam else
              {**t, "trashed_datetime": "2024-03-01T10:00:00+00:00"} if t["id"] == trashed else t for t in tickets]
    others = [m for m in messages if m.get("ticket_id") not in (spam, trashed)]
    deleted, failed = str(others[0]["id"]), str(others[1]["id"])
    changed = [{**m, "deleted_datetime": "2024-03-02T00:00:00+00:00"} if str(m["id"]) == deleted else
               {**m, "failed_datetime": "2024-03-02T00:00:00+00:00"} if str(m["id"]) == failed else m
               for m in messages]
    expected = {deleted: "deleted_message", failed: "undelivered_message"}
    expected.update({str(m["id"]): "spam_ticket" for m in messages if m.get("ticket_id") == spam})
    expected.update({str(m["id"]): "trashed_ticket" for m in messages if m.get("ticket_id") == trashed})
    with GorgiasSimulator(marked, changed, email=EMAIL, api_key=API_KEY) as sim:
        result = extract_once(sim.base_url, tmp_path)
    set_aside = {r["record_id"]: r["reject_reason"] for r in result.rejects}
    assert set_aside == expected
    assert sorted(result.message_ids + list(set_aside)) == clean_ids  # every message landed or set aside
    spam_rows = [row for row in result.tickets if row["spam"]]
    assert [row["ticket_id"] for row in spam_rows] == [str(spam)]
    assert "1 messages are deleted: rejected (deleted_message)" in result.log
