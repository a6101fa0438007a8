"""Archives read where they lie: zip (zip64 included) and tar (plain, or gzipped: ``.tgz``,
``.tar.gz``), recognised by their bytes, never by their names; their members streamed, never
extracted to disk.

``inputs(path, name)`` is what a file platform reads: the file itself (plain or gzip) as one
``Member``, or each member of the archive it is, in archive order, or a ``Refused`` (reason,
location, detail) for what is not read:

- a member whose name is absolute or climbs out with ``..`` (zip slip), or a tar member that is a
  link or a device (``unsafe_zip_member``);
- an archive with more than ``MAX_MEMBERS`` members, or one that inflates beyond
  ``MAX_RATIO`` times its compressed bytes (a bomb): ``unsafe_archive``, the rest is not read;
- a packing no reader opens (bzip2, xz, zstd, 7z, rar, lz4), given as a file: ``unexpected_file``;
- a zip or tar that cannot be opened: ``unreadable_file``.

A member is valid only until the next item is asked for (a tar is read as one stream) and is
opened once: ``head()`` peeks at its first bytes (to tell a nested archive), ``open()`` streams it
all, gunzipped when it is gzip. Nested archives are for the platform to reject
(``Member.is_archive``: ``nested_archive``), as are members of the wrong kind; several parts of one
export (``takeout-…-001.zip``, ``-002.zip``) are simply several paths, read in turn.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import re
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from extract.readers.streams import GZIP_MAGIC, open_binary, open_zip, track

ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a member's local header; an empty archive's end record
TAR_MAGIC = b"ustar"  # at offset 257 of a tar's first header (POSIX and GNU tar)
TAR_MAGIC_AT = 257
HEAD_BYTES = 512
# Packings recognised only to be refused by name: no reader here opens them.
OTHER_PACKINGS = {b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd",
                  b"7z\xbc\xaf\x27\x1c": "7z", b"Rar!\x1a\x07": "rar", b"\x04\x22\x4d\x18": "lz4"}
ARCHIVE_SUFFIXES = (".zip", ".jar", ".tar", ".tgz", ".tar.gz", ".7z", ".rar", ".bz2", ".xz", ".zst", ".lz4")
ARCHIVES = ("zip", "tar", "tar.gz")
# A zip's central directory is held whole by the reader: more members than this is no export.
MAX_MEMBERS = 200_000
# Deflate cannot pass about 1,032:1 and real exports stay far below 100:1; a member (zip) or a
# stream (tar.gz) beyond this ratio is a bomb, once more than RATIO_SLACK_BYTES came out of it.
MAX_RATIO = 500
RATIO_SLACK_BYTES = 64 << 20
READ_ERRORS = (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError, zlib.error, RuntimeError, ValueError)


class ArchiveBomb(OSError):
    """An archive that inflates beyond MAX_RATIO: reading stops."""


@dataclass(frozen=True)
class Refused:
    reason: str
    location: str
    detail: str
    position: str = "archive member"

    def reject_into(self, out: Any) -> None:
        """Set aside in a platform's output (``extract.raw.PlatformOutput``), as every reject is."""
        out.reject(reason=self.reason, source_file=self.location, position=self.position, detail=self.detail)


def packing_of(head: bytes) -> str:
    """What the first bytes say a file is: 'zip', 'tar', 'gzip', a packing of OTHER_PACKINGS, or 'plain'."""
    if head.startswith(ZIP_MAGICS):
        return "zip"
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head[TAR_MAGIC_AT:TAR_MAGIC_AT + len(TAR_MAGIC)] == TAR_MAGIC:
        return "tar"
    for magic, name in OTHER_PACKINGS.items():
        if head.startswith(magic):
            return name
    return "plain"


def _gunzipped_head(data: bytes) -> bytes:
    """The first decompressed bytes of a gzip stream's start (b'' when they cannot be read)."""
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, HEAD_BYTES)
    except zlib.error:
        return b""


def sniff(path: Path) -> str:
    """A file's packing by its bytes: as ``packing_of``, a gzipped tar being 'tar.gz'."""
    with open(path, "rb") as probe:
        head = probe.read(64 * 1024)
    kind = packing_of(head)
    if kind == "gzip" and packing_of(_gunzipped_head(head)) == "tar":
        return "tar.gz"
    return kind


FINDER_METADATA = "macOS Finder metadata (__MACOSX/, ._ files) packed with the export, not part of it: not read"


def is_finder_metadata(name: str) -> bool:
    """A file macOS adds when it packs a folder: ``__MACOSX/...`` (zip) or an AppleDouble ``._name``."""
    parts = name.replace("\\", "/").split("/")
    return parts[0] == "__MACOSX" or parts[-1].startswith("._")


