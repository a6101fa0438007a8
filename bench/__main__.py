"""`make bench`: the whole import on a generated corpus, per stage, with baselines in the same run.

    python -m bench [--scale 1000000] [--seed 42] [--small-scale N] [--skip-baselines] [--dir DIR]
                    [--part all|compute|budgets]

Two parts, apart: the compute run (steps 1-4) measures the import's own work, the API stages served by
their simulators unthrottled, so no figure there is a rate limit; the budget run (steps 5-6,
bench/budgets.py) measures, per API source and per budget, the share of the announced limit the
import sustains against simulators answering in 250 ms, and projects the hours 1M items take at
each plan's limits. Every part records the load average beside its figures (the machine may be shared).

1. Generates (or reuses, when the same scale and seed were generated before) a deterministic
   corpus in each platform's real format under DIR/corpus/<scale>-<seed>/ (DIR: bench/ by default).
2. Runs the whole import on it in a child process, sampling the peak RSS of the process tree,
   and reads the runner's per-stage metrics (each extractor, dbt build, export). The Kustomer and
   Gorgias simulators are served by processes of the bench's own (bench/served.py), reached by the
   import over loopback HTTP as a real account is: they share the cores, not the import's memory.
3. Runs each platform's baseline from bench/bench_<platform>.py when it has one
   (`baseline(corpus_info) -> dict`), on the same files.
4. Repeats the import at a smaller scale to report how peak memory grows with size.
5. Pushes to the local Gladly API simulator at its 10/s limit (bench/bench_push.py).
6. Extracts from the Kustomer, Gorgias and Zendesk simulators at their announced rate limits.
The push and the API rates have sizes of their own (300 items; 20,000 and 10,000 messages, 2,000
tickets), cut to the scale's when the scale is smaller, so a smoke run (`--scale 3000`, make test) stays short.
Any stage that fails stops the bench with a non-zero exit.
Results: DIR/results/bench-<scale>.json and a printed table; the imports run in DIR/runs/.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

from bench import budgets, served
from gladly_import.metrics import tree_rss_by_role

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
# Share of the items each platform gets.
MIX = {"zendesk": 0.30, "gmail": 0.20, "freshdesk": 0.15, "csv": 0.15, "kustomer": 0.10, "gorgias": 0.10}
# The compute run's API sources: served by their simulators with every limit lifted (the simulator's and the
# client's own search pacing), so the stage measures the import's work; the budget run measures the limits.
UNTHROTTLED = {"kustomer": {"simulator_search_rate_limit": 0, "search_requests_per_minute": 1_000_000},
               "gorgias": {"simulator_rate_limit": 0}}


def generator(platform: str) -> Any | None:
    try:
        return importlib.import_module(f"bench.generate_{platform}")
    except ModuleNotFoundError:
        return None


def build_corpus(scale: int, seed: int, base: Path = BENCH_DIR) -> dict[str, dict[str, Any]]:
    root = base / "corpus" / f"{scale}-{seed}"
    manifest = root / "corpus.json"
    if manifest.exists():
        return json.loads(manifest.read_text(encoding="utf-8"))
    corpus: dict[str, dict[str, Any]] = {}
    for platform, share in MIX.items():
        module = generator(platform)
        if module is None:
            print(f"  {platform}: no generator (bench/generate_{platform}.py), skipped", flush=True)
            continue
        n_items = max(1, int(scale * share))
        started = time.perf_counter()
        info = module.generate(root / platform, n_items, seed=seed) or {}
        info.setdefault("dir", str(root / platform))
        info["n_items"] = n_items
        corpus[platform] = info
        print(f"  generated {platform}: {n_items:,} items in {time.perf_counter() - started:,.1f}s", flush=True)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps(corpus, indent=2), encoding="utf-8")
    return corpus


def source_block(platform: str, info: dict[str, Any]) -> dict[str, Any]:
    if "config" in info:
        return info["config"]
    if platform in ("kustomer", "gorgias"):
        return {"simulate": True, "simulator_data": info["dir"], **UNTHROTTLED[platform]}
    return {"path": info["dir"]}


def peak_rss_until_exit(child: subprocess.Popen, process: psutil.Process,
                        interval: float = 0.1) -> tuple[int, dict[str, int]]:
    """The peak resident memory of ``child`` and every process below it, sampled until it exits, and
    who held it at that moment (the runner, dbt, the other processes: where to look for a cut)."""
    peak, holders = 0, {}
    while child.poll() is None:
        try:
            sample = tree_rss_by_role(process)
        except psutil.NoSuchProcess:
            break
        if sum(sample.values()) > peak:
            peak, holders = sum(sample.values()), sample
        time.sleep(interval)
    return peak, holders


def run_import(corpus: dict[str, dict[str, Any]], run_dir: Path, **top: Any) -> dict[str, Any]:
    """The whole import of the corpus in a child process (``top``: more top-level settings), a first
    import each time, as a new user runs it: with an earlier bench's output and work dir it was a
    repeated full import (after seven: 6.8M export-ledger rows, a DuckDB file rebuilt seven times)."""
    for earlier in (run_dir / "output", run_dir / "work"):
        shutil.rmtree(earlier, ignore_errors=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    with served.api_simulators(corpus) as (api_blocks, api_env, simulators_cpu):
        simulators_before = simulators_cpu()
        run = _run_import(corpus, run_dir, api_blocks, api_env, top)
        run["simulators_cpu_seconds"] = round(simulators_cpu() - simulators_before, 2)
        return run


def _run_import(corpus: dict[str, dict[str, Any]], run_dir: Path, api_blocks: dict[str, dict[str, Any]],
                api_env: dict[str, str], top: dict[str, Any]) -> dict[str, Any]:
    config = {"output_dir": "output", "work_dir": "work", "batch_size": 500_000, **top,
              "sources": {p: api_blocks.get(p) or source_block(p, info) for p, info in corpus.items()}}
    config_path = run_dir / "config.yml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    load_before = load_average()
    started, cpu_before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    child = subprocess.Popen([sys.executable, "-m", "gladly_import", "--config", str(config_path)],
                             cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env={**os.environ, **api_env})
    process = psutil.Process(child.pid)
    lines: list[str] = []
    assert child.stdout is not None
    import threading

    def read() -> None:
        for line in child.stdout:  # type: ignore[union-attr]
            lines.append(line)
            print("    " + line.rstrip(), flush=True)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    peak, holders = peak_rss_until_exit(child, process)
    reader.join()
    seconds = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the import and every process below it, waited for
    cpu = cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
    if child.returncode != 0:
        raise SystemExit(f"bench: the import failed (exit {child.returncode})")
    metrics = json.loads((run_dir / "work" / "run_metrics.json").read_text(encoding="utf-8"))
    summary = json.loads((run_dir / "output" / "import_summary.json").read_text(encoding="utf-8"))
    return {"seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1), "peak_rss_mb": round(peak / 2**20, 1),
            "peak_held_by_mb": {role: round(rss / 2**20, 1) for role, rss in holders.items()},
            "items": summary["totals"]["records_seen"], "exported": summary["totals"]["exported"],
            "stages": metrics["stages"], "load_average": {"before": load_before, "after": load_average()}}


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: beside every figure (the machine may be shared)."""
    return [round(x, 2) for x in os.getloadavg()]


