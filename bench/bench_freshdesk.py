"""Freshdesk extraction benchmark: speed and peak memory on a generated export.

    python bench/bench_freshdesk.py                 # a 1 GB export (XML bytes), zipped
    python bench/bench_freshdesk.py --size-mb 100   # smaller

Generates (or reuses) a seeded export under bench/corpus/, then, each in its own
child process so peak memory (its VmHWM) is that step's alone:
  1. idle     -- Python with the extractor's imports loaded: the floor;
  2. extract  -- extract/freshdesk.py on the whole zip (iterparse, streaming);
  3. baseline -- lxml.etree.parse of the largest ticket file of the export (the
                 whole-document approach streaming replaces), then the same file
                 through the extractor's streaming reader.
`baseline(corpus_info)` is also the hook `make bench` (bench/__main__.py) calls.
Prints a table and writes bench/results/freshdesk.json. Not a test: nothing is asserted
except the memory budget, reported as pass/fail.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from bench.generate_freshdesk import generate  # noqa: E402
from gladly_import.metrics import own_peak_rss_kb  # noqa: E402

MEMORY_BUDGET_MB = 300
CALIBRATION_ITEMS = 3_000


def peak_rss_mb() -> float:
    return own_peak_rss_kb() / 1024


# --- child processes ---------------------------------------------------------


def child_idle() -> dict[str, Any]:
    import extract.freshdesk  # noqa: F401
    from extract.raw import PlatformOutput  # noqa: F401

    return {"peak_rss_mb": peak_rss_mb()}


def child_extract(export: Path, work_dir: Path) -> dict[str, Any]:
    from extract import freshdesk
    from extract.context import Progress, SourceContext

    out = freshdesk.PLATFORM.output(work_dir / "raw")
    ctx = SourceContext(platform=freshdesk.PLATFORM.name, options={}, base_dir=export.parent, files=[export],
                        state_dir=work_dir / "state", progress=Progress(freshdesk.PLATFORM.name, interval=15))
    started = time.monotonic()
    freshdesk.extract(ctx, out)
    out.close()
    seconds = time.monotonic() - started
    return {"seconds": seconds, "records_extracted": out.records_extracted,
            "records_rejected": out.records_rejected, "reject_reasons": dict(out.reject_reasons),
            "peak_rss_mb": peak_rss_mb()}


def _open_member(export: Path, member: str) -> Any:
    if export.is_dir():
        return open(export / member, "rb")
    return zipfile.ZipFile(export).open(member)


def child_parse(export: Path, member: str) -> dict[str, Any]:
    """The baseline: the whole file parsed into one tree, as lxml.etree.parse does."""
    from lxml import etree

    started = time.monotonic()
    with _open_member(export, member) as stream:
        parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=True)
        tree = etree.parse(stream, parser)
        tickets = len(tree.getroot())
    return {"seconds": time.monotonic() - started, "tickets": tickets, "peak_rss_mb": peak_rss_mb()}


def child_stream(export: Path, member: str) -> dict[str, Any]:
    """The same file through the extractor's streaming reader, for comparison with the baseline."""
    from extract.freshdesk import RECORD_TAGS
    from extract.readers.bounded_xml import iter_records

    started = time.monotonic()
    with _open_member(export, member) as stream:
        tickets = sum(1 for _ in iter_records(stream, RECORD_TAGS))
    return {"seconds": time.monotonic() - started, "tickets": tickets, "peak_rss_mb": peak_rss_mb()}