def is_office_document(path: Path) -> bool:
    """An Office Open XML file (.xlsx, .docx): a zip whose parts are listed in ``[Content_Types].xml``."""
    try:
        with open_zip(path) as archive:
            return "[Content_Types].xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def is_archive(path: Path) -> bool:
    """A zip or a tar (plain or gzipped), by its bytes."""
    try:
        return sniff(path) in ARCHIVES
    except OSError:
        return False


def unsafe_member_name(name: str) -> str | None:
    """Why a member's name could point outside a folder, or None when it is a plain name."""
    parts = name.replace("\\", "/").split("/")
    if "\x00" in name:
        return "the name holds a NUL character"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "the name is an absolute path"
    if ".." in parts:
        return "the name climbs out of the archive's folder (..)"
    return None


class Peeked(io.RawIOBase):
    """A stream whose first bytes were already read: they come first again."""

    def __init__(self, head: bytes, rest: IO[bytes], check: Callable[[], None] | None = None,
                 owner: Member | None = None) -> None:
        self._head = head
        self._read = getattr(rest, "read1", rest.read)
        self._check = check
        self._owner = owner  # told when a read fails: the archive's stream is broken from there

    def readable(self) -> bool:
        return True

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def read(self, size: int | None = -1) -> bytes:
        want = io.DEFAULT_BUFFER_SIZE * 64 if size is None or size < 0 else size
        if self._head:
            data, self._head = self._head[:want], self._head[want:]
            return data
        try:
            data = self._read(want)
            if self._check is not None:
                self._check()
        except READ_ERRORS:
            if self._owner is not None:
                self._owner.broken = True
            raise
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


class Member:
    """A file to read: a member of an archive (``location`` is ``archive!/name``), or a whole file."""

    def __init__(self, name: str, location: str, size: int | None, opener: Callable[[], IO[bytes]],
                 path: Path | None = None, check: Callable[[], None] | None = None) -> None:
        self.name = name  # inside the archive (the file's own name for a whole file)
        self.location = location  # how rejects and lineage name it
        self.size = size  # uncompressed, as the archive declares it
        self.path = path  # a whole plain file on disk (None for a member): it may be read by byte ranges
        self._opener = opener
        self._check = check
        self._raw: IO[bytes] | None = None
        self._head: bytes | None = None
        self.broken = False  # a read of it failed (the platform has set it aside): nothing after it is read

    def _stream(self) -> IO[bytes]:
        if self._raw is None:
            self._raw = self._opener()
        return self._raw

    def head(self) -> bytes:
        """The first bytes, kept for ``open()``."""
        if self._head is None:
            stream = Peeked(b"", self._stream(), self._check, self)
            parts, held = [], 0
            while held < HEAD_BYTES:
                data = stream.read(HEAD_BYTES - held)
                if not data:
                    break
                parts.append(data)
                held += len(data)
            self._head = b"".join(parts)
        return self._head

    def packing(self) -> str:
        kind = packing_of(self.head())
        if kind == "gzip" and packing_of(_gunzipped_head(self.head())) == "tar":
            return "tar.gz"
        return kind

    def is_archive(self) -> bool:
        """An archive inside the archive (by its bytes, or by its name when its bytes are damaged)."""
        return self.packing() not in ("plain", "gzip") or self.name.lower().endswith(ARCHIVE_SUFFIXES)

    @contextlib.contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        """Its bytes as a stream (gunzipped when gzip); once."""
        gzipped = self.packing() == "gzip"
        stream: IO[bytes] = io.BufferedReader(Peeked(self.head(), self._stream(), self._check, self),  # type: ignore[arg-type]
                                              buffer_size=1 << 16)
        try:
            if gzipped:
                with gzip.GzipFile(fileobj=stream) as unpacked:
                    yield unpacked  # type: ignore[misc]
            else:
                yield stream
        finally:
            self.close()

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None


def inputs(path: Path, name: str) -> Iterator[Member | Refused]:
    """What a file platform reads of one configured file: the file, or its archive's members."""
    try:
        kind = sniff(path)
    except OSError as error:
        yield Refused("unreadable_file", name, f"{type(error).__name__}: {error}", "file")
        return
    if kind == "zip" or (kind == "plain" and path.name.lower().endswith(".zip")):  # a damaged zip: unreadable
        yield from zip_members(path, name)
    elif kind in ("tar", "tar.gz"):
        yield from tar_members(path, name, gzipped=kind == "tar.gz")
    elif kind in OTHER_PACKINGS.values():
        yield Refused("unexpected_file", name, f"a {kind} file, a packing this import does not read: unpack it "
                      "(zip, tar, .tgz and gzip are read as they are)", "file")
    else:
        yield Member(path.name, name, path.stat().st_size, lambda: open_binary(path), path=path)


