"""Running the Freshdesk extractor on small hand-written exports, and reading what it wrote."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from extract import freshdesk
from extract.context import SourceContext

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


@dataclass
class Extracted:
    tickets: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    users: list[dict[str, Any]]
    rejects: list[dict[str, Any]]
    files_read: int
    work_dir: Path

    def reasons(self) -> list[str]:
        return sorted(r["reject_reason"] for r in self.rejects)


def tickets_xml(*tickets: str) -> str:
    return XML_DECLARATION + '<helpdesk-tickets type="array">\n' + "".join(tickets) + "</helpdesk-tickets>\n"


def users_xml(*users: str) -> str:
    return XML_DECLARATION + '<users type="array">\n' + "".join(users) + "</users>\n"


def ticket(display_id: int = 1, *, extra: str = "", notes: str = "", wrapper: str = "notes",
           deleted: str = "false", spam: str = "false", subject: str = "Where is my order?") -> str:
    return f"""  <helpdesk-ticket>
    <created-at type="datetime">2023-11-02T10:15:00+05:30</created-at>
    <deleted type="boolean">{deleted}</deleted>
    <description>My order has not arrived.</description>
    <description-html>&lt;div&gt;My order has not arrived.&lt;/div&gt;</description-html>
    <display-id type="integer">{display_id}</display-id>
    <id type="integer">{7000 + display_id}</id>
    <{wrapper} type="array">{notes}</{wrapper}>
    <requester-id type="integer">40001</requester-id>
    <spam type="boolean">{spam}</spam>
    <subject>{subject}</subject>
    <requester-name>José Álvarez</requester-name>
{extra}  </helpdesk-ticket>
"""


def note(note_id: int, body: str = "We are on it.", *, deleted: str = "false", private: str = "false") -> str:
    return f"""
      <helpdesk-note>
        <body>{body}</body>
        <body-html>&lt;p&gt;{body}&lt;/p&gt;</body-html>
        <created-at type="datetime">2023-11-02T11:00:00+05:30</created-at>
        <deleted type="boolean">{deleted}</deleted>
        <id type="integer">{note_id}</id>
        <incoming type="boolean">false</incoming>
        <private type="boolean">{private}</private>
        <user-id type="integer">90001</user-id>
      </helpdesk-note>
"""


def user(user_id: int = 40001, email: str = "<email>jose@example.com</email>",
         phone: str = '<phone nil="true"></phone>', mobile: str = "<mobile>+34 612 345 678</mobile>") -> str:
    return f"""  <user>
    {email}
    <helpdesk-agent type="boolean">false</helpdesk-agent>
    <id type="integer">{user_id}</id>
    {mobile}
    <name>José Álvarez</name>
    {phone}
  </user>
"""


def write_zip(path: Path, members: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            archive.writestr(name, text.encode("utf-8") if isinstance(text, str) else text)
    return path


def write_files(folder: Path, members: dict[str, str | bytes]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in members.items():
        path = folder / name
        path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
        paths.append(path)
    return paths


def _rows(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist() if path.exists() else []


def run_extract(files: list[Path], work_dir: Path, base_dir: Path | None = None) -> Extracted:
    """Run extract.freshdesk on the given files (zips or XML), as the runner does."""
    raw_dir = work_dir / "raw"
    out = freshdesk.PLATFORM.output(raw_dir)
    ctx = SourceContext(platform=freshdesk.PLATFORM.name, options={"path": "x"}, base_dir=base_dir or work_dir,
                        files=files, state_dir=work_dir / "state")
    freshdesk.extract(ctx, out)
    out.close()
    return Extracted(
        tickets=_rows(raw_dir / "freshdesk" / "tickets.parquet"),
        notes=_rows(raw_dir / "freshdesk" / "ticket_notes.parquet"),
        users=_rows(raw_dir / "freshdesk" / "users.parquet"),
        rejects=_rows(out.rejects_path),
        files_read=out.files_read,
        work_dir=work_dir,
    )
