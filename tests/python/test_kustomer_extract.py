"""Kustomer extraction over real HTTP against the local simulator: counts, faults, resume, secrets."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench.generate_kustomer import generate
from extract import kustomer
from extract.errors import AuthError, ExtractError
from extract.http_client import HttpClient
from extract.simulators.kustomer import Faults, KustomerSimulator
from tests.python.kustomer_helpers import (
    KEY,
    PROJECT_DIR,
    cli_command,
    cli_env,
    run_cli,
    run_extract,
    write_config,
)


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real retries, short waits: the tests would otherwise sleep for seconds per retry."""
    monkeypatch.setitem(kustomer.CLIENT_OPTIONS, "backoff_base", 0.01)
    monkeypatch.setitem(kustomer.CLIENT_OPTIONS, "backoff_max", 0.05)
    monkeypatch.setitem(kustomer.CLIENT_OPTIONS, "timeout", 5.0)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("kustomer-data")
    return folder, generate(folder, 730, seed=11)  # 8 pages


def options(sim: KustomerSimulator, **extra: Any) -> dict[str, Any]:
    return {"base_url": sim.base_url, "api_key_env": "KUSTOMER_API_KEY", **extra}


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("KUSTOMER_API_KEY", KEY)
    return KEY


def sorted_rows(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (r[key] or "", r.get("position") or 0))


