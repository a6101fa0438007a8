"""The CSV extractor's baseline (``make bench``): the standard library's ``csv`` reader + ``pyarrow``.

``baseline(corpus_info)`` reads the same CSV files with ``csv.reader`` and writes each column to
Parquet with ``pyarrow`` in row groups of 20,000, in a child process (its CPU time and peak RSS
its own): the least any CSV-to-Parquet path does, without the extractor's checks (the header
mapped, timestamps and emails left to the models, each row's field count, caps, NULs,
redaction, lineage). ``make bench`` sets the extractor's MB/s from the same run beside it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent

CHILD = r"""
import csv, json, resource, sys, time
import pyarrow as pa, pyarrow.parquet as pq
paths, out = sys.argv[1:-1], sys.argv[-1]
csv.field_size_limit(2**31 - 1)
started, cpu = time.perf_counter(), time.process_time()
rows = 0
writer = None
for path in paths:
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        schema = pa.schema([pa.field(f"c{i}", pa.string()) for i in range(len(header))])
        writer = writer or pq.ParquetWriter(out, schema, compression="zstd")
        columns = [[] for _ in header]
        for record in reader:
            for i, column in enumerate(columns):
                column.append(record[i] if i < len(record) else None)
            rows += 1
            if len(columns[0]) == 20_000:
                writer.write_table(pa.table(columns, schema=schema))
                columns = [[] for _ in header]
        if columns[0]:
            writer.write_table(pa.table(columns, schema=schema))
writer.close()
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_child(code: str, paths: list[str]) -> dict[str, Any]:
    """Run a baseline ``code`` on ``paths`` in a child process writing to a scratch Parquet file."""
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        done = subprocess.run([sys.executable, "-c", code, *paths, str(Path(tmp) / "out.parquet")],
                              capture_output=True, text=True, check=True, cwd=PROJECT_DIR)
    return json.loads(done.stdout.strip().splitlines()[-1])


def baseline(corpus_info: dict[str, Any]) -> dict[str, Any]:
    """`make bench`'s hook: csv.reader + pyarrow on the same files."""
    paths = [str(p) for p in corpus_info["paths"]]
    megabytes = sum(Path(p).stat().st_size for p in paths) / 2**20
    child = run_child(CHILD, paths)
    return {"approach": "csv.reader + pyarrow.parquet, no checks", "mb": round(megabytes, 1), "rows": child["rows"],
            "seconds": round(child["seconds"], 2), "cpu_seconds": round(child["cpu_seconds"], 2),
            "baseline_mb_per_s": round(megabytes / max(child["seconds"], 1e-9), 1),
            "peak_rss_mb": round(child["peak_rss_mb"], 1)}
