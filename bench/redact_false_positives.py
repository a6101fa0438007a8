"""False positives of redaction: every value each built-in kind would remove from text that holds
no secret, with every kind on (card numbers, IBANs, US social security numbers).

    python -m bench.redact_false_positives [--corpus ../shared/corpus/real-world-emails] [--raw]

Looks at:
- the bundled samples, each platform extracted as an import does, without redaction: every
  free-text column (what becomes a title or a body);
- real-world mail: every .eml and .mbox message of the corpus folder and of the tests' fixtures,
  parsed by the Gmail extractor (subject, text body, HTML body as text); with ``--raw``, also the
  whole message as bytes (headers, base64 and all: a harsher test than what is landed);
- look-alikes: 10,000 random numbers of each shape that support mail is full of (order, tracking,
  phone and product numbers, barcodes), each in a sentence: the share each kind would remove.

Prints each hit as kind, where, and the text around it with the hit's digits masked (the value
itself is never printed), then per source the texts looked at and the hits. Whether a hit is a
real secret is for the reader to judge (docs/redaction.md gives the judgement of the last run).
"""

from __future__ import annotations

import argparse
import random
import re
import string
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq

from extract.context import SourceContext
from extract.gmail.mbox import iter_messages
from extract.gmail.mime import parse_message
from extract.platforms import PLATFORMS
from extract.raw import free_text_part
from extract.redact import redactor_from
from gladly_import.config import load_config

PROJECT_DIR = Path(__file__).resolve().parent.parent
EVERY_KIND = {"card_numbers": True, "iban": True, "us_ssn": True}


def sample_texts() -> Iterator[tuple[str, str]]:
    """(where, text) of every free-text value of the bundled samples, as landed without redaction."""
    config = load_config(PROJECT_DIR / "samples" / "config.yml")
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder) / "raw"
        for name, source in config.sources.items():
            platform = PLATFORMS[name]
            out = platform.output(raw)
            ctx = SourceContext(platform=name, options=source.options, base_dir=config.base_dir, files=source.files,
                                state_dir=Path(folder) / "state" / name, samples_dir=PROJECT_DIR / "samples")
            platform.extract(ctx, out)
            out.close()
            for table, schema in platform.schemas.items():
                for field in (f for f in schema if free_text_part(f)):
                    for row, text in enumerate(pq.read_table(raw / name / f"{table}.parquet",
                                                             columns=[field.name]).column(0).to_pylist(), start=1):
                        if text:
                            yield f"samples/{name} {table}.{field.name} row {row}", text


def mail_texts(folders: list[Path], whole: bool) -> Iterator[tuple[str, str]]:
    """(where, text): subject and bodies of every message under the folders (and the raw message)."""
    for path in sorted(p for folder in folders for p in folder.rglob("*") if p.suffix in (".eml", ".mbox")):
        data = path.read_bytes()
        messages = ([(0, data)] if path.suffix == ".eml"
                    else [(offset, raw) for offset, _, raw in iter_messages(data, 0)])
        for offset, raw in messages:
            where = f"{path.relative_to(path.parents[2])}" + (f" byte {offset}" if path.suffix == ".mbox" else "")
            try:
                record, _ = parse_message(raw, frozenset())
            except Exception as error:  # noqa: BLE001 - a message no parser reads is looked at raw only
                record = {}
                print(f"  (not parsed: {where}: {type(error).__name__})")
            for key in ("subject", "body_text", "body_html_text"):
                if record.get(key):
                    yield f"{where} {key}", record[key]
            if whole:
                yield f"{where} raw", raw.decode("utf-8", errors="replace")


def _ean13(rng: random.Random, prefix: str) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(12 - len(prefix)))
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body)) % 10) % 10
    return body + str(check)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


