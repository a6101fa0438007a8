"""Zendesk through its API (issue 23): the export's rows from the API, set-asides, limits, resume and delta.

Against the local simulator (``extract/simulators/zendesk.py``), modelled on Zendesk's reference: the
same account written as a JSON export and served by the simulator must land the same raw rows.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from extract import zendesk_api
from extract.errors import ExtractError
from extract.simulators.harness import Answer
from extract.simulators.zendesk import Faults, ZendeskSimulator
from tests.python import zendesk_api_helpers as zd


@pytest.fixture(autouse=True)
def fast_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zendesk_api, "CLIENT_OPTIONS", {**zendesk_api.CLIENT_OPTIONS, **zd.FAST_CLIENT})


@pytest.fixture(scope="module")
def tickets() -> list[dict[str, Any]]:
    return zd.account()


def simulator(tickets: list[dict[str, Any]], **options: Any) -> ZendeskSimulator:
    return ZendeskSimulator(tickets, email=zd.EMAIL, api_token=zd.TOKEN, **{"incremental_rate_limit": None, **options})


def ids(tickets: list[dict[str, Any]], status: str) -> set[str]:
    return {str(t["id"]) for t in tickets if t["status"] == status}


def comment_paths(sim: ZendeskSimulator) -> list[str]:
    return [e.path for e in sim.entries if e.path.endswith("/comments.json")]


def test_the_api_lands_the_same_rows_as_the_export_of_the_same_tickets(tickets: list, tmp_path: Path) -> None:
    from_export = zd.extract_once({"path": str(zd.write_export(tickets, tmp_path / "export" / "tickets.json"))},
                               tmp_path / "export")
    with simulator(tickets) as sim:
        from_api = zd.extract_api(sim.base_url, tmp_path / "api")
    expected = sum(len(t["comments"]) for t in zd.exported(tickets))
    assert len(from_api.rows) == len(from_export.rows) == expected
    assert from_api.without_lineage() == from_export.without_lineage()
    # the same set-asides for the same tickets; the API also says which tickets are deleted (the export omits them)
    export_reasons = {k: v for k, v in from_export.reasons().items() if k}
    api_reasons = from_api.reasons()
    assert export_reasons == {"zendesk-90011": "ticket_without_comments"}
    assert api_reasons == {**export_reasons, **{f"zendesk-{t}": "deleted_ticket" for t in ids(tickets, "deleted")}}
    assert zd.TOKEN not in from_api.log


def test_requesters_without_email_come_from_the_side_loaded_users_as_in_the_export(tickets: list,
                                                                                  tmp_path: Path) -> None:
    with simulator(tickets) as sim:
        result = zd.extract_api(sim.base_url, tmp_path)
        exports = [e for e in sim.entries if e.path == zendesk_api.EXPORT_PATH]
    assert exports[0].params["include"] == "users,comment_count" and exports[0].params["start_time"] == "0"
    by_ticket = {r["ticket_id"]: r for r in result.rows}
    for ticket in zd.exported(tickets):
        if ticket["comments"]:
            row = by_ticket[str(ticket["id"])]
            assert (row["requester_email"], row["requester_name"], row["requester_phone"]) == (
                ticket["requester"]["email"], ticket["requester"]["name"], ticket["requester"]["phone"])
    assert any(r["requester_email"] is None for r in result.rows)


def test_deleted_tickets_are_rejected_counted_and_their_comments_never_asked(tickets: list, tmp_path: Path) -> None:
    deleted = ids(tickets, "deleted")
    with simulator(tickets) as sim:
        result = zd.extract_api(sim.base_url, tmp_path)
        asked = comment_paths(sim)
    assert deleted and not any(f"/tickets/{t}/" in path for path in asked for t in deleted)
    rejected = [r for r in result.rejects if r["reject_reason"] == "deleted_ticket"]
    assert sorted(r["record_id"] for r in rejected) == sorted(f"zendesk-{t}" for t in deleted)
    assert all(r["_source_file"] == f"GET {zendesk_api.EXPORT_PATH}" for r in rejected)
    assert "deleted_ticket: 2 tickets set aside" in result.log
    assert not {r["ticket_id"] for r in result.rows} & deleted


def test_archived_tickets_are_read_though_the_ticket_list_leaves_them_out(tickets: list, tmp_path: Path) -> None:
    with simulator(tickets) as sim:
        archived = {key for key, t in sim.tickets.items() if sim.is_archived(t)}
        listed = zd.extract_api(sim.base_url, tmp_path)
        import urllib.request
        request = urllib.request.Request(f"{sim.base_url}/api/v2/tickets.json?per_page=100", headers={
            "Authorization": "Basic " + base64.b64encode(f"{zd.EMAIL}/token:{zd.TOKEN}".encode()).decode()})
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the simulator on 127.0.0.1
            in_list = {str(t["id"]) for t in json.loads(answer.read())["tickets"]}
    assert archived and not archived & in_list  # the list endpoint leaves them out ...
    assert archived - ids(tickets, "deleted") <= {r["ticket_id"] for r in listed.rows} | {"90011"}  # ... the export not


def test_a_ticket_of_130_comments_is_read_in_two_pages_oldest_first(tickets: list, tmp_path: Path) -> None:
    with simulator(tickets) as sim:
        result = zd.extract_api(sim.base_url, tmp_path)
        pages = [e for e in sim.entries if e.path == "/api/v2/tickets/90007/comments.json"]
    assert [e.params.get("page[size]") for e in pages] == ["100", "100"] and "page[after]" in pages[1].params
    rows = sorted((r for r in result.rows if r["ticket_id"] == "90007"), key=lambda r: r["comment_index"])
    assert [r["comment_index"] for r in rows] == list(range(1, 131))
    assert [r["comment_id"] for r in rows] == [str(c["id"]) for c in tickets[7]["comments"]]


class Refusing(ZendeskSimulator):
    """Answers 404 to one ticket's comments (deleted after it was listed), or hides one comment of another."""

    def __init__(self, *args: Any, gone: str = "", hidden: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gone, self.hidden = gone, hidden

    def _comments(self, ticket_id: str, params: dict[str, str]) -> Answer:
        if ticket_id == self.gone:
            return Answer(404, {"error": "RecordNotFound", "description": "Not found"})
        answer = super()._comments(ticket_id, params)
        if ticket_id == self.hidden and isinstance(answer.body, dict):
            answer.body["comments"] = answer.body["comments"][1:]
        return answer


def test_a_comments_call_answering_404_sets_its_ticket_aside_with_its_reason(tickets: list, tmp_path: Path) -> None:
    with Refusing(tickets, email=zd.EMAIL, api_token=zd.TOKEN, incremental_rate_limit=None, gone="90004") as sim:
        result = zd.extract_api(sim.base_url, tmp_path)
    assert result.reasons()["zendesk-90004"] == "ticket_comments_not_found"
    assert "90004" not in {r["ticket_id"] for r in result.rows}
    assert len(result.rows) == sum(len(t["comments"]) for t in zd.exported(tickets)) - len(tickets[4]["comments"])


def test_fewer_comments_than_comment_count_is_said_never_silently_short(tickets: list, tmp_path: Path) -> None:
    with Refusing(tickets, email=zd.EMAIL, api_token=zd.TOKEN, incremental_rate_limit=None, hidden="90006") as sim:
        result = zd.extract_api(sim.base_url, tmp_path)
    short = [r for r in result.rejects if r["reject_reason"] == "comments_short"]
    count = len(tickets[6]["comments"])
    assert [r["record_id"] for r in short] == ["zendesk-90006"]
    assert f"comment_count says {count:,}, {count - 1:,} comments were read" in short[0]["reject_detail"]
    assert sum(r["ticket_id"] == "90006" for r in result.rows) == count - 1  # the ones read are zd.exported
    assert "WARNING: 1 tickets have fewer comments than their comment_count" in result.log


def test_without_comment_count_the_comments_are_read_to_the_last_page_and_that_is_said(tickets: list,
                                                                                        tmp_path: Path) -> None:
    with simulator(tickets, comment_count=False) as sim:
        result = zd.extract_api(sim.base_url, tmp_path)
    assert len(result.rows) == sum(len(t["comments"]) for t in zd.exported(tickets))
    assert "came without comment_count (not side-loaded)" in result.log


def test_429s_with_retry_after_and_a_text_body_are_waited_out(tickets: list, tmp_path: Path) -> None:
    faults = Faults(by_request={1: "429", 3: "429", 9: "429", 10: "500", 14: "drop"}, retry_after_seconds=1)
    started = time.monotonic()
    with simulator(tickets, faults=faults) as sim:
        result = zd.extract_api(sim.base_url, tmp_path, concurrency=2)
        throttled = sim.by_status[429]
    assert throttled == 3 and time.monotonic() - started >= 1.0  # Retry-After waited, not a crash on the body
    assert len(result.rows) == sum(len(t["comments"]) for t in zd.exported(tickets))
    assert "3 throttled" in result.log


def test_the_plan_limit_announced_in_headers_is_used_at_95_percent(tickets: list, tmp_path: Path) -> None:
    with simulator(tickets, rate_limit=400) as sim:
        result = zd.extract_api(sim.base_url, tmp_path)
    assert "(limit 380/min)" in result.log and "incremental exports" in result.log


def test_a_delta_reads_from_the_saved_cursor_and_adds_only_the_new_comments(tickets: list, tmp_path: Path) -> None:
    with simulator(tickets) as sim:
        first = zd.extract_api(sim.base_url, tmp_path)
        state = json.loads((tmp_path / "state" / "zendesk" / "state.json").read_text())
        saved = state["watermarks"]["tickets"]["cursor"]
        before = sim.request_count
        sim.add_comment(90002, {"id": 1, "type": "Comment", "author_id": 5, "body": "New!", "html_body": "<p>New!</p>",
                                "plain_body": "New!", "public": True, "created_at": "2023-01-02T03:04:05Z"})
        sim.add_comment(90008, {"id": 2, "type": "Comment", "author_id": 5, "body": "Also", "html_body": "<p>Also</p>",
                                "plain_body": "Also", "public": False, "created_at": "2023-01-02T03:04:06Z"})
        delta = zd.extract_api(sim.base_url, tmp_path, mode="delta")
        asked = sim.entries[before:]
    exports = [e for e in asked if e.path == zendesk_api.EXPORT_PATH]
    assert exports[0].params.get("cursor") == saved and "start_time" not in exports[0].params
    assert sorted(e.path for e in asked if e.path.endswith("comments.json")) == [
        "/api/v2/tickets/90002/comments.json", "/api/v2/tickets/90008/comments.json"]
    assert len(delta.rows) == len(first.rows) + 2  # landed: all; the ledger leaves out what was zd.exported
    assert {(r["ticket_id"], r["comment_id"]) for r in delta.rows} - {(r["ticket_id"], r["comment_id"])
                                                                     for r in first.rows} == {("90002", "1"), ("90008", "2")}
    assert "delta 1: tickets changed since the last extraction's cursor" in delta.log
    assert "delta 1: 2 new tickets and 0 new users and 2 new comments added to the ones kept" in delta.log


def test_a_delta_whose_cursor_is_refused_reads_from_the_newest_ticket_minus_the_overlap(tickets: list,
                                                                                       tmp_path: Path) -> None:
    with simulator(tickets) as sim:
        first = zd.extract_api(sim.base_url, tmp_path)
        path = tmp_path / "state" / "zendesk" / "state.json"
        state = json.loads(path.read_text())
        state["watermarks"]["tickets"]["cursor"] = "not-a-cursor"
        path.write_text(json.dumps(state))
        before = sim.request_count
        delta = zd.extract_api(sim.base_url, tmp_path, mode="delta", delta_overlap_hours=48)
        exports = [e for e in sim.entries[before:] if e.path == zendesk_api.EXPORT_PATH]
    newest = max(t["generated_timestamp"] for t in sim.tickets.values())
    assert exports[0].params.get("cursor") == "not-a-cursor" and exports[1].params["start_time"] == str(newest - 48 * 3600)
    assert "the cursor expired (HTTP 400)" in delta.log
    assert sorted(delta.without_lineage()) == sorted(first.without_lineage())


def test_a_start_time_within_the_last_minute_is_never_sent(tmp_path: Path) -> None:
    recent = zd.account(6)
    now = time.time()
    with simulator(recent, clock=lambda: now) as sim:
        zd.extract_api(sim.base_url, tmp_path)
        state_path = tmp_path / "state" / "zendesk" / "state.json"
        state = json.loads(state_path.read_text())
        state["watermarks"]["tickets"].update(cursor=None, newest=time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()))
        state_path.write_text(json.dumps(state))
        zd.extract_api(sim.base_url, tmp_path, mode="delta", delta_overlap_hours=0)
        starts = [int(e.params["start_time"]) for e in sim.entries if "start_time" in e.params]
    assert starts[-1] <= now - 60 and sim.by_status.get(400, 0) == 0


