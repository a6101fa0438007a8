"""A CSV file's bytes as text: its encoding detected (or forced), its delimiter sniffed (or forced).

Encoding, decided once per file from its first ``SNIFF_BYTES`` bytes (bounded, whatever the file):
a byte-order mark says UTF-8 or UTF-16 (LE/BE); otherwise bytes that decode as UTF-8 are UTF-8;
otherwise the file is Windows-1252 (what Excel on Windows writes as "CSV", a superset of
Latin-1's printable characters). Bytes that do not decode in the encoding chosen (a UTF-8 file
with one Windows-1252 byte after the sniffed part, a Windows-1252 byte Microsoft left undefined)
are never replaced silently: each becomes a lone surrogate (``U+DC00`` + the byte), which
``undecodable`` finds in a record and ``shown_bytes`` turns into ``\\xNN`` for a reject's excerpt.

Delimiter: the one of ``,`` ``;`` tab that splits the header line (outside quotes) into the most
fields; ``,`` when none does.
"""

from __future__ import annotations

import codecs
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

SNIFF_BYTES = 1024 * 1024
DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
# Encoding names as the config takes them (any spelling Python's codecs know is accepted too)
# and as the log, the summary and the report say them.
UTF8, UTF8_BOM, UTF16, CP1252 = "utf-8", "utf-8-sig", "utf-16", "windows-1252"
BOMS = ((codecs.BOM_UTF8, UTF8_BOM), (codecs.BOM_UTF16_LE, UTF16), (codecs.BOM_UTF16_BE, UTF16))
ENCODING_WORDS = {UTF8: "UTF-8", UTF8_BOM: "UTF-8 with BOM", UTF16: "UTF-16 with BOM", CP1252: "Windows-1252"}

MARK_ERRORS = "gladly-import-mark-undecodable"
UNDECODABLE = re.compile("[\udc00-\udcff]")
UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _mark(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return "".join(chr(0xDC00 + b) for b in error.object[error.start:error.end]), error.end


codecs.register_error(MARK_ERRORS, _mark)


def undecodable(text: str) -> int:
    """How many bytes of ``text`` did not decode (each marked as a lone surrogate)."""
    return len(UNDECODABLE.findall(text))


def shown_bytes(text: str) -> str:
    """``text`` with each undecodable byte written ``\\xNN``: safe to store and to show."""
    return UNDECODABLE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text)


def encoding_words(encoding: str) -> str:
    return ENCODING_WORDS.get(encoding, encoding)


def known_encoding(name: str) -> str | None:
    """The codec's canonical name for a config's ``encoding``, None when Python knows none by it."""
    try:
        found = codecs.lookup(name).name
    except LookupError:
        return None
    return {"cp1252": CP1252, "utf-8": UTF8, "utf-16": UTF16}.get(found, found)


def detect_encoding(head: bytes, at_end: bool) -> str:
    """The encoding of a file that starts with ``head`` (``at_end``: the whole file).

    A head that is not all UTF-8 is still UTF-8 when it holds more well-formed UTF-8 characters
    than stray bytes (a UTF-8 file with a few pasted Windows-1252 rows): read as Windows-1252,
    every one of its good characters would turn into two ("Ã©"), silently; read as UTF-8, only
    the stray rows are set aside, counted.
    """
    for bom, name in BOMS:
        if head.startswith(bom):
            return name
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=at_end)
    except UnicodeDecodeError:
        whole = head if at_end else head[: max(0, len(head) - 3)]  # a character cut at the end is not stray
        stray = undecodable(whole.decode("utf-8", MARK_ERRORS))
        return UTF8 if len(UTF8_MULTIBYTE.findall(whole)) > stray else CP1252
    return UTF8


def _fields_outside_quotes(line: str, delimiter: str) -> int:
    count, quoted = 1, False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            count += 1
    return count


def sniff_delimiter(text: str) -> str:
    """The delimiter of the CSV whose text starts with ``text``: judged on its first line."""
    first = re.split(r"[\r\n]", text.lstrip("\ufeff\r\n"), maxsplit=1)[0]
    best, fields = ",", 1
    for delimiter in DELIMITERS:
        found = _fields_outside_quotes(first, delimiter)
        if found > fields:
            best, fields = delimiter, found
    return best


@dataclass
class CsvText:
    """A CSV file opened as text: ``read(n)`` gives at most ``n`` more characters ("" at the end)."""

    read: Callable[[int], str]
    encoding: str
    encoding_detected: bool
    delimiter: str
    delimiter_detected: bool
    # True once a byte did not decode: only then need records be searched for marks (speed)
    marked: list[bool]

    def describe(self) -> str:
        """For the log: "Windows-1252 (detected), semicolon-separated (detected)"."""
        return (f"{encoding_words(self.encoding)} ({'detected' if self.encoding_detected else 'set in the config'}), "
                f"{DELIMITER_NAMES.get(self.delimiter, repr(self.delimiter))}-separated "
                f"({'detected' if self.delimiter_detected else 'set in the config'})")


def open_csv_text(binary: BinaryIO, encoding: str | None = None, delimiter: str | None = None,
                  sniff_bytes: int = SNIFF_BYTES) -> CsvText:
    """Read up to ``sniff_bytes`` to decide the encoding and delimiter, then stream the rest.

    One ``read1`` (one decompression step) per call, unlike TextIOWrapper.read, which gathers
    several: a gzip that breaks off then raises only after every byte before the damage was
    handed over, so every complete record before it is kept. Line ends stay as written.
    """
    head = b""
    at_end = False
    damage: list[Exception] = []  # a gzip broken within the head: raised once the text before it is read
    while len(head) < sniff_bytes:
        try:
            data = binary.read1(sniff_bytes - len(head))
        except (EOFError, zlib.error) as error:
            damage.append(error)
            data = b""
        if not data:
            at_end = True
            break
        head += data
    detected = encoding is None
    if encoding is None:
        encoding = detect_encoding(head, at_end)
    elif encoding == UTF8 and head.startswith(codecs.BOM_UTF8):
        encoding = UTF8_BOM  # a forced UTF-8 still drops its BOM
    decoder = codecs.getincrementaldecoder(encoding)(errors=MARK_ERRORS)
    pending = [decoder.decode(head, final=at_end)]
    if delimiter is None:
        found = sniff_delimiter(pending[0])
    else:
        found = delimiter

    marked = [False]

    def seen(text: str) -> str:
        if not marked[0] and UNDECODABLE.search(text):
            marked[0] = True
        return text

    def read(size: int) -> str:
        if pending:
            text = pending.pop()
            if text:
                return seen(text)
        if damage:
            raise damage.pop()
        while data := binary.read1(size):
            if text := decoder.decode(data):
                return seen(text)
        return seen(decoder.decode(b"", final=True))

    return CsvText(read, encoding, detected, found, delimiter is None, marked)