LOOK_ALIKES = {
    "order number, 16 digits": lambda r: _digits(r, 16),
    "order number, 13 digits": lambda r: _digits(r, 13),
    "Amazon order 1nn-7-7": lambda r: f"1{_digits(r, 2)}-{_digits(r, 7)}-{_digits(r, 7)}",
    "EAN-13 barcode, German (400-440)": lambda r: _ean13(r, str(r.randint(400, 440))),
    "EAN-13 barcode, any": lambda r: _ean13(r, ""),
    "UPS 1Z tracking": lambda r: "1Z" + "".join(r.choice(string.ascii_uppercase + string.digits) for _ in range(6))
                                 + _digits(r, 10),
    "USPS tracking, 22 digits in groups": lambda r: " ".join(["9400", *(_digits(r, 4) for _ in range(4)), _digits(r, 2)]),
    "FedEx tracking, 12 digits": lambda r: _digits(r, 12),
    "FedEx tracking, 15 digits": lambda r: _digits(r, 15),
    "US phone (415) 555-0100 twice": lambda r: f"+1 {_digits(r, 3)} {_digits(r, 3)} {_digits(r, 4)}, "
                                               f"{_digits(r, 3)}-{_digits(r, 3)}-{_digits(r, 4)}",
    "two dates and a time": lambda r: f"2021-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} "
                                      f"2022-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} 10:{r.randint(0, 59):02d}",
    "product code AA00 + 16 letters and digits": lambda r: "".join(r.choice(string.ascii_uppercase) for _ in range(2))
    + _digits(r, 2) + " " + " ".join("".join(r.choice(string.ascii_uppercase + string.digits) for _ in range(4))
                                     for _ in range(4)),
    "part number NNN-NN-NNNN": lambda r: f"{_digits(r, 3)}-{_digits(r, 2)}-{_digits(r, 4)}",
}


def look_alikes(count: int = 10_000, seed: int = 7) -> None:
    redactor = redactor_from(EVERY_KIND)
    print(f"look-alikes ({count:,} random ones of each shape, in a sentence; the share removed, by kind):")
    for shape, make in LOOK_ALIKES.items():
        rng = random.Random(f"{seed}-{shape}")
        removed: dict[str, int] = {}
        for _ in range(count):
            for _, _, kind in redactor.spans(f"Hello, about {make(rng)} thanks"):
                removed[kind] = removed.get(kind, 0) + 1
        shares = ", ".join(f"{kind} {n / count:.2%}" for kind, n in sorted(removed.items())) or "none"
        print(f"  {shape:<44} {shares}")


def masked(text: str, start: int, end: int) -> str:
    """The hit's surroundings, its letters and digits masked: enough to judge it, never the value."""
    before = text[max(0, start - 30):start].replace("\n", " ")
    after = text[end:end + 30].replace("\n", " ")
    return f"...{before}[{re.sub(r'[0-9A-Za-z]', '#', text[start:end])}]{after}..."


def scan(label: str, texts: Iterator[tuple[str, str]]) -> tuple[int, int, int]:
    redactor = redactor_from(EVERY_KIND)
    count = chars = hits = 0
    for where, text in texts:
        count += 1
        chars += len(text)
        for start, end, kind in redactor.spans(text):
            hits += 1
            print(f"  {kind:<12} {where}: {masked(text, start, end)}")
    print(f"{label}: {count:,} texts, {chars / 2**20:,.2f} MB, {hits} hit(s)")
    return count, chars, hits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.redact_false_positives", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=PROJECT_DIR.parent.parent / "shared" / "corpus" / "real-world-emails")
    parser.add_argument("--raw", action="store_true", help="also scan each message whole, headers and encodings included")
    args = parser.parse_args(argv)
    scan("bundled samples", sample_texts())
    fixtures = PROJECT_DIR / "tests" / "python" / "fixtures"
    folders = [f for f in (args.corpus, fixtures) if f.is_dir()]
    scan("real-world mail and the tests' mail fixtures (" + ", ".join(str(f) for f in folders) + ")",
         mail_texts(folders, whole=False))
    if args.raw:
        scan("the same messages whole (headers, encodings)", (t for t in mail_texts(folders, whole=True)
                                                                if t[0].endswith(" raw")))
    look_alikes()
    return 0


if __name__ == "__main__":
    sys.exit(main())
