"""Gmail Takeout mbox -> raw rows: one per email, decoded whatever the email does; bad ones set aside.

The guide's mapping (customer = From or first To, title, body fallback, timestamp fallback,
id) is tested in the dbt unit tests of stg_gmail__conversation_items and end to end here.
"""

from __future__ import annotations

import base64
import gzip
from pathlib import Path
from typing import Any

import pytest

from extract import gmail
from extract.gmail.mime import parse_message
from tests.python.conftest import run_extractor, run_import, write_config
from tests.python.gmail_helpers import corpus_files, corpus_mbox, eml, mbox

SUPPORT = {"support_addresses": ["Support@Shop.example"]}


def headers(**extra: str) -> dict[str, str]:
    base = {"X-Gmail-Labels": "Inbox,Opened", "From": "Jane Doe <jane@example.com>",
            "To": "Shop Support <support@shop.example>", "Date": "Mon, 4 Jan 2021 11:00:00 +0100",
            "Message-ID": "<m1@example.com>", "Subject": "Order 1042"}
    for name, value in extra.items():
        key = name.replace("_", "-")
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def extract_rows(tmp_path: Path, data: bytes, options: dict[str, Any] | None = None, name: str = "t.mbox") -> Any:
    path = tmp_path / name
    path.write_bytes(data)
    return run_extractor(gmail, [path], tmp_path, options)


def one(tmp_path: Path, message: bytes, options: dict[str, Any] | None = None) -> dict[str, Any]:
    rows = extract_rows(tmp_path, mbox(message), options).tables["messages"]
    assert len(rows) == 1
    return rows[0]


# --- sent by you / received -------------------------------------------------------------------


def test_sent_by_you_when_from_is_one_of_the_support_addresses(tmp_path: Path) -> None:
    sent = eml(headers(From="Shop Support <support@shop.EXAMPLE>", To='"Martin, Léa" <lea@example.com>, b@x.org',
                       X_Gmail_Labels="Inbox"))
    received = eml(headers(X_Gmail_Labels="Sent"))  # a Sent label does not count when addresses are configured
    rows = extract_rows(tmp_path, mbox(sent, received), SUPPORT).tables["messages"]
    assert [r["is_sent_by_support"] for r in rows] == [True, False]
    assert (rows[0]["to_address"], rows[0]["to_name"]) == ("lea@example.com", "Martin, Léa")
    assert (rows[1]["from_address"], rows[1]["from_name"]) == ("jane@example.com", "Jane Doe")


def test_without_support_addresses_the_sent_label_says_who_sent_it(tmp_path: Path) -> None:
    sent = eml(headers(X_Gmail_Labels='Opened,"Sent",Important'))
    received = eml(headers(X_Gmail_Labels="Inbox,Sentiment"))
    rows = extract_rows(tmp_path, mbox(sent, received)).tables["messages"]
    assert [r["is_sent_by_support"] for r in rows] == [True, False]
    assert rows[0]["labels"] == ["Opened", "Sent", "Important"]


@pytest.mark.slow
def test_customer_is_the_sender_when_received_and_the_first_recipient_when_sent(tmp_path: Path) -> None:
    (tmp_path / "in.mbox").write_bytes(mbox(
        eml(headers(**{"Message-ID": "<r@x>"})),
        eml(headers(From="support@shop.example", To="=?UTF-8?Q?L=C3=A9a?= <lea@example.com>, x@example.org",
                    **{"Message-ID": "<s@x>"}), "We shipped it.\n"),
    ))
    result = run_import(write_config(tmp_path, {"gmail": {"path": "in.mbox", **SUPPORT}}))
    assert result.returncode == 0, result.stderr
    items = sorted(result.items(), key=lambda i: i["Conversation Item Timestamp"] + i["Conversation Item Body"])
    assert [(i["Customer Email"], i["Customer Name"], i["Conversation Item Source"]) for i in items] == [
        ("jane@example.com", "Jane Doe", "GMail"), ("lea@example.com", "Léa", "GMail")]
    assert items[0]["Conversation Item Timestamp"] == "2021-01-04T10:00:00.000Z"
    assert items[0]["Conversation Item Title"] == "Order 1042"


