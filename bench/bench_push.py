"""The push's throughput at Gladly's limit: items a second against the simulator answering in 100 ms.

    python -m bench.bench_push [--items 300] [--latency 0.1]      (also run by `make bench`)

A staged history with one successful import of ``--items`` recent items is made directly in a DuckDB
file (no import needed), then pushed to the local Gladly API simulator (10 requests in any second,
``--latency`` seconds a request) with the default concurrency (8 requests in flight): the acceptance
run, >= 80% of the limit. Then, in the same run, a third of the items against a server 4x slower,
concurrently and, as the baseline, one request at a time: what the concurrency buys. Reported: items
a second (sustained, from the simulator's first to last admitted request, and overall), the share of
the 10/s limit, the most requests the simulator admitted in any 1-second window, 429s.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import duckdb
import yaml

from gladly_import import push
from gladly_import.config import load_config
from gladly_import.ledger import ensure_tables
from gladly_import.push.simulator import GladlySimulator

BENCH_DIR = Path(__file__).resolve().parent
USER, TOKEN = "bench@example.com", "bench-token"
LIMIT = 10


def staged_history(folder: Path, items: int) -> Path:
    """A project folder whose DuckDB file holds one succeeded full import of ``items`` recent items."""
    (folder / "work").mkdir(parents=True)
    (folder / "items.csv").write_text("Customer Email,Conversation Item Timestamp,Conversation Item Body\n",
                                      encoding="utf-8")
    config = {"output_dir": "output", "work_dir": "work", "sources": {"csv": {"path": "items.csv"}},
              "gladly": {"base_url": "http://127.0.0.1:1"}}
    (folder / "config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    now = datetime.now(UTC).replace(tzinfo=None)
    with duckdb.connect(str(folder / "work" / "gladly_import.duckdb")) as conn:
        ensure_tables(conn)
        conn.execute("insert into ledger.import_run_events (run_id, recorded_at, started_at, ended_at, mode, config_file, "
                     "status) values ('bench-run', ?, ?, ?, 'full', 'config.yml', 'succeeded')", [now, now, now])
        conn.execute(
            """
            create table main.gladly_export_batch as
            select 'bench-' || i as conversation_item_id, 'customer' || (i % 97) || '@example.com' as customer_email,
                   '' as customer_name, '' as customer_phone,
                   ts as occurred_at, strftime(ts, '%Y-%m-%dT%H:%M:%S.') || lpad(cast(i % 1000 as varchar), 3, '0') || 'Z'
                       as occurred_at_rfc3339,
                   'Order ' || i as title, repeat('A realistic body line. ', 40) as body, 'Bench' as source_name,
                   'gladly_conversation_items_0001.csv' as file_name, i as export_row_number
            from (select i, ? - to_seconds(i * 60) as ts from range(1, ? + 1) t(i))
            """, [now - timedelta(days=1), items])
        conn.execute("insert into ledger.export_ledger select conversation_item_id, 'csv', 'bench-run', file_name, ? "
                     "from main.gladly_export_batch", [now])
    return folder / "config.yml"


def one_run(items: int, latency: float, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
        config_path = staged_history(Path(tmp), items)
        with GladlySimulator(user=USER, token=TOKEN, rate_limit=LIMIT, latency=latency) as sim:
            config = load_config(config_path)
            config.blocks["gladly"] = {"base_url": sim.base_url, "requests_per_second": LIMIT, "concurrency": concurrency}
            os.environ["GLADLY_API_USER"], os.environ["GLADLY_API_TOKEN"] = USER, TOKEN
            started = time.perf_counter()
            with redirect_stdout(StringIO()):
                code = push.push(config)
            seconds = time.perf_counter() - started
            summary = json.loads((config.output_dir / push.SUMMARY_FILE).read_text(encoding="utf-8"))
            admitted = sorted(e.admitted_at for e in sim.log if e.admitted_at is not None)
            span = admitted[-1] - admitted[0] if len(admitted) > 1 else 0.0
            sustained = (len(admitted) - 1) / span if span else 0.0
            return {
                "concurrency": concurrency, "latency_s": latency, "items": items, "exit_code": code,
                "created": len(sim.items), "seconds": round(seconds, 1),
                "items_per_second": round(summary["sent"] / seconds, 2),
                "sustained_per_second": round(sustained, 2),
                "share_of_limit": round(sustained / LIMIT, 3),
                "max_in_any_1s_window": sim.max_admitted_in_any_window(1.0),
                "answered_429": sim.statuses()[429], "max_in_flight": sim.max_in_flight,
            }


def run(items: int = 300, latency: float = 0.1) -> dict[str, Any]:
    print(f"  push: {items} items to the simulator ({LIMIT}/s, {latency * 1000:.0f} ms a request) ...", flush=True)
    results: dict[str, Any] = {"concurrent": one_run(items, latency, push.DEFAULT_CONCURRENCY)}
    slow, few = latency * 4, max(items // 3, 10)
    print(f"  push: {few} items, {slow * 1000:.0f} ms a request, concurrently and one at a time ...", flush=True)
    results["slow_server_concurrent"] = one_run(few, slow, push.DEFAULT_CONCURRENCY)
    results["slow_server_sequential_baseline"] = one_run(few, slow, 1)
    results["slow_server_speedup"] = round(results["slow_server_concurrent"]["sustained_per_second"] / max(
        results["slow_server_sequential_baseline"]["sustained_per_second"], 1e-9), 2)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.bench_push", description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args(argv)
    results = run(args.items, args.latency)
    out = BENCH_DIR / "results" / "bench-push.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    for label in ("concurrent", "slow_server_concurrent", "slow_server_sequential_baseline"):
        r = results[label]
        print(f"{label}: concurrency {r['concurrency']}, {r['latency_s'] * 1000:.0f} ms: {r['created']} created in "
              f"{r['seconds']}s, "
              f"{r['sustained_per_second']}/s sustained ({r['share_of_limit']:.0%} of {LIMIT}/s), "
              f"{r['items_per_second']}/s overall, at most {r['max_in_any_1s_window']} in any 1 s, "
              f"{r['answered_429']} x 429")
    print(f"slow server: concurrency gives {results['slow_server_speedup']}x one at a time; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
