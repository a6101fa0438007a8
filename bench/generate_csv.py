"""Deterministic synthetic Gladly CSV template at a chosen scale (same seed, same bytes)."""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

from bench.generate_zendesk import _sentence

HEADER = ["Conversation Item ID", "Customer Email", "Customer Name", "Customer Phone", "Conversation Item Timestamp",
          "Conversation Item Title", "Conversation Item Body", "Conversation Item Source", "Tags"]


def generate(out_dir: str | Path, n_items: int, seed: int = 42) -> dict[str, Any]:
    rng = random.Random(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "items.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(n_items):
            roll = rng.random()
            customer = rng.randint(1, max(10, n_items // 8))
            email = "" if roll < 0.02 else f"client{customer}@example.org"
            body = _sentence(rng, rng.randint(5, 50))
            if roll > 0.99:
                body = body + '\nwith "quotes", commas\r\nand lines'
            timestamp = f"2020-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z"
            if 0.02 <= roll < 0.025:
                timestamp = "last tuesday"
            row = [f"hs-{i}" if roll < 0.5 else "", email, f"Client {customer}", "", timestamp,
                   _sentence(rng, 4), body, "Help Scout", "imported"]
            if 0.025 <= roll < 0.03:
                row.append("extra field")
            writer.writerow(row)
    return {"platform": "csv", "paths": [str(path)], "records": n_items, "bytes": path.stat().st_size}
