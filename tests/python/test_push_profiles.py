"""The push completes the contact card: Gladly's customer profiles get the batch's name and phone.

Against the simulator's customer profiles (gladly_import/push/simulator/profiles.py): new customers,
customers Gladly already had (a name, other emails and phones that must survive), a merged customer,
a phone another customer holds as MOBILE, numbers that cannot be normalized, a kill between an item
and its profile update. One whole import (CSV rows dated relative to today), copied for each test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from gladly_import import push
from gladly_import.push.simulator import GladlySimulator
from tests.python import push_helpers
from tests.python.conftest import PROJECT_DIR

pytestmark = pytest.mark.slow

USER, TOKEN = "api-user@shop.example", "tok-profiles-secret"
NOW = datetime.now(UTC)
HEADER = ["Conversation Item ID", "Customer Email", "Customer Name", "Customer Phone", "Conversation Item Timestamp",
          "Conversation Item Title", "Conversation Item Body", "Conversation Item Source", "Tags"]
# email -> (name, phone) of the customer's latest item; older items carry stale or empty values
CUSTOMERS = {
    "ana.new@example.com": ("Ana Lima", "+1 (415) 555-0100"),
    "bo.existing@example.com": ("Bo Other-Name", "+1 415 555 0122"),
    "cy.complete@example.com": ("Cy Complete", "+14155550133"),
    "di.merged@example.com": ("Di Merged", "+44 20 7946 0958"),
    "ed.mobile@example.com": ("Ed Conflict", "+1 415 555 0199"),
    "fay.national@example.com": ("Fay National", "650 123 4567"),
    "gus.junk@example.com": ("Gus Junk", "n/a - call after 5pm"),
    "hal.noname@example.com": ("", ""),
}


def stamp(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def source_rows() -> list[list[str]]:
    rows = []
    for n, (email, (name, phone)) in enumerate(CUSTOMERS.items()):
        # an older item with another (stale) name and no phone, then the latest with the card
        rows.append([f"pf-{n}-a", email, f"Old {name}" if name else "", "", stamp(40 + n), "Earlier", "first body",
                     "Help Scout", ""])
        rows.append([f"pf-{n}-b", email.upper(), name, phone, stamp(10 + n), "Latest", "second body", "Help Scout", ""])
    return rows


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return push_helpers.import_rows(tmp_path_factory.mktemp("push-profiles"), HEADER, source_rows())


@pytest.fixture
def project(imported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return push_helpers.copy_project(imported, tmp_path, monkeypatch, USER, TOKEN)


def configure(project: Path, **gladly: Any) -> Path:
    return push_helpers.configure(project, {"requests_per_second": 40, "concurrency": 6}, **gladly)


def gladly_as_before(sim: GladlySimulator) -> dict[str, str]:
    """The customers Gladly already had: ids by role."""
    ids = {
        "bo": sim.add_profile(name="Bo Existing", emails=[{"original": "bo.existing@example.com"},
                                                          {"original": "bo.work@example.org"}],
                              phones=[{"original": "+14155550111", "type": "MOBILE"}]),
        "cy": sim.add_profile(name="Cy Complete", emails=[{"original": "cy.complete@example.com"}],
                              phones=[{"original": "+1 415 555 0133"}]),
        "other": sim.add_profile(name="Someone Else", emails=[{"original": "someone@example.net"}],
                                 phones=[{"original": "+14155550199", "type": "MOBILE"}]),
        "di_survivor": sim.add_profile(name="Di Survivor", emails=[{"original": "di.home@example.net"}]),
    }

    def merge_di(item: dict[str, Any]) -> None:  # Di's profile is merged into another right after her first item
        if item["customer"]["emailAddress"].lower() == "di.merged@example.com" and ids.get("di") is None:
            ids["di"] = item["customerId"]
            sim.profile_store.merge(item["customerId"], ids["di_survivor"])

    sim.after_item = merge_di
    return ids


def phones_of(profile: dict[str, Any]) -> dict[str, str | None]:
    return {p["normalized"] or p["original"]: p.get("type") for p in profile["phones"]}


def profile_rows(project: Path) -> list[tuple]:
    with duckdb.connect(str(project / "work" / "gladly_import.duckdb"), read_only=True) as conn:
        return conn.execute("select customer_email, step, status, outcome, http_status, gladly_detail "
                            "from ledger.push_profile_ledger order by answered_at").fetchall()


def summary(project: Path) -> dict[str, Any]:
    return json.loads((project / "output" / push.SUMMARY_FILE).read_text(encoding="utf-8"))


def profile_requests(sim: GladlySimulator) -> list[Any]:
    return [e for e in sim.log if e.path.startswith("/api/v1/customer-profiles")]


def test_every_customer_ends_with_the_batchs_name_and_phone_and_loses_nothing(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with GladlySimulator(user=USER, token=TOKEN, rate_limit=10, latency=0.01) as sim:
        ids = gladly_as_before(sim)
        before = {pid: json.loads(json.dumps(p)) for pid, p in sim.profiles.items()}
        config = configure(project, base_url=sim.base_url, requests_per_second=10)
        assert push.main(["--config", str(config)]) == 0
        assert sim.max_admitted_in_any_window(1.0) <= 10       # items and profiles share the 10 a second
        ana = sim.profile_of("ana.new@example.com")
        assert ana["name"] == "Ana Lima" and phones_of(ana) == {"+14155550100": None}       # OTHER: no type
        bo = sim.profiles[ids["bo"]]
        assert bo["name"] == "Bo Existing"                                                   # never overwritten
        assert phones_of(bo) == {"+14155550111": "MOBILE", "+14155550122": None}
        assert {e["normalized"] for e in bo["emails"]} == {"bo.existing@example.com", "bo.work@example.org"}
        assert sim.profiles[ids["cy"]] == before[ids["cy"]]                                  # complete: untouched
        di = sim.profiles[ids["di_survivor"]]                                                # merged: 301 followed
        assert ids["di"] not in sim.profiles and di["name"] == "Di Survivor"
        assert phones_of(di) == {"+442079460958": None}
        assert {e["normalized"] for e in di["emails"]} == {"di.home@example.net", "di.merged@example.com"}
        ed = sim.profile_of("ed.mobile@example.com")                                         # phone held as MOBILE
        assert ed["name"] == "Ed Conflict" and ed["phones"] == []
        assert phones_of(sim.profiles[ids["other"]]) == {"+14155550199": "MOBILE"}
        fay = sim.profile_of("fay.national@example.com")                                     # sent as written
        assert fay["name"] == "Fay National" and fay["phones"] == [{"original": "650 123 4567",
                                                                   "normalized": "+16501234567"}]
        gus = sim.profile_of("gus.junk@example.com")                                         # refused, name set
        assert gus["name"] == "Gus Junk" and gus["phones"] == []
        hal = sim.profile_of("hal.noname@example.com")                                       # nothing to set
        assert "name" not in hal and hal["phones"] == []
        for pid, old in before.items():                       # no profile lost an email or a phone it had
            now = sim.profiles.get(pid) or sim.profiles[ids["di_survivor"]]
            assert {e["normalized"] for e in old["emails"]} <= {e["normalized"] for e in now["emails"]}
            assert set(phones_of(old)) <= set(phones_of(now))
        hal_requests = [e for e in profile_requests(sim) if "hal" in e.target]
        assert hal_requests == []
        ana_requests = [e for e in profile_requests(sim) if ana["id"] in e.target or "ana.new" in e.target]
        assert [e.method for e in ana_requests] == ["GET", "PATCH"]                         # a new customer: 2
    s = summary(project)["profiles"]
    assert (s["created"], s["updated"], s["already_complete"], s["refused"], s["not_found"]) == (2, 2, 1, 2, 0)
    assert s["phones_sent_as_written"] == 2
    assert any("belongs to another customer" in reason and "the name was set" in reason for reason in s["refused_by_reason"])
    out = capsys.readouterr().out
    assert "customer profiles: 2 created, 2 updated, 1 already complete, 2 refused" in out
    report = (project / "output" / "import_report.html").read_text(encoding="utf-8")
    assert '<td>customer profiles created</td><td class="n">2</td>' in report
    assert "belongs to another customer" in report


def test_a_second_push_repeats_no_profile_request(project: Path) -> None:
    with GladlySimulator(user=USER, token=TOKEN, rate_limit=40) as sim:
        gladly_as_before(sim)
        config = configure(project, base_url=sim.base_url)
        assert push.main(["--config", str(config)]) == 0
        first = len(sim.log)
        assert push.main(["--config", str(config)]) == 0
        assert len(sim.log) == first


def test_dry_run_counts_the_profile_requests_in_the_estimate(project: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLADLY_API_TOKEN")
    config = configure(project, base_url="https://acme.gladly.com", requests_per_second=10)
    assert push.main(["--config", str(config), "--dry-run"]) == 0
    s = summary(project) if (project / "output" / push.SUMMARY_FILE).exists() else None
    out = capsys.readouterr().out
    customers = sum(1 for name, phone in CUSTOMERS.values() if name or phone)
    assert f"customer profiles to complete: {customers} (up to {2 * customers} requests" in out
    items = 2 * len(CUSTOMERS)
    assert f"{items + 2 * customers} requests at 9.5 a second" in out
    assert s is None  # a dry run writes nothing


def start_push(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "gladly_import.push", "--config", str(config)], cwd=PROJECT_DIR,
                            env={**os.environ, "GLADLY_API_USER": USER, "GLADLY_API_TOKEN": TOKEN},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_kill_between_an_item_and_its_profile_update_repeats_no_answered_profile_request(project: Path) -> None:
    with GladlySimulator(user=USER, token=TOKEN, rate_limit=40, latency=0.02, method_latency={"PATCH": 1.5}) as sim:
        gladly_as_before(sim)
        config = configure(project, base_url=sim.base_url, concurrency=3)
        first = start_push(config)
        try:
            deadline = time.monotonic() + 60
            while not any(e.method == "PATCH" for e in sim.log) and first.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            assert first.poll() is None, first.communicate()
            time.sleep(0.3)                   # the read before that update is recorded; the update is in flight
            first.send_signal(signal.SIGKILL)
        finally:
            first.wait(timeout=30)
        time.sleep(1.6)                       # the server finishes what was in flight
        recorded = profile_rows(project)
        read_before = {email for email, step, status, *_ in recorded if status in ("read", "found")}
        settled_before = {email for email, _, _, outcome, *_ in recorded if outcome}
        waiting = read_before - settled_before
        assert waiting, recorded              # killed between a read and its update
        requests_before = len(sim.log)

        second = start_push(config)
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
        again = sim.log[requests_before:]
        for email in read_before | settled_before:
            customer = sim.profile_of(email)
            ids = {customer["id"]} if customer else set()
            repeated = [e for e in again if e.method == "GET" and e.path.startswith("/api/v1/customer-profiles")
                        and (email in e.target.lower() or any(i in e.target for i in ids))]
            assert repeated == [], (email, [e.target for e in repeated])
        for email in settled_before:
            customer = sim.profile_of(email)
            assert not [e for e in again if e.method == "PATCH" and customer["id"] in e.target]
        assert sim.profile_of("ana.new@example.com")["name"] == "Ana Lima"
        assert "+14155550100" in phones_of(sim.profile_of("ana.new@example.com"))
        outcomes = {email for email, _, _, outcome, *_ in profile_rows(project) if outcome}
        assert outcomes == {email for email, (name, phone) in CUSTOMERS.items() if name or phone}

        requests = len(sim.log)
        third = start_push(config)
        out, err = third.communicate(timeout=120)
        assert third.returncode == 0, err
        assert len(sim.log) == requests and "0 requests" in out
