"""Benchmark the Kustomer extraction against the local simulator, and count the naive baseline's requests.

    python bench/bench_kustomer.py [--items 100000] [--seed 42] [--out bench/results/kustomer.json]
    python bench/bench_kustomer.py --rate [--items 20000] [--latency 0.25] [--limit 1200]

``--rate`` (also part of ``make bench``, see ``rate()``): the simulator answers after ``latency``
seconds, announces ``limit`` requests a minute and allows 100 searches a minute (Kustomer's budget
for an API key); the extraction runs in this process and the rates are measured from the server's
side (its request arrival times): the sustained rate, the most requests (and searches) any 60 s
window received, the 429s, the same against one request at a time (the baseline, measured in the
same run), and the hours 1M messages take at each plan's limit with the search budget applied
(``hours_for_1m_messages``: searches at 95 a minute, customer lookups at what is left).

Generates the data (``bench/generate_kustomer.py``, cached under ``bench/corpus/``), serves it
with the simulator in its own process, runs the extractor in a child process (the figures are
that child's: seconds, peak RSS) and prints + writes JSON: items, MB served, seconds, items/s,
MB/s, peak RSS, requests made, and the requests of the naive approach that GETs the customer of
every message, with what both would take at Kustomer's rate limits (300 to 2,000 a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from bench import write_result  # noqa: E402

BENCH_KEY = "bench-key-not-secret"

CHILD = r"""
import json, sys, time
from pathlib import Path
from extract import kustomer
from gladly_import.metrics import own_peak_rss_kb
from extract.context import SourceContext
from extract.raw import PlatformOutput

work = Path(sys.argv[2])
# the extraction's speed, not Kustomer's search budget (the simulator's is lifted too): --rate measures that
ctx = SourceContext(platform="kustomer", options={"base_url": sys.argv[1], "search_requests_per_minute": 100000},
                    base_dir=work, state_dir=work / "state" / "kustomer")
out = PlatformOutput(work / "raw", "kustomer", kustomer.TABLES, kustomer.RECORD_TABLES)
seen = {}
original = kustomer.Kustomer.client
def spy(self, *args):
    seen["client"] = original(self, *args)
    return seen["client"]
kustomer.Kustomer.client = spy
started = time.monotonic()
kustomer.extract(ctx, out)
out.close()
seconds = time.monotonic() - started
stats = seen["client"].stats
print(json.dumps({"seconds": seconds, "requests": stats.requests, "retries": stats.retries,
                  "records": out.records_extracted,
                  "peak_rss_mb": own_peak_rss_kb() / 1024}))
"""


def corpus(items: int, seed: int) -> tuple[Path, dict[str, Any]]:
    sys.path.insert(0, str(PROJECT_DIR))
    from bench.generate_kustomer import generate

    folder = PROJECT_DIR / "bench" / "corpus" / f"kustomer-{items}-{seed}"
    figures_path = folder / "figures.json"
    if figures_path.exists():
        return folder, json.loads(figures_path.read_text())
    figures = generate(folder, items, seed)
    figures_path.write_text(json.dumps(figures))
    return folder, figures


def messages_with_customer(folder: Path) -> int:
    count = 0
    with open(folder / "messages.jsonl", encoding="utf-8") as f:
        for line in f:
            if '"customer":' in line:
                count += 1
    return count


def hours_at(plan_per_minute: float, searches: float, customers: float, share: float = 0.95) -> float:
    """Hours at a plan's limit: searches at the search budget (95 a minute), customers at what is left."""
    from extract.kustomer import SETTINGS

    search_budget = min(SETTINGS["search_requests_per_minute"].default, plan_per_minute * share)
    return max(searches / search_budget, (searches + customers) / (plan_per_minute * share)) / 60


def request_counts(folder: Path, figures: dict[str, Any]) -> dict[str, Any]:
    """This extractor's requests (search pages of 500 in windows + distinct customers) against the naive
    one's (the message listing, 100 a page, + a customer per message)."""
    from extract.kustomer import search_requests

    searches = search_requests(figures["messages"])
    ours = searches + figures["customers_referenced"]
    naive = figures["pages"] + messages_with_customer(folder)
    return {
        "requests": ours,
        "search_requests": searches,
        "naive_requests": naive,
        "request_saving": round(1 - ours / naive, 3) if naive else 0.0,
        "hours_at_rate_limit": {str(rpm): {"extractor": round(hours_at(rpm, searches, figures["customers_referenced"],
                                                                       1.0), 2),
                                           "naive": round(naive / rpm / 60, 2)}
                                for rpm in (300, 1000, 2000)},
    }


def baseline(corpus_info: dict[str, Any]) -> dict[str, Any]:
    """`make bench`'s hook: the naive baseline's request count on the same corpus (no HTTP needed)."""
    folder = Path(corpus_info.get("dir") or corpus_info["path"])
    return request_counts(folder, corpus_info)


