"""Kustomer simulator data at any scale: ``messages.jsonl`` and ``customers.jsonl`` (JSON:API resources).

Deterministic: the same ``n_items`` and ``seed`` give the same bytes. The first messages are a
fixed showcase of the shapes the guide's rules care about (subject in ``attributes.subject`` or
``attributes.meta.subject``, no preview with ``meta.from``/``meta.to`` as an array or a string, no
preview and no meta, an anonymous customer, a customer that answers 404, a message without a
customer); the rest are random, with a few percent of the same ugly cases. Many messages share one
customer (about eight each), as in real accounts.

    python bench/generate_kustomer.py OUT_DIR N_ITEMS [--seed 42]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

FIRST_NAMES = ["Maria", "Tom", "Aïcha", "Li", "Søren", "Priya", "José", "Olga", "Kenji", "Fatima", "Liam", "Zoë"]
LAST_NAMES = ["García", "Ng", "Diallo", "Wei", "Jørgensen", "Patel", "Núñez", "Ivanova", "Sato", "Haddad", "O'Brien"]
DOMAINS = ["example.com", "mail.example.org", "shop.example.net", "例え.jp"]
SUBJECTS = ["Where is my order?", "Refund request #{n}", "Damaged item", "Change of address",
            "Re: Re: Fwd: subscription", "Question about sizing", "Invoice {n} — wrong VAT"]
PREVIEWS = ["Hi, my order #{n} has not arrived yet. Can you check?", "Thanks for the quick help! 🙏",
            "The parcel came <b>damaged</b> &amp; the box was open.", "Can I swap the size M for L?",
            "Bonjour, je voudrais un remboursement.", "Line one\nline two\r\nline three"]
SUPPORT = "support@acme-shop.example.com"
EPOCH = datetime(2019, 1, 1, tzinfo=UTC)


def _oid(rng: random.Random) -> str:
    return f"{rng.getrandbits(96):024x}"


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _customer(rng: random.Random, cid: str, kind: str = "normal") -> dict[str, Any]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    local = f"{first}.{last}".lower().replace("'", "").replace(" ", "")
    emails: list[dict[str, Any]] = [{"type": "home", "email": f"{local}{rng.randint(1, 999)}@{rng.choice(DOMAINS)}",
                                     "verified": rng.random() < 0.8}]
    if rng.random() < 0.2:
        emails.append({"type": "work", "email": f"{local}@work.example.com", "verified": False})
    phones = [{"type": "mobile", "phone": f"+1 415 555 {rng.randint(0, 9999):04d}"}] if rng.random() < 0.6 else []
    attributes: dict[str, Any] = {"name": f"{first} {last}", "displayName": f"{first} {last}",
                                  "firstName": first, "lastName": last, "emails": emails, "phones": phones,
                                  "deleted": False}
    if kind == "anonymous":
        attributes.update(name=None, displayName=f"Visitor {rng.randint(1000, 9999)}", firstName=None,
                          lastName=None, emails=[], phones=[])
    elif kind == "invalid_email":
        attributes["emails"] = [{"type": "home", "email": f"{local} at example dot com"}]
    elif kind == "first_entry_without_address":
        attributes["name"] = None
        attributes["emails"] = [{"type": "home"}, {"type": "work", "email": f"{local}@work.example.com"}]
    elif kind == "deleted":
        attributes["deleted"] = True
    return {"type": "customer", "id": cid, "attributes": attributes}


def _message(rng: random.Random, mid: str, customer_id: str | None, moment: datetime, n: int,
             kind: str) -> dict[str, Any]:
    channel = {"email": "email", "chat": "chat", "voice": "voice", "sms": "sms"}.get(kind, rng.choice(
        ["email", "email", "chat", "chat", "sms"]))
    attributes: dict[str, Any] = {"channel": channel, "app": {"email": "postmark", "chat": "chat",
                                                             "sms": "twilio", "voice": "talkdesk"}[channel],
                                  "direction": rng.choice(["in", "out"]),
                                  "preview": rng.choice(PREVIEWS).format(n=n),
                                  "meta": {}, "createdAt": _stamp(moment),
                                  "sentAt": _stamp(moment), "updatedAt": _stamp(moment + timedelta(minutes=3))}
    if channel == "email":
        attributes["subject"] = rng.choice(SUBJECTS).format(n=n)
        attributes["meta"] = {"from": f"customer{n}@example.com", "to": [{"email": SUPPORT}]}
    if kind == "meta_subject":
        attributes.pop("subject", None)
        attributes["meta"]["subject"] = "Subject only in meta: " + rng.choice(SUBJECTS).format(n=n)
    elif kind in ("voice", "no_preview_to_string"):
        attributes.update(preview=None, channel=channel if kind == "voice" else None,
                          app="talkdesk" if kind == "voice" else None)
        to: Any = [{"email": SUPPORT}, {"email": "billing@acme-shop.example.com"}] if kind == "voice" \
            else "+1 415 555 0000"
        attributes["meta"] = {"from": "+1 415 555 0199", "to": to}
    elif kind == "bare":
        attributes.update(preview="", meta={})
        attributes.pop("subject", None)
    elif kind == "long":
        attributes["subject"] = "Long subject " + "x" * 140
        attributes["preview"] = "Long body. " * 2600
    elif kind == "blank_subject":
        attributes["subject"] = "   "
    resource: dict[str, Any] = {"type": "message", "id": mid, "attributes": attributes, "relationships": {}}
    if customer_id is not None:
        resource["relationships"]["customer"] = {"links": {"self": f"/v1/customers/{customer_id}"},
                                                 "data": {"type": "customer", "id": customer_id}}
    return resource


SHOWCASE = [  # (message kind, customer kind): the first messages of every data set
    ("email", "normal"), ("meta_subject", "normal"), ("voice", "normal"), ("no_preview_to_string", "normal"),
    ("bare", "normal"), ("chat", "anonymous"), ("email", "missing"), ("email", "none"),
    ("email", "invalid_email"), ("long", "first_entry_without_address"), ("blank_subject", "deleted"),
]


def _random_kinds(rng: random.Random) -> tuple[str, str]:
    roll = rng.random()
    message_kind = ("meta_subject" if roll < 0.03 else "voice" if roll < 0.05 else "no_preview_to_string"
                    if roll < 0.06 else "bare" if roll < 0.07 else "long" if roll < 0.071 else "normal")
    roll = rng.random()
    customer_kind = ("anonymous" if roll < 0.03 else "invalid_email" if roll < 0.04 else "missing"
                     if roll < 0.045 else "none" if roll < 0.05 else "normal")
    return message_kind, customer_kind


def generate(out_path_or_dir: str | Path, n_items: int, seed: int = 42, *, start: datetime = EPOCH,
             gap_ms: tuple[int, int] = (1_000, 3_600_000), ties: int = 0) -> dict[str, Any]:
    """Write ``messages.jsonl`` (n_items lines) and ``customers.jsonl`` into the folder; return figures.

    Messages are ``gap_ms`` apart (at random) from ``start``; with ``ties``, that many messages in
    the middle share one ``createdAt`` millisecond (a bulk import or a campaign does that).
    """
    out = Path(out_path_or_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    customers: dict[str, dict[str, Any]] = {}
    pool: list[str] = []
    referenced: set[str] = set()
    moment = start
    tie_from = (n_items - ties) // 2
    with open(out / "messages.jsonl", "w", encoding="utf-8", newline="\n") as messages:
        for n in range(n_items):
            message_kind, customer_kind = SHOWCASE[n] if n < len(SHOWCASE) else _random_kinds(rng)
            customer_id: str | None
            if customer_kind == "none":
                customer_id = None
            elif customer_kind == "missing":
                customer_id = _oid(rng)  # never written: the API answers 404
            elif customer_kind != "normal" or not pool or rng.random() < 0.125:
                customer_id = _oid(rng)
                customers[customer_id] = _customer(rng, customer_id, customer_kind)
                if customer_kind == "normal":
                    pool.append(customer_id)
            else:
                customer_id = rng.choice(pool)
            if customer_id is not None:
                referenced.add(customer_id)
            if not (tie_from < n < tie_from + ties):
                moment += timedelta(milliseconds=rng.randint(*gap_ms))
            resource = _message(rng, _oid(rng), customer_id, moment, n + 1, message_kind)
            messages.write(json.dumps(resource, ensure_ascii=False, separators=(",", ":")) + "\n")
    with open(out / "customers.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for resource in customers.values():
            f.write(json.dumps(resource, ensure_ascii=False, separators=(",", ":")) + "\n")
    size = sum((out / name).stat().st_size for name in ("messages.jsonl", "customers.jsonl"))
    # `make bench` measures the import, not Kustomer's search budget (bench_kustomer.py --rate does): lifted
    return {"messages": n_items, "customers": len(customers), "customers_referenced": len(referenced),
            "pages": -(-n_items // 100), "bytes": size, "path": str(out),
            "config": {"simulate": True, "simulator_data": str(out), "simulator_search_rate_limit": 0,
                       "search_requests_per_minute": 100_000}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("n_items", type=int)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    print(json.dumps(generate(args.out_dir, args.n_items, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
