"""The push's throughput at Gladly's limit: items a second against the simulator answering in 100 ms.

    python -m bench.bench_push [--items 300] [--latency 0.1]      (also run by `make bench`)

A staged history with one successful import of ``--items`` recent items is made by a real import (the
runner, ``python -m gladly_import``) of a generated CSV, so it is whatever the import stages today;
each run pushes a fresh copy of it to the local Gladly API simulator (10 requests in any second,
``--latency`` seconds a request) with the default concurrency (8 requests in flight): the acceptance
run, >= 80% of the limit. Then, in the same run, a third of the items against a server 4x slower,
concurrently and, as the baseline, one request at a time: what the concurrency buys. Reported: items
a second (sustained, from the simulator's first to last admitted request, and overall), the share of
the 10/s limit, the most requests the simulator admitted in any 1-second window, 429s.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import yaml

from bench.generate_csv import HEADER
from bench.generate_zendesk import _sentence
from gladly_import import push
from gladly_import.config import load_config
from gladly_import.push.simulator import GladlySimulator

BENCH_DIR = Path(__file__).resolve().parent
USER, TOKEN = "bench@example.com", "bench-token"
LIMIT = 10


def staged_histories(folder: Path, sizes: list[int], seed: int = 42) -> list[Path]:
    """For each size, a project folder holding one succeeded full import of that many recent items: a
    CSV of them (dated over the last days, inside the API's window) imported by the runner as any
    import is (the imports run side by side)."""
    newest = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    started = []
    for number, items in enumerate(sizes):
        project = folder / f"staged-{number}-{items}"
        project.mkdir(parents=True)
        rng = random.Random(seed)
        with open(project / "items.csv", "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            for i in range(items):
                stamp = (newest - timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
                writer.writerow([f"bench-{i}", f"customer{i % 97}@example.com", f"Customer {i % 97}", "", stamp,
                                 f"Order {i}", " ".join(_sentence(rng, 12) for _ in range(8)), "Bench", "bench"])
        config = {"output_dir": "output", "work_dir": "work", "sources": {"csv": {"path": "items.csv"}},
                  "gladly": {"base_url": "http://127.0.0.1:1"}}  # replaced by the simulator's in each run
        (project / "config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        started.append((project, items, subprocess.Popen(
            [sys.executable, "-m", "gladly_import", "-q", "--config", str(project / "config.yml")],
            cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
    failed = []
    for _, items, child in started:
        output, _ = child.communicate()
        if child.returncode != 0:
            failed.append(f"the import of {items} items failed (exit {child.returncode}): {output.strip()[-2000:]}")
    if failed:
        raise SystemExit("bench push: " + "; ".join(failed))
    return [project for project, _, _ in started]


def one_run(staged: Path, items: int, latency: float, concurrency: int) -> dict[str, Any]:
    """Push a fresh copy of the ``staged`` project (``items`` recent items) to the simulator; what the push achieved."""
    with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
        project = Path(shutil.copytree(staged, Path(tmp) / "project"))
        with GladlySimulator(user=USER, token=TOKEN, rate_limit=LIMIT, latency=latency) as sim:
            config = load_config(project / "config.yml")
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
    slow, few = latency * 4, max(items // 3, 10)
    with tempfile.TemporaryDirectory(prefix="bench-push-staged-") as tmp:
        print(f"  push: importing {items} and {few} recent items (the staged histories pushed) ...", flush=True)
        staged, staged_few = staged_histories(Path(tmp), [items, few])
        print(f"  push: {items} items to the simulator ({LIMIT}/s, {latency * 1000:.0f} ms a request) ...", flush=True)
        results: dict[str, Any] = {"concurrent": one_run(staged, items, latency, push.DEFAULT_CONCURRENCY)}
        print(f"  push: {few} items, {slow * 1000:.0f} ms a request, concurrently and one at a time ...", flush=True)
        results["slow_server_concurrent"] = one_run(staged_few, few, slow, push.DEFAULT_CONCURRENCY)
        results["slow_server_sequential_baseline"] = one_run(staged_few, few, slow, 1)
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
