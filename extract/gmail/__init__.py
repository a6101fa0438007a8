"""Gmail: a Google Takeout mbox (one file, a folder or a glob; plain or gzip), of any size.

One raw row per email with its headers decoded, its body text and where it sits
in the file. A plain file is split at message boundaries into byte ranges read
by worker processes (every core used, memory bounded by a few ranges in flight);
each message is read by a byte-level fast path, or by the standard library's
parser when it is not one of the common shapes. A message no parser can read is
set aside with its byte offset and the reason.

Which side sent a message is shape knowledge the extractor can answer cheaply:
``is_sent_by_support`` is true when From is one of ``support_addresses``, or,
when none are configured, when Gmail labelled the message ``Sent``.

The package: this module (the platform: tables, ``extract``), ``mbox`` (cutting a
file into messages, a worker's job), ``mime`` (one message's bytes -> one record)
and ``text`` (charsets, headers, dates, HTML -> text).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from extract.raw import PlatformOutput


from extract import options as opt
from extract.context import SourceContext
from extract.files import open_binary
from extract.gmail.mbox import Block, gzip_blocks, parse_block, plan_ranges
from extract.platform import Platform

SETTINGS = opt.Settings((
    opt.Setting("path", opt.PATHS, "a Google Takeout .mbox, gzip or not", default=opt.REQUIRED, paths=True),
    opt.Setting("support_addresses", opt.TEXT_LIST, 'mail From these is "sent by you"',
                shows='none (then the Gmail label "Sent")'),
))
FILE_SUFFIXES = (".mbox",)

CHUNK_BYTES = 8 << 20
IN_FLIGHT_PER_WORKER = 2
ROWS_PER_ROW_GROUP = 4_000  # emails carry long bodies: smaller row groups keep the writer's buffer small

RECORD_TABLES = ("messages",)


def _tables() -> dict[str, Any]:
    import pyarrow as pa

    from extract.raw import free_text, strings, with_lineage

    return {
        "messages": with_lineage(
            *strings("message_id", "content_hash", "thread_id"),
            pa.field("labels", pa.list_(pa.string())),
            pa.field("is_chat", pa.bool_()),
            free_text("subject", "title"),
            *strings("from_address", "from_name", "to_address", "to_name"),
            pa.field("is_sent_by_support", pa.bool_()),
            *strings("date_header", "date_utc", "separator_date_utc", "content_type"),
            free_text("body_text"),
            free_text("body_html_text"),
            pa.field("byte_offset", pa.int64()),
            pa.field("byte_length", pa.int64()),
            pa.field("parsed_by", pa.string()),
        )
    }


def __getattr__(name: str) -> Any:
    """``TABLES`` built on first use: worker processes import this package without pyarrow."""
    if name == "TABLES":
        tables = globals()["TABLES"] = _tables()
        return tables
    raise AttributeError(name)


def support_addresses(options: dict[str, Any]) -> frozenset[str]:
    """The configured support addresses, lower-cased (a list, or one comma-separated string; its type
    checked before the run: SETTINGS)."""
    value = options.get("support_addresses") or []
    if isinstance(value, str):
        value = value.split(",")
    return frozenset(v.strip().lower() for v in value if v.strip())


def worker_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def blocks_of(path: Path, chunk_bytes: int) -> Iterator[Block]:
    """The blocks of one file: byte ranges of a plain file, decompressed blocks of a gzip file."""
    with open(path, "rb") as probe:
        is_gzip = probe.read(2) == b"\x1f\x8b"
    if is_gzip:
        with open_binary(path) as handle:
            yield from gzip_blocks(handle, path, chunk_bytes)
        return
    size = path.stat().st_size
    with open(path, "rb") as handle:
        ranges = plan_ranges(handle, size, chunk_bytes)
    for start, end, oversize in ranges:
        yield Block(str(path), start, end, oversize=oversize)


def ignore_interrupts() -> None:
    """A worker's start: Ctrl-C goes to the whole process group, and the parent alone handles it
    (it stops the pool); a worker that took it too would print its own traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _workers_started_ignoring_interrupts(context: Any, workers: int) -> Iterator[Any]:
    """A pool whose workers never take Ctrl-C, not even while they are still starting up.

    The initializer runs only once a worker has imported everything, and a Ctrl-C before that
    would kill it with its own traceback. So SIGINT is ignored in this process while the workers
    are started (an ignored signal stays ignored in a child, and Python then installs no handler
    for it), and restored at once."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main_thread else None
    try:
        pool = context.Pool(workers, initializer=ignore_interrupts)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)
    with pool:
        yield pool


def parse_blocks(blocks: Iterable[Block], support: frozenset[str], workers: int,
                 allow_fast: bool = True) -> Iterator[list[dict[str, Any]]]:
    """Each block's results, in file order, parsed by ``workers`` processes (in-process when 1)."""
    if workers <= 1:
        for block in blocks:
            yield parse_block(block, support, allow_fast)
        return
    context = multiprocessing.get_context("spawn")
    with _workers_started_ignoring_interrupts(context, workers) as pool:
        pending: deque[Any] = deque()
        try:
            for block in blocks:
                pending.append(pool.apply_async(parse_block, (block, support, allow_fast)))
                if len(pending) >= workers * IN_FLIGHT_PER_WORKER:
                    yield pending.popleft().get()
        except (OSError, EOFError, zlib.error):
            while pending:  # a damaged gzip stops the reading, not the blocks already handed out
                yield pending.popleft().get()
            raise
        while pending:
            yield pending.popleft().get()


