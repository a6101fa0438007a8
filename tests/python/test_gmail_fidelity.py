"""Gmail content fidelity: HTML as a reader sees it, every message of every mbox a real mail tool
writes, a bounce's readable text, damaged and oversize files read as far as they go."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from extract import gmail
from extract.gmail.text import html_to_text
from tests.python.conftest import run_extractor, run_import, write_config
from tests.python.gmail_helpers import eml, mbox

FIXTURES = Path(__file__).parent / "fixtures" / "mbox"

# --- HTML as a browser lays it out --------------------------------------------------------------


@pytest.mark.parametrize(("markup", "text"), [
    # The example: source newlines are spaces, <br> one break, blocks their own lines.
    ("<p>Hello, my order\nhas not arrived.</p><p>Second paragraph</p>\n<div>line one<br>\nline two</div>",
     "Hello, my order has not arrived.\n\nSecond paragraph\n\nline one\nline two"),
    # Netscape 1997: one <br> per line inside inline tags, never double-spaced.
    ("<HTML><BODY>\n<B><TT>the hinge needs to be\nfixed-</TT></B><BR>\n<B><TT>could you</TT></B><BR>\n"
     "<B><TT>Karl</TT></B>\n</BODY></HTML>", "the hinge needs to be fixed-\ncould you\nKarl"),
    ("a<br><br>b<br>", "a\n\nb"),
    ("<div><div>Outlook&nbsp;line</div><div>&nbsp;</div><div>next</div></div>", "Outlook line\n\nnext"),
    ("<h1>Title</h1>text <b>bold</b>, <i>it</i>al", "Title\n\ntext bold, ital"),
    ("<ol start='3'><li>three</li><li>four<ul><li>nested</li></ul></li></ol><p>after</p>",
     "3. three\n4. four\n  - nested\n\nafter"),
    ("<pre>  keep   this\n\tindent</pre>", "  keep   this\n\tindent"),
    ('<a href="https://shop.example/t/42">track it</a> or <a href="https://shop.example/">https://shop.example/</a>'
     ' or <a href="mailto:help@shop.example">help@shop.example</a> <a href="#top">top</a>'
     ' <a href="https://x.example/p"><img src="logo.png"></a>',
     "track it (https://shop.example/t/42) or https://shop.example/ or help@shop.example top"),
    ("<p>Thanks!</p><blockquote><p>On Monday Jane wrote:</p><p>where is it?</p></blockquote>",
     "Thanks!\n\n> On Monday Jane wrote:\n\n> where is it?"),
    ("<table><tr><td>Order</td><td>#2051</td></tr><tr><td>Total</td><td>&euro;12&#46;50</td></tr></table>",
     "Order #2051\nTotal €12.50"),
    ("<head><title>t</title><style>p{}</style></head><body><span style='display: none'>preheader</span>"
     "<script>x()</script><!-- c -->Hi&#8203; there</body>", "Hi there"),
])
def test_html_reads_as_a_browser_shows_it(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


def test_html_nested_thousands_deep_does_not_crash() -> None:
    assert html_to_text("<div>" * 5000 + "deep" + "</div>" * 5000) == "deep"


# --- mbox files as mail tools write them ---------------------------------------------------------


@pytest.mark.parametrize(("name", "subjects", "body_line"), [
    ("netscape-1997.mbox", ["Order 1997-0042 arrived damaged"] + ["Re: Order 1997-0042 arrived damaged"] * 2,
     "From what we see the carrier dropped it; we have told them.\nFrom the warehouse: it leaves today."),
    ("thunderbird.mbox", ["Unquoted 1", "Unquoted 2", "Modern CRLF"], "like the next one:\nFrom \nso a reader"),
    ("mailing-list.mbox", ["Welcome to the list", "[shop-users] Tracking numbers",
                           "Re: [shop-users] Tracking numbers", "mutt-style separator with seconds"],
     "From the FAQ: mboxrd escaping is undone."),
])
def test_every_message_of_a_mail_tools_mbox_is_one_record(tmp_path: Path, name: str, subjects: list[str],
                                                          body_line: str) -> None:
    result = run_extractor(gmail, [FIXTURES / name], tmp_path)
    rows = result.tables["messages"]
    assert [r["subject"] for r in rows] == subjects
    assert result.rejects == []
    assert result.manifest["records_seen"] == len(subjects)
    assert any(body_line in (r["body_text"] or "") for r in rows)  # a body line starting "From " split nothing


@pytest.mark.slow
def test_a_netscape_mbox_exports_every_message_and_its_html_as_read(tmp_path: Path) -> None:
    import shutil

    shutil.copy(FIXTURES / "netscape-1997.mbox", tmp_path / "netscape.mbox")
    (tmp_path / "bounce.mbox").write_bytes(mbox(BOUNCE))
    result = run_import(write_config(tmp_path, {"gmail": {"path": ["netscape.mbox", "bounce.mbox"],
                                                          "support_addresses": ["orders@shop.example"],
                                                          "keep_automated": True}}))  # the bounce as read
    assert result.returncode == 0, result.stderr
    counts = result.summary["platforms"]["gmail"]
    assert (counts["records_seen"], counts["exported"], counts["unaccounted"]) == (4, 4, 0)
    bodies = {i["Conversation Item Body"] for i in result.items()}
    assert ("The parcel came today but the lid is broken and the hinge needs to be fixed-\n"
            "could you send a new one?\n\nKarl") in bodies
    assert BOUNCE_TEXT in bodies


# --- bounces ---------------------------------------------------------------------------------------

BOUNCE_TEXT = ("This is the mail system at host mx.example.net.\n\nYour message could not be delivered to "
               "jane@example.org:\n550 5.1.1 User unknown")
BOUNCE = eml({"From": "Mail Delivery System <MAILER-DAEMON@example.net>", "To": "orders@shop.example",
              "Subject": "Undelivered Mail Returned to Sender", "Date": "Mon, 4 Jan 2021 11:00:00 +0100",
              "Message-ID": "<bounce-1@example.net>", "MIME-Version": "1.0",
              "Content-Type": 'multipart/report; report-type=delivery-status; boundary="R"'},
             BOUNCE_TEXT + "\n\n--R\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
             "Final-Recipient: rfc822; jane@example.org\nAction: failed\nStatus: 5.1.1\n\n--R--\n")


def test_a_report_without_a_text_part_gives_its_preamble_and_boilerplate_gives_nothing(tmp_path: Path) -> None:
    boilerplate = BOUNCE.replace(BOUNCE_TEXT.encode(), b"This is a MIME-encapsulated message")
    rows = run_extractor(gmail, [_write(tmp_path / "b.mbox", mbox(BOUNCE, boilerplate))], tmp_path,
                         {"keep_automated": True}).tables["messages"]  # bounces kept: set aside by default
    assert rows[0]["body_text"] == BOUNCE_TEXT
    assert "MIME-encapsulated" not in (rows[1]["body_text"] or "")


# --- damaged and oversize files ------------------------------------------------------------------


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_a_truncated_gzip_keeps_every_one_of_its_1000_emails_before_the_damage(tmp_path: Path) -> None:
    messages = [eml({"From": "a@example.com", "Message-ID": f"<{i}@x>", "Subject": f"s{i}"},
                    f"body {i}\n" + "a line of the email\n" * (i % 40)) for i in range(1000)]
    data = gzip.compress(mbox(*messages))
    for cut in (len(data) - 50, len(data) // 2):
        inflated = zlib.decompressobj(31).decompress(data[:cut])  # what any reader can get back
        whole = inflated.count(b"\nFrom 1688")  # messages followed by the next one's separator
        result = run_extractor(gmail, [_write(tmp_path / f"t{cut}.mbox.gz", data[:cut])], tmp_path / str(cut))
        ids = [r["message_id"] for r in result.tables["messages"]]
        assert ids == [f"<{i}@x>" for i in range(whole)]
        assert [r["reject_reason"] for r in result.rejects] == ["unreadable_file"]


@pytest.mark.parametrize("name", ["t.mbox", "t.mbox.gz"])
def test_a_message_over_the_size_limit_is_one_record_with_its_real_length(
        tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from extract.gmail import mbox as gmail_mbox

    # The limits scaled down 2,000 times (100 MB -> 50 KB): a "1 GB" message of 400 KB.
    monkeypatch.setattr(gmail_mbox, "MAX_MESSAGE_BYTES", 50_000)
    monkeypatch.setattr(gmail_mbox, "OVERSIZE_READ_BYTES", 20_000)
    monkeypatch.setattr(gmail_mbox, "READ_BYTES", 4096)
    big = eml({"From": "a@example.com", "Message-ID": "<big@x>"},
              "start of the body\n" + "x" * 300_000 + "\nFrom the middle, no separator\n" + "y" * 100_000 + "\n")
    small = [eml({"From": "a@example.com", "Message-ID": f"<{i}@x>"}, f"line {i}\n" * 3000) for i in range(6)]
    data = mbox(*small[:3], big, *small[3:])
    path = _write(tmp_path / name, gzip.compress(data) if name.endswith(".gz") else data)
    from extract.context import SourceContext
    from extract.raw import PlatformOutput

    out = PlatformOutput(tmp_path / "raw", "gmail", gmail.TABLES, gmail.RECORD_TABLES)
    gmail.extract(SourceContext(platform="gmail", options={}, base_dir=tmp_path, files=[path]), out,
                  workers=1, chunk_bytes=10_000)
    out.close()
    import pyarrow.parquet as pq

    rows = pq.read_table(out.dir / "messages.parquet").to_pylist()
    assert [r["message_id"] for r in rows] == ["<0@x>", "<1@x>", "<2@x>", "<big@x>", "<3@x>", "<4@x>", "<5@x>"]
    assert pq.read_table(out.rejects_path).num_rows == 0
    record = rows[3]
    assert record["body_text"].startswith("start of the body\nxxx") and len(record["body_text"]) < 20_000
    assert abs(record["byte_length"] - len(big)) <= 2  # the real length, not what was read
    cuts = pq.read_table(out.truncations_path).to_pylist()
    assert [(c["column_name"], c["original_length"], c["length_unit"], c["_source_row"]) for c in cuts] == [
        ("body_text", record["byte_length"], "source bytes", 4)]
    assert out.manifest_row(is_configured=True)["records_seen"] == 7


def test_ctrl_c_during_gmail_shows_no_worker_traceback(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.mbox", mbox(*(eml({"From": "a@example.com"}, "text\n" * 2000) for _ in range(3000))))
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from extract.gmail import blocks_of, parse_blocks\n"
        "for number, _ in enumerate(parse_blocks(blocks_of(Path(sys.argv[1]), 1 << 16), frozenset(), 2)):\n"
        "    if number == 0:  # the other worker may still be starting up\n"
        "        os.killpg(0, signal.SIGINT)  # what the terminal does on Ctrl-C: the whole group\n"
    )
    process = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120,
                             start_new_session=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert process.returncode != 0 and "KeyboardInterrupt" in process.stderr
    assert "SpawnPoolWorker" not in process.stderr and "ForkPoolWorker" not in process.stderr
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_workers_share_the_raw_writers_field_cap_without_importing_pyarrow() -> None:
    from extract.gmail import mime
    from extract.raw import FIELD_CAP_CHARS

    assert mime.FIELD_CAP_CHARS == FIELD_CAP_CHARS
    probe = "import sys, extract.gmail.mbox; print('pyarrow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}).stdout.strip() == "False"
