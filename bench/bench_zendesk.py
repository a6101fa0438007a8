"""The Zendesk export extractor's baseline (``make bench``): JSON lines read with ``json.loads`` + ``pyarrow``.

``baseline(corpus_info)`` reads the same NDJSON files a line at a time with ``json.loads`` (a
line that does not parse is skipped), turns every comment of a ticket into a row of the same
fields the extractor lands (ticket id, subject, updated_at, tags, requester, the comment's id,
bodies and created_at) and writes them to Parquet with ``pyarrow`` in row groups of 20,000, in a
child process: what any JSON-lines-to-Parquet path does, without the extractor's bounded reads,
caps, checks, redaction and lineage. ``make bench`` sets the extractor's MB/s from the same run
beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.bench_csv import run_child

CHILD = r"""
import json, resource, sys, time
import pyarrow as pa, pyarrow.parquet as pq
paths, out = sys.argv[1:-1], sys.argv[-1]
names = ["ticket_id", "ticket_subject", "ticket_updated_at", "ticket_tags", "requester_email", "requester_name",
         "comment_id", "comment_body", "comment_html_body", "comment_plain_body", "comment_created_at"]
schema = pa.schema([pa.field(n, pa.list_(pa.string()) if n == "ticket_tags" else pa.string()) for n in names])
started, cpu = time.perf_counter(), time.process_time()
rows, writer, columns = 0, pq.ParquetWriter(out, schema, compression="zstd"), {n: [] for n in names}
def text(v):
    return None if v is None else str(v)
for path in paths:
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                ticket = json.loads(line)
            except ValueError:
                continue
            if not isinstance(ticket, dict) or not isinstance(ticket.get("comments"), list):
                continue
            requester = ticket.get("requester") or {}
            for comment in ticket["comments"]:
                for n, v in (("ticket_id", ticket.get("id")), ("ticket_subject", ticket.get("subject")),
                             ("ticket_updated_at", ticket.get("updated_at")), ("requester_email", requester.get("email")),
                             ("requester_name", requester.get("name")), ("comment_id", comment.get("id")),
                             ("comment_body", comment.get("body")), ("comment_html_body", comment.get("html_body")),
                             ("comment_plain_body", comment.get("plain_body")),
                             ("comment_created_at", comment.get("created_at"))):
                    columns[n].append(text(v))
                columns["ticket_tags"].append([str(t) for t in ticket.get("tags") or []])
                rows += 1
                if len(columns["ticket_id"]) == 20_000:
                    writer.write_table(pa.table(columns, schema=schema))
                    columns = {n: [] for n in names}
if columns["ticket_id"]:
    writer.write_table(pa.table(columns, schema=schema))
writer.close()
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def baseline(corpus_info: dict[str, Any]) -> dict[str, Any]:
    """`make bench`'s hook: json.loads + pyarrow on the same files."""
    paths = [str(p) for p in corpus_info["paths"]]
    megabytes = sum(Path(p).stat().st_size for p in paths) / 2**20
    child = run_child(CHILD, paths)
    return {"approach": "json.loads per line + pyarrow.parquet, no checks", "mb": round(megabytes, 1),
            "rows": child["rows"], "seconds": round(child["seconds"], 2), "cpu_seconds": round(child["cpu_seconds"], 2),
            "baseline_mb_per_s": round(megabytes / max(child["seconds"], 1e-9), 1),
            "peak_rss_mb": round(child["peak_rss_mb"], 1)}
