"""extract/readers/csv.py: a CSV's encoding and delimiter decided from a bounded head of its bytes."""

from __future__ import annotations

import io

from extract.readers.csv import detect_encoding, open_csv_text, shown_bytes, sniff_delimiter, undecodable
from extract.timestamps import parse_timestamp


def _all(text) -> str:
    parts = []
    while chunk := text.read(7):
        parts.append(chunk)
    return "".join(parts)


def test_the_encoding_is_decided_by_the_bytes() -> None:
    assert detect_encoding("José Núñez;Café crème €5".encode("cp1252"), at_end=True) == "windows-1252"
    assert detect_encoding("José Núñez".encode(), at_end=True) == "utf-8"
    assert detect_encoding(b"\xef\xbb\xbfJos\xc3\xa9", at_end=True) == "utf-8-sig"
    assert detect_encoding("José".encode("utf-16-be").join([b"\xfe\xff", b""]), at_end=True) == "utf-16"
    # a character cut by the end of the head is not a stray byte
    assert detect_encoding("abc é".encode()[:-1], at_end=False) == "utf-8"


def test_only_the_head_is_judged_and_a_later_stray_byte_is_marked_not_replaced() -> None:
    data = b"a,b\r\n" + b"x,y\r\n" * 20 + b"caf\xe9,\x81\r\n"
    text = open_csv_text(io.BytesIO(data), sniff_bytes=16)
    assert text.encoding == "utf-8"
    decoded = _all(text)
    assert undecodable(decoded) == 2
    assert shown_bytes(decoded).endswith("caf\\xe9,\\x81\r\n")
    assert "\ufffd" not in decoded


def test_the_delimiter_is_the_one_that_splits_the_header_outside_quotes() -> None:
    assert sniff_delimiter('"Name, full";Email;Body\r\n"a,b";c;d') == ";"
    assert sniff_delimiter("Name\tEmail\tBody\n") == "\t"
    assert sniff_delimiter("\ufeffName,Email;x,y\n") == ","
    assert sniff_delimiter("Body\n") == ","
    forced = open_csv_text(io.BytesIO(b"a;b\n"), delimiter=",")
    assert (forced.delimiter, forced.delimiter_detected) == (",", False)


def test_timestamps_in_every_accepted_form() -> None:
    assert parse_timestamp("2021-03-04T15:22:10Z") == "2021-03-04T15:22:10Z"
    assert parse_timestamp(" 2021-03-04 16:22:10 +01:00 ") == "2021-03-04T15:22:10Z"
    assert parse_timestamp("Thu, 04 Mar 2021 15:22:10 +0000") == "2021-03-04T15:22:10Z"
    assert parse_timestamp("04 Mar 2021 10:22:10 -0500") == "2021-03-04T15:22:10Z"
    assert parse_timestamp("1614871330") == "2021-03-04T15:22:10Z"
    assert parse_timestamp("1614871330000") == "2021-03-04T15:22:10Z"
    assert parse_timestamp("03/04/2021 15:22") is None  # March 4th or April 3rd: not guessed
    assert parse_timestamp("03/04/2021 15:22", "%d/%m/%Y %H:%M") == "2021-04-03T15:22:00Z"
    assert parse_timestamp("20210304") is None  # 8 digits: neither epoch nor a date form
    assert parse_timestamp("2021-02-30") is None
    assert parse_timestamp("  ") is None
