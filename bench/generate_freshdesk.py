"""A Freshdesk XML data export of any size, in its real shape, for benchmarks.

    generate("corpus/freshdesk_export.zip", n_items=1_000_000)   # a zip, as Freshdesk sends it
    generate("corpus/freshdesk/", n_items=10_000)                # or a folder of its XML files

``n_items`` counts conversation items: each ticket's description plus its notes.
Same seed, same bytes. A few percent of the records carry the export's rough
edges: deleted and spam tickets, deleted notes, nil subjects, requesters missing
from the users files or without email, notes under <helpdesk-notes>, mixed UTC
offsets, non-ASCII text and markup characters that must be escaped.
"""

from __future__ import annotations

import random
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
FIXED_TIME = (2024, 2, 1, 9, 30, 0)
OFFSETS = [timezone(timedelta(hours=h, minutes=m)) for h, m in ((5, 30), (0, 0), (-8, 0), (1, 0), (9, 0), (-3, 0))]
WORDS = (
    "order refund shipping parcel arrived damaged invoice password reset account billing please thanks "
    "hello hi customer support question broken replacement tracking number address delivery late week "
    "café naïve jalapeño São Paulo Zürich 東京 配送 Привет 🙏 & < > \" ' #5521 https://example.com/help"
).split()
NOTE_COUNTS = (0, 1, 1, 2, 2, 3, 4, 6)
USERS_PER_FILE = 5_000


def _paragraphs(rng: random.Random, count: int) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 120))) for _ in range(count)]


