"""The push to Gladly's API, against the project's strict simulator (gladly_import/push/simulator/).

One real import (the CSV template source, rows dated relative to today: recent ones, ones older than
the API's year, one inside the year but inside the safety margin, ugly bodies), copied for each test.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from gladly_import import push
from gladly_import.config import ConfigError
from gladly_import.push.simulator import Faults, GladlySimulator
from tests.python import push_helpers
from tests.python.conftest import read_items, write_config

USER, TOKEN = "api-user@shop.example", "tok-3f9a-very-secret-value"
NOW = datetime.now(UTC)
HEADER = ["Conversation Item ID", "Customer Email", "Customer Name", "Customer Phone", "Conversation Item Timestamp",
          "Conversation Item Title", "Conversation Item Body", "Conversation Item Source", "Tags"]
RECENT = 24
LONG_SOURCE_ID = "hs-long-source"
MARGIN_ID = "hs-margin"


def stamp(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S+02:00")


def source_rows() -> list[list[str]]:
    rows = []
    for n in range(RECENT):
        body = {0: 'He said "where is it?", then\r\nleft, twice,\nagain',
                1: "<p>Bonjour <b>Zoë</b> 🎉 — ça va?</p>",
                2: "é" * 30_000,                       # cut to 25,000 by the import
                3: "=HYPERLINK(\"http://x\")"}.get(n, f"Body of message {n}")
        title = "T" * 140 if n == 4 else ("" if n == 5 else f"Order {1000 + n} question")
        rows.append([f"hs-{n:03d}", f"Customer.{n % 7}@Example.COM", f"Name {n}", "", stamp(1 + n * 12),
                     title, body, "Help Scout", "vip,late"])
    for n in range(6):  # older than the API's year: CSV only
        rows.append([f"hs-old-{n}", "old@example.com", "Old", "", stamp(366 + n * 200), "Old one", "old body",
                     "Help Scout", ""])
    rows.append([MARGIN_ID, "edge@example.com", "", "", stamp(364.5), "Edge", "inside the year, not the margin",
                 "Help Scout", ""])
    rows.append([LONG_SOURCE_ID, "src@example.com", "", "", stamp(3), "Long source", "body",
                 "A source system name that is far longer than fifty characters", ""])
    rows.append(["hs-no-email", "", "", "", stamp(2), "No email", "rejected by the import", "Help Scout", ""])
    return rows


@pytest.fixture(scope="session")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return push_helpers.import_rows(tmp_path_factory.mktemp("push-import"), HEADER, source_rows())


@pytest.fixture
def project(imported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the imported project, with Gladly's credentials in the environment."""
    return push_helpers.copy_project(imported, tmp_path, monkeypatch, USER, TOKEN)


def configure(project: Path, **gladly: Any) -> Path:
    return push_helpers.configure(project, {"requests_per_second": 40, "concurrency": 8}, **gladly)


def simulator(**options: Any) -> GladlySimulator:
    return GladlySimulator(user=USER, token=TOKEN, **{"rate_limit": 40, "latency": 0.02, **options})


def csv_rows(project: Path) -> dict[str, dict[str, str]]:
    rows = read_items(sorted((project / "output").glob("gladly_conversation_items_*.csv")))
    return {row["Conversation Item ID"]: row for row in rows}


def summary(project: Path) -> dict[str, Any]:
    return json.loads((project / "output" / push.SUMMARY_FILE).read_text(encoding="utf-8"))


def push_ledger(project: Path) -> list[tuple]:
    with duckdb.connect(str(project / "work" / "gladly_import.duckdb"), read_only=True) as conn:
        return conn.execute("select conversation_item_id, status, http_status, gladly_code, gladly_detail "
                            "from ledger.push_ledger order by answered_at").fetchall()


def recent_ids() -> set[str]:
    return {f"hs-{n:03d}" for n in range(RECENT)}


