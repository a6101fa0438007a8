"""Gmail: a Google Takeout export as downloaded (its .zip or .tgz parts: the mbox files under
``Takeout/Mail/`` are read, other products' files skipped and counted), or an mbox (one file, a
folder or a glob; plain or gzip), of any size.

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

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from extract.raw import PlatformOutput


from extract import options as opt
from extract.context import SourceContext
from extract.gmail.mbox import Block, gzip_blocks, parse_block, plan_ranges
from extract.platform import Platform
from extract.processes import available_cores, ordered_results
from extract.readers import archives
from extract.readers.streams import open_binary

SETTINGS = opt.Settings((
    opt.Setting("path", opt.PATHS, "the Google Takeout archive(s) as downloaded (.zip, .tgz), or an .mbox, gzip or not",
                default=opt.REQUIRED, paths=True),
    opt.Setting("support_addresses", opt.TEXT_LIST, 'mail From these is "sent by you"',
                shows='none (then the Gmail label "Sent")'),
    opt.Setting("exclude_labels", opt.TEXT_LIST,
                "mail with one of these labels is set aside (list Spam and Trash with yours to add, leave them out to keep them)",
                shows="Spam and Trash (their names in English, German, French, Spanish, Portuguese, Italian, Dutch)"),
    opt.Setting("keep_automated", opt.FLAG, "keep bounces and automatic replies (set aside by default)", default=False),
))
# Gmail's system labels as Takeout writes them, in the account's language (checked against Gmail's
# IMAP folder names per language: [Gmail]/Papierkorb, [Gmail]/Corbeille, [Google Mail]/Bin, ...).
SPAM_LABELS = frozenset({"spam"})  # "Spam" in all seven languages
TRASH_LABELS = frozenset({
    "trash", "bin",  # English (US, UK)
    "papierkorb",  # German
    "corbeille",  # French
    "papelera",  # Spanish
    "lixeira", "lixo",  # Portuguese (Brazil, Portugal)
    "cestino",  # Italian
    "prullenbak",  # Dutch
})
FILE_SUFFIXES = (".mbox",)
MAIL_MEMBER_SUFFIXES = (".mbox", ".mbox.gz")

CHUNK_BYTES = 8 << 20
# An archive member's blocks pass through this process to the workers: smaller ones keep the peak
# of a Takeout zip at that of the same mbox unpacked (a plain file's ranges are read by the workers).
MEMBER_CHUNK_BYTES = 2 << 20
IN_FLIGHT_PER_WORKER = 2
EXCERPT_CHARS = 2000  # of a set-aside message's readable text, in its reject
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
    return opt.lowered_texts(options.get("support_addresses"))


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


def parse_blocks(blocks: Iterable[Block], support: frozenset[str], workers: int,
                 allow_fast: bool = True) -> Iterator[list[dict[str, Any]]]:
    """Each block's results, in file order, parsed by ``workers`` processes (in-process when 1). A damaged
    gzip or archive stops the reading (its error raised), not the blocks already handed out."""
    parse = functools.partial(parse_block, support_addresses=support, allow_fast=allow_fast)
    if workers <= 1:
        yield from map(parse, blocks)
        return
    yield from ordered_results(parse, blocks, workers, IN_FLIGHT_PER_WORKER)


def extract(ctx: SourceContext, out: PlatformOutput, *, workers: int | None = None,
            chunk_bytes: int = CHUNK_BYTES, allow_fast: bool = True) -> None:
    support = support_addresses(ctx.options)
    messages = out.table("messages")
    messages.batch_rows = ROWS_PER_ROW_GROUP
    workers = available_cores() if workers is None else workers
    skipped: list[str] = []
    for path in ctx.files:
        for item in archives.inputs(path, ctx.name_of(path)):
            if isinstance(item, archives.Refused):
                item.reject_into(out)
            elif item.path is not None:
                # A small file is not worth starting processes for.
                file_workers = workers if path.stat().st_size > chunk_bytes else 1
                _read_mbox(ctx, item.location, blocks_of(path, chunk_bytes), file_workers, support,
                           allow_fast, out, messages, progress_file=path)
            elif not is_mail(item.name):
                skipped.append(item.location)  # another Google product's file in a Takeout archive
            elif item.is_archive():
                out.reject(reason="nested_archive", source_file=item.location, position="archive member",
                           detail="an archive inside the export: not read; extract it and list its files in path:")
            else:
                _read_member(ctx, item, workers, min(chunk_bytes, MEMBER_CHUNK_BYTES), support, allow_fast,
                             out, messages)
    if skipped:
        ctx.report(f"skipped {len(skipped):,} file(s) of other Google products in the archive "
                   f"(e.g. {skipped[0]}): only mail (.mbox) is read", force=True)


def is_mail(name: str) -> bool:
    """An archive member holding mail: an mbox (Takeout writes them under ``Takeout/Mail/``)."""
    return name.lower().endswith(MAIL_MEMBER_SUFFIXES)


def _read_member(ctx: SourceContext, member: Any, workers: int, chunk_bytes: int, support: frozenset[str],
                 allow_fast: bool, out: PlatformOutput, messages: Any) -> None:
    """An mbox inside an archive: streamed (never extracted), in blocks of whole messages."""
    try:
        with member.open() as stream:
            _read_mbox(ctx, member.location, gzip_blocks(stream, member.location, chunk_bytes),
                       workers, support, allow_fast, out, messages)
    except archives.READ_ERRORS as error:  # the member could not even be opened
        out.reject(reason="unreadable_file", source_file=member.location, position="archive member",
                   row=None, detail=f"{type(error).__name__}: {error}")


def _read_mbox(ctx: SourceContext, source_file: str, blocks: Iterator[Block], workers: int,
               support: frozenset[str], allow_fast: bool, out: PlatformOutput, messages: Any,
               progress_file: Path | None = None) -> None:
    """One mbox's messages, block by block, parsed by ``workers`` processes."""
    set_aside = SetAside.of(ctx.options)
    out.files_read += 1
    ordinal = offset = 0
    try:
        for results in parse_blocks(blocks, support, workers, allow_fast):
            rows: list[dict[str, Any]] = []
            for result in results:
                ordinal += 1
                offset = _judge(result, ordinal, source_file, out, set_aside, rows)
            messages.write_rows(rows)
            if progress_file is not None:  # workers read the file: the position is theirs
                ctx.report(f"{source_file}: {ordinal:,} messages", file=progress_file, done=offset)
            else:
                ctx.report(f"{source_file}: {ordinal:,} messages")
    except archives.READ_ERRORS as error:
        # A truncated or corrupt gzip or archive: what was read before the damage is kept.
        out.reject(reason="unreadable_file", source_file=source_file, position=f"after byte {offset}",
                   row=None, detail=f"{type(error).__name__}: {error}")
    ctx.report(f"{source_file}: {ordinal:,} messages", force=True)