class _Writer:
    """Writes numbered members (Tickets0.xml, ...) into a zip or a folder, one open at a time."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.is_zip = target.suffix.lower() == ".zip"
        self.archive: zipfile.ZipFile | None = None
        if self.is_zip:
            target.parent.mkdir(parents=True, exist_ok=True)
            self.archive = zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
        else:
            target.mkdir(parents=True, exist_ok=True)
        self.bytes_written = 0
        self.files: list[str] = []

    def open(self, name: str) -> IO[bytes]:
        self.files.append(name)
        if self.archive is not None:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            return self.archive.open(info, "w", force_zip64=True)
        return open(self.target / name, "wb")

    def write_member(self, name: str, chunks: Iterator[str]) -> None:
        with self.open(name) as handle:
            for chunk in chunks:
                data = chunk.encode("utf-8")
                self.bytes_written += len(data)
                handle.write(data)

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()


def _field(name: str, value: Any, kind: str | None = None) -> str:
    typed = f' type="{kind}"' if kind else ""
    if value is None:
        return f'<{name}{typed} nil="true"></{name}>'
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}{typed}>{escape(str(value))}</{name}>"


def _stamp(moment: datetime, rng: random.Random) -> str:
    return moment.astimezone(rng.choice(OFFSETS)).isoformat()


class _Export:
    def __init__(self, n_items: int, seed: int, tickets_per_file: int) -> None:
        self.rng = random.Random(seed)
        self.n_items = n_items
        self.tickets_per_file = tickets_per_file
        self.pool = _paragraphs(self.rng, 2_000)
        self.n_users = max(10, n_items // 6)
        self.stats = {"tickets": 0, "notes": 0, "users": 0, "deleted_tickets": 0, "spam_tickets": 0,
                      "deleted_notes": 0, "requesters_missing": 0}

    def _text(self) -> str:
        return "\n\n".join(self.rng.choice(self.pool) for _ in range(self.rng.randint(1, 4)))

    def _note(self, note_id: int, moment: datetime, requester: int) -> str:
        rng = self.rng
        body = self._text()
        deleted = rng.random() < 0.01
        self.stats["deleted_notes" if deleted else "notes"] += 1
        incoming = rng.random() < 0.4
        return (
            "<helpdesk-note>"
            + _field("body", body)
            + _field("body-html", "<div>" + body.replace("\n", "<br>") + "</div>")
            + _field("created-at", _stamp(moment, rng), "datetime")
            + _field("deleted", deleted, "boolean")
            + _field("id", note_id, "integer")
            + _field("incoming", incoming, "boolean")
            + _field("private", rng.random() < 0.2, "boolean")
            + _field("source", 2, "integer")
            + _field("user-id", requester if incoming else 1, "integer")
            + '<attachments type="array"/>'
            + "</helpdesk-note>\n"
        )

    def _ticket(self, display_id: int, n_notes: int) -> str:
        rng = self.rng
        created = datetime(2016, 1, 1, tzinfo=UTC) + timedelta(seconds=display_id * 97)
        missing = rng.random() < 0.01
        requester = self.n_users + 1000 + display_id if missing else rng.randint(2, self.n_users)
        self.stats["requesters_missing"] += missing
        deleted, spam = rng.random() < 0.01, rng.random() < 0.01
        if deleted:
            self.stats["deleted_tickets"] += 1
        elif spam:
            self.stats["spam_tickets"] += 1
        else:
            self.stats["tickets"] += 1
        wrapper = "helpdesk-notes" if rng.random() < 0.1 else "notes"
        notes = "".join(self._note(display_id * 10 + i, created + timedelta(hours=i + 1), requester)
                        for i in range(n_notes))
        description = self._text()
        subject = None if rng.random() < 0.02 else " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9)))
        return (
            "<helpdesk-ticket>"
            + _field("account-id", 381223, "integer")
            + _field("cc-email", None)
            + _field("created-at", _stamp(created, rng), "datetime")
            + _field("deleted", deleted, "boolean")
            + _field("description", description)
            + _field("description-html", "<div>" + description.replace("\n", "<br>") + "</div>")
            + _field("display-id", display_id, "integer")
            + _field("group-id", None, "integer")
            + _field("id", 5_000_000 + display_id, "integer")
            + f'<{wrapper} type="array">{notes}</{wrapper}>'
            + _field("priority", rng.randint(1, 4), "integer")
            + _field("requester-id", requester, "integer")
            + _field("spam", spam, "boolean")
            + _field("status", 5, "integer")
            + _field("subject", subject)
            + _field("updated-at", _stamp(created + timedelta(days=2), rng), "datetime")
            + _field("status-name", "Closed")
            + _field("source-name", "Email")
            + _field("requester-name", f"Customer {requester} Ñandú")
            + '<tags type="array"><tag><name>bench</name></tag></tags>'
            + "</helpdesk-ticket>\n"
        )

    def ticket_files(self) -> Iterator[tuple[str, Iterator[str]]]:
        made = 0
        display_id = 0
        file_number = 0
        while made < self.n_items:
            def chunks() -> Iterator[str]:
                nonlocal made, display_id
                yield XML_DECLARATION + '<helpdesk-tickets type="array">\n'
                for _ in range(self.tickets_per_file):
                    if made >= self.n_items:
                        break
                    display_id += 1
                    n_notes = min(self.rng.choice(NOTE_COUNTS), max(0, self.n_items - made - 1))
                    made += 1 + n_notes
                    yield self._ticket(display_id, n_notes)
                yield "</helpdesk-tickets>\n"
            prefix = "ArchivedTickets" if file_number % 5 == 4 else "Tickets"
            yield f"{prefix}{file_number}.xml", chunks()
            file_number += 1

    def user_files(self) -> Iterator[tuple[str, Iterator[str]]]:
        for number, start in enumerate(range(1, self.n_users + 1, USERS_PER_FILE)):
            def chunks(start: int = start) -> Iterator[str]:
                yield XML_DECLARATION + '<users type="array">\n'
                for user_id in range(start, min(start + USERS_PER_FILE, self.n_users + 1)):
                    self.stats["users"] += 1
                    email = None if self.rng.random() < 0.01 else f"customer{user_id}@example.com"
                    yield ("<user>" + _field("active", True, "boolean") + _field("deleted", False, "boolean")
                           + _field("email", email) + _field("helpdesk-agent", user_id == 1, "boolean")
                           + _field("id", user_id, "integer") + _field("mobile", f"+1 555 {user_id:07d}")
                           + _field("name", f"Customer {user_id}")
                           + _field("phone", None if user_id % 3 else f"+1 212 {user_id:07d}")
                           + "</user>\n")
                yield "</users>\n"
            yield f"Users{number}.xml", chunks()


def generate(out_path_or_dir: str | Path, n_items: int, seed: int = 42, *, tickets_per_file: int = 300) -> dict:
    """Write an export of about ``n_items`` conversation items; returns what was written.

    A path ending in ``.zip`` gets a zip (deflate level 1); anything else a folder.
    ``tickets_per_file`` is 300 in real exports; benchmarks raise it to get large files.
    """
    target = Path(out_path_or_dir)
    export = _Export(n_items, seed, tickets_per_file)
    writer = _Writer(target)
    try:
        for name, chunks in export.user_files():
            writer.write_member(name, chunks)
        for name, chunks in export.ticket_files():
            writer.write_member(name, chunks)
        writer.write_member("Companies.xml", iter([XML_DECLARATION, '<companies type="array"></companies>\n']))
    finally:
        writer.close()
    paths = [target] if writer.is_zip else [target / name for name in writer.files]
    return {
        "platform": "freshdesk", "path": str(target), "paths": [str(p) for p in paths],
        "config": {"path": str(target)}, "records": n_items, "items": n_items,
        "bytes": sum(p.stat().st_size for p in paths), "xml_bytes": writer.bytes_written,
        "files": writer.files, **export.stats,
    }


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="a .zip path or a folder")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--tickets-per-file", type=int, default=300)
    args = parser.parse_args()
    result = generate(args.out, args.items, args.seed, tickets_per_file=args.tickets_per_file)
    result["files"] = len(result["files"])
    print(json.dumps(result, indent=2))