def reconciles(s: dict[str, Any]) -> bool:
    return s["batch_items"] == (s["sent"] + s["already_in_gladly"] + s["refused"] + s["invalid_payload"]
                                + s["unanswered"] + s["csv_only"] + s["delivered_before"] + s["refused_before"])


@pytest.mark.slow  # the session's whole import (the imported fixture)
def test_every_recent_item_is_created_once_equal_to_its_csv_row_through_faults(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    faults = Faults(by_item={"hs-001": ["500_after_create"], "hs-002": ["drop"], "hs-003": ["drop_after_create"],
                             "hs-006": ["500", "500"], "hs-007": ["400"]})
    with simulator(faults=faults) as sim:
        config = configure(project, base_url=sim.base_url)
        assert push.main(["--config", str(config)]) == 0
        rows = csv_rows(project)
        sent_ids = {e.item_id for e in sim.log if e.method == "POST"}

        # every recent exportable item reached Gladly exactly once; the refused one never
        assert set(sim.items) == recent_ids() - {"hs-007"}
        assert all(n == 1 for n in sim.creations.values())
        # nothing older than the window (or inside the safety margin), nothing the API would refuse
        assert not sent_ids & ({f"hs-old-{n}" for n in range(6)} | {MARGIN_ID, LONG_SOURCE_ID})
        refusals = [e for e in sim.log if e.status == 400]
        assert [(e.item_id, e.fault) for e in refusals] == [("hs-007", "400")]  # zero invalid payloads
        # what Gladly holds is the CSV's row for the same id
        for item_id, item in sim.items.items():
            row, content = rows[item_id], item["content"]
            assert content["title"] == row["Conversation Item Title"]
            assert content["body"] == row["Conversation Item Body"]
            assert content["occurredAt"] == row["Conversation Item Timestamp"]
            assert content["sourceName"] == row["Conversation Item Source"]
            assert item["customer"]["emailAddress"] == row["Customer Email"]
            assert content["type"] == "CUSTOMER_ACTIVITY" and content["activityType"] == "EMAIL"
        assert sim.items["hs-002"]["content"]["body"] == "é" * 25_000
        assert sim.items["hs-004"]["content"]["title"] == "T" * 100

    ledger = {item_id: (status, http, code, detail) for item_id, status, http, code, detail in push_ledger(project)}
    assert ledger["hs-001"][0] == "already_present"          # created by the 500'd attempt: the retry got 409
    assert ledger["hs-003"][0] == "already_present"          # created, answer lost: the retry got 409
    assert ledger["hs-007"] == ("refused", 400, "invalid", "customer.emailAddress: emailAddress is not a deliverable address")
    assert Counter(status for status, *_ in ledger.values()) == {"created": RECENT - 3, "already_present": 2,
                                                                 "refused": 1}
    s = summary(project)
    assert (s["sent"], s["already_in_gladly"], s["refused"], s["csv_only"], s["invalid_payload"]) == (
        RECENT - 3, 2, 1, 7, 1)
    assert s["refused_by_reason"] == {"invalid: customer.emailAddress: emailAddress is not a deliverable address": 1}
    assert s["invalid_by_reason"] == {"sourceName longer than 50 characters": 1}
    assert s["status"] == "completed" and s["unanswered"] == 0 and reconciles(s)
    out = capsys.readouterr()
    assert "sent: created in Gladly" in out.out and "CSV only" in out.out
    assert TOKEN not in out.out + out.err
    report = (project / "output" / "import_report.html").read_text(encoding="utf-8")
    section = report.split('<h2 id="push">')[1].split("</table>")[0]
    assert f'<td>created in Gladly</td><td class="n">{RECENT - 3}</td>' in section
    assert '<td>CSV only</td><td class="n">7</td>' in section
    assert "emailAddress is not a deliverable address" in section


@pytest.mark.slow  # the session's whole import (the imported fixture)
def test_a_second_push_sends_nothing_and_refused_items_are_not_resent(project: Path) -> None:
    with simulator(faults=Faults(by_item={"hs-010": ["400"]})) as sim:
        config = configure(project, base_url=sim.base_url)
        assert push.main(["--config", str(config)]) == 0
        first = len(sim.log)
        assert push.main(["--config", str(config)]) == 0
        assert len(sim.log) == first                           # not one request
    s = summary(project)
    # the payload the API would refuse is never sent, and counted again
    assert (s["sent"], s["to_send"], s["invalid_payload"], s["delivered_before"], s["refused_before"]) == (
        0, 1, 1, RECENT - 1, 1)
    assert reconciles(s)


@pytest.mark.slow  # the session's whole import (the imported fixture)
def test_a_429_storm_is_waited_out_within_10_a_second(project: Path) -> None:
    storm = {n: "429" for n in range(3, 13)}
    with GladlySimulator(user=USER, token=TOKEN, rate_limit=10, latency=0.05, faults=Faults(by_request=storm)) as sim:
        config = configure(project, base_url=sim.base_url, requests_per_second=10, concurrency=4)
        assert push.main(["--config", str(config)]) == 0
        assert set(sim.items) == recent_ids() and all(n == 1 for n in sim.creations.values())
        assert sim.statuses()[429] >= len(storm)
        assert sim.max_admitted_in_any_window(1.0) <= 10
    s = summary(project)
    assert s["throttled"] >= len(storm) and s["sent"] == RECENT


@pytest.mark.slow  # the session's whole import (the imported fixture)
def test_dry_run_validates_every_payload_and_sends_nothing(project: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLADLY_API_TOKEN")                     # a dry run needs no credentials
    with simulator() as sim:
        config = configure(project, base_url=sim.base_url)
        assert push.main(["--config", str(config), "--dry-run"]) == 0
        assert sim.log == []
    out = capsys.readouterr().out
    assert "valid payloads" in out and "sourceName longer than 50 characters" in out
    assert f"{RECENT + 1:>9,}" in out.split("to send")[1].splitlines()[0]
    assert push_ledger(project) == []


@pytest.mark.slow  # the session's whole import (the imported fixture)
def test_a_rejected_credential_stops_the_push_without_printing_it(project: Path, capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLADLY_API_TOKEN", "wrong-" + TOKEN)
    with simulator() as sim:
        config = configure(project, base_url=sim.base_url)
        assert push.main(["--config", str(config)]) == 1
        assert sim.items == {}
    out = capsys.readouterr()
    assert "401" in out.err and TOKEN not in out.out + out.err
    assert TOKEN not in (project / "output" / push.SUMMARY_FILE).read_text(encoding="utf-8")
    assert push_ledger(project) == []


@pytest.mark.slow  # the session's whole import (the imported fixture)
@pytest.mark.parametrize(("gladly", "message"), [
    ({"base_url": "http://acme.gladly.com"}, "plain http is only allowed to 127.0.0.1"),
    ({"base_url": "https://user:pw@acme.gladly.com"}, "must not hold credentials"),
    ({"simulate": False}, "gladly.base_url: required"),
    ({"base_url": "https://acme.gladly.com", "activity_type": "CHAT"}, "must be one of EMAIL, ISSUE, SMS, SURVEY"),
    ({"base_url": "https://acme.gladly.com", "concurrency": "8"},
     "gladly.concurrency: must be a whole number from 1 to 64, got '8'"),
    ({"base_url": "https://acme.gladly.com", "requests_per_second": 0}, "gladly.requests_per_second: must be a number above 0"),
    ({"base_url": "https://acme.gladly.com", "token_env": "my token"}, "gladly.token_env: must be the NAME of an environment"),
    ({"base_url": "https://acme.gladly.com", "simulate": "yes"}, "gladly.simulate: must be true or false, got 'yes'"),
    ({"base_url": "https://acme.gladly.com", "simulator_today": "2024-01-01"}, "only with simulate: true"),
    ({"simulate": True, "simulator_today": "March 1st"}, "must be a date"),
    ({"base_url": "https://acme.gladly.com", "token": "x"}, "gladly: unknown key 'token'"),
])
def test_bad_gladly_settings_stop_with_one_line_and_exit_2(project: Path, gladly: dict[str, Any], message: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = project / "config.yml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["gladly"] = gladly
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    assert push.main(["--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.slow  # the session's whole import (the imported fixture)
def test_every_bad_gladly_setting_is_found_before_an_import_runs_and_no_password_is_echoed(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The push's block is checked with the rest of the config: `gladly-import` stops before extracting."""
    from gladly_import import cli

    path = project / "config.yml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["gladly"] = {"base_url": "https://ops:s3cret-pw@acme.gladly.com", "concurrency": 0, "activity_type": "CHAT"}
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    before = {p: p.stat().st_mtime_ns for p in project.rglob("*") if p.is_file() and p != path}
    assert cli.main(["--config", str(path)]) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if "gladly." in line]
    assert len(lines) == 3 and "s3cret-pw" not in captured.err + captured.out
    assert {p: p.stat().st_mtime_ns for p in project.rglob("*") if p.is_file() and p != path} == before


@pytest.mark.slow  # the session's whole import (the imported fixture)
def test_missing_credentials_exit_2(project: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("GLADLY_API_USER")
    config = configure(project, base_url="https://acme.gladly.com")
    assert push.main(["--config", str(config)]) == 2
    assert "gladly.user_env: the environment variable GLADLY_API_USER is not set" in capsys.readouterr().err


def test_no_successful_import_yet_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "items.csv").write_text(",".join(HEADER) + "\n", encoding="utf-8")
    config = write_config(tmp_path, {"csv": {"path": "items.csv"}}, gladly={"simulate": True})
    assert push.main(["--config", str(config)]) == 1
    assert "make import" in capsys.readouterr().err


def test_a_spark_import_is_not_pushed_and_says_why_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "items.csv").write_text(",".join(HEADER) + "\n", encoding="utf-8")
    config = write_config(tmp_path, {"csv": {"path": "items.csv"}}, gladly={"simulate": True})
    config.write_text(config.read_text(encoding="utf-8") + "engine: spark\n", encoding="utf-8")
    assert push.main(["--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "engine: spark" in err and len(err.strip().splitlines()) == 1


# -- the rules, one by one ------------------------------------------------------------------------

def good_body(**content: Any) -> dict[str, Any]:
    row = {"conversation_item_id": "zendesk-1-2", "customer_email": "jane@example.com",
           "occurred_at_rfc3339": (NOW - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.123Z"),
           "title": "t", "body": "b", "source_name": "Zendesk"}
    body = push.payload(row, "EMAIL")
    body["content"].update(content)
    return body


@pytest.mark.parametrize(("change", "problem"), [
    ({}, None),
    ({"title": "é" * 100, "body": "🎉" * 25_000, "sourceName": "s" * 50}, None),
    ({"title": "é" * 101}, "title longer than 100 characters"),
    ({"body": "b" * 25_001}, "body longer than 25,000 characters"),
    ({"sourceName": "s" * 51}, "sourceName longer than 50 characters"),
    ({"occurredAt": "2026-01-01T00:00:00Z"}, "occurredAt not RFC 3339 UTC with milliseconds"),
    ({"occurredAt": (NOW - timedelta(days=366)).strftime("%Y-%m-%dT%H:%M:%S.000Z")}, "occurredAt older than 1 year"),
    ({"activityType": "CALL"}, "activityType not one of EMAIL, ISSUE, SMS, SURVEY"),
    ({"title": None}, "no title"),
])
def test_payload_rules(change: dict[str, Any], problem: str | None) -> None:
    assert push.payload_problem(good_body(**change), NOW) == problem


def test_payload_id_rules() -> None:
    assert push.payload_problem({**good_body(), "id": "x" * 51}, NOW) == "id longer than 50 characters"
    assert push.payload_problem({**good_body(), "id": "a.b"}, NOW) == "id not URL safe"
    assert push.payload_problem({**good_body(), "customer": {"emailAddress": "no at sign"}}, NOW) \
        == "no usable customer email"


def test_the_cutoff_leaves_a_day_and_the_batch_duration_to_spare() -> None:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    assert push.cutoff(now, 0, 10) == datetime(2025, 12, 3, tzinfo=UTC)
    assert push.cutoff(now, 864_000, 10) == datetime(2025, 12, 4, tzinfo=UTC)  # a day of pushing at 10/s


def test_settings_defaults_and_types() -> None:
    settings = push.parse_settings({"base_url": "https://acme.gladly.qa/"})
    assert (settings.base_url, settings.user_env, settings.token_env, settings.activity_type) == (
        "https://acme.gladly.qa", "GLADLY_API_USER", "GLADLY_API_TOKEN", "EMAIL")
    assert push.parse_settings({"base_url": "http://127.0.0.1:8080"}).base_url == "http://127.0.0.1:8080"
    with pytest.raises(ConfigError):
        push.parse_settings({"base_url": "https://acme.gladly.com", "requests_per_second": True})


def test_gladly_error_keeps_attr_and_detail() -> None:
    body = {"errors": [{"attr": "content.body", "code": "too_long", "detail": "too long"},
                       {"code": "blank", "detail": "also this"}]}
    assert push.gladly_error(body) == ("too_long", "content.body: too long; also this")
    assert push.gladly_error(b"<html>") == (None, None)


@pytest.mark.slow  # the session's whole import (the imported fixture)
def test_no_push_while_an_import_holds_the_folders(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gladly_import.lock import lock_run_folders

    with simulator() as sim:
        config = configure(project, base_url=sim.base_url)
        folders = lock_run_folders("20261202T070000Z-abcdef", project / "work", project / "output")
        try:
            assert push.main(["--config", str(config)]) == 1
        finally:
            folders.release()
        assert sim.log == []
    assert "20261202T070000Z-abcdef" in capsys.readouterr().err


def _records(path: Path) -> tuple[bytes, list[list[str]]]:
    """(the header line's bytes, the records) of a Gladly CSV; checks the standard writer gives its bytes back."""
    raw = path.read_bytes()
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    assert out.getvalue().encode("utf-8") == raw  # the export is RFC 4180 as the standard writer writes it
    return raw.split(b"\r\n", 1)[0], rows[1:]


@pytest.mark.slow
def test_the_csv_only_file_holds_exactly_the_batch_minus_the_pushed_items(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with simulator(faults=Faults(by_item={"hs-009": ["400"]})) as sim:
        config = configure(project, base_url=sim.base_url)
        assert push.main(["--config", str(config)]) == 0
        pushed = set(sim.items)
    batch_file = project / "output" / "gladly_conversation_items_0001.csv"
    csv_only = project / "output" / "gladly_conversation_items_csv_only_0001.csv"
    header, batch = _records(batch_file)
    only_header, only = _records(csv_only)
    expected = [row for row in batch if row[0] not in pushed]
    assert only_header == header and only == expected
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows([next(csv.reader([header.decode()])), *expected])
    assert csv_only.read_bytes() == out.getvalue().encode("utf-8")  # byte for byte the export's rows
    ids = {row[0] for row in only}
    assert "hs-009" in ids and LONG_SOURCE_ID in ids and MARGIN_ID in ids and {f"hs-old-{n}" for n in range(6)} <= ids
    assert not ids & pushed and len(only) == len(batch) - len(pushed)
    line = f"to upload: {csv_only.name}, the {len(only)} item(s) of the batch not pushed"
    assert line in capsys.readouterr().out
    assert summary(project)["csv_files"] == {csv_only.name: len(only)}
    # a second push changes nothing in it
    before = csv_only.read_bytes()
    with simulator() as sim:
        assert push.main(["--config", str(configure(project, base_url=sim.base_url))]) == 0
    assert csv_only.read_bytes() == before