# --- decoding hazards -----------------------------------------------------------------------------


def test_encoded_words_in_subject_and_from_are_decoded(tmp_path: Path) -> None:
    kanji = base64.b64encode("ご注文".encode()).decode()
    row = one(tmp_path, eml(headers(
        Subject=f"=?UTF-8?B?{kanji[:4]}?=\n =?UTF-8?B?{kanji[4:]}?= and =?iso-8859-1?q?caf=E9_cr=E8me?=",
        From="=?utf-8?Q?J=C3=BCrgen_M=C3=BCller?= <j@example.de>")))
    assert row["subject"] == "ご注文 and café crème"
    assert row["from_name"] == "Jürgen Müller"


def test_a_lying_charset_label_is_read_with_the_superset_it_meant(tmp_path: Path) -> None:
    text = "您好，镕 訂單"  # 镕 and traditional characters exist in GBK, not in GB2312
    row = one(tmp_path, eml(headers(Content_Type="text/plain; charset=gb2312"), text.encode("gbk") + b"\n"))
    assert row["body_text"] == text


@pytest.mark.parametrize(("body", "expected"), [
    (b"\t=1+1\n", "\t=1+1"),                   # made safe by another tool: the tab stays, never a live =1+1
    (b"\n\n  -- forwarded --\nhi\n", "\n\n  -- forwarded --\nhi"),
    (b"\n\n  Hello.  \n\n", "Hello."),            # anything else is trimmed as before
])
def test_trimming_a_body_never_makes_it_a_formula(tmp_path: Path, body: bytes, expected: str) -> None:
    row = one(tmp_path, eml(headers(), body))
    assert row["body_text"] == expected


@pytest.mark.parametrize(("charset", "body", "expected"), [
    ("utf-8", "Grüße aus Köln".encode("latin-1"), "Grüße aus Köln"),        # the label lies: latin-1 bytes
    ("x-unknown-charset", "naïve".encode(), "naïve"),                       # an unknown label: UTF-8 guess
    ("base64", "déjà".encode("cp1252"), "déjà"),                             # not a charset at all
    ("utf-8", b"ok \xff\xfe then \xe2\x82", "ok ÿþ then â‚"),               # undecodable: never a crash
])
def test_a_wrong_or_missing_charset_never_crashes_and_falls_back(tmp_path: Path, charset: str, body: bytes,
                                                                 expected: str) -> None:
    row = one(tmp_path, eml(headers(Content_Type=f"text/plain; charset={charset}"), body + b"\n"))
    assert row["body_text"] == expected


def test_raw_8bit_headers_without_a_charset_are_decoded(tmp_path: Path) -> None:
    latin = eml(headers(Subject="Rücksendung für 3310", From="Jürgen Müller <j@example.de>"), "Grüße\n",
                charset="latin-1")
    utf8 = eml(headers(Subject="Rücksendung für 3310", From="Jürgen Müller <j@example.de>"), "Grüße\n")
    rows = extract_rows(tmp_path, mbox(latin, utf8)).tables["messages"]
    for row in rows:
        assert (row["subject"], row["from_name"], row["body_text"]) == ("Rücksendung für 3310", "Jürgen Müller", "Grüße")


def test_quoted_printable_and_base64_bodies_are_decoded(tmp_path: Path) -> None:
    qp = eml(headers(Content_Type='text/plain; charset="UTF-8"', Content_Transfer_Encoding="quoted-printable"),
             "Le colis est arriv=C3=A9 ab=C3=AEm=\n=C3=A9.\n")
    b64 = eml(headers(Content_Type="text/plain; charset=utf-8", Content_Transfer_Encoding="base64"),
              base64.encodebytes("Ça marche très bien.".encode()).decode().rstrip("=\n") + "\n")  # padding lost
    rows = extract_rows(tmp_path, mbox(qp, b64)).tables["messages"]
    assert [r["body_text"] for r in rows] == ["Le colis est arrivé abîmé.", "Ça marche très bien."]