def compare_baselines(baselines: dict[str, Any], stages: list[dict[str, Any]]) -> None:
    """Set the extractor's MB/s from the same run beside the baselines that time only their own side."""
    by_stage = {s["stage"]: s for s in stages}
    for platform, baseline in baselines.items():
        stage = by_stage.get(f"extract {platform}")
        if stage and "baseline_mb_per_s" in baseline and stage.get("input_mb") and stage["seconds"]:
            baseline["extract_mb_per_s"] = round(stage["input_mb"] / stage["seconds"], 1)
            baseline["throughput_ratio"] = round(baseline["extract_mb_per_s"] / max(baseline["baseline_mb_per_s"],
                                                                                    1e-9), 2)
            if stage.get("side_by_side"):  # sharing the cores with the other platforms: a lower bound
                baseline["extract_side_by_side"] = True


def run_baselines(corpus: dict[str, dict[str, Any]]) -> dict[str, Any]:
    results = {}
    for platform, info in corpus.items():
        try:
            module = importlib.import_module(f"bench.bench_{platform}")
        except ModuleNotFoundError:
            continue
        if hasattr(module, "baseline"):
            print(f"  baseline {platform} ...", flush=True)
            results[platform] = module.baseline(info)
    return results


def push_failures(push: dict[str, Any]) -> list[str]:
    """The push runs that did not end well (an exit code other than 0, an item not created), one line each."""
    return [f"{label}: exit {r['exit_code']}, {r['created']} of {r['items']} items created"
            for label, r in push.items() if isinstance(r, dict) and (r["exit_code"] != 0 or r["created"] != r["items"])]


