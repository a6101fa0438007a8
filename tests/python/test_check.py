"""gladly-import check: the preflight against each simulator, the right verdict, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.generate_kustomer import generate
from extract.simulators.gorgias import GorgiasSimulator
from extract.simulators.kustomer import KustomerSimulator
from tests.python.gorgias_helpers import API_KEY as GORGIAS_KEY
from tests.python.gorgias_helpers import EMAIL as GORGIAS_EMAIL
from tests.python.kustomer_helpers import KEY, PROJECT_DIR

UNHURRIED = {"search_requests_per_minute": 6000}  # the searches' pace is not what these tests are about


def check(folder: Path, sources: dict[str, Any], env: dict[str, str], **top: Any) -> subprocess.CompletedProcess[str]:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.yml"
    config.write_text(json.dumps({"output_dir": "output", "work_dir": "work", **top, "sources": sources}),
                      encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KUSTOMER_", "GORGIAS_", "GLADLY_"))}
    return subprocess.run([sys.executable, "-m", "gladly_import", "check", "--config", str(config)], cwd=PROJECT_DIR,
                          env={**clean, "PYTHONPATH": str(PROJECT_DIR), **env}, capture_output=True, text=True,
                          timeout=120)


def rows(result: subprocess.CompletedProcess[str], source: str) -> dict[str, tuple[str, str]]:
    """check -> (verdict, result) of one source's rows in the table (wrapped results joined)."""
    found: dict[str, tuple[str, str]] = {}
    last = None
    for line in result.stdout.splitlines():
        if line.startswith(f"{source} "):
            name, rest = line[len(source):].strip().split("  ", 1)
            verdict, text = rest.strip().split("  ", 1)
            found[name.strip()] = (verdict.strip(), text.strip())
            last = name.strip()
        elif last and line.startswith(" ") and line.strip():
            verdict, text = found[last]
            found[last] = (verdict, f"{text} {line.strip()}")
        else:
            last = None
    return found


@pytest.fixture(scope="module")
def kustomer_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datetime import UTC, datetime, timedelta

    folder = tmp_path_factory.mktemp("kustomer-check")
    generate(folder, 1_500, seed=28, start=datetime.now(UTC) - timedelta(days=3 * 365), gap_ms=(10_000_000, 100_000_000))
    return folder


def test_kustomer_check_says_the_run_can_go_ahead_and_writes_nothing(kustomer_data: Path, tmp_path: Path) -> None:
    with KustomerSimulator(kustomer_data, api_key=KEY, rate_limit=1000) as sim:
        result = check(tmp_path, {"kustomer": {"base_url": sim.base_url, **UNHURRIED}}, {"KUSTOMER_API_KEY": KEY})
        creates = [path for path, _ in sim.log if not path.startswith(("/v1/customers/search", "/v1/customers/archive/",
                                                                      "/v1/customers/"))]
    assert result.returncode == 0, result.stdout + result.stderr
    found = rows(result, "kustomer")
    for name in ("credentials", "permission: standard search", "permission: archive search", "permission: customers",
                 "rate limit: the org", "assumption: page 101", "assumption: meta.total"):
        assert found[name][0] == "ok", (name, found[name])
    assert found["rate limit: searches"] == ("info", "6,000 a minute configured: above the 100 Kustomer allows an API"
                                                     " key (expect 429s)")
    assert "1,000 requests a minute (x-ratelimit-limit)" in found["rate limit: the org"][1]
    assert found["assumption: standard search sorted when asked"][1].startswith("no: the order is not time order")
    assert found["assumption: archive search sorted when asked"][1].startswith("yes")
    years = {name: text for name, (_, text) in found.items() if name.startswith("size: messages created in")}
    assert len(years) >= 3 and sum(int(text.split(" ")[0].replace(",", "")) for text in years.values()) == 1_500
    assert "1,500 messages" in found["size: the work"][1] and "time at these limits" in found
    assert result.stdout.rstrip().endswith("the run can go ahead")
    assert creates == [] and len(sim.log) < 40  # a handful of read-only requests
    assert not (tmp_path / "output").exists() and not (tmp_path / "work").exists()
    assert KEY not in result.stdout + result.stderr


def test_a_key_without_the_search_permission_fails_the_check_naming_it(kustomer_data: Path, tmp_path: Path) -> None:
    with KustomerSimulator(kustomer_data, api_key=KEY, forbidden_kinds=("search", "archive")) as sim:
        result = check(tmp_path, {"kustomer": {"base_url": sim.base_url}}, {"KUSTOMER_API_KEY": KEY})
    assert result.returncode == 1, result.stdout + result.stderr
    found = rows(result, "kustomer")
    assert found["credentials"][0] == "ok"
    assert found["rate limit: searches"][0] == "ok" and found["rate limit: searches"][1].startswith("95 a minute")
    for name in ("permission: standard search", "permission: archive search"):
        assert found[name][0] == "FAIL" and "org.permission.search.create" in found[name][1]
    assert "the run cannot go ahead as configured: 2 check(s) failed" in result.stdout