def test_crlf_files_read_exactly_like_lf_files(tmp_path: Path) -> None:
    message = eml(headers(Content_Type='multipart/alternative; boundary="b1"'),
                  "--b1\nContent-Type: text/plain\n\nline one\nline two\n--b1\nContent-Type: text/html\n\n<p>x</p>\n--b1--\n")
    lf = extract_rows(tmp_path, mbox(message, message), name="lf.mbox").tables["messages"]
    crlf = extract_rows(tmp_path, mbox(message, message, crlf=True), name="crlf.mbox").tables["messages"]
    assert [r["body_text"] for r in crlf] == [r["body_text"] for r in lf] == ["line one\nline two"] * 2
    assert [r["subject"] for r in crlf] == ["Order 1042"] * 2


def test_from_escaping_is_undone_and_a_from_line_in_a_body_does_not_split_the_email(tmp_path: Path) -> None:
    message = eml(headers(), "Hi,\nFrom the photo, it was left outside.\n>From quoted\n")
    data = mbox(message)
    assert b"\n>From the photo" in data and b"\n>>From quoted" in data
    rows = extract_rows(tmp_path, data).tables["messages"]
    assert [r["body_text"] for r in rows] == ["Hi,\nFrom the photo, it was left outside.\n>From quoted"]


def test_a_message_without_body_is_kept_with_no_text(tmp_path: Path) -> None:
    row = one(tmp_path, eml(headers(), ""))
    assert row["body_text"] == "" and row["body_html_text"] is None
    assert row["subject"] == "Order 1042"


def test_chats_are_emails_with_the_chat_label(tmp_path: Path) -> None:
    row = one(tmp_path, eml(headers(X_Gmail_Labels="Chat", Subject="Chat with Noah"), "11:00 AM Noah: hi\n"))
    assert row["is_chat"] is True and row["labels"] == ["Chat"]
    assert row["body_text"] == "11:00 AM Noah: hi"


def test_a_bounce_gives_its_human_readable_part(tmp_path: Path) -> None:
    body = ("--r\nContent-Type: text/plain\n\nAddress not found.\n--r\nContent-Type: message/delivery-status\n\n"
            "Final-Recipient: rfc822; x@example.org\n\nStatus: 5.1.1\n--r\nContent-Type: message/rfc822\n\n"
            "From: a@b.c\nSubject: original\n\nOriginal text.\n--r--\n")
    row = one(tmp_path, eml(headers(From="Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
                                    Content_Type='multipart/report; report-type=delivery-status; boundary="r"'), body),
              {"keep_automated": True})  # kept: set aside by default (test_gmail_takeout.py)
    assert row["body_text"] == "Address not found."
    assert row["parsed_by"] == "full"


def test_a_forward_as_attachment_gives_the_attached_emails_text(tmp_path: Path) -> None:
    body = ("--f\nContent-Type: message/rfc822\n\nFrom: a@b.c\nContent-Type: text/plain\n\nInner text.\n--f--\n")
    row = one(tmp_path, eml(headers(Content_Type='multipart/mixed; boundary="f"'), body))
    assert row["body_text"] == "Inner text."


def test_html_only_mail_becomes_readable_text(tmp_path: Path) -> None:
    html = ("<html><head><title>t</title><style>p{color:red}</style></head><body><p>Hi team,</p>"
            "<p>Where is my refund for order&nbsp;#2051? It&#39;s been <b>two   weeks</b>.</p><!-- tracking -->"
            "<ul><li>Order 2051</li><li>Paid</li></ul>Omar<br>Haddad<script>track()</script></body></html>")
    row = one(tmp_path, eml(headers(Content_Type="text/html; charset=utf-8", Content_Transfer_Encoding="base64"),
                            base64.encodebytes(html.encode()).decode()))
    assert row["body_text"] is None
    assert row["body_html_text"] == ("Hi team,\n\nWhere is my refund for order #2051? It's been two weeks.\n\n"
                                     "- Order 2051\n- Paid\n\nOmar\nHaddad")


def test_the_html_part_is_not_converted_when_a_plain_part_has_text(tmp_path: Path) -> None:
    body = "--b\nContent-Type: text/plain\n\nplain\n--b\nContent-Type: text/html\n\n<p>html</p>\n--b--\n"
    blank = "--b\nContent-Type: text/plain\n\n  \n--b\nContent-Type: text/html\n\n<p>html</p>\n--b--\n"
    rows = extract_rows(tmp_path, mbox(*(eml(headers(Content_Type='multipart/alternative; boundary="b"'), b)
                                         for b in (body, blank)))).tables["messages"]
    assert [(r["body_text"], r["body_html_text"]) for r in rows] == [("plain", None), ("", "html")]


