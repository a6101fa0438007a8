"""Zendesk through its API against the local simulator: the share of the plan's limit the run sustains.

    python bench/bench_zendesk_api.py --rate [--tickets 2000] [--latency 0.25] [--limit 700]

``rate()`` (also part of ``make bench``): the simulator answers every request after ``latency``
seconds, announces the plan's ``limit`` requests a minute (``X-Rate-Limit``; 429 with Retry-After
over it) and allows the incremental exports 10 requests a minute, as Zendesk does. The extraction
runs in this process, with its defaults (16 lookups at once, 95% of the announced limit, the export
pages at 9 a minute); the rates are measured from the server's side (its request arrival times): the
comment requests sustained over whole minutes and their share of the plan's limit, the most
requests any 60 s window received (all, and the incremental exports'), the 429s, the same comment
requests one at a time (the baseline, measured in the same run), and the hours 1M tickets take at
each plan's limit at the measured share (comment requests a ticket as measured; the export's
1,000 pages at 9 a minute, 29 with the High Volume add-on's 30, alongside).

The data is ``bench/generate_zendesk.py``'s export (its lines that are not tickets are not served:
the API has none), about 3.5 comments a ticket.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from bench import write_result  # noqa: E402
from bench.bench_kustomer import server_rate  # noqa: E402

EMAIL = "bench@shop.example.com"
TOKEN = "bench-token-not-secret"
# Zendesk's plans (requests a minute) and the incremental exports' pace the run uses at each
PLANS = {"Team (200/min)": (200, 9), "Growth, Professional (400/min)": (400, 9), "Enterprise (700/min)": (700, 9),
         "High Volume add-on (2,500/min)": (2_500, 29)}
COMMENTS_PER_TICKET = 3.5  # generate_zendesk: 1 to 6 comments a ticket


def one_at_a_time(base_url: str, ticket_ids: list[str], requests: int) -> float:
    """The baseline: comment requests a minute of a client that waits for each answer."""
    from extract.http_client import BasicAuth, HttpClient

    with HttpClient(base_url, BasicAuth(f"{EMAIL}/token", TOKEN), service="Zendesk") as client:
        started = time.monotonic()
        for ticket_id in (ticket_ids * requests)[:requests]:
            client.get(f"/api/v2/tickets/{ticket_id}/comments.json", {"page[size]": 100})
        return requests / (time.monotonic() - started) * 60


def rate(tickets: int = 2_000, latency: float = 0.25, limit: int = 700, seed: int = 42,
         baseline_requests: int = 40) -> dict[str, Any]:
    """The extraction against a simulator that answers in ``latency`` s and allows ``limit`` a minute."""
    from bench.generate_zendesk import generate
    from extract import zendesk
    from extract.context import SourceContext
    from extract.simulators.harness import max_in_any_window
    from extract.simulators.zendesk import ZendeskSimulator

    with tempfile.TemporaryDirectory(prefix="bench-zendesk-api-") as tmp:
        work = Path(tmp)
        generate(work / "data", int(tickets * COMMENTS_PER_TICKET), seed=seed, files=1)
        os.environ.update({"ZENDESK_EMAIL": EMAIL, "ZENDESK_API_TOKEN": TOKEN})
        with ZendeskSimulator.from_dir(work / "data", email=EMAIL, api_token=TOKEN, rate_limit=limit,
                                       incremental_rate_limit=10, latency=latency) as sim:
            listed = [key for key, t in sim.tickets.items() if t.get("status") != "deleted"]
            ctx = SourceContext(platform="zendesk", options={"base_url": sim.base_url}, base_dir=work,
                                state_dir=work / "state" / "zendesk")
            out = zendesk.PLATFORM.output(work / "raw")
            started = time.monotonic()
            zendesk.PLATFORM.extract(ctx, out)
            out.close()
            seconds = time.monotonic() - started
            comments = server_rate(sim.comment_request_times())
            every = server_rate(list(sim.request_times))
            exports = sim.incremental_times()
            throttled = sim.by_status.get(429, 0)
            before = len(sim.request_times)
            baseline = one_at_a_time(sim.base_url, listed, baseline_requests)
            baseline_server = server_rate(list(sim.request_times)[before:])["sustained_per_minute"] or baseline
    share = comments["sustained_per_minute"] / limit
    per_ticket = comments["requests"] / len(listed)

    def hours(per_minute: float, export_per_minute: float, used: float) -> float:
        return round(max(1_000_000 * per_ticket / (per_minute * used), 1_000_000 / 1_000 / export_per_minute) / 60, 1)

    return {
        "platform": "zendesk (API)", "latency_s": latency, "announced_limit_per_minute": limit,
        "tickets": len(listed), "comments": out.records_extracted, "seconds": round(seconds, 1),
        "comment_requests": comments["requests"], "comment_requests_per_ticket": round(per_ticket, 3),
        "sustained_per_minute": comments["sustained_per_minute"], "whole_windows": comments.get("whole_windows", 0),
        "share_of_limit": round(share, 3), "all_requests_sustained_per_minute": every["sustained_per_minute"],
        "max_in_any_window": every["max_in_any_window"], "throttled_429": throttled,
        "incremental_requests": len(exports), "most_incremental_in_any_60s": max_in_any_window(exports, 60.0),
        "baseline_one_at_a_time_per_minute": round(baseline_server, 1),
        "speedup_vs_one_at_a_time": round(comments["sustained_per_minute"] / max(baseline_server, 1e-9), 2),
        "hours_for_1m_tickets": {plan: hours(rpm, export_rpm, min(share, 0.95))
                                 for plan, (rpm, export_rpm) in PLANS.items()},
        "hours_for_1m_tickets_one_at_a_time": round(1_000_000 * per_ticket / baseline_server / 60, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", action="store_true", help="the rate-limit benchmark (the only one: the export's"
                                                             " speed is bench/__main__.py's)")
    parser.add_argument("--tickets", type=int, default=2_000)
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--limit", type=int, default=700)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default=str(PROJECT_DIR / "bench" / "results" / "zendesk-api-rate.json"))
    args = parser.parse_args(argv)
    result = rate(args.tickets, args.latency, args.limit, args.seed)
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