def _printable(raw: bytes) -> str:
    """A raw excerpt safe to show in a CSV: decoded, control characters replaced."""
    text = raw.decode("utf-8", errors="replace")
    return "".join(c if c.isprintable() or c in "\n\t" else "\ufffd" for c in text)


@dataclass(frozen=True)
class SetAside:
    """What is not customer history: labels (lower-cased) whose mail is rejected, and whether
    bounces and automatic replies are kept."""

    labels: frozenset[str]
    keep_automated: bool

    @classmethod
    def of(cls, options: dict[str, Any]) -> SetAside:
        value = options.get("exclude_labels")
        labels = SPAM_LABELS | TRASH_LABELS if value is None else opt.lowered_texts(value)
        return cls(labels, bool(options.get("keep_automated")))

    def reason(self, record: dict[str, Any]) -> tuple[str, str] | None:
        """(reason, detail) when the message is set aside, else None."""
        for label in record.get("labels") or ():
            lowered = label.lower()
            if lowered in self.labels:
                reason = "spam" if lowered in SPAM_LABELS else "trash" if lowered in TRASH_LABELS else "excluded_label"
                return reason, f"labelled {label!r} in Gmail (sources.gmail.exclude_labels)"
        automated = record.get("automated")
        if automated and not self.keep_automated:
            what = "a delivery failure report (bounce)" if automated == "bounce" else "an automatic reply"
            return automated, f"{what}, not written by a person (sources.gmail.keep_automated: true keeps it)"
        return None


def _judge(result: dict[str, Any], ordinal: int, source_file: str, out: PlatformOutput, set_aside: SetAside,
           rows: list[dict[str, Any]]) -> int:
    """One message's row added to ``rows`` (written a block at a time), or its reject written; returns
    its byte offset."""
    record = result.get("record")
    if record is None:
        reject = result["reject"]
        out.reject(reason="unparseable_message", source_file=source_file, position=f"byte {reject['offset']}",
                   row=ordinal, detail=reject["detail"], raw=_printable(reject["raw"]))
        return reject["offset"]
    position = f"byte {record['byte_offset']}"
    aside = set_aside.reason(record)
    record.pop("automated", None)
    if aside is not None:
        reason, detail = aside
        text = record["body_text"] or record["body_html_text"] or ""
        out.reject(reason=reason, source_file=source_file, position=position, row=ordinal,
                   customer_email_raw=record["from_address"], detail=detail,
                   raw=f"{record['subject'] or ''}\n{text[:EXCERPT_CHARS]}")
        return record["byte_offset"]
    record["_source_file"] = source_file
    record["_source_row"] = ordinal
    record["_source_position"] = position
    rows.append(record)
    return record["byte_offset"]


PLATFORM = Platform("gmail", "Gmail", "files", SETTINGS, _tables, RECORD_TABLES, extract, FILE_SUFFIXES,
                    reads_archives=True)