def test_attachments_are_not_the_body(tmp_path: Path) -> None:
    body = ("--m\nContent-Type: text/plain\nContent-Disposition: attachment; filename=notes.txt\n\nfile text\n"
            "--m\nContent-Type: text/plain\n\nthe message\n--m--\n")
    row = one(tmp_path, eml(headers(Content_Type="multipart/mixed; boundary=m"), body))
    assert row["body_text"] == "the message"


# --- timestamps and ids ---------------------------------------------------------------------------


def test_the_date_header_is_read_in_utc_and_the_separator_date_is_kept_beside_it(tmp_path: Path) -> None:
    messages = [eml(headers(Date="Mon, 4 Jan 2021 11:00:00 +0100 (CET)")), eml(headers(Date="sometime last week")),
                eml(headers(Date=None)), eml(headers(Date="4 Jan 21 23:30 -0230"))]
    separators = [b"From 1@xxx Mon Jan 04 10:00:05 +0000 2021", b"From 2@xxx Thu Jan 07 16:20:00 +0000 2021",
                  b"From MAILER-DAEMON Fri Jan  8 09:00:00 2021", b"From 4@xxx Sat Foo 99 25:61:00 +0000 2021"]
    rows = extract_rows(tmp_path, mbox(*messages, separators=separators)).tables["messages"]
    assert [(r["date_utc"], r["separator_date_utc"]) for r in rows] == [
        ("2021-01-04T10:00:00Z", "2021-01-04T10:00:05Z"), (None, "2021-01-07T16:20:00Z"),
        (None, "2021-01-08T09:00:00Z"), ("2021-01-05T02:00:00Z", None)]
    assert rows[1]["date_header"] == "sometime last week"


def test_the_id_inputs_are_stable_across_re_exports(tmp_path: Path) -> None:
    with_id = eml(headers(**{"Message-ID": "  <CAL3a1@mail.gmail.com> "}))
    no_id = eml(headers(**{"Message-ID": None}))
    relabelled = eml(headers(**{"Message-ID": None, "X-Gmail-Labels": "Archived,Important"}))
    other = eml(headers(**{"Message-ID": None}), "Another text.\n")
    rows = extract_rows(tmp_path, mbox(with_id, no_id, relabelled, other)).tables["messages"]
    crlf_rows = extract_rows(tmp_path, mbox(no_id, crlf=True), name="crlf.mbox").tables["messages"]
    assert rows[0]["message_id"] == "<CAL3a1@mail.gmail.com>" and rows[0]["content_hash"] is None
    assert rows[1]["content_hash"] == rows[2]["content_hash"] == crlf_rows[0]["content_hash"]
    assert rows[3]["content_hash"] != rows[1]["content_hash"]


# --- what cannot be read ------------------------------------------------------------------------


def test_an_unparseable_message_is_set_aside_with_its_byte_offset_and_reason(tmp_path: Path) -> None:
    good = eml(headers())
    data = mbox(good, b"\x00\x01 damaged export chunk\nno header here\n", good)
    result = extract_rows(tmp_path, data)
    assert len(result.tables["messages"]) == 2
    [reject] = result.rejects
    offset = data.index(b"From 1688001000000000002@xxx")
    assert (reject["reject_reason"], reject["_source_position"], reject["_source_row"]) == (
        "unparseable_message", f"byte {offset}", 2)
    assert reject["reject_detail"] == "no email header found"
    assert "damaged export chunk" in reject["raw_excerpt"] and "\x00" not in reject["raw_excerpt"]
    assert result.manifest["records_seen"] == 3


def test_bytes_before_the_first_separator_are_read_as_an_email(tmp_path: Path) -> None:
    rows = extract_rows(tmp_path, eml(headers()) + b"\n" + mbox(eml(headers()))).tables["messages"]
    assert [r["_source_position"] for r in rows][0] == "byte 0" and len(rows) == 2


