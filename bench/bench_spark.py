"""The engine topologies on one generated corpus, same machine, same run: DuckDB, a local Spark
session, a Spark session on a two-worker standalone cluster, and a Spark Thrift server on that
cluster; each import's Gladly CSV and rejects compared byte for byte with DuckDB's.

    python -m bench.bench_spark [--scale 20000] [--seed 42] [--dir bench] [--skip-thrift]

The cluster is started from the pinned pyspark wheel (tests/python/spark_cluster.py) and stopped at
the end. Results: DIR/results/spark-<scale>.json. Seconds are wall time of the whole import in a
child process (extract, dbt, export); ratios are against DuckDB's in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from bench.__main__ import BENCH_DIR, PROJECT_DIR, build_corpus, source_block


def _outputs(output_dir: Path) -> dict[str, bytes]:
    names = sorted(output_dir.glob("gladly_conversation_items_*.csv"))
    return {p.name: p.read_bytes() for p in [*names, output_dir / "gladly_import_rejects.csv"]}


def run(corpus: dict[str, Any], run_dir: Path, spark: dict[str, Any] | None) -> dict[str, Any]:
    run_dir.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {"output_dir": "output", "work_dir": "work", "batch_size": 500_000,
                              "sources": {p: source_block(p, info) for p, info in corpus.items()}}
    if spark is not None:
        config["engine"] = "spark"
        config["spark"] = spark
    (run_dir / "config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    started = time.perf_counter()
    child = subprocess.run([sys.executable, "-m", "gladly_import", "--config", str(run_dir / "config.yml")],
                           cwd=PROJECT_DIR, capture_output=True, text=True,
                           env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}, check=False)
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"bench_spark: the import in {run_dir} failed (exit {child.returncode}):\n{child.stderr[-3000:]}")
    metrics = json.loads((run_dir / "work" / "run_metrics.json").read_text(encoding="utf-8"))
    summary = json.loads((run_dir / "output" / "import_summary.json").read_text(encoding="utf-8"))
    return {"seconds": round(seconds, 1), "items": summary["totals"]["records_seen"],
            "exported": summary["totals"]["exported"],
            "dbt_seconds": next((s["seconds"] for s in metrics["stages"] if s["stage"] == "dbt build"), None)}


def main(argv: list[str] | None = None) -> int:
    from tests.python.spark_cluster import SparkCluster

    parser = argparse.ArgumentParser(prog="bench.bench_spark", description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--scale", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dir", type=Path, default=BENCH_DIR)
    parser.add_argument("--skip-thrift", action="store_true")
    args = parser.parse_args(argv)
    base = args.dir.resolve()
    corpus = build_corpus(args.scale, args.seed, base)
    runs = base / "runs" / f"spark-{args.scale}-{args.seed}-{int(time.time())}"
    results: dict[str, Any] = {"scale": args.scale, "seed": args.seed, "load_average_at_start": os.getloadavg()}
    print("bench_spark: duckdb", flush=True)
    results["duckdb"] = run(corpus, runs / "duckdb", None)
    print("bench_spark: spark, local[2] session", flush=True)
    results["spark_local"] = run(corpus, runs / "spark-local", {})
    (runs / "cluster").mkdir(parents=True)
    cluster = SparkCluster(runs / "cluster")
    try:
        cluster.start(workers=2)
        print("bench_spark: spark session on a two-worker standalone cluster", flush=True)
        results["spark_cluster_session"] = run(corpus, runs / "spark-cluster", {
            "master": cluster.url, "raw_location": (runs / "shared" / "raw").as_uri(),
            "conf": {"spark.executor.memory": "1g"}})
        if not args.skip_thrift:
            cluster.start_thrift_server()
            print("bench_spark: spark thrift server on the cluster", flush=True)
            results["spark_thrift"] = run(corpus, runs / "spark-thrift", {
                "method": "thrift", "host": "127.0.0.1", "port": cluster.thrift_port,
                "raw_location": (runs / "shared" / "thrift-raw").as_uri()})
    finally:
        left = cluster.stop()
    if left:
        raise SystemExit(f"bench_spark: processes outlived the cluster: {left}")
    duck = _outputs(runs / "duckdb" / "output")
    for name in ("spark_local", "spark_cluster_session", "spark_thrift"):
        if name in results:
            folder = {"spark_local": "spark-local", "spark_cluster_session": "spark-cluster",
                      "spark_thrift": "spark-thrift"}[name]
            results[name]["same_bytes_as_duckdb"] = _outputs(runs / folder / "output") == duck
            results[name]["times_duckdb"] = round(results[name]["seconds"] / results["duckdb"]["seconds"], 1)
    out = base / "results" / f"spark-{args.scale}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    for name, result in results.items():
        if isinstance(result, dict):
            print(f"{name:24} {result['items']:>9,} items {result['seconds']:>8,.1f}s (dbt {result['dbt_seconds']}s)"
                  + (f"  {result['times_duckdb']}x DuckDB, same bytes: {result['same_bytes_as_duckdb']}"
                     if "times_duckdb" in result else ""))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
