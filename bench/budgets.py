"""The budget run of ``make bench``: per API source and per budget, the share of the announced limit the
import sustains against simulators answering in 250 ms, and the hours 1M items take at each plan's limits.

It folds the rate benchmarks each source has (``bench_kustomer.rate``, ``bench_zendesk_api.rate``,
``bench_gorgias.rate``, ``bench_push.run``) into one table of budgets and one of projections; each
keeps its own result under ``api_rate`` / ``push`` in the results file. Every rate is measured from
the server's side (its request arrival times) over whole windows of the limit (60 s, or the bucket's
window for Gorgias), so the share is what an hours-long run keeps, not a burst.
"""

from __future__ import annotations

from typing import Any

from bench import bench_gorgias, bench_kustomer, bench_push, bench_zendesk_api

# The fixed-size runs (cut to the scale when it is smaller): items pushed, messages / tickets read.
PUSH_ITEMS, KUSTOMER_RATE_ITEMS, GORGIAS_RATE_MESSAGES = 300, 20_000, 10_000
ZENDESK_RATE_TICKETS = 2_000  # about 3 minutes at 700/min: whole windows (a smaller scale takes a tenth of its items)
GLADLY_LIMIT_PER_SECOND = 10
KUSTOMER_SEARCH_LIMIT = 100  # per minute, per API key
ZENDESK_INCREMENTAL_LIMIT = 10  # per minute (30 with the High Volume add-on)


def run(scale: int) -> dict[str, Any]:
    """The push and the three API sources at their limits; what each sustained."""
    print("bench: budgets: the push to Gladly's API (simulator, 10/s)", flush=True)
    push = bench_push.run(items=min(PUSH_ITEMS, max(30, scale // 100)))
    print("bench: budgets: the API sources at their limits (simulators at 250 ms; Kustomer 1,200/min + 100 searches,"
          " Gorgias 40 per 20 s and per 10 s, Zendesk 700/min + 10 incremental)", flush=True)
    api_rate = {"kustomer": bench_kustomer.rate(items=min(KUSTOMER_RATE_ITEMS, scale)),
                "gorgias": bench_gorgias.rate(min(GORGIAS_RATE_MESSAGES, scale)),
                "zendesk": bench_zendesk_api.rate(min(ZENDESK_RATE_TICKETS, max(50, scale // 10)))}
    return {"push": push, "api_rate": api_rate, "budgets": budget_rows(api_rate, push),
            "projections": projection_rows(api_rate, push)}


def _row(source: str, budget: str, limit: float, sustained: float, throttled: int, requests: int, seconds: float,
         note: str = "") -> dict[str, Any]:
    return {"source": source, "budget": budget, "limit_per_minute": round(limit, 1),
            "sustained_per_minute": round(sustained, 1), "share": round(sustained / limit, 3) if limit else 0.0,
            "requests": requests, "throttled_429": throttled,
            "share_429": round(throttled / requests, 4) if requests else 0.0, "seconds": seconds, "note": note}


def budget_rows(api_rate: dict[str, Any], push: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (source, budget): the announced limit a minute, what was sustained, its share, the 429s."""
    k, g, z = api_rate["kustomer"], api_rate["gorgias"], api_rate["zendesk"]
    e = g["enterprise_10s"]
    p = push["concurrent"]
    return [
        _row("kustomer", "org limit (announced 1,200/min)", k["announced_limit_per_minute"], k["sustained_per_minute"],
             k["throttled_429"], k["requests"], k["seconds"]),
        _row("kustomer", "search (100/min per key)", KUSTOMER_SEARCH_LIMIT, k["search_sustained_per_minute"], 0,
             k["searches"], k["seconds"],
             note=f"most in any 60 s: {k['most_searches_in_any_60s']}; binding only while pages outnumber lookups"),
        _row("zendesk", "plan limit (Enterprise 700/min)", z["announced_limit_per_minute"], z["sustained_per_minute"],
             z["throttled_429"], z["comment_requests"], z["seconds"]),
        _row("zendesk", "incremental export (10/min)", ZENDESK_INCREMENTAL_LIMIT, z["most_incremental_in_any_60s"], 0,
             z["incremental_requests"], z["seconds"],
             note="most in any 60 s (1,000 tickets a page: binding only past ~9,000 tickets a minute)"),
        _row("gorgias", "leaky bucket 40 per 20 s", g["announced_limit_per_minute"], g["sustained_per_minute"],
             g["throttled_429"], g["requests"], g["seconds"], note="past the first bucketful"),
        _row("gorgias", "leaky bucket 40 per 10 s (Enterprise)", 2 * g["announced_limit_per_minute"],
             e["sustained_per_minute"], e["throttled_429"], e["requests"], e["seconds"], note="past the first bucketful"),
        _row("gladly", "push 10/s", GLADLY_LIMIT_PER_SECOND * 60, p["sustained_per_second"] * 60, p["answered_429"],
             p["items"], p["seconds"], note=f"at most {p['max_in_any_1s_window']} in any 1 s"),
    ]


def projection_rows(api_rate: dict[str, Any], push: dict[str, Any]) -> list[dict[str, Any]]:
    """Hours for 1M items at each plan's limits, at the share measured (at most 95%, the tools' own margin)."""
    k, g, z = api_rate["kustomer"], api_rate["gorgias"], api_rate["zendesk"]
    rows = [{"source": "kustomer", "plan": plan + " + search 100/min", "items": "1M messages", "hours": hours}
            for plan, hours in k["hours_for_1m_messages"].items()]
    rows += [{"source": "zendesk (API)", "plan": plan + (" + incremental 30/min" if "2,500" in plan
                                                       else " + incremental 10/min"),
              "items": "1M tickets", "hours": hours} for plan, hours in z["hours_for_1m_tickets"].items()]
    rows += [{"source": "gorgias", "plan": "40 per 20 s (API key)", "items": "1M messages",
              "hours": g["hours_for_1m_messages"]},
             {"source": "gorgias", "plan": "40 per 10 s (Enterprise)", "items": "1M messages",
              "hours": g["enterprise_10s"]["hours_for_1m_messages"]}]
    sustained = push["concurrent"]["sustained_per_second"]
    rows.append({"source": "gladly (push)", "plan": "10/s", "items": "1M items",
                 "hours": round(1_000_000 / max(sustained, 1e-9) / 3600, 1)})
    return rows