def run(items: int, seed: int) -> dict[str, Any]:
    folder, figures = corpus(items, seed)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR), "KUSTOMER_API_KEY": BENCH_KEY}
    simulator = subprocess.Popen([sys.executable, "-m", "extract.simulators.kustomer", str(folder), "--port", "0",
                                  "--search-rate-limit", "0"],
                                 cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert simulator.stdout is not None
        base_url = simulator.stdout.readline().split(" at ")[1].split(" ")[0]
        with tempfile.TemporaryDirectory() as work:
            done = subprocess.run([sys.executable, "-c", CHILD, base_url, work], cwd=PROJECT_DIR, env=env,
                                  capture_output=True, text=True, check=True)
        child = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
    megabytes = figures["bytes"] / 1e6
    counts = request_counts(folder, figures)
    result = {
        "platform": "kustomer",
        "items": child["records"],
        "mb": round(megabytes, 2),
        "seconds": round(child["seconds"], 2),
        "items_per_s": round(child["records"] / child["seconds"], 1),
        "mb_per_s": round(megabytes / child["seconds"], 2),
        "peak_rss_mb": round(child["peak_rss_mb"], 1),
        "requests_made": child["requests"],
        "retries": child["retries"],
        **counts,
    }
    return result


PLAN_LIMITS = {"Professional": 300, "Business": 500, "Enterprise": 1_000, "Ultimate": 2_000}


def server_rate(times: list[float], window: float = 60.0) -> dict[str, Any]:
    """From request arrival times: the rate sustained over whole ``window``s and the most in any one.

    Sustained = the requests of the first k whole windows from the first request, divided by k
    (a limit per window allows a burst at its start: a part of a window would overstate the rate).
    Shorter than one window: extrapolated, and said so.
    """
    times = sorted(times)
    if len(times) < 2:
        return {"requests": len(times), "sustained_per_minute": 0.0, "max_in_any_window": len(times)}
    span = times[-1] - times[0]
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    whole = int(span // window)
    if whole:
        counted = sum(1 for t in times if t < times[0] + whole * window)
        sustained = counted / (whole * window) * 60
    else:
        sustained = (len(times) - 1) / span * 60 if span else 0.0
    return {"requests": len(times), "seconds": round(span, 1), "whole_windows": whole,
            "sustained_per_minute": round(sustained, 1), "max_in_any_window": most}


def one_at_a_time(base_url: str, key: str, requests: int) -> float:
    """The baseline: requests per minute of a client that waits for each answer (the old extractor)."""
    from extract.http_client import BearerAuth, HttpClient

    with HttpClient(base_url, BearerAuth(key), service="Kustomer") as client:
        started = time.monotonic()
        for _ in range(requests):
            client.get("/v1/messages", {"page": 1, "pageSize": 1})
        return requests / (time.monotonic() - started) * 60


def rate(items: int = 20_000, latency: float = 0.25, limit: int = 1_200, seed: int = 42,
         baseline_requests: int = 40) -> dict[str, Any]:
    """The extraction against a simulator that answers in ``latency`` s and allows ``limit`` a minute."""
    sys.path.insert(0, str(PROJECT_DIR))
    from bench.generate_kustomer import generate
    from extract import kustomer
    from extract.context import SourceContext
    from extract.raw import PlatformOutput
    from extract.simulators.kustomer import KustomerSimulator

    with tempfile.TemporaryDirectory(prefix="bench-kustomer-rate-") as tmp:
        work = Path(tmp)
        figures = generate(work / "data", items, seed=seed)
        os.environ.setdefault("KUSTOMER_API_KEY", BENCH_KEY)
        key = os.environ["KUSTOMER_API_KEY"]
        with KustomerSimulator(work / "data", api_key=key, rate_limit=limit, latency=latency) as sim:
            ctx = SourceContext(platform="kustomer", options={"base_url": sim.base_url}, base_dir=work,
                                state_dir=work / "state" / "kustomer")
            out = PlatformOutput(work / "raw", "kustomer", kustomer.TABLES, kustomer.RECORD_TABLES)
            started = time.monotonic()
            kustomer.extract(ctx, out)
            out.close()
            seconds = time.monotonic() - started
            measured = server_rate(list(sim.request_times))
            searches = server_rate(sim.search_times())
            throttled = sim.by_status.get(429, 0)
            before = len(sim.request_times)
            baseline = one_at_a_time(sim.base_url, key, baseline_requests)
            baseline_server = server_rate(list(sim.request_times)[before:])
    from extract.kustomer import search_requests

    share = measured["sustained_per_minute"] / limit
    per_message = measured["requests"] / items
    million = 1_000_000 * per_message
    customers_per_message = figures["customers_referenced"] / items
    million_searches = search_requests(1_000_000)
    million_customers = 1_000_000 * customers_per_message
    return {
        "platform": "kustomer", "latency_s": latency, "announced_limit_per_minute": limit,
        "messages": out.records_extracted, "customers_referenced": figures["customers_referenced"],
        "seconds": round(seconds, 1), **measured, "share_of_limit": round(share, 3), "throttled_429": throttled,
        "baseline_one_at_a_time_per_minute": round(baseline_server["sustained_per_minute"] or baseline, 1),
        "speedup_vs_one_at_a_time": round(measured["sustained_per_minute"]
                                          / max(baseline_server["sustained_per_minute"] or baseline, 1e-9), 2),
        "requests_per_message": round(per_message, 4),
        "searches": searches["requests"], "search_sustained_per_minute": searches["sustained_per_minute"],
        "most_searches_in_any_60s": searches["max_in_any_window"],
        "search_requests_for_1m_messages": million_searches,
        "customer_lookups_for_1m_messages": round(million_customers),
        "hours_for_1m_messages": {f"{plan} ({rpm}/min)": round(hours_at(rpm, million_searches, million_customers,
                                                                        min(share, 0.95)), 1)
                                  for plan, rpm in PLAN_LIMITS.items()},
        "hours_for_1m_messages_one_at_a_time": round(million / (baseline_server["sustained_per_minute"]
                                                                or baseline) / 60, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=None)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rate", action="store_true", help="the rate-limit benchmark (latency, announced limit)")
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--limit", type=int, default=1_200)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.rate:
        result = rate(args.items or 20_000, args.latency, args.limit, args.seed)
        args.out = args.out or str(PROJECT_DIR / "bench" / "results" / "kustomer-rate.json")
    else:
        result = run(args.items or 100_000, args.seed)
        args.out = args.out or str(PROJECT_DIR / "bench" / "results" / "kustomer.json")
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