def extract(ctx: SourceContext, out: PlatformOutput, *, workers: int | None = None,
            chunk_bytes: int = CHUNK_BYTES, allow_fast: bool = True) -> None:
    support = support_addresses(ctx.options)
    messages = out.table("messages")
    messages.batch_rows = ROWS_PER_ROW_GROUP
    workers = worker_count() if workers is None else workers
    for path in ctx.files:
        source_file = ctx.name_of(path)
        out.files_read += 1
        # A small file is not worth starting processes for.
        file_workers = workers if path.stat().st_size > chunk_bytes else 1
        ordinal = offset = 0
        try:
            for results in parse_blocks(blocks_of(path, chunk_bytes), support, file_workers, allow_fast):
                for result in results:
                    ordinal += 1
                    offset = _write(result, ordinal, source_file, out, messages)
                ctx.report(f"{source_file}: {ordinal:,} messages", file=path, done=offset)  # workers read the file
        except (OSError, EOFError, zlib.error) as error:
            # A truncated or corrupt gzip: what was read before the damage is kept.
            out.reject(reason="unreadable_file", source_file=source_file, position=f"after byte {offset}",
                       row=None, detail=f"{type(error).__name__}: {error}")
        ctx.report(f"{source_file}: {ordinal:,} messages", force=True)


def _printable(raw: bytes) -> str:
    """A raw excerpt safe to show in a CSV: decoded, control characters replaced."""
    text = raw.decode("utf-8", errors="replace")
    return "".join(c if c.isprintable() or c in "\n\t" else "\ufffd" for c in text)


def _write(result: dict[str, Any], ordinal: int, source_file: str, out: PlatformOutput, messages: Any) -> int:
    """Write one message's row or reject; returns its byte offset."""
    record = result.get("record")
    if record is None:
        reject = result["reject"]
        out.reject(reason="unparseable_message", source_file=source_file, position=f"byte {reject['offset']}",
                   row=ordinal, detail=reject["detail"], raw=_printable(reject["raw"]))
        return reject["offset"]
    record["_source_file"] = source_file
    record["_source_row"] = ordinal
    record["_source_position"] = f"byte {record['byte_offset']}"
    messages.write(record)
    return record["byte_offset"]


PLATFORM = Platform("gmail", "Gmail", "files", SETTINGS, _tables, RECORD_TABLES, extract, FILE_SUFFIXES)