def test_a_non_admin_token_stops_the_run_naming_the_role_it_needs(tickets: list, tmp_path: Path) -> None:
    with simulator(tickets, role="agent") as sim, pytest.raises(ExtractError) as raised:
        zd.extract_api(sim.base_url, tmp_path)
    assert "HTTP 403" in str(raised.value) and "admin role" in str(raised.value) and zd.TOKEN not in str(raised.value)


class Holding(ZendeskSimulator):
    """Holds the second page of one ticket's comments until released (a client can be killed meanwhile)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.held = threading.Event()
        self.release_held = threading.Event()

    def _comments(self, ticket_id: str, params: dict[str, str]) -> Answer:
        if ticket_id == "90007" and params.get("page[after]") and not self.release_held.is_set():
            self.held.set()
            self.release_held.wait(timeout=60)
        return super()._comments(ticket_id, params)


def test_a_run_killed_between_two_pages_of_a_ticket_resumes_and_lands_each_comment_once(
        tickets: list, tmp_path: Path) -> None:
    helper = zd.PROJECT_DIR / "tests" / "python" / "zendesk_api_helpers.py"
    with Holding(tickets, email=zd.EMAIL, api_token=zd.TOKEN, incremental_rate_limit=None) as sim:
        child = subprocess.Popen([sys.executable, str(helper), sim.base_url, str(tmp_path), "4"], cwd=zd.PROJECT_DIR,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert sim.held.wait(timeout=60), "the second page was never asked"
        time.sleep(0.5)  # the other workers' lookups go on meanwhile
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        sim.release_held.set()
        spool, ends = (tmp_path / "state" / "zendesk" / f"{name}.jsonl" for name in ("comments", "listings"))
        before = [json.loads(line)[1] for line in spool.read_text(encoding="utf-8").splitlines() if line.endswith("]")]
        assert 0 < sum(r.get("ticket") == "90007" for r in before) <= 100  # (part of) its first page, not its end
        assert '"90007@' not in ends.read_text(encoding="utf-8")
        result = zd.extract_api(sim.base_url, tmp_path)
    assert "resuming the interrupted extraction" in result.log
    keys = [(r["ticket_id"], r["comment_id"]) for r in result.rows]
    assert len(keys) == len(set(keys)) == sum(len(t["comments"]) for t in zd.exported(tickets))
    lines = spool.read_text(encoding="utf-8").splitlines()
    assert sum('"ticket": "90007", "index"' in line for line in lines) == 130  # each comment spooled once


def test_config_takes_exactly_one_of_path_base_url_or_simulate(tmp_path: Path) -> None:
    from gladly_import.config import ConfigError, load_config
    from tests.python.conftest import write_config

    (tmp_path / "export.json").write_text("", encoding="utf-8")
    cases = {
        "both": {"path": "export.json", "base_url": "https://acme.zendesk.com"},
        "none": {"email_env": "ZD_EMAIL"},
        "simulate and path": {"path": "export.json", "simulate": True},
    }
    for name, block in cases.items():
        with pytest.raises(ConfigError) as raised:
            load_config(write_config(tmp_path, {"zendesk": block}))
        message = str(raised.value)
        if name == "none":
            assert "sources.zendesk: give one of path (the JSON export" in message, message
        else:
            assert "are alternatives: give only one" in message, message
    api = load_config(write_config(tmp_path, {"zendesk": {"base_url": "https://acme.zendesk.com"}}))
    assert api.sources["zendesk"].files == []
    files = load_config(write_config(tmp_path, {"zendesk": {"path": "export.json"}}))
    assert [p.name for p in files.sources["zendesk"].files] == ["export.json"]


def test_secrets_are_asked_for_the_api_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gladly_import.cli import missing_secrets
    from gladly_import.config import load_config
    from tests.python.conftest import write_config

    monkeypatch.delenv("ZENDESK_EMAIL", raising=False)
    monkeypatch.delenv("ZENDESK_API_TOKEN", raising=False)
    (tmp_path / "export.json").write_text("", encoding="utf-8")
    assert missing_secrets(load_config(write_config(tmp_path, {"zendesk": {"path": "export.json"}}))) == []
    problems = missing_secrets(load_config(write_config(tmp_path, {"zendesk": {"base_url": "https://acme.zendesk.com"}})))
    assert [p.split(":")[0] for p in problems] == ["sources.zendesk.email_env", "sources.zendesk.api_token_env"]


def test_the_simulator_refuses_as_zendesk_does(tickets: list) -> None:
    import urllib.error
    import urllib.request

    def get(sim: ZendeskSimulator, target: str) -> tuple[int, str, dict[str, str], bytes]:
        request = urllib.request.Request(sim.base_url + target, headers={
            "Authorization": "Basic " + base64.b64encode(f"{zd.EMAIL}/token:{zd.TOKEN}".encode()).decode()})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - 127.0.0.1
                return answer.status, answer.headers["Content-Type"], dict(answer.headers), answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers["Content-Type"], dict(error.headers), error.read()

    with simulator(tickets, rate_limit=3, incremental_rate_limit=2) as sim:
        recent = int(time.time()) - 30
        status, _, headers, body = get(sim, f"{zendesk_api.EXPORT_PATH}?start_time={recent}")
        assert status == 400 and json.loads(body)["error"] == "StartTimeTooRecent" and headers["X-Rate-Limit"] == "3"
        status, _, _, body = get(sim, f"{zendesk_api.EXPORT_PATH}?start_time=0&include=users")
        assert status == 200 and any(u["email"] is None for u in json.loads(body)["users"])
        status, kind, headers, body = get(sim, f"{zendesk_api.EXPORT_PATH}?start_time=0")
        assert status == 429 and kind.startswith("text/plain") and int(headers["Retry-After"]) >= 1  # 10-a-minute rule
        with pytest.raises(ValueError):
            json.loads(body)
        status, kind, headers, _ = get(sim, "/api/v2/users/me.json")  # the 4th request of the minute: the plan's
        assert status == 429 and headers["X-Rate-Limit-Remaining"] == "0" and kind.startswith("text/plain")
    with simulator(tickets) as sim:
        assert get(sim, "/api/v2/tickets/90001/comments.json?page%5Bsize%5D=101")[0] == 400
        assert get(sim, "/api/v2/tickets/90003/comments.json?page%5Bsize%5D=10")[0] == 404  # deleted
        status, _, _, body = get(sim, "/api/v2/tickets/90007/comments.json?page%5Bsize%5D=100")
        page = json.loads(body)
        assert status == 200 and page["meta"]["has_more"] is True and len(page["comments"]) == 100


def _check(base_url: str, tmp_path: Path, **options: Any) -> dict[str, tuple[str, str]]:
    from extract.context import SourceContext

    # a run's first export request waits one interval of the export budget (6.7 s at 9 a minute): not here
    options = {"incremental_requests_per_minute": 600, **options}
    ctx = SourceContext(platform="zendesk", options={"base_url": base_url, **options}, base_dir=tmp_path)
    return {finding.check: (finding.verdict, finding.result) for finding in zendesk_api.check(ctx)}


def test_the_preflight_says_credentials_admin_limits_count_and_time(tickets: list, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZENDESK_EMAIL", zd.EMAIL)
    monkeypatch.setenv("ZENDESK_API_TOKEN", zd.TOKEN)
    with simulator(tickets, rate_limit=400) as sim:
        found = _check(sim.base_url, tmp_path, requests_per_minute=300)
        asked = [e.path for e in sim.entries]
    assert not [check for check, (verdict, _) in found.items() if verdict == "FAIL"], found
    assert found["permission: admin"][0] == "ok"
    assert "400 requests a minute (X-Rate-Limit: Growth or Professional)" in found["rate limit: the plan"][1]
    assert found["size: tickets"][1].startswith("≈ 58 ")  # 60 tickets, 2 deleted
    assert "≈ 58 comment requests" in found["time at these limits"][1] and "at 300/min" in found["time at these limits"][1]
    assert "2 among the first 60" in found["assumption: deleted tickets"][1]
    assert asked.count(zendesk_api.EXPORT_PATH) == 1  # one of the 10 a minute, no more
    assert not (tmp_path / "state").exists()  # nothing written


def test_the_preflight_fails_an_agent_and_a_wrong_token_in_one_line_each(tickets: list, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZENDESK_EMAIL", zd.EMAIL)
    monkeypatch.setenv("ZENDESK_API_TOKEN", zd.TOKEN)
    with simulator(tickets, role="agent") as sim:
        agent = _check(sim.base_url, tmp_path)
    assert agent["permission: admin"][0] == "FAIL" and "is agent" in agent["permission: admin"][1]
    assert agent["incremental export"][0] == "FAIL" and "admin role" in agent["incremental export"][1]
    monkeypatch.setenv("ZENDESK_API_TOKEN", "wrong")
    with simulator(tickets) as sim:
        refused = _check(sim.base_url, tmp_path)
    assert refused["credentials"][0] == "FAIL" and "HTTP 401" in refused["credentials"][1]
    assert list(refused) == ["account", "credentials"] and "wrong" not in refused["credentials"][1]
