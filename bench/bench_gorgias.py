"""Measure the Gorgias extractor: generated account -> local simulator -> raw Parquet.

The extraction runs in a child process (its peak RSS, VmHWM, is its own); the simulator
runs in this process with the rate limit lifted, so the figures are the extractor's own.
A real account is bound by its leaky bucket instead: 40 requests / 20 s of 100 messages
is at most 200 messages/s, or about 1.4 hours per million messages.

``baseline(corpus_info)`` (used by ``make bench``, or ``--baseline`` here) times the approach
of peer taps, one request per ticket, and compares request counts.

``rate()`` (``--rate``, also part of ``make bench``): the simulator answers after 250 ms with
Gorgias' leaky bucket (40 per 20 s, announced in ``X-Gorgias-Account-Api-Call-Limit``); the rate
is measured from the server's side and the hours 1M messages take follow from it.

Usage: ``python bench/bench_gorgias.py [N_MESSAGES] [--baseline] [--rate] [--out bench/results/gorgias.json]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from gladly_import.metrics import own_peak_rss_kb  # noqa: E402

EMAIL = "bench@brand.example.com"
API_KEY = "bench-key"
REAL_LIMIT_ITEMS_PER_S = 40 / 20 * 100


def child(base_url: str, work_dir: Path) -> None:
    """Run one extraction like the runner does; print its counts as JSON."""
    from extract import gorgias
    from extract.context import SourceContext

    out = gorgias.PLATFORM.output(work_dir / "raw")
    ctx = SourceContext(platform=gorgias.PLATFORM.name, options={"base_url": base_url}, base_dir=work_dir,
                        state_dir=work_dir / "state" / gorgias.PLATFORM.name)
    gorgias.extract(ctx, out)
    out.close()
    print(json.dumps({"records_extracted": out.records_extracted, "records_rejected": out.records_rejected,
                      "peak_rss_mb": round(own_peak_rss_kb() / 1024, 1)}))


def measure(n_messages: int, seed: int = 42) -> dict[str, object]:
    from bench.generate_gorgias import generate
    from extract.simulators.gorgias import GorgiasSimulator

    with tempfile.TemporaryDirectory(prefix="bench-gorgias-") as tmp:
        data_dir, work_dir = Path(tmp) / "account", Path(tmp) / "work"
        generated = generate(data_dir, n_messages, seed=seed)
        simulator = GorgiasSimulator.from_dir(data_dir, email=EMAIL, api_key=API_KEY, bucket_capacity=None)
        with simulator:
            env = {**os.environ, "GORGIAS_EMAIL": EMAIL, "GORGIAS_API_KEY": API_KEY,
                   "PYTHONPATH": str(PROJECT_DIR)}
            started = time.perf_counter()
            done = subprocess.run([sys.executable, __file__, "--child", simulator.base_url, str(work_dir)],
                                  env=env, capture_output=True, text=True, check=False)
            seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"extraction failed:\n{done.stderr}")
        counts = json.loads(done.stdout.strip().splitlines()[-1])
        megabytes = int(generated["bytes"]) / 1_000_000
        return {
            "platform": "gorgias",
            "stage": "extract (API -> raw Parquet) over HTTP on 127.0.0.1, rate limit lifted",
            "items": n_messages,
            "tickets": generated["tickets"],
            "requests": simulator.request_count,
            "mb": round(megabytes, 2),
            "seconds": round(seconds, 2),
            "items_per_s": round(n_messages / seconds, 1),
            "mb_per_s": round(megabytes / seconds, 2),
            "real_account_ceiling_items_per_s": REAL_LIMIT_ITEMS_PER_S,
            **counts,
        }


def baseline(info: dict[str, object], max_tickets: int = 2_000) -> dict[str, object]:
    """The approach of peer taps, for comparison: list tickets, then one request per ticket for its messages.

    Timed on the first ``max_tickets`` tickets against the simulator (rate limit lifted); the
    request counts are for the whole account, and the hours at Gorgias' real limit follow from them.
    """
    from extract.http_client import BasicAuth, HttpClient
    from extract.simulators.gorgias import GorgiasSimulator

    data_dir = Path(str(info["dir"]))
    with GorgiasSimulator.from_dir(data_dir, email=EMAIL, api_key=API_KEY, bucket_capacity=None) as simulator:
        n_tickets, n_messages = len(simulator.tickets), len(simulator.messages)
        client = HttpClient(simulator.base_url, BasicAuth(EMAIL, API_KEY), service="Gorgias")
        started = time.perf_counter()
        ticket_ids, cursor = [], None
        while len(ticket_ids) < max_tickets:
            page = client.get_json("/api/tickets", {"limit": 100, "order_by": "created_datetime:asc", "cursor": cursor})
            ticket_ids += [t["id"] for t in page["data"] if isinstance(t, dict)]
            cursor = page["meta"]["next_cursor"]
            if cursor is None:
                break
        fetched = 0
        for ticket_id in ticket_ids[:max_tickets]:
            fetched += len(client.get_json(f"/api/tickets/{ticket_id}/messages", {"limit": 100})["data"])
        seconds = time.perf_counter() - started
    ours = math.ceil(n_tickets / 100) + math.ceil(n_messages / 100)
    per_ticket = math.ceil(n_tickets / 100) + n_tickets
    per_second_at_limit = 40 / 20
    return {
        "approach": "one GET /api/tickets/{id}/messages per ticket",
        "timed_tickets": min(max_tickets, len(ticket_ids)),
        "timed_messages": fetched,
        "timed_seconds": round(seconds, 2),
        "timed_items_per_s": round(fetched / seconds, 1) if seconds else None,
        "requests_whole_account": per_ticket,
        "requests_whole_account_ours": ours,
        "hours_at_real_limit": round(per_ticket / per_second_at_limit / 3600, 2),
        "hours_at_real_limit_ours": round(ours / per_second_at_limit / 3600, 2),
    }


def rate(n_messages: int = 10_000, latency: float = 0.25, seed: int = 42) -> dict[str, object]:
    """The extraction against the leaky bucket at ``latency``, drained in 20 s (an API key) and in 10 s (an
    Enterprise account, the window learned from the answers): the rate sustained once the first bucketful
    is spent (the burst a bucket allows says nothing of an hours-long run), server side."""
    from bench.generate_gorgias import generate

    with tempfile.TemporaryDirectory(prefix="bench-gorgias-rate-") as tmp:
        work = Path(tmp)
        generate(work / "data", n_messages, seed=seed)
        os.environ.update(GORGIAS_EMAIL=EMAIL, GORGIAS_API_KEY=API_KEY)
        standard = _rate_run(work, 20.0, latency)
        enterprise = _rate_run(work, 10.0, latency)
    limit = 40 / 20 * 60
    requests_1m = 1_000_000 / 100 + 1_000_000 * standard.pop("tickets") / n_messages / 100
    enterprise.pop("tickets")
    return {"platform": "gorgias", "latency_s": latency, "announced_limit_per_minute": limit, **standard,
            "share_of_limit": round(standard["sustained_per_minute"] / limit, 3),
            "hours_for_1m_messages": round(requests_1m / max(standard["sustained_per_minute"], 1e-9) / 60, 2),
            "enterprise_10s": {**enterprise, "share_of_its_limit": round(enterprise["sustained_per_minute"]
                                                                         / (2 * limit), 3),
                               "hours_for_1m_messages": round(requests_1m / max(enterprise["sustained_per_minute"],
                                                                                1e-9) / 60, 2)}}


def _rate_run(work: Path, window: float, latency: float) -> dict[str, object]:
    from bench.bench_kustomer import server_rate
    from extract import gorgias
    from extract.context import SourceContext
    from extract.simulators.gorgias import GorgiasSimulator

    state = work / f"state-{window:g}"
    with GorgiasSimulator.from_dir(work / "data", email=EMAIL, api_key=API_KEY, latency=latency,
                                   bucket_window=window) as sim:
        out = gorgias.PLATFORM.output(work / f"raw-{window:g}")
        ctx = SourceContext(platform=gorgias.PLATFORM.name, options={"base_url": sim.base_url}, base_dir=work,
                            state_dir=state / gorgias.PLATFORM.name)
        started = time.monotonic()
        gorgias.extract(ctx, out)
        out.close()
        seconds = time.monotonic() - started
        times = sorted(sim.request_times)
        # past the first bucketful and its refill while the client outpaced the drain (at 4 requests a second
        # against 2, the bucket fills over ~2 bucketfuls): the rate an hours-long run keeps
        capacity = sim.bucket.capacity if sim.bucket else 0
        steady = server_rate(times[2 * capacity:], window=window)
        return {"messages": out.records_extracted, "seconds": round(seconds, 1), "requests": len(times),
                "sustained_per_minute": steady["sustained_per_minute"],
                "max_in_any_window": server_rate(times, window=window)["max_in_any_window"],
                "throttled_429": sum(1 for entry in sim.log if entry.status == 429), "tickets": len(sim.tickets)}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n_messages", nargs="?", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default=str(PROJECT_DIR / "bench" / "results" / "gorgias.json"))
    parser.add_argument("--baseline", action="store_true", help="also time the one-request-per-ticket approach")
    parser.add_argument("--rate", action="store_true", help="the rate benchmark: 250 ms answers, the leaky bucket")
    args = parser.parse_args()
    if args.rate:
        print(json.dumps(rate(args.n_messages if args.n_messages != 100_000 else 10_000), indent=2))
        return 0
    result = measure(args.n_messages, args.seed)
    if args.baseline:
        with tempfile.TemporaryDirectory(prefix="bench-gorgias-baseline-") as tmp:
            from bench.generate_gorgias import generate

            result["baseline"] = baseline(generate(Path(tmp), args.n_messages, seed=args.seed))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for key, value in result.items():
        print(f"{key:>34}: {value}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
