"""The export is untrusted: no entity from outside the file, no expansion bomb, no network."""

from __future__ import annotations

import http.server
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from extract.readers import bounded_xml
from tests.python.freshdesk_helpers import Extracted, run_extract, ticket, tickets_xml, write_files, write_zip

SECRET = "TOP-SECRET-MARKER-4f1c"
BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE helpdesk-tickets [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<helpdesk-tickets type="array">
""" + ticket(1, subject="&lol9;") + "</helpdesk-tickets>\n"


def external_entity_file(target: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE helpdesk-tickets [ <!ENTITY xxe SYSTEM "{target}"> ]>
<helpdesk-tickets type="array">
""" + ticket(1, subject="before &xxe; after") + "</helpdesk-tickets>\n"


def everything_written(result: Extracted) -> str:
    rows = result.tickets + result.notes + result.users + result.rejects
    return repr(rows)


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET + "\n", encoding="utf-8")
    return path


def test_external_entity_to_etc_passwd_is_rejected_and_not_read(tmp_path: Path) -> None:
    export = write_zip(tmp_path / "export.zip", {
        "Tickets0.xml": external_entity_file("file:///etc/passwd"),
        "Tickets1.xml": tickets_xml(ticket(2)),
    })
    result = run_extract([export], tmp_path / "work")
    assert [t["display_id"] for t in result.tickets] == ["2"]
    assert result.reasons() == ["unsafe_xml"]
    assert "DOCTYPE" in result.rejects[0]["reject_detail"]
    assert "root:" not in everything_written(result)


def test_external_entity_to_a_local_file_never_reaches_the_output(tmp_path: Path, secret_file: Path) -> None:
    export = write_files(tmp_path / "in", {"Tickets0.xml": external_entity_file(secret_file.as_uri())})
    result = run_extract(export, tmp_path / "work")
    assert result.tickets == []
    assert result.reasons() == ["unsafe_xml"]
    assert SECRET not in everything_written(result)


def test_billion_laughs_is_rejected_without_expanding(tmp_path: Path) -> None:
    export = write_files(tmp_path / "in", {"Tickets0.xml": BILLION_LAUGHS})
    started = time.monotonic()
    result = run_extract(export, tmp_path / "work")
    assert time.monotonic() - started < 5  # a guard against a hang, not a benchmark
    assert result.tickets == []
    assert result.reasons() == ["unsafe_xml"]
    assert "lollollol" not in everything_written(result)


def test_doctype_after_a_long_prolog_is_still_rejected(tmp_path: Path, secret_file: Path) -> None:
    padding = "<!--" + "x" * (bounded_xml.PROLOG_BYTES + 10) + "-->\n"
    text = external_entity_file(secret_file.as_uri()).replace("<!DOCTYPE", padding + "<!DOCTYPE", 1)
    export = write_files(tmp_path / "in", {"Tickets0.xml": text})
    result = run_extract(export, tmp_path / "work")
    assert result.tickets == []
    assert result.reasons() == ["unsafe_xml"]
    assert SECRET not in everything_written(result)


def test_parser_alone_never_resolves_an_external_entity(secret_file: Path) -> None:
    """Second line of defence: even past the DOCTYPE checks, the parser leaves the entity unresolved."""
    data = external_entity_file(secret_file.as_uri()).encode()
    seen = []
    for _, element in etree.iterparse(io.BytesIO(data), events=("end",), **bounded_xml.PARSER_OPTIONS):
        seen.append(etree.tostring(element, encoding="unicode"))
    assert SECRET not in "".join(seen)


def test_parser_alone_refuses_an_entity_bomb() -> None:
    with pytest.raises(etree.XMLSyntaxError, match="amplification"):
        for _ in etree.iterparse(io.BytesIO(BILLION_LAUGHS.encode()), events=("end",),
                                 **bounded_xml.PARSER_OPTIONS):
            pass


@pytest.fixture
def local_server() -> Iterator[tuple[str, list[str]]]:
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            requests.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(f'<!ENTITY leak "{SECRET}">'.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


def test_external_dtd_is_never_fetched_over_the_network(tmp_path: Path,
                                                        local_server: tuple[str, list[str]]) -> None:
    url, requests = local_server
    text = (f'<?xml version="1.0"?>\n<!DOCTYPE helpdesk-tickets SYSTEM "{url}/evil.dtd">\n'
            '<helpdesk-tickets type="array">\n' + ticket(1, subject="&leak;") + "</helpdesk-tickets>\n")
    export = write_files(tmp_path / "in", {"Tickets0.xml": text})
    result = run_extract(export, tmp_path / "work")
    assert result.reasons() == ["unsafe_xml"]
    parsed = [etree.tostring(element, encoding="unicode")  # the parser alone: nothing fetched either
              for _, element in etree.iterparse(io.BytesIO(text.encode()), events=("end",),
                                                **bounded_xml.PARSER_OPTIONS)]
    assert SECRET not in "".join(parsed)
    assert requests == []
    assert SECRET not in everything_written(result)
