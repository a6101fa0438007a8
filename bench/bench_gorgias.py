"""Measure the Gorgias extractor: generated account -> local simulator -> raw Parquet.

The extraction runs in a child process (its peak RSS, VmHWM, is its own); the simulator
runs in this process with the rate limit lifted, so the figures are the extractor's own.
A real account is bound by its leaky bucket instead: 40 requests / 20 s of 100 messages
is at most 200 messages/s, or about 1.4 hours per million messages.

Usage: ``python bench/bench_gorgias.py [N_MESSAGES] [--out bench/results/gorgias.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

EMAIL = "bench@brand.example.com"
API_KEY = "bench-key"
REAL_LIMIT_ITEMS_PER_S = 40 / 20 * 100


def child(base_url: str, work_dir: Path) -> None:
    """Run one extraction like the runner does; print its counts as JSON."""
    from extract import gorgias
    from extract.context import SourceContext
    from extract.raw import PlatformOutput

    out = PlatformOutput(work_dir / "raw", gorgias.NAME, gorgias.TABLES, gorgias.RECORD_TABLES)
    ctx = SourceContext(platform=gorgias.NAME, options={"base_url": base_url}, base_dir=work_dir,
                        state_dir=work_dir / "state" / gorgias.NAME)
    gorgias.extract(ctx, out)
    out.close()
    print(json.dumps({"records_extracted": out.records_extracted, "records_rejected": out.records_rejected,
                      "peak_rss_mb": round(_peak_rss_kb() / 1024, 1)}))


def _peak_rss_kb() -> int:
    """This process' peak RSS since it started (VmHWM; ru_maxrss would count the parent's at fork)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


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


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n_messages", nargs="?", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default=str(PROJECT_DIR / "bench" / "results" / "gorgias.json"))
    args = parser.parse_args()
    result = measure(args.n_messages, args.seed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for key, value in result.items():
        print(f"{key:>34}: {value}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