def run_child(*args: str) -> dict[str, Any]:
    completed = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True,
                               check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed:\n{completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# --- the benchmark -----------------------------------------------------------


def items_for(size_mb: float, seed: int) -> int:
    """How many items make about size_mb of XML: measured on a small export of the same shape."""
    with tempfile.TemporaryDirectory() as tmp:
        sample = generate(Path(tmp) / "calibration", CALIBRATION_ITEMS, seed)
    return max(100, int(size_mb * 1e6 / (sample["xml_bytes"] / CALIBRATION_ITEMS)))


def ensure_corpus(corpus_dir: Path, size_mb: float, seed: int, tickets_per_file: int) -> dict[str, Any]:
    export = corpus_dir / f"freshdesk_{int(size_mb)}mb_seed{seed}_tpf{tickets_per_file}.zip"
    meta_path = export.with_suffix(".json")
    if export.exists() and meta_path.exists():
        return json.loads(meta_path.read_text(encoding="utf-8"))
    n_items = items_for(size_mb, seed)
    print(f"generating {export.name}: {n_items:,} items ...", file=sys.stderr, flush=True)
    started = time.monotonic()
    meta = generate(export, n_items, seed, tickets_per_file=tickets_per_file)
    meta["generate_seconds"] = time.monotonic() - started
    meta["zip_bytes"] = export.stat().st_size
    meta_path.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return meta


def largest_ticket_member(export: Path) -> tuple[str, int]:
    if export.is_dir():
        files = [p for p in export.iterdir() if "tickets" in p.name.lower()]
        largest = max(files, key=lambda p: p.stat().st_size)
        return largest.name, largest.stat().st_size
    with zipfile.ZipFile(export) as archive:
        members = [i for i in archive.infolist() if "tickets" in i.filename.lower()]
        biggest = max(members, key=lambda i: i.file_size)
        return biggest.filename, biggest.file_size


def baseline(corpus_info: dict[str, Any]) -> dict[str, Any]:
    """`make bench`'s hook: the largest ticket file of the corpus, parsed whole vs streamed."""
    export = Path(corpus_info.get("path") or corpus_info["dir"])
    member, size = largest_ticket_member(export)
    whole = run_child("parse", str(export), member)
    streamed = run_child("stream", str(export), member)
    return {
        "file": member, "file_mb": round(size / 1e6, 1),
        "etree_parse_seconds": round(whole["seconds"], 2), "etree_parse_peak_rss_mb": round(whole["peak_rss_mb"], 1),
        "iterparse_seconds": round(streamed["seconds"], 2),
        "iterparse_peak_rss_mb": round(streamed["peak_rss_mb"], 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=1000, help="XML bytes of the export, in MB (default 1000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--tickets-per-file", type=int, default=25_000,
                        help="real exports hold 300; larger files make the streaming matter (default 25000)")
    parser.add_argument("--corpus", type=Path, default=PROJECT_DIR / "bench" / "corpus")
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "bench" / "results" / "freshdesk.json")
    parser.add_argument("--skip-baseline", action="store_true", help="do not run the whole-file parse")
    args = parser.parse_args(argv)

    meta = ensure_corpus(args.corpus, args.size_mb, args.seed, args.tickets_per_file)
    export = Path(meta["path"])
    idle = run_child("idle")
    with tempfile.TemporaryDirectory() as work:
        extracted = run_child("extract", str(export), work)
    mb = meta["xml_bytes"] / 1e6
    result: dict[str, Any] = {
        "platform": "freshdesk",
        "export": export.name,
        "items": meta["items"],
        "xml_mb": round(mb, 1),
        "zip_mb": round(meta["zip_bytes"] / 1e6, 1),
        "files": len(meta["files"]),
        "seconds": round(extracted["seconds"], 1),
        "items_per_s": round(meta["items"] / extracted["seconds"]),
        "mb_per_s": round(mb / extracted["seconds"], 1),
        "peak_rss_mb": round(extracted["peak_rss_mb"], 1),
        "idle_rss_mb": round(idle["peak_rss_mb"], 1),
        "memory_budget_mb": MEMORY_BUDGET_MB,
        "within_budget": extracted["peak_rss_mb"] < MEMORY_BUDGET_MB,
        "records_extracted": extracted["records_extracted"],
        "records_rejected": extracted["records_rejected"],
        "reject_reasons": extracted["reject_reasons"],
    }
    if not args.skip_baseline:
        result["baseline"] = baseline(meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    print(f"freshdesk: {result['items']:,} items, {result['xml_mb']:,} MB XML ({result['zip_mb']:,} MB zipped, "
          f"{result['files']} files)")
    print(f"  extract : {result['seconds']:,} s, {result['items_per_s']:,} items/s, {result['mb_per_s']} MB/s, "
          f"peak RSS {result['peak_rss_mb']} MB (idle {result['idle_rss_mb']} MB; budget {MEMORY_BUDGET_MB} MB: "
          f"{'ok' if result['within_budget'] else 'OVER'})")
    if "baseline" in result:
        b = result["baseline"]
        print(f"  baseline: etree.parse of {b['file']} ({b['file_mb']} MB): {b['etree_parse_seconds']} s, "
              f"peak RSS {b['etree_parse_peak_rss_mb']} MB; the same file streamed (iterparse): "
              f"{b['iterparse_seconds']} s, peak RSS {b['iterparse_peak_rss_mb']} MB")
    print(f"wrote {args.out}")
    return 0 if result["within_budget"] else 1


def child_main(args: list[str]) -> None:
    mode = args[0]
    if mode == "idle":
        result = child_idle()
    elif mode == "extract":
        result = child_extract(Path(args[1]), Path(args[2]))
    elif mode == "stream":
        result = child_stream(Path(args[1]), args[2])
    else:
        result = child_parse(Path(args[1]), args[2])
    print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
    else:
        sys.exit(main())
