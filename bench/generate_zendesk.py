"""Deterministic synthetic Zendesk JSON export (NDJSON) at a chosen scale.

Same seed, same bytes. A few percent of the ugly cases the test fixtures have: a first line that
is not a ticket, malformed lines, requesters without email or with a `Name <addr>` value,
comments without text, long subjects with emoji, 30,000-character bodies, tickets repeated in
the next file (overlapping exports), deleted authors.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

WORDS = ("order refund shipping damaged parcel invoice account password delivery return exchange "
         "size colour warranty subscription discount coupon tracking address payment card late "
         "missing broken replacement thanks hello please urgent question help").split()


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def generate(out_dir: str | Path, n_items: int, seed: int = 42, files: int = 4) -> dict[str, Any]:
    """Write about n_items comments (records) over `files` NDJSON files; returns what it wrote."""
    rng = random.Random(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records = 0
    ticket_id = 100_000
    comment_id = 10_000_000
    per_file = max(1, n_items // files)
    paths = []
    previous_tail: list[str] = []
    for index in range(files):
        path = out / f"tickets-{index:03d}.json"
        paths.append(path)
        target = per_file if index < files - 1 else n_items - records
        written = 0
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(json.dumps({"export": "tickets", "format": "json", "part": index}) + "\n")
            records += 1
            for line in previous_tail:  # overlapping export: the last tickets of the previous file again
                handle.write(line)
                records += line.count('"html_body"')
            previous_tail = []
            while written < target:
                roll = rng.random()
                if roll < 0.005:
                    handle.write('{"id": ' + str(ticket_id) + ', "subject": "cut off mid-wri\n')
                    ticket_id += 1
                    records += 1
                    written += 1
                    continue
                n_comments = rng.randint(1, 6)
                customer = rng.randint(1, max(10, n_items // 8))
                email: str | None = f"customer{customer}@example.com"
                if roll < 0.02:
                    email = None
                elif roll < 0.03:
                    email = f"Customer {customer} <customer{customer}@Example.COM>"
                elif roll < 0.035:
                    email = f"customer{customer}@@example"
                subject = _sentence(rng, rng.randint(3, 9))
                if rng.random() < 0.01:
                    subject = ("📦 " + _sentence(rng, 30))[:150]
                comments = []
                for _ in range(n_comments):
                    body = _sentence(rng, rng.randint(5, 60))
                    if rng.random() < 0.001:
                        body = (body + " ") * (30_000 // len(body) + 1)
                    empty = rng.random() < 0.01
                    created = f"2021-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:" \
                              f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z"
                    comments.append({
                        "id": comment_id, "type": "Comment",
                        "author_id": -1 if rng.random() < 0.01 else customer,
                        "body": "" if empty else body,
                        "html_body": "" if empty else f'<div class="zd-comment"><p>{body}</p></div>',
                        "plain_body": "" if empty else body,
                        "public": True, "attachments": [], "created_at": created,
                    })
                    comment_id += 1
                ticket = {
                    "id": ticket_id, "subject": subject, "tags": rng.sample(WORDS, rng.randint(0, 3)),
                    "status": "solved", "created_at": comments[0]["created_at"],
                    "requester": {"id": customer, "name": f"Customer {customer}", "email": email,
                                  "phone": f"+1 415 555 {customer % 10000:04d}" if rng.random() < 0.5 else None},
                    "comments": comments,
                }
                ticket_id += 1
                line = json.dumps(ticket, ensure_ascii=False) + "\n"
                handle.write(line)
                written += n_comments
                records += n_comments
                if target - written < 20 and len(previous_tail) < 2:
                    previous_tail.append(line)
    return {"platform": "zendesk", "paths": [str(p) for p in paths], "records": records,
            "bytes": sum(p.stat().st_size for p in paths)}
