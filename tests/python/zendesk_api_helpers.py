"""Shared pieces of the Zendesk API tests: one account as data, written as a JSON export or served by the
simulator, and one extraction run either way.

Also a command line (``python tests/python/zendesk_api_helpers.py BASE_URL WORK_DIR``) that runs one API
extraction in its own process, for the tests that kill a run half-way.
"""

from __future__ import annotations

import json
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

PROJECT_DIR = Path(__file__).resolve().parents[2]
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from extract import zendesk, zendesk_api  # noqa: E402
from extract.context import Progress, SourceContext  # noqa: E402

EMAIL = "admin+zd@shop.example.com"
TOKEN = "zd-TOKEN-4c1e9b7a-do-not-log"  # the "secret" the tests look for in logs and files
ENV = {"ZENDESK_EMAIL": EMAIL, "ZENDESK_API_TOKEN": TOKEN}
FAST_CLIENT = {"timeout": 5.0, "max_retries": 6, "backoff_base": 0.01, "backoff_max": 0.05}
UNHURRIED = {"incremental_requests_per_minute": 100_000}  # tests not about the 10-a-minute pace lift it
LINEAGE = ("_source_file", "_source_row", "_source_position")
DELETED_AT = "2022-06-01T08:00:00Z"
WORDS = "order refund parcel damaged invoice colour size tracking late thanks please help".split()


def account(n_tickets: int = 60, seed: int = 23) -> list[dict[str, Any]]:
    """Tickets as the JSON export has them (requester and comments inside), ugly like real ones:
    requesters without email or with a display name around it, shared requesters, private notes,
    attachment-only comments, emoji and quotes, a ticket of 130 comments (two pages of 100), archived
    (closed years ago), deleted ones (``status: deleted``), one without comments."""
    rng = random.Random(seed)
    requesters = []
    for n in range(max(n_tickets // 3, 4)):
        email: str | None = f"customer{n}@example.com"
        if n % 7 == 3:
            email = None
        elif n % 11 == 5:
            email = f"Customer {n} <Customer{n}@Example.COM>"
        requesters.append({"id": 7_000_000 + n, "name": f"Cüstomer {n} \"the {rng.choice(WORDS)}\"", "email": email,
                           "phone": f"+1 415 555 {n:04d}" if n % 2 else None})
    tickets = []
    comment_id = 50_000_000
    for index in range(n_tickets):
        ticket_id = 90_000 + index
        requester = requesters[rng.randrange(len(requesters))]
        day = 1 + index % 27
        count = 130 if index == 7 else 0 if index == 11 else rng.randint(1, 5)
        comments = []
        for c in range(count):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) + (" 📦" if c % 5 == 4 else "")
            empty = c == 2 and index % 4 == 0  # an attachment-only comment
            comments.append({
                "id": comment_id, "type": "Comment", "author_id": -1 if c == 1 and index % 9 == 0 else requester["id"],
                "body": "" if empty else text, "html_body": "" if empty else f'<div class="zd-comment"><p>{text}</p></div>',
                "plain_body": "" if empty else text, "public": not (c % 3 == 2), "attachments": [],
                "created_at": f"2021-{1 + index % 12:02d}-{day:02d}T{c // 60 % 24:02d}:{c % 60:02d}:{index % 60:02d}Z",
                "via": {"channel": "email"}, "metadata": {}})
            comment_id += 1
        status = "closed" if index % 5 == 0 else "solved" if index % 5 == 1 else "open"
        last = comments[-1]["created_at"] if comments else f"2021-{1 + index % 12:02d}-{day:02d}T00:00:00Z"
        tickets.append({
            "url": f"https://shop.zendesk.com/api/v2/tickets/{ticket_id}.json", "id": ticket_id,
            "subject": f"Order #{1000 + index}: {rng.choice(WORDS)} \"{rng.choice(WORDS)}\"" if index % 13 else "",
            "tags": rng.sample(WORDS, rng.randint(0, 3)), "status": status,
            "created_at": comments[0]["created_at"] if comments else last, "updated_at": last,
            "via": {"channel": "email"}, "requester": requester, "comments": comments})
    for index in (3, 19):
        if index < len(tickets):
            tickets[index] = {**tickets[index], "status": "deleted", "updated_at": DELETED_AT}
    return tickets


def exported(tickets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the JSON export holds of the account: its tickets that are not deleted."""
    return [t for t in tickets if t.get("status") != "deleted"]


def write_export(tickets: list[dict[str, Any]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(json.dumps({"export": "tickets", "format": "json"}) + "\n")
        for ticket in exported(tickets):
            handle.write(json.dumps(ticket, ensure_ascii=False) + "\n")
    return path


@dataclass
class Extraction:
    rows: list[dict[str, Any]]
    rejects: list[dict[str, Any]]
    log: str

    def without_lineage(self) -> list[tuple]:
        """The rows as the models read them, lineage aside (it says where each came from)."""
        return sorted(tuple(sorted((k, json.dumps(v)) for k, v in row.items() if k not in LINEAGE))
                      for row in self.rows)

    def reasons(self) -> dict[str, str]:
        """record id -> reject reason."""
        return {r["record_id"]: r["reject_reason"] for r in self.rejects}


def extract_once(options: dict[str, Any], work_dir: Path, mode: str = "full", log_path: Path | None = None
                 ) -> Extraction:
    """Run the Zendesk extractor like the runner does (export files or API, by ``options``)."""
    raw_dir = work_dir / "raw"
    out = zendesk.PLATFORM.output(raw_dir)
    files = [Path(options["path"])] if options.get("path") else []
    log_path = log_path or work_dir / "progress.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as log:
        ctx = SourceContext(platform="zendesk", options=options, base_dir=work_dir, files=files,
                            state_dir=work_dir / "state" / "zendesk", progress=Progress("zendesk", stream=log, interval=0),
                            mode=mode, samples_dir=PROJECT_DIR / "samples")
        try:
            zendesk.PLATFORM.extract(ctx, out)
        except BaseException:
            out.abort()
            raise
        out.close()
    table = raw_dir / "zendesk" / "ticket_comments.parquet"
    return Extraction(rows=pq.read_table(table).to_pylist() if table.exists() else [],
                      rejects=pq.read_table(out.rejects_path).to_pylist() if out.rejects_path.exists() else [],
                      log=log_path.read_text(encoding="utf-8"))


def extract_api(base_url: str, work_dir: Path, mode: str = "full", **options: Any) -> Extraction:
    os.environ.update(ENV)
    return extract_once({"base_url": base_url, **UNHURRIED, **options}, work_dir, mode)


if __name__ == "__main__":
    # BASE_URL WORK_DIR [CONCURRENCY [PER_PAGE [paced]]]: "paced" keeps the real 9-a-minute export pace
    args = sys.argv[1:]
    zendesk_api.CLIENT_OPTIONS = {**zendesk_api.CLIENT_OPTIONS, **FAST_CLIENT}
    if len(args) > 3:
        zendesk_api.PER_PAGE = int(args[3])
    options: dict[str, Any] = {"concurrency": int(args[2]) if len(args) > 2 else 4}
    if len(args) > 4 and args[4] == "paced":
        options["incremental_requests_per_minute"] = 9
    result = extract_api(args[0], Path(args[1]), **options)
    print(json.dumps({"rows": len(result.rows)}))