def test_requests_equal_pages_plus_distinct_customers(tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, figures = dataset
    with KustomerSimulator(folder, api_key=api_key) as sim:
        result = run_extract(tmp_path, options(sim))
    assert sim.by_kind["messages"] == figures["pages"] == 8
    assert sim.by_kind["customer"] == figures["customers_referenced"]
    assert sim.requests == figures["pages"] + figures["customers_referenced"]
    assert len(result.tables["messages"]) == 730
    customer_paths = [path for path, _ in sim.log if path.startswith("/v1/customers/")]
    assert len(customer_paths) == len(set(customer_paths)), "a customer was fetched twice"


def test_links_next_is_followed_to_the_last_page(tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=api_key) as sim:
        run_extract(tmp_path, options(sim))
    pages = [path for path, _ in sim.log if path.startswith("/v1/messages")]
    assert pages == [f"/v1/messages?page={n}&pageSize=100" for n in range(1, 9)]


def test_injected_429s_500s_drops_and_slow_answers_end_with_the_same_data(
        tmp_path: Path, dataset: tuple, api_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=api_key) as sim:
        clean = run_extract(tmp_path / "clean", options(sim))
    monkeypatch.setitem(kustomer.CLIENT_OPTIONS, "timeout", 0.5)
    faults = Faults(status_on_request={2: 500, 3: 429, 6: 503, 14: 500, 40: 502, 41: 500},
                    throttle_requests={17, 50}, drop_requests={9, 30}, slow_requests={20: 1.5},
                    malformed_pages={4: 1})
    stats: dict[str, HttpClient] = {}
    original = kustomer._client

    def spy(*args: Any) -> HttpClient:
        stats["client"] = original(*args)
        return stats["client"]

    monkeypatch.setattr(kustomer, "_client", spy)
    with KustomerSimulator(folder, api_key=api_key, faults=faults, rate_limit=25, window_seconds=1.0) as sim:
        faulty = run_extract(tmp_path / "faulty", options(sim))
    client = stats["client"]
    assert sim.by_status[429] >= 3 and sim.by_status[500] >= 3  # bare and real 429s, 5xx all happened
    for table in ("messages", "customers", "customer_emails", "customer_phones"):
        key = "message_id" if table == "messages" else "customer_id"
        assert sorted_rows(faulty.tables[table], key) == sorted_rows(clean.tables[table], key), table
    assert faulty.rejects == clean.rejects == []
    logical = 8 + len(clean.tables["customers"])
    assert client.stats.requests == sim.requests == logical + client.stats.retries


def test_a_bare_429_without_headers_is_retried(tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=api_key, faults=Faults(status_on_request={1: 429, 2: 429})) as sim:
        result = run_extract(tmp_path, options(sim))
    assert len(result.tables["messages"]) == 730 and sim.by_status[429] == 2


def test_requests_per_minute_budget_is_respected(tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=api_key) as sim:
        started = time.monotonic()
        run_extract(tmp_path, options(sim, requests_per_minute=3000))  # one request every 20 ms
        elapsed = time.monotonic() - started
    assert elapsed >= (sim.requests - 1) * 0.02 * 0.95


def test_interrupted_run_resumes_with_every_message_exactly_once(
        tmp_path: Path, dataset: tuple, api_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _ = dataset
    pages = {"n": 0}
    real_get_json = HttpClient.get_json

    def interrupted(self: HttpClient, path: str, params: Any = None) -> Any:
        pages["n"] += path.startswith("/v1/messages")
        if pages["n"] == 6 or (pages["n"] == 5 and path.startswith("/v1/customers")):
            raise KeyboardInterrupt  # Ctrl-C amid page 5, after the checkpoints of pages 1-2 and 3-4
        return real_get_json(self, path, params)

    with KustomerSimulator(folder, api_key=api_key) as sim:
        monkeypatch.setattr(HttpClient, "get_json", interrupted)
        with pytest.raises(KeyboardInterrupt):
            run_extract(tmp_path, options(sim, checkpoint_every_pages=2))
        monkeypatch.setattr(HttpClient, "get_json", real_get_json)
        first_run_pages = sim.by_kind["messages"]
        result = run_extract(tmp_path, options(sim, checkpoint_every_pages=2))
    resumed_pages = [p for p, _ in sim.log if p.startswith("/v1/messages")][first_run_pages:]
    assert resumed_pages[0] == "/v1/messages?page=5&pageSize=100"  # the last checkpoint, not page 1
    assert "resuming the interrupted extraction" in result.progress
    ids = result.message_ids()
    assert len(ids) == len(set(ids)) == 730
    customer_ids = [row["customer_id"] for row in result.tables["customers"]]
    assert len(customer_ids) == len(set(customer_ids))


@pytest.mark.slow
def test_killed_run_resumes_with_every_message_exactly_once(tmp_path: Path, dataset: tuple, api_key: str) -> None:
    """SIGKILL a real `python -m gladly_import` mid-extraction, then run it again."""
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=KEY, faults=Faults(delay=0.03)) as sim:
        config = write_config(tmp_path, {"base_url": sim.base_url, "checkpoint_every_pages": 2})
        process = subprocess.Popen(cli_command(config), cwd=PROJECT_DIR, env=cli_env(KEY),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while sim.by_kind["messages"] < 5 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
        first_run_pages = sim.by_kind["messages"]
        assert 5 <= first_run_pages < 8
        sim.faults.delay = 0.0
        result = run_extract(tmp_path / "work", {"base_url": sim.base_url, "checkpoint_every_pages": 2})
    resumed = [p for p, _ in sim.log if p.startswith("/v1/messages")][first_run_pages:]
    assert resumed and resumed[0] != "/v1/messages?page=1&pageSize=100"
    ids = result.message_ids()
    assert len(ids) == len(set(ids)) == 730


def test_completed_extraction_is_extracted_afresh_by_default(tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, figures = dataset
    with KustomerSimulator(folder, api_key=api_key) as sim:
        run_extract(tmp_path, options(sim))
        again = run_extract(tmp_path, options(sim))
    assert sim.requests == 2 * (figures["pages"] + figures["customers_referenced"])
    assert len(again.message_ids()) == 730 and "extracting afresh" in again.progress


def test_reuse_completed_copies_the_last_extraction_without_requests(
        tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=api_key) as sim:
        first = run_extract(tmp_path, options(sim))
        before = sim.requests
        again = run_extract(tmp_path, options(sim, reuse_completed=True))
    assert sim.requests == before
    assert again.message_ids() == first.message_ids()


def test_a_page_that_stays_malformed_is_rejected_and_the_next_page_is_read(
        tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=api_key, faults=Faults(malformed_pages={3: 99})) as sim:
        result = run_extract(tmp_path, options(sim))
    assert [r["reject_reason"] for r in result.rejects] == ["malformed_page"]
    assert result.rejects[0]["_source_position"] == "page 3"
    assert len(result.message_ids()) == 630
    assert result.out.records_rejected == 1  # accounted for, not dropped silently


def test_customer_that_answers_404_is_kept_as_not_found(tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=api_key) as sim:
        result = run_extract(tmp_path, options(sim))
    statuses = Counter(row["fetch_status"] for row in result.tables["customers"])
    assert statuses["not_found"] >= 1 and statuses["ok"] > 50


def test_bad_key_stops_with_a_clear_message(tmp_path: Path, dataset: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _ = dataset
    monkeypatch.setenv("KUSTOMER_API_KEY", "wrong-key-123")
    with KustomerSimulator(folder, api_key=KEY) as sim, pytest.raises(AuthError) as raised:
        run_extract(tmp_path, options(sim))
    assert "Kustomer rejected the API key in KUSTOMER_API_KEY (HTTP 401" in str(raised.value)
    assert "wrong-key-123" not in str(raised.value)


def test_missing_permission_is_named(tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=api_key, forbidden_prefixes=("/v1/customers",)) as sim, \
            pytest.raises(AuthError) as raised:
        run_extract(tmp_path, options(sim))
    assert "org.permission.customer.read" in str(raised.value) and "HTTP 403" in str(raised.value)


def test_missing_environment_variable_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUSTOMER_API_KEY", raising=False)
    with pytest.raises(ExtractError, match="environment variable KUSTOMER_API_KEY is not set"):
        run_extract(tmp_path, {"base_url": "https://acme.api.kustomerapp.com"})


@pytest.mark.parametrize("base_url", ["http://acme.api.kustomerapp.com", "ftp://x", "acme.api.kustomerapp.com"])
def test_base_url_must_be_https_unless_local(tmp_path: Path, base_url: str, api_key: str) -> None:
    with pytest.raises(ExtractError, match="must be an https:// URL"):
        run_extract(tmp_path, {"base_url": base_url})


def test_progress_shows_pages_messages_customers_rate_and_time_left(
        tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=api_key) as sim:
        result = run_extract(tmp_path, options(sim))
    line = next(x for x in result.progress.splitlines() if "page 4/8" in x)
    assert "400 messages" in line and "customers" in line and "requests/min" in line and "left" in line


def test_simulate_uses_the_local_simulator_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUSTOMER_API_KEY", raising=False)
    result = run_extract(tmp_path, {"simulate": True})
    assert "using the local Kustomer API simulator at http://127.0.0.1:" in result.progress
    assert len(result.message_ids()) == 250  # the bundled samples/kustomer


# -- the CLI: exit codes, and the key never written anywhere ----------------------------------


def test_cli_bad_key_exits_non_zero_with_one_line_and_no_traceback(tmp_path: Path, dataset: tuple) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=KEY) as sim:
        config = write_config(tmp_path, {"base_url": sim.base_url})
        done = run_cli(config, "not-the-key-" + KEY[::-1])
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("extract error:")]
    assert len(errors) == 1 and "HTTP 401" in errors[0] and "KUSTOMER_API_KEY" in errors[0]
    assert KEY[::-1] not in done.stderr + done.stdout


def test_cli_missing_key_exits_non_zero_without_traceback(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"base_url": "https://acme.api.kustomerapp.com"})
    done = run_cli(config, None)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "KUSTOMER_API_KEY is not set" in done.stderr


@pytest.mark.slow
def test_the_key_never_appears_in_output_logs_parquet_or_state(tmp_path: Path, dataset: tuple) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=KEY, faults=Faults(status_on_request={2: 500})) as sim:
        config = write_config(tmp_path, {"base_url": sim.base_url})
        done = run_cli(config, KEY)
    assert done.returncode == 0, done.stderr[-2000:]
    assert KEY not in done.stdout + done.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    written += [p for p in (PROJECT_DIR / "logs").rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in written) and any(p.name == "checkpoint.json" for p in written)
    for path in written:
        data = path.read_bytes()
        assert KEY.encode() not in data, path


