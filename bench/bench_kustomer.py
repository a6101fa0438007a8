"""Benchmark the Kustomer extraction against the local simulator, and count the naive baseline's requests.

    python bench/bench_kustomer.py [--items 100000] [--seed 42] [--out bench/results/kustomer.json]

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
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
BENCH_KEY = "bench-key-not-secret"

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from extract import kustomer
from extract.context import SourceContext
from extract.raw import PlatformOutput

work = Path(sys.argv[2])
ctx = SourceContext(platform="kustomer", options={"base_url": sys.argv[1]}, base_dir=work,
                    state_dir=work / "state" / "kustomer")
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
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
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


def request_counts(folder: Path, figures: dict[str, Any]) -> dict[str, Any]:
    """This extractor's requests (pages + distinct customers) against the naive one's (+ a customer per message)."""
    ours = figures["pages"] + figures["customers_referenced"]
    naive = figures["pages"] + messages_with_customer(folder)
    return {
        "requests": ours,
        "naive_requests": naive,
        "request_saving": round(1 - ours / naive, 3) if naive else 0.0,
        "hours_at_rate_limit": {str(rpm): {"extractor": round(ours / rpm / 60, 2), "naive": round(naive / rpm / 60, 2)}
                                for rpm in (300, 1000, 2000)},
    }


def baseline(corpus_info: dict[str, Any]) -> dict[str, Any]:
    """`make bench`'s hook: the naive baseline's request count on the same corpus (no HTTP needed)."""
    folder = Path(corpus_info.get("dir") or corpus_info["path"])
    return request_counts(folder, corpus_info)


def run(items: int, seed: int) -> dict[str, Any]:
    folder, figures = corpus(items, seed)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR), "KUSTOMER_API_KEY": BENCH_KEY}
    simulator = subprocess.Popen([sys.executable, "-m", "extract.simulators.kustomer", str(folder), "--port", "0"],
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default=str(PROJECT_DIR / "bench" / "results" / "kustomer.json"))
    args = parser.parse_args(argv)
    result = run(args.items, args.seed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
