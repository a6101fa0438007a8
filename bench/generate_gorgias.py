"""Gorgias account data at any scale, in the API's own shapes, for the simulator.

``generate(out_dir, n_items, seed)`` writes ``tickets.jsonl`` and ``messages.jsonl``
(one API object per line) holding ``n_items`` messages spread over tickets of 1 to 6
messages. Same seed, same bytes. A few percent of the records carry the cases seen in
real accounts: customers without email or name (or no customer at all), empty
subjects, attachment-only messages, messages of deleted tickets, every datetime
format Gorgias uses, internal notes, very long texts. The first tickets go through
every one of those cases, so even a small sample shows them all.

Usage: ``python bench/generate_gorgias.py OUT_DIR N_ITEMS [SEED]``.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

START = datetime(2024, 1, 3, 8, 0, 0, 0, tzinfo=UTC)
FIRST_TICKET_ID = 18_301_000
FIRST_MESSAGE_ID = 402_117_000
FIRST_CUSTOMER_ID = 77_410_000
UGLY_SHARE = 0.04

FIRST_NAMES = ["Jane", "Omar", "Li", "Sofía", "Zoë", "Kwame", "Anaïs", "Björn", "Priya", "Mateo", "Aoife", "Dmitri"]
LAST_NAMES = ["Doe", "Haddad", "Wei", "García", "Müller", "Mensah", "O'Brien", "Lindqvist", "Patel", "Rossi"]
DOMAINS = ["example.com", "mail.example.org", "shop-customer.example.net", "EXAMPLE.co.uk"]
SUBJECTS = [
    "Where is my order #{n}?", "Refund for order #{n}", "Wrong size delivered", "Discount code not working",
    "Change shipping address", "Damaged item 😞", "Question about subscription", "Commande #{n} non reçue",
    "Return label please", "Can I cancel order #{n}?",
]
CUSTOMER_LINES = [
    "Hi, I ordered {n} days ago and nothing has arrived yet.",
    "The parcel was crushed and the mug is broken.\r\nPhotos attached.",
    "Could you please send me a return label?",
    "Bonjour, je n'ai toujours pas reçu ma commande.",
    "Thanks! That worked 🙏",
    "My code SAVE{n} says it's expired but the email said it runs till Sunday.",
]
AGENT_LINES = [
    "Hi {name}, thanks for reaching out! I've checked order #{n} and it ships tomorrow.",
    "So sorry about that. I've issued a full refund, you'll see it in 3-5 business days.",
    "Here is your prepaid return label: https://returns.example.com/{n}",
    "I've updated the address on your order. Anything else I can help with?",
]
TAGS = ["refund", "shipping", "damaged", "vip", "discount", "urgent", "returns", "auto-close"]
# Each ugly case, in the order the first tickets go through them.
UGLY_CASES = [
    "customer_email_null", "customer_missing", "customer_name_null", "customer_no_names",
    "subjects_empty", "message_subject_blank", "attachment_only", "body_text_null",
    "orphan_message", "invalid_email", "internal_note", "long_texts", "datetime_missing",
    "customer_email_untrimmed",
]


def _datetime_text(moment: datetime, rng: random.Random) -> str:
    """One of the formats Gorgias serves: 'T' or ' ' separator, with or without fractions."""
    style = rng.random()
    text = moment.isoformat() if moment.microsecond else moment.replace(microsecond=0).isoformat()
    if style < 0.55:
        return text
    if style < 0.8:
        return text.replace("T", " ", 1)
    return moment.replace(microsecond=0).isoformat().replace("T", " " if style < 0.9 else "T", 1)


class _Account:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.next_ticket = FIRST_TICKET_ID
        self.next_message = FIRST_MESSAGE_ID
        self.customers: list[dict[str, Any]] = []

    def customer(self) -> dict[str, Any]:
        rng = self.rng
        if self.customers and rng.random() < 0.35:
            return json.loads(json.dumps(rng.choice(self.customers)))
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        cid = FIRST_CUSTOMER_ID + len(self.customers)
        local = f"{first}.{last}".lower().replace("'", "").replace(" ", "")
        email = f"{local}{cid % 1000}@{rng.choice(DOMAINS)}"
        customer = {
            "id": cid, "email": email, "name": f"{first} {last}", "firstname": first, "lastname": last,
            "channels": [{"id": cid * 3, "type": "email", "address": email, "preferred": True}],
            "meta": {}, "note": None,
        }
        self.customers.append(customer)
        return json.loads(json.dumps(customer))

    def ticket(self, index: int, created: datetime, case: str | None) -> dict[str, Any]:
        rng = self.rng
        tid = self.next_ticket
        self.next_ticket += rng.choice((1, 1, 1, 2, 7))
        customer: dict[str, Any] | None = self.customer()
        if case == "customer_email_null":
            customer["email"] = None  # type: ignore[index]
        elif case == "customer_missing":
            customer = None
        elif case == "customer_name_null":
            customer["name"] = None  # type: ignore[index]
        elif case == "customer_no_names":
            customer.update(name=None, firstname="", lastname=None)  # type: ignore[union-attr]
        elif case == "invalid_email":
            customer["email"] = "jane.doe@@example.com"  # type: ignore[index]
        elif case == "customer_email_untrimmed":
            customer["email"] = "  " + customer["email"].upper() + " "  # type: ignore[index]
        subject = rng.choice(SUBJECTS).format(n=10_000 + index)
        if case == "subjects_empty":
            subject = None
        elif case == "long_texts":
            subject = "Order problem – " + "very " * 40 + "long subject"
        tags = [{"id": 300 + TAGS.index(t), "name": t, "decoration": None} for t in rng.sample(TAGS, rng.randint(0, 3))]
        return {
            "id": tid, "uri": f"/api/tickets/{tid}/", "external_id": None, "language": "en",
            "status": rng.choice(("closed", "closed", "open")), "priority": "normal",
            "channel": "email", "via": "email", "from_agent": False, "customer": customer,
            "assignee_user": {"id": 11, "email": "agent@brand.example.com", "name": "Sam Agent"},
            "subject": subject, "tags": tags, "messages_count": 0, "spam": False,
            "created_datetime": _datetime_text(created, rng),
            "updated_datetime": _datetime_text(created + timedelta(days=2), rng),
            "meta": None,
        }

    def message(self, ticket: dict[str, Any], position: int, created: datetime, case: str | None) -> dict[str, Any]:
        rng = self.rng
        mid = self.next_message
        self.next_message += rng.choice((1, 1, 2, 3))
        customer = ticket["customer"] or {}
        from_agent = position % 2 == 1
        n = rng.randint(2, 99_999)
        if from_agent:
            text = rng.choice(AGENT_LINES).format(name=customer.get("firstname") or "there", n=n)
            sender = {"id": 11, "email": "agent@brand.example.com", "name": "Sam Agent"}
            receiver = {"id": customer.get("id"), "email": customer.get("email"), "name": customer.get("name")}
        else:
            text = rng.choice(CUSTOMER_LINES).format(n=n)
            sender = {"id": customer.get("id"), "email": customer.get("email"), "name": customer.get("name")}
            receiver = {"id": 11, "email": "support@brand.example.com", "name": "Brand Support"}
        subject = ticket["subject"] if position == 0 else rng.choice(("", "", f"Re: {ticket['subject'] or ''}"))
        attachments: list[dict[str, Any]] = []
        channel, public = "email", True
        body_text: str | None = text
        if case == "subjects_empty" or case == "message_subject_blank":
            subject = "" if case == "subjects_empty" else "   "
        elif case == "attachment_only" and position == 0:
            body_text = ""
            attachments = [{"url": "https://uploads.example.com/p.jpg", "name": "p.jpg", "size": 48213,
                            "content_type": "image/jpeg"}]
        elif case == "body_text_null" and position == 0:
            body_text = None
        elif case == "internal_note" and position == 1:
            channel, public, from_agent = "internal-note", False, True
        elif case == "long_texts" and position == 0:
            body_text = "Long thread pasted below.\n" + ("Lorem ipsum dolor sit amet. " * 1000)
        html = None if body_text is None else "<div>" + body_text.replace("\r\n", "<br>").replace("\n", "<br>") + "</div>"
        created_text: str | None = _datetime_text(created, rng)
        if case == "datetime_missing" and position == 0:
            created_text = None
        return {
            "id": mid, "uri": f"/api/tickets/{ticket['id']}/messages/{mid}/",
            "message_id": f"<{mid}.{n}@mail.example.com>", "ticket_id": ticket["id"], "external_id": None,
            "public": public, "channel": channel, "via": "email" if channel == "email" else "helpdesk",
            "source": {"type": channel, "from": {"name": sender["name"], "address": sender["email"]},
                       "to": [{"name": receiver["name"], "address": receiver["email"]}]},
            "sender": sender, "receiver": receiver, "integration_id": None, "rule_id": None,
            "from_agent": from_agent, "subject": subject, "body_text": body_text, "body_html": html,
            "stripped_text": body_text, "stripped_html": html, "stripped_signature": None,
            "attachments": attachments, "macros": [], "meta": None,
            "created_datetime": created_text,
            "sent_datetime": None if created_text is None else _datetime_text(created + timedelta(seconds=2), rng),
            "failed_datetime": None, "deleted_datetime": None, "opened_datetime": None,
        }


def _case(index: int, rng: random.Random) -> str | None:
    if index < len(UGLY_CASES):
        return UGLY_CASES[index]
    return rng.choice(UGLY_CASES) if rng.random() < UGLY_SHARE else None


def generate(out_path_or_dir: str | Path, n_items: int, seed: int = 42) -> dict[str, Any]:
    """Write ``tickets.jsonl`` and ``messages.jsonl`` with ``n_items`` messages; returns counts."""
    out = Path(out_path_or_dir)
    out.mkdir(parents=True, exist_ok=True)
    account = _Account(seed)
    rng = account.rng
    tickets_written = messages_written = 0
    moment = START
    with (out / "tickets.jsonl").open("w", encoding="utf-8", newline="\n") as tickets_file, \
         (out / "messages.jsonl").open("w", encoding="utf-8", newline="\n") as messages_file:
        index = 0
        while messages_written < n_items:
            case = _case(index, rng)
            moment += timedelta(minutes=rng.randint(1, 240), microseconds=rng.choice((0, rng.randint(1, 999_999))))
            ticket = account.ticket(index, moment, case)
            count = min(rng.randint(1, 6), n_items - messages_written)
            ticket["messages_count"] = count
            at = moment
            for position in range(count):
                at += timedelta(minutes=rng.randint(0, 600), microseconds=rng.randint(0, 999_999))
                message = account.message(ticket, position, at, case)
                messages_file.write(json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n")
                messages_written += 1
            if case != "orphan_message":  # the ticket was deleted; its messages remain listed
                tickets_file.write(json.dumps(ticket, ensure_ascii=False, separators=(",", ":")) + "\n")
                tickets_written += 1
            index += 1
    size = sum((out / name).stat().st_size for name in ("tickets.jsonl", "messages.jsonl"))
    return {"platform": "gorgias", "dir": str(out), "tickets": tickets_written, "messages": messages_written,
            "items": messages_written, "bytes": size, "seed": seed,
            # for `make bench`: served by the simulator with Gorgias' rate limit lifted, so the
            # figures are the import's own (a real account allows about 200 messages/s)
            "config": {"simulate": True, "simulator_data": str(out), "simulator_rate_limit": 0}}


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    print(json.dumps(generate(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 42)))