def test_a_refused_key_fails_the_check_and_is_never_shown(kustomer_data: Path, tmp_path: Path) -> None:
    with KustomerSimulator(kustomer_data, api_key=KEY) as sim:
        result = check(tmp_path, {"kustomer": {"base_url": sim.base_url}}, {"KUSTOMER_API_KEY": "not-the-key-4711"})
        sent = len(sim.log)
    assert result.returncode == 1
    found = rows(result, "kustomer")
    assert found["credentials"][0] == "FAIL" and "HTTP 401" in found["credentials"][1]
    assert sent == 1 and "not-the-key-4711" not in result.stdout + result.stderr


def test_gorgias_check_tests_trashed_spam_deleted_and_the_bucket(tmp_path: Path) -> None:
    tickets = [{"id": n, "created_datetime": f"2024-02-{1 + n % 27:02d}T10:00:00+00:00", "spam": n == 3,
                "trashed_datetime": "2024-03-01T00:00:00+00:00" if n in (4, 5) else None} for n in range(1, 40)]
    messages = [{"id": 1000 + n, "ticket_id": 1 + n % 39, "created_datetime": f"2024-02-{1 + n % 27:02d}T11:00:00+00:00",
                 "deleted_datetime": "2024-03-01T00:00:00+00:00" if n == 26 else None,  # among the newest
                 "failed_datetime": "2024-03-01T00:00:00+00:00" if n in (53, 80) else None} for n in range(250)]
    env = {"GORGIAS_EMAIL": GORGIAS_EMAIL, "GORGIAS_API_KEY": GORGIAS_KEY}
    with GorgiasSimulator(tickets, messages, email=GORGIAS_EMAIL, api_key=GORGIAS_KEY, bucket_window=10) as sim:
        result = check(tmp_path, {"gorgias": {"base_url": sim.base_url}}, env)
        asked = [(entry.path, entry.params) for entry in sim.log]
    assert result.returncode == 0, result.stdout + result.stderr
    found = rows(result, "gorgias")
    for name in ("credentials", "permission: tickets", "permission: messages", "rate limit",
                 "assumption: cursor pages of tickets", "assumption: cursor pages of messages"):
        assert found[name][0] == "ok", (name, found[name])
    assert found["assumption: trashed=true"][1].startswith("2 trashed among the newest 100 tickets with trashed=true,"
                                                           " 0 without it")
    assert found["assumption: spam tickets"][1].startswith("1 marked spam")
    assert "1 deleted and 2 undelivered" in found["assumption: deleted and undelivered messages"][1]
    assert found["size: tickets"][1] == "39" and found["size: messages"][1].startswith("≈ ")
    assert all(path.startswith("/api/") for path, _ in asked) and len(asked) <= 6
    with GorgiasSimulator(tickets, messages, email=GORGIAS_EMAIL, api_key=GORGIAS_KEY) as sim:
        refused = check(tmp_path / "refused", {"gorgias": {"base_url": sim.base_url}},
                        {**env, "GORGIAS_API_KEY": "wrong-key-0815"})
    assert refused.returncode == 1 and rows(refused, "gorgias")["credentials"][0] == "FAIL"
    assert "wrong-key-0815" not in refused.stdout + refused.stderr


def test_the_gladly_block_is_checked_with_one_read_only_request_and_unset_variables_fail(tmp_path: Path) -> None:
    simulated = check(tmp_path / "sim", {"kustomer": {"simulate": True, **UNHURRIED}}, {},
                      gladly={"simulate": True})
    assert simulated.returncode == 0, simulated.stdout + simulated.stderr
    assert rows(simulated, "gladly")["credentials"][0] == "ok" and rows(simulated, "kustomer")["credentials"][0] == "ok"
    unset = check(tmp_path / "real", {"kustomer": {"simulate": True, **UNHURRIED}}, {},
                  gladly={"base_url": "https://acme.gladly.com"})
    assert unset.returncode == 1
    verdict, text = rows(unset, "gladly")["credentials"]
    assert verdict == "FAIL" and "GLADLY_API_USER" in text and "GLADLY_API_TOKEN" in text


def test_a_bad_config_is_exit_2_before_any_request(tmp_path: Path) -> None:
    result = check(tmp_path, {"kustomer": {"base_url": "http://example.com"}}, {})
    assert result.returncode == 2 and "config error" in result.stderr and result.stdout == ""