def test_simulator_data_must_hold_messages_and_customers(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExtractError, match="has no messages.jsonl or customers.jsonl"):
        run_extract(tmp_path, {"simulate": True, "simulator_data": "empty"})


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_the_next_run_resumes(tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=KEY, faults=Faults(delay=0.02)) as sim:
        config = write_config(tmp_path, {"base_url": sim.base_url, "checkpoint_every_pages": 2})
        process = subprocess.Popen(cli_command(config), cwd=PROJECT_DIR, env=cli_env(KEY), text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 60
        while sim.by_kind["messages"] < 4 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
        sim.faults.delay = 0.0
        result = run_extract(tmp_path / "work", {"base_url": sim.base_url, "checkpoint_every_pages": 2})
    assert "resuming the interrupted extraction" in result.progress
    ids = result.message_ids()
    assert len(ids) == len(set(ids)) == 730


def test_a_checkpoint_whose_parts_are_gone_starts_afresh(tmp_path: Path, dataset: tuple, api_key: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _ = dataset
    real_get_json = HttpClient.get_json
    pages = {"n": 0}

    def interrupted(self: HttpClient, path: str, params: Any = None) -> Any:
        pages["n"] += path.startswith("/v1/messages")
        if pages["n"] == 4:
            raise KeyboardInterrupt
        return real_get_json(self, path, params)

    with KustomerSimulator(folder, api_key=api_key) as sim:
        monkeypatch.setattr(HttpClient, "get_json", interrupted)
        with pytest.raises(KeyboardInterrupt):
            run_extract(tmp_path, options(sim, checkpoint_every_pages=1))
        monkeypatch.setattr(HttpClient, "get_json", real_get_json)
        next(iter((tmp_path / "state" / "kustomer" / "parts").glob("customers-*.parquet"))).write_bytes(b"junk")
        result = run_extract(tmp_path, options(sim))
    assert "missing or unreadable: extracting afresh" in result.progress
    assert len(set(result.message_ids())) == len(result.message_ids()) == 730


def test_a_listing_that_ends_before_its_announced_total_is_reported(tmp_path: Path, dataset: tuple,
                                                                    api_key: str) -> None:
    folder, _ = dataset
    with KustomerSimulator(folder, api_key=api_key, max_results=500) as sim:
        result = run_extract(tmp_path, options(sim))
    assert len(result.message_ids()) == 500
    assert "WARNING: Kustomer announced 730 messages but its pages ended after 500: 230 were not listed" \
        in result.progress


def test_ratelimit_headers_are_honoured_so_no_429_is_collected(tmp_path: Path, dataset: tuple, api_key: str) -> None:
    folder, figures = dataset
    with KustomerSimulator(folder, api_key=api_key, rate_limit=50, window_seconds=1.0) as sim:
        started = time.monotonic()
        result = run_extract(tmp_path, options(sim))
        elapsed = time.monotonic() - started
    assert len(result.message_ids()) == 730
    assert sim.by_status[429] == 0  # waited for x-ratelimit-reset whenever x-ratelimit-remaining hit 0
    assert sim.requests == figures["pages"] + figures["customers_referenced"]
    assert elapsed >= sim.requests // 50 - 1  # at most 50 requests in any one-second window
