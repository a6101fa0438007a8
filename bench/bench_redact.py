"""What redaction costs: the raw writer's redaction step on every free-text value of a bench corpus,
against the writer's own text pass over the same values and against the import's stages.

    python -m bench.bench_redact [--scale 100000] [--seed 42] [--run]

Redaction happens as the records are landed (extract/raw.py): its cost is extract time, not dbt
time. This reads the free-text columns of every platform's raw tables of the bench import at that
scale (bench/runs/<scale>-<seed>/, run first when missing or with --run), one row group at a time
as the writer sees them, and times in this process, on the same arrays:

- baseline: the writer's pass over text columns (arrays built, control characters looked for);
- redaction with the defaults (card numbers), and with every kind on plus a custom pattern;
- the same on text with digits everywhere (order, tracking and phone numbers, dates, and a card
  number in one text of 200): the bench corpus's generated words hold few digits, real mail many.

and states each as a share of the import's dbt stage and of its extract stages (run_metrics.json),
beside the time the writers themselves spent redacting during that import (``redaction_seconds``
of each extract stage: the same load as the stages it is compared with).
Results: bench/results/bench-redact-<scale>.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.__main__ import BENCH_DIR, build_corpus, run_import
from extract.platforms import PLATFORMS
from extract.raw import _text_array, free_text_part
from extract.redact import Redactor, redactor_from

EVERYTHING = {"iban": True, "us_ssn": True, "patterns": [{"name": "order_token", "regex": "tok_[A-Za-z0-9]{24}"}]}
DIGITS = ("Order #{n} shipped", "tracking 1Z999AA1{n}", "call +1 415 555 {p}", "on 2021-{m:02d}-{d:02d} at 10:{m:02d}",
          "invoice {n}-{p}", "amount $1{p}.99", "ref {n}{p}")


def free_text_columns(raw_dir: Path) -> list[list[pa.Array]]:
    """Every free-text column of every raw table, one list of arrays (row groups) per column."""
    columns = []
    for name, platform in PLATFORMS.items():
        for table, schema in platform.schemas.items():
            path = raw_dir / name / f"{table}.parquet"
            free = [f.name for f in schema if free_text_part(f)]
            if not free or not path.exists():
                continue
            parquet = pq.ParquetFile(path)
            for column in free:
                columns.append([parquet.read_row_group(i, columns=[column]).column(0).combine_chunks()
                                for i in range(parquet.num_row_groups)])
    return columns


def with_digits(columns: list[list[pa.Array]], seed: int) -> list[list[pa.Array]]:
    """The same texts with numbers in every other one, and a card number in one of 200."""
    rng = random.Random(seed)

    def text(value: str | None) -> str | None:
        if value is None or rng.random() < 0.5:
            return value
        extra = rng.choice(DIGITS).format(n=rng.randint(10**6, 10**9), p=rng.randint(1000, 9999),
                                          m=rng.randint(1, 12), d=rng.randint(1, 28))
        if rng.random() < 0.01:
            extra += " card 4111 1111 1111 1111"
        return f"{value} {extra}"

    return [[pa.array([text(v) for v in array.to_pylist()], pa.string()) for array in groups] for groups in columns]


def baseline(lists: list[list[list[Any]]]) -> float:
    started = time.perf_counter()
    for groups in lists:
        for values in groups:
            _text_array(values, pa.string())
    return time.perf_counter() - started


def redaction(columns: list[list[pa.Array]], redactor: Redactor) -> tuple[float, int]:
    """The writer's redaction step (``Redactor.redact_array``, as RawTableWriter._redacted calls it)
    on each row group; the values found."""
    found = 0
    started = time.perf_counter()
    for groups in columns:
        for array in groups:
            _, rows = redactor.redact_array(array)
            found += sum(sum(counts.values()) for counts in rows.values())
    return time.perf_counter() - started, found


def measure(columns: list[list[pa.Array]], stages: dict[str, float]) -> dict[str, Any]:
    lists = [[array.to_pylist() for array in groups] for groups in columns]
    values = sum(len(a) for groups in columns for a in groups)
    chars = sum(pc.sum(pc.utf8_length(a)).as_py() or 0 for groups in columns for a in groups)
    base = min(baseline(lists) for _ in range(3))
    result: dict[str, Any] = {"values": values, "text_mb": round(chars / 2**20, 1),
                              "baseline_seconds": round(base, 3)}
    for label, redactor in (("defaults", redactor_from(None)), ("everything", redactor_from(EVERYTHING))):
        seconds, found = min((redaction(columns, redactor) for _ in range(3)), key=lambda r: r[0])
        result[label] = {"seconds": round(seconds, 3), "values_found": found,
                         "vs_baseline": round(seconds / base, 2) if base else None,
                         "share_of_dbt_stage": round(seconds / stages["dbt"], 4) if stages["dbt"] else None,
                         "share_of_extract_stages": round(seconds / stages["extract"], 4) if stages["extract"] else None}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_redact", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--run", action="store_true", help="run the bench import again")
    args = parser.parse_args(argv)
    run_dir = BENCH_DIR / "runs" / f"{args.scale}-{args.seed}"
    metrics_path = run_dir / "work" / "run_metrics.json"
    if args.run or not metrics_path.exists():
        print(f"bench_redact: the import of {args.scale:,} items", flush=True)
        run_import(build_corpus(args.scale, args.seed), run_dir)
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))["stages"]
    stages = {"dbt": sum(s["seconds"] for s in metrics if s["stage"] == "dbt build"),
              "extract": sum(s["seconds"] for s in metrics if s["stage"].startswith("extract ")),
              # measured by the writers during the import itself (run_metrics.json)
              "redaction_in_the_run": sum(s.get("redaction_seconds", 0) for s in metrics)}
    columns = free_text_columns(run_dir / "work" / "raw")
    results = {"scale": args.scale, "seed": args.seed, "stages_seconds": stages,
               "corpus": measure(columns, stages), "corpus_with_digits": measure(with_digits(columns, args.seed), stages)}
    out = BENCH_DIR / "results" / f"bench-redact-{args.scale}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"import of {args.scale:,} items: extract stages {stages['extract']:,.1f}s, dbt build {stages['dbt']:,.1f}s;"
          f" redaction in the run (the config's defaults) {stages['redaction_in_the_run']:,.2f}s:"
          f" {stages['redaction_in_the_run'] / stages['dbt']:.1%} of the dbt stage,"
          f" {stages['redaction_in_the_run'] / stages['extract']:.1%} of the extract stages")
    for label in ("corpus", "corpus_with_digits"):
        r = results[label]
        print(f"{label}: {r['values']:,} free-text values, {r['text_mb']:,} MB; writer's text pass {r['baseline_seconds']}s")
        for kinds in ("defaults", "everything"):
            k = r[kinds]
            print(f"  redaction ({kinds}): {k['seconds']}s ({k['vs_baseline']}x the text pass), "
                  f"{k['share_of_dbt_stage']:.1%} of the dbt stage, {k['share_of_extract_stages']:.1%} of the extract "
                  f"stages; {k['values_found']:,} values found")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