def test_a_truncated_gzip_keeps_what_was_read_and_says_where_it_stopped(tmp_path: Path) -> None:
    data = gzip.compress(mbox(*(eml(headers(), f"message {i}\n" * 2000) for i in range(30))))
    result = extract_rows(tmp_path, data[: len(data) * 2 // 3], name="t.mbox.gz")
    assert 0 < len(result.tables["messages"]) < 30
    assert result.rejects[-1]["reject_reason"] == "unreadable_file"


# --- files, parallelism and the real-world corpus ------------------------------------------------


def test_gzip_folders_and_globs_read_like_plain_files(tmp_path: Path) -> None:
    (tmp_path / "takeout").mkdir()
    (tmp_path / "takeout" / "a.mbox").write_bytes(mbox(eml(headers())))
    (tmp_path / "takeout" / "b.mbox.gz").write_bytes(gzip.compress(mbox(eml(headers()), eml(headers()))))
    (tmp_path / "takeout" / "notes.txt").write_text("not an mbox")
    from gladly_import.config import load_config

    config = load_config(write_config(tmp_path, {"gmail": {"path": "takeout/"}}))
    result = run_extractor(gmail, config.sources["gmail"].files, tmp_path)
    assert [(r["_source_file"], r["_source_row"]) for r in result.tables["messages"]] == [
        ("takeout/a.mbox", 1), ("takeout/b.mbox.gz", 1), ("takeout/b.mbox.gz", 2)]


def test_both_cores_split_at_message_boundaries_and_give_the_same_rows(tmp_path: Path) -> None:
    from extract.context import SourceContext
    from extract.raw import PlatformOutput

    messages = [eml(headers(**{"Message-ID": f"<{i}@x>"}), f"Body {i}\n" + "filler line\n" * (i % 50)) for i in range(400)]
    path = tmp_path / "big.mbox"
    path.write_bytes(mbox(*messages, crlf=True))
    outputs = []
    for workers, chunk in ((1, 1 << 30), (2, 4096)):
        out = PlatformOutput(tmp_path / f"raw{workers}", "gmail", gmail.TABLES, gmail.RECORD_TABLES)
        gmail.extract(SourceContext(platform="gmail", options={}, base_dir=tmp_path, files=[path]), out,
                      workers=workers, chunk_bytes=chunk)
        out.close()
        import pyarrow.parquet as pq

        outputs.append(pq.read_table(out.dir / "messages.parquet").to_pylist())
    assert len(outputs[0]) == 400
    assert outputs[1] == outputs[0]


@pytest.mark.slow
def test_every_real_world_email_is_exported_or_rejected_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "corpus.mbox").write_bytes(corpus_mbox())
    # keep_automated: the corpus's bounces and auto replies are read like any email here (their being
    # set aside by default is tested in test_gmail_takeout.py)
    result = run_import(write_config(tmp_path, {"gmail": {"path": "corpus.mbox", "keep_automated": True}}))
    assert result.returncode == 0, result.stderr
    counts = result.summary["platforms"]["gmail"]
    assert counts["records_seen"] == len(corpus_files()) == 103
    assert counts["unaccounted"] == 0
    assert counts["records_seen"] == counts["exported"] + counts["rejected"] + counts["duplicates"]
    rejects = [r for r in result.rejects() if r["source_platform"] == "gmail"]
    assert all(r["reject_reason"] and r["source_position"].startswith("byte ") for r in rejects)
    # Email by email: each of the 103 is exported, rejected with a reason, or a duplicate of an exported one.
    import duckdb

    with duckdb.connect(str(result.work_dir / "gladly_import.duckdb"), read_only=True) as conn:
        outcomes = dict(conn.execute("""
            select d.source_row,
                   case when d.is_duplicate then 'duplicate'
                        when r.reject_reason is not null then r.reject_reason else 'exported' end
            from intermediate.int_conversation_items_deduplicated d
            left join main.gladly_import_rejects r
              on r.source_platform = 'gmail' and r.source_row = d.source_row
            where d.source_platform = 'gmail'
            union all
            select source_row, reject_reason from main.gladly_import_rejects
            where source_platform = 'gmail' and conversation_item_id is null
        """).fetchall())
        exported_ids = {row[0] for row in conn.execute(
            "select conversation_item_id from main.gladly_conversation_items where source_platform = 'gmail'").fetchall()}
    assert sorted(outcomes) == list(range(1, 104))
    assert sum(1 for o in outcomes.values() if o == "exported") == counts["exported"] == len(exported_ids)
    # Many of these emails share a Message-ID (the same email twice is one item); most others are exported.
    assert counts["duplicates"] == 31
    assert counts["exported"] >= 55
    assert set(counts["rejected_by_reason"]) <= {"empty_body", "invalid_email", "missing_email", "unparseable_message"}


def test_the_fast_path_gives_exactly_the_full_parsers_record_on_the_sample_and_the_corpus() -> None:
    from tests.python.gmail_helpers import split

    sample = Path(__file__).parents[2] / "samples" / "gmail" / "support-inbox.mbox"
    checked = compare_fast_and_full(split(sample.read_bytes()) + split(corpus_mbox()))
    assert checked >= 70  # most of them take the fast path


def test_the_fast_path_gives_exactly_the_full_parsers_record_on_the_benchmark_corpus(tmp_path: Path) -> None:
    from bench.generate_gmail import generate
    from tests.python.gmail_helpers import split

    generate(tmp_path / "bench.mbox", 1500, seed=7)
    messages = split((tmp_path / "bench.mbox").read_bytes())
    assert len(messages) == 1500
    assert compare_fast_and_full(messages) >= 1400


def compare_fast_and_full(messages: list[tuple[int, bytes | None, bytes]]) -> int:
    from extract.gmail.mime import UnparseableMessage, build_record, fast_shape, full_shape

    support = frozenset({"support@shop.example"})
    fast_count = 0
    for offset, _, raw in messages:
        shape = fast_shape(raw)
        if shape is None:
            continue
        fast_count += 1
        try:
            full = build_record(raw, full_shape(raw), support)
        except UnparseableMessage:
            pytest.fail(f"message at byte {offset}: the fast path read what the full parser cannot")
        assert build_record(raw, shape, support) == full, f"message at byte {offset}"
    return fast_count


def test_parse_message_says_which_path_read_it() -> None:
    simple = eml(headers())
    assert parse_message(simple, frozenset())[1] == "fast"
    assert parse_message(simple, frozenset(), allow_fast=False)[1] == "full"
    assert parse_message(simple, frozenset())[0] == parse_message(simple, frozenset(), allow_fast=False)[0]


# --- the shortcuts agree with the standard library ----------------------------------------------

ODD_VALUES = [
    'text/plain; charset="utf-8"', "TEXT/HTML;CHARSET=ISO-8859-1", "text/plain; charset=", "text/plain; charset",
    'multipart/alternative;\r\n\tboundary="----=_Part_1"; charset=x', "multipart/mixed; boundary=abc ; x=1",
    'multipart/mixed; boundary=""abc""', "charset=utf-8; text/plain", "text", "text/plain/x", ";charset=a",
    'text/plain; name="a;b"; charset=utf-8', "text/plain; charset*=utf-8''x", "text/plain; charset=(c) x",
    'multipart/mixed; boundary="<abc>"', "text/plain; charset='utf-8'", 'text/plain; charset="a\\"b"',
    "multipart/mixed; BOUNDARY=Abc; boundary=def", "text/plain;; charset = utf-8 ", "  Text/Plain  ",
]


def header_values(name: bytes) -> list[str]:
    from extract.gmail.mime import _HEADER_BLOCK
    from tests.python.gmail_helpers import split

    values = []
    for _, _, raw in split(corpus_mbox()):
        block = raw[: _HEADER_BLOCK.match(raw).end()]  # type: ignore[union-attr]
        for line in block.replace(b"\r\n", b"\n").replace(b"\n\t", b" ").replace(b"\n ", b" ").split(b"\n"):
            if line.lower().startswith(name + b":"):
                values.append(line.split(b":", 1)[1].strip().decode("utf-8", errors="surrogateescape"))
    return values


def test_content_type_parameters_are_read_exactly_as_the_standard_library_reads_them() -> None:
    from email.message import Message
    from email.utils import collapse_rfc2231_value

    from extract.gmail.mime import _simple_params

    values = ODD_VALUES + header_values(b"content-type")
    simple_ones = 0
    for value in values:
        message = Message()
        message["Content-Type"] = value
        charset = message.get_param("charset")
        expected = (message.get_content_type(),
                    (collapse_rfc2231_value(charset) if isinstance(charset, tuple) else charset) or None,
                    message.get_boundary())
        simple = _simple_params(value)
        if simple is not None:
            simple_ones += 1
            assert simple == expected, value
    assert simple_ones >= 40


def test_the_address_shortcuts_agree_with_the_standard_librarys_address_parser() -> None:
    from extract.gmail.text import first_address, first_address_stdlib

    values = header_values(b"from") + header_values(b"to") + [
        "Jane Doe <jane@example.com>", '"Doe, Jane" <jane@example.com>, b@x.org', "jane@example.com",
        "Jane   Q   Doe <j@x.org>", "=?utf-8?Q?L=C3=A9a?= <lea@example.com>", "Zoë O'Brien <z@x.co.uk>",
        "undisclosed-recipients:;", "j@x.org (Jane)", "<j@x.org>", "Jane <j@x.org", "a@b@c", "J. Doe <j@x.org>",
    ]
    for value in values:
        assert first_address(value) == first_address_stdlib(value), value


def test_the_date_shortcut_agrees_with_the_standard_librarys_date_parser() -> None:
    from extract.gmail.text import date_header_utc, date_header_utc_stdlib

    values = header_values(b"date") + [
        "Mon, 4 Jan 2021 11:00:00 +0100 (CET)", "4 Jan 2021 23:30 -0230", "Mon, 31 Feb 2021 11:00:00 +0100",
        "Mon, 4 Jan 2021 11:00:60 -0000", "Mon,4 JAN 2021 1:00:00 +1345", "Sun, 06 Nov 1994 08:49:37 GMT",
        "Mon, 4 Jan 21 11:00:00 +0100", "Mon, 4 January 2021 11:00:00 +0100", "  Fri, 1 Jan 9999 23:59:59 -1200 ",
    ]
    assert len(values) >= 80
    for value in values:
        assert date_header_utc(value) == date_header_utc_stdlib(value), value


@pytest.mark.parametrize("message", [
    b"Subject: a\rb\nFrom: x@y.z\n\nbody\n",
    b"From: x@y.z\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\none\r--b\n"
    b"Content-Type: text/plain\n\ntwo\n--b--\n",
    b"From: x@y.z\nContent-Type: multipart/mixed; boundary=b\n\n--b\r\nContent-Type: text/plain\r\n\r\none\r\n"
    b"--b\rjunk\n--b--\n",
    b"From: x@y.z\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nbare\rCR in text\n--b--\n",
    b"From: x@y.z\n\nbody with a bare\rCR\n",
])
def test_bare_carriage_returns_give_the_full_parsers_reading(message: bytes) -> None:
    from tests.python.gmail_helpers import split

    compare_fast_and_full(split(mbox(message)))
    assert parse_message(message, frozenset())[0] == parse_message(message, frozenset(), allow_fast=False)[0]


def test_the_benchmark_generator_is_deterministic_and_carries_the_ugly_cases(tmp_path: Path) -> None:
    from bench.generate_gmail import UGLY_CASES, generate

    first = generate(tmp_path / "a", 1200, seed=3)
    second = generate(tmp_path / "b.mbox", 1200, seed=3)
    other = generate(tmp_path / "c.mbox", 1200, seed=4)
    data = Path(first["path"]).read_bytes()
    assert data == Path(second["path"]).read_bytes() != Path(other["path"]).read_bytes()
    assert set(first["cases"]) == {"common", *UGLY_CASES}
    assert 0.02 < 1 - first["cases"]["common"] / 1200 < 0.07
    assert first["config"] == {"path": first["path"], "support_addresses": ["support@shop.example"]}


def test_support_addresses_may_be_one_comma_separated_string(tmp_path: Path) -> None:
    sent = eml(headers(From="returns@shop.example"))
    rows = extract_rows(tmp_path, mbox(sent), {"support_addresses": "support@shop.example, Returns@shop.example"})
    assert rows.tables["messages"][0]["is_sent_by_support"] is True


def test_labels_may_be_quoted_and_encoded(tmp_path: Path) -> None:
    row = one(tmp_path, eml(headers(X_Gmail_Labels='Inbox,"Orders, 2021",=?UTF-8?Q?Cl=C3=A9ment?=,Support/Escalated')))
    assert row["labels"] == ["Inbox", "Orders, 2021", "Clément", "Support/Escalated"]


@pytest.mark.slow
def test_the_bundled_sample_ends_where_the_guide_says(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(Path(__file__).parents[2] / "samples" / "gmail", tmp_path / "gmail")
    result = run_import(write_config(tmp_path, {"gmail": {"path": "gmail/", **SUPPORT}}))
    assert result.returncode == 0, result.stderr
    counts = result.summary["platforms"]["gmail"]
    # the sample's bounce (From mailer-daemon@googlemail.com) is set aside, as the guide's own filter would
    assert (counts["records_seen"], counts["exported"], counts["duplicates"], counts["unaccounted"]) == (14, 9, 1, 0)
    assert counts["rejected_by_reason"] == {"bounce": 1, "empty_body": 1, "missing_timestamp": 1,
                                            "unparseable_message": 1}
    bounce = next(r for r in result.rejects() if r["reject_reason"] == "bounce")
    assert "Address not found" in bounce["raw_excerpt"]
    items = {i["Conversation Item Title"]: i for i in result.items()}
    sent = items["Re: Commande 1042 arrivée abîmée"]  # sent by support: the first To
    assert (sent["Customer Email"], sent["Customer Name"]) == ("lea.martin@example.com", "Martin, Léa")
    assert items["Commande 1042 arrivée abîmée"]["Customer Name"] == "Léa Martin"
    assert items["订单查询 镕"]["Conversation Item Body"] == "您好，我的订单还没有到。請幫我查一下，謝謝。镕"
    assert items["ご注文について"]["Conversation Item Timestamp"] == "2021-01-07T09:45:00.000Z"  # no Date: separator
    assert items["Tracking says delivered"]["Conversation Item Timestamp"] == "2021-01-07T16:20:00.000Z"
    assert "From the photo" in items["Tracking says delivered"]["Conversation Item Body"]
    assert items["Refund for order #2051"]["Conversation Item Body"].startswith("Hi team,\n\nWhere is my refund")
    assert items["Rücksendung für Bestellung 3310"]["Customer Name"] == "Jürgen Müller"
    assert all(i["Conversation Item Source"] == "GMail" and i["Customer Phone"] == "" for i in items.values())
    unparseable = next(r for r in result.rejects() if r["reject_reason"] == "unparseable_message")
    assert unparseable["source_position"] == "byte 5826"


def test_mangled_emails_never_get_a_different_reading_from_the_fast_path() -> None:
    """Seeded mutations (inserted CRs, boundaries, quotes, encoded-words; cuts) of real emails."""
    import random

    from tests.python.gmail_helpers import split

    sample = Path(__file__).parents[2] / "samples" / "gmail" / "support-inbox.mbox"
    originals = [raw for _, _, raw in split(corpus_mbox()) + split(sample.read_bytes())]
    tokens = [b"\r", b"\n", b"\r\n", b"--", b"=", b"?=", b"=?utf-8?B?", b";", b'"', b"\t", b" ", b"\xff", b"\x00",
              b"boundary=", b"Content-Type: multipart/mixed; boundary=x\n", b"\n--x\n", b"\n--x--\n", b":"]
    rng = random.Random(20210104)
    mangled = []
    for _ in range(1500):
        data = bytearray(rng.choice(originals))
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(data) + 1)
            choice = rng.random()
            if choice < 0.4:
                data[position:position] = rng.choice(tokens)
            elif choice < 0.7:
                del data[position : position + rng.randint(1, 20)]
            else:
                del data[position:]
        mangled.append((0, None, bytes(data)))
    assert compare_fast_and_full(mangled) > 300
    from extract.gmail.mime import UnparseableMessage

    for _, _, raw in mangled[:300]:
        try:
            parse_message(raw, frozenset())
        except UnparseableMessage:  # the only way a message may fail: set aside with its reason
            pass