def export_files(path: Path, name: str, out: Any, suffixes: tuple[str, ...], what: str) -> Iterator[Member]:
    """The files of one configured path that a platform reads: the file itself, or its archive's members
    named with one of ``suffixes`` (or that and ``.gz``); each other member, a nested archive and every
    refusal set aside in ``out`` (``extract.raw.PlatformOutput``) with its reason, never skipped."""
    names = suffixes + tuple(f"{suffix}.gz" for suffix in suffixes)
    for item in inputs(path, name):
        if isinstance(item, Refused):
            item.reject_into(out)
        elif item.path is None and item.is_archive():
            out.reject(reason="nested_archive", source_file=item.location, position="archive member",
                       detail="an archive inside the export: not read; extract it and list its files in path:")
        elif item.path is None and not item.name.lower().endswith(names):
            out.reject(reason="unexpected_file", source_file=item.location, position="archive member",
                       detail=f"not {what} ({', '.join(suffixes)}): not read")
        else:
            yield item


def zip_members(path: Path, name: str) -> Iterator[Member | Refused]:
    try:
        archive = open_zip(path)
    except (zipfile.BadZipFile, OSError) as error:
        yield Refused("unreadable_file", name, f"not a readable zip archive: {error}", "file")
        return
    with archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        if len(infos) > MAX_MEMBERS:
            yield Refused("unsafe_archive", name, f"{len(infos):,} members, over {MAX_MEMBERS:,}: "
                          "not an export; nothing of it is read", "file")
            return
        for info in infos:
            location = f"{name}!/{info.filename}"
            problem = unsafe_member_name(info.filename)
            if problem:
                yield Refused("unsafe_zip_member", location, f"{problem}: not read")
                continue
            if is_finder_metadata(info.filename):
                yield Refused("unexpected_file", location, FINDER_METADATA)
                continue
            if info.file_size > RATIO_SLACK_BYTES and info.file_size > MAX_RATIO * max(1, info.compress_size):
                yield Refused("unsafe_archive", location,
                              f"{info.compress_size:,} bytes that inflate to {info.file_size:,} "
                              f"(over {MAX_RATIO}:1): a zip bomb, not read")
                continue
            member = Member(info.filename, location, info.file_size,
                            lambda info=info: archive.open(info))  # type: ignore[misc]
            try:
                yield member
            finally:
                member.close()


class _Counted(io.RawIOBase):
    """A file's reads counted: the compressed bytes a tar.gz has consumed."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = self._raw.read(size)
        self.consumed += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()
        super().close()


def tar_members(path: Path, name: str, gzipped: bool) -> Iterator[Member | Refused]:
    """A tar's members in one pass over the stream (``r|``): nothing is seeked, nothing extracted."""
    raw = open(path, "rb")
    track(path, raw)
    counted = _Counted(raw)
    try:
        archive = tarfile.open(fileobj=counted, mode="r|gz" if gzipped else "r|")  # type: ignore[call-overload]
    except READ_ERRORS as error:
        raw.close()
        yield Refused("unreadable_file", name, f"not a readable tar archive: {type(error).__name__}: {error}", "file")
        return

    def check() -> None:
        inflated = archive.offset
        if gzipped and inflated > RATIO_SLACK_BYTES and inflated > MAX_RATIO * max(1, counted.consumed):
            raise ArchiveBomb(f"{counted.consumed:,} bytes inflated to {inflated:,} (over {MAX_RATIO}:1): a tar bomb")

    count = 0
    try:
        with archive:
            while True:
                try:
                    info = archive.next()
                    check()
                except ArchiveBomb as error:
                    yield Refused("unsafe_archive", name, f"{error}; the rest is not read", "file")
                    return
                except READ_ERRORS as error:
                    yield Refused("unreadable_file", name, f"{type(error).__name__}: {error}; "
                                  "the members before this point are read", "file")
                    return
                if info is None:
                    return
                if info.isdir():
                    continue
                count += 1
                if count > MAX_MEMBERS:
                    yield Refused("unsafe_archive", name, f"over {MAX_MEMBERS:,} members: not an export; "
                                  "the rest is not read", "file")
                    return
                location = f"{name}!/{info.name}"
                problem = unsafe_member_name(info.name)
                if problem is None and not info.isfile():
                    problem = "a link or a device, not a file"
                if problem:
                    yield Refused("unsafe_zip_member", location, f"{problem}: not read")
                    continue
                if is_finder_metadata(info.name):
                    yield Refused("unexpected_file", location, FINDER_METADATA)
                    continue
                member = Member(info.name, location, info.size,
                                lambda info=info: archive.extractfile(info), check=check)  # type: ignore[misc]
                try:
                    yield member
                finally:
                    member.close()
                if member.broken:  # the stream broke inside it: set aside once, by the platform
                    return
    finally:
        raw.close()