STAGE_HEADERS = ["stage", "items", "input MB", "seconds", "CPU s", "items/s", "MB/s", "peak RSS MB"]


def stage_rows(stages: list[dict[str, Any]]) -> list[list[str]]:
    whole = [s for s in stages if s["stage"] == "extract"]  # the side-by-side extraction, above its platforms
    first = next((i for i, s in enumerate(stages) if s.get("side_by_side")), 0)
    stages = [s for s in stages if s["stage"] != "extract"]
    stages[first:first] = whole
    rows = []
    for s in stages:
        seconds = s["seconds"] or 1e-9
        items = s.get("items")
        mb = s.get("input_mb")
        name = (f"  {s['stage']} (side by side)" if s.get("side_by_side")
                else f"extract: {s['platforms']} platforms, {s['processes']} at a time"
                if s["stage"] == "extract" else s["stage"])
        rows.append([name, f"{items:,}" if items is not None else "", f"{mb:,.1f}" if mb is not None else "",
                     f"{s['seconds']:,.1f}", f"{s['cpu_seconds']:,.1f}" if "cpu_seconds" in s else "",
                     f"{items / seconds:,.0f}" if items else "",
                     f"{mb / seconds:,.1f}" if mb else "", f"{s['peak_rss_mb']:,.0f}"])
    return rows


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, ["-" * w for w in widths], *rows]:
        print("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--scale", type=int, default=1_000_000, help="items in total across the platforms")
    parser.add_argument("--small-scale", type=int, default=None, help="the second scale for memory growth (scale/10)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--part", choices=("all", "compute", "budgets"), default="all",
                        help="the compute run, the budget run, or both (default)")
    parser.add_argument("--dir", type=Path, default=BENCH_DIR,
                        help="where the corpus/, runs/ and results/ folders go (default: bench/)")
    parser.add_argument("--one-after-the-other", action="store_true",
                        help="the compute run's import again with extract_processes: 1 (the platforms one after the\n"
                             "other in the runner), the baseline of the side-by-side extraction in the same run")
    args = parser.parse_args(argv)
    base = args.dir.resolve()
    small = args.small_scale or max(1000, args.scale // 10)

    results: dict[str, Any] = {"scale": args.scale, "seed": args.seed, "machine": {
        "cpus": psutil.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1)}}
    if args.part in ("all", "compute"):
        for label, scale in (("small", small), ("full", args.scale)):
            print(f"bench: compute: corpus of {scale:,} items (seed {args.seed})", flush=True)
            corpus = build_corpus(scale, args.seed, base)
            print(f"bench: compute: import of {scale:,} items (API sources unthrottled)", flush=True)
            run = run_import(corpus, base / "runs" / f"{scale}-{args.seed}")
            run["input_mb"] = round(sum(float(i.get("bytes", 0)) for i in corpus.values()) / 2**20, 1)
            results[label] = run
            if label == "full" and args.one_after_the_other:
                print(f"bench: compute: import of {scale:,} items, the platforms one after the other", flush=True)
                results["one_after_the_other"] = run_import(corpus, base / "runs" / f"{scale}-{args.seed}-sequential",
                                                            extract_processes=1)
            if label == "full" and not args.skip_baselines:
                load_before = load_average()
                results["baselines"] = run_baselines(corpus)
                compare_baselines(results["baselines"], run["stages"])
                results["baselines_load_average"] = {"before": load_before, "after": load_average()}
        full, small_run = results["full"], results["small"]
        growth = (full["peak_rss_mb"] - small_run["peak_rss_mb"]) / small_run["peak_rss_mb"] * 100
        results["memory_growth_percent"] = round(growth, 1)
    if args.part in ("all", "budgets"):
        load_before = load_average()
        results.update(budgets.run(args.scale))
        results["budgets_load_average"] = {"before": load_before, "after": load_average()}
        if failed := push_failures(results["push"]):
            raise SystemExit("bench: the push failed: " + "; ".join(failed))

    out = base / "results" / (f"bench-{args.scale}.json" if args.part == "all" else f"bench-{args.scale}-{args.part}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print()
    if "full" in results:
        print_compute(results, small, args.scale)
    if "budgets" in results:
        print_budgets(results)
    print(f"\nresults: {out}")
    return 0


def print_compute(results: dict[str, Any], small: int, scale: int) -> None:
    full, small_run = results["full"], results["small"]
    stage_seconds = sum(s["seconds"] for s in full["stages"] if not s.get("side_by_side"))
    print(f"compute run (load average {full['load_average']['before']} before, {full['load_average']['after']} after):")
    print(f"whole import: {full['items']:,} items, {full['input_mb']:,.0f} MB in {full['seconds']:,.1f}s "
          f"({full['items'] / full['seconds']:,.0f} items/s; stages {stage_seconds:,.1f}s), "
          f"peak RSS {full['peak_rss_mb']:,.0f} MB")
    print(f"at {small:,} items: {small_run['seconds']:,.1f}s, peak RSS {small_run['peak_rss_mb']:,.0f} MB; "
          f"peak memory grows {results['memory_growth_percent']:+.0f}% from {small:,} to {scale:,} items")
    if "cpu_seconds" in full:
        cores = results["machine"]["cpus"]
        busy = (full["cpu_seconds"] + full["simulators_cpu_seconds"]) / (full["seconds"] * cores)
        print(f"CPU: the import {full['cpu_seconds']:,.1f}s, the API simulators beside it "
              f"{full['simulators_cpu_seconds']:,.1f}s, over {full['seconds']:,.1f}s on {cores} cores ({busy:.0%} busy)")
    for label, run in ((f"{scale:,}", full), (f"{small:,}", small_run)):
        held = ", ".join(f"{role} {mb:,.0f} MB" for role, mb in run.get("peak_held_by_mb", {}).items())
        print(f"at the peak of {label} items: {held}")
    print()
    print_table(STAGE_HEADERS, stage_rows(full["stages"]))
    if sequential := results.get("one_after_the_other"):
        side = sum(s["seconds"] for s in full["stages"] if s["stage"] == "extract")
        alone = sum(s["seconds"] for s in sequential["stages"] if s["stage"].startswith("extract "))
        print(f"\nthe platforms one after the other, same run (load average {sequential['load_average']['before']}"
              f" before): extraction {alone:,.1f}s against {side:,.1f}s side by side ({alone / max(side, 1e-9):.2f}x);"
              f" whole import {sequential['seconds']:,.1f}s against {full['seconds']:,.1f}s; peak RSS"
              f" {sequential['peak_rss_mb']:,.0f} MB against {full['peak_rss_mb']:,.0f} MB")
        print_table(STAGE_HEADERS,
                    stage_rows(sequential["stages"]))
    if results.get("baselines"):
        print(f"\nbaselines, same run (load average {results['baselines_load_average']['before']} before):")
    for platform, baseline in results.get("baselines", {}).items():
        print(f"baseline {platform}: " + ", ".join(f"{k}={v}" for k, v in baseline.items()))


def print_budgets(results: dict[str, Any]) -> None:
    push = results["push"]["concurrent"]
    print(f"\nbudget run (simulators answering in 250 ms; load average {results['budgets_load_average']['before']}"
          f" before, {results['budgets_load_average']['after']} after):")
    print(f"push: {push['sustained_per_second']}/s sustained, {push['share_of_limit']:.0%} of Gladly's 10/s "
          f"({push['latency_s'] * 1000:.0f} ms server); {results['push']['slow_server_speedup']}x one at a time "
          "against a 400 ms server")
    for platform, rated in results["api_rate"].items():
        print(f"{platform} API: {rated['sustained_per_minute']:,.0f} requests/min sustained, "
              f"{rated['share_of_limit']:.0%} of the announced {rated['announced_limit_per_minute']:,.0f}/min "
              f"(most in any window {rated['max_in_any_window']:,}), {rated['throttled_429']} 429s"
              + ("  (shorter than one limit window: a burst, not a sustained rate)"
                 if not rated.get("whole_windows", 1) else ""))
    print()
    print_table(["source", "budget", "limit/min", "sustained/min", "share", "requests", "429s", "seconds"],
                [[r["source"], r["budget"], f"{r['limit_per_minute']:,.0f}", f"{r['sustained_per_minute']:,.1f}",
                  f"{r['share']:.0%}", f"{r['requests']:,}", f"{r['throttled_429']:,}", f"{r['seconds']}"]
                 for r in results["budgets"]])
    print()
    print_table(["source", "plan", "items", "hours"],
                [[r["source"], r["plan"], r["items"], f"{r['hours']:,}"] for r in results["projections"]])


if __name__ == "__main__":
    sys.exit(main())
