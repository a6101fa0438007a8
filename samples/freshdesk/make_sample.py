"""Build samples/freshdesk/freshdesk_export.zip: a small Freshdesk data export, with its rough edges.

    python samples/freshdesk/make_sample.py

Same bytes on every run. What it holds, as a Freshdesk account export would:
Tickets0.xml and Tickets1.xml, ArchivedTickets0.xml, users split over Users0.xml
and Users1.xml (one user in both), and Companies.xml / Groups.xml (not needed).
Rough edges: notes under <notes> and under <helpdesk-notes>, datetimes with
UTC offsets, nil="true" fields, a deleted ticket, a spam ticket, a deleted note,
a requester without email, a requester missing from the users files, a ticket
without subject, a user with only a mobile number.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
ZIP_PATH = HERE / "freshdesk_export.zip"
FIXED_TIME = (2024, 2, 1, 9, 30, 0)
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


def field(name: str, value: object, kind: str | None = None) -> str:
    """One Rails-typed XML field; None is written nil="true"."""
    typed = f' type="{kind}"' if kind else ""
    if value is None:
        return f'    <{name}{typed} nil="true"></{name}>\n'
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"    <{name}{typed}>{escape(str(value))}</{name}>\n"


def note(note_id: int, body: str, created_at: str, user_id: int, private: bool = False,
         incoming: bool = False, deleted: bool = False) -> str:
    return (
        "      <helpdesk-note>\n"
        + field("body", body)
        + field("body-html", f"<div>{body}</div>")
        + field("created-at", created_at, "datetime")
        + field("deleted", deleted, "boolean")
        + field("id", note_id, "integer")
        + field("incoming", incoming, "boolean")
        + field("private", private, "boolean")
        + field("source", 2, "integer")
        + field("user-id", user_id, "integer")
        + '        <attachments type="array"/>\n'
        + "      </helpdesk-note>\n"
    )


def ticket(ticket_id: int, display_id: int, subject: str | None, description: str, requester_id: int,
           requester_name: str, created_at: str, notes: list[str], wrapper: str = "notes",
           deleted: bool = False, spam: bool = False, tags: tuple[str, ...] = ()) -> str:
    tag_xml = "".join(f"      <tag>\n        <name>{escape(t)}</name>\n      </tag>\n" for t in tags)
    notes_xml = (f'    <{wrapper} type="array">\n' + "".join(notes) + f"    </{wrapper}>\n"
                 if notes else f'    <{wrapper} type="array"/>\n')
    return (
        "  <helpdesk-ticket>\n"
        + field("account-id", 381223, "integer")
        + field("cc-email", None)
        + field("created-at", created_at, "datetime")
        + field("deleted", deleted, "boolean")
        + field("description", description)
        + field("description-html", "<div>" + description.replace("\n", "<br>") + "</div>")
        + field("display-id", display_id, "integer")
        + field("due-by", "2023-11-20T18:00:00+05:30", "datetime")
        + field("email-config-id", None, "integer")
        + field("group-id", None, "integer")
        + field("id", ticket_id, "integer")
        + notes_xml
        + field("owner-id", None, "integer")
        + field("priority", 1, "integer")
        + field("requester-id", requester_id, "integer")
        + field("spam", spam, "boolean")
        + field("status", 5, "integer")
        + field("subject", subject)
        + field("updated-at", created_at, "datetime")
        + field("status-name", "Closed")
        + field("priority-name", "Low")
        + field("source-name", "Email")
        + field("requester-name", requester_name)
        + field("responder-name", "Priya Raman")
        + '    <tags type="array">\n' + tag_xml + "    </tags>\n"
        + '    <attachments type="array"/>\n'
        + "  </helpdesk-ticket>\n"
    )


def tickets_file(tickets: list[str]) -> str:
    return XML_DECLARATION + '<helpdesk-tickets type="array">\n' + "".join(tickets) + "</helpdesk-tickets>\n"


def user(user_id: int, name: str, email: str | None, phone: str | None, mobile: str | None,
         agent: bool = False) -> str:
    return (
        "  <user>\n"
        + field("active", True, "boolean")
        + field("created-at", "2019-02-11T08:00:00+05:30", "datetime")
        + field("deleted", False, "boolean")
        + field("email", email)
        + field("helpdesk-agent", agent, "boolean")
        + field("id", user_id, "integer")
        + field("job-title", None)
        + field("language", "en")
        + field("mobile", mobile)
        + field("name", name)
        + field("phone", phone)
        + field("time-zone", "Chennai")
        + "  </user>\n"
    )


def users_file(users: list[str]) -> str:
    return XML_DECLARATION + '<users type="array">\n' + "".join(users) + "</users>\n"


AGENT = 90001

TICKETS_0 = tickets_file([
    ticket(7001, 101, "Order #5521 arrived damaged",
           "Hi,\nthe mug in order #5521 arrived in pieces. Can you send a new one?\n\nThanks, José",
           40001, "José Álvarez", "2023-11-02T10:15:00+05:30", [
               note(8001, "Sorry to hear that, José! A replacement ships today.", "2023-11-02T11:00:00+05:30",
                    AGENT),
               note(8002, "Internal: refund approved by Priya", "2023-11-02T11:05:00+05:30", AGENT,
                    private=True),
               note(8003, "duplicate reply, removed", "2023-11-02T11:06:00+05:30", AGENT, deleted=True),
               note(8004, "Got it, thank you! 🙏", "2023-11-03T08:20:00+05:30", 40001, incoming=True),
           ], tags=("damaged", "replacement")),
    ticket(7002, 102, "Can't log in – password reset mail never comes",
           "I've asked for a reset 3 times & nothing arrives. <Spam folder checked>",
           40002, "山田 花子", "2023-11-05T23:50:00-08:00", [
               note(8010, "We re-sent it from a new address; please check again.", "2023-11-06T09:00:00-08:00",
                    AGENT),
           ], wrapper="helpdesk-notes"),
    ticket(7003, 103, "Test ticket, please ignore", "test", 40001, "José Álvarez",
           "2023-11-07T09:00:00+05:30", [note(8020, "closing test", "2023-11-07T09:01:00+05:30", AGENT)],
           deleted=True),
])

TICKETS_1 = tickets_file([
    ticket(7004, 104, "CHEAP WATCHES!!!", "Buy now at http://example.invalid", 40005, "Promo Bot",
           "2023-11-08T03:00:00+00:00", [], spam=True),
    ticket(7005, 105, "Question about invoice", "Where can I download my November invoice?", 40003,
           "Kwame Mensah", "2023-11-09T14:30:00+01:00", [
               note(8030, "Under Account > Billing.", "2023-11-09T15:00:00+01:00", AGENT),
           ]),
    ticket(7006, 106, "Wrong size", "I ordered an M and received an XL.", 40099, "Lena Fischer",
           "2023-11-10T12:00:00+01:00", []),
    ticket(7007, 107, None, "(no subject)\nplease call me back", 40004, "Ana Souza",
           "2023-11-11T16:45:00-03:00", []),
])

ARCHIVED_TICKETS_0 = tickets_file([
    ticket(5001, 12, "Shipping to Canada?", "Do you ship to Canada, and how long does it take?", 40002,
           "山田 花子", "2018-06-30T22:10:00+09:00", [
               note(6001, "Yes: 5 to 8 business days.", "2018-07-01T01:00:00+00:00", AGENT),
           ]),
])

USERS_0 = users_file([
    user(40001, "José Álvarez", "jose.alvarez@example.com", "+34 912 345 678", "+34 612 345 678"),
    user(40002, "山田 花子", "HANAKO.YAMADA@Example.JP", None, "+81 90-1234-5678"),
    user(AGENT, "Priya Raman", "priya@support.example.com", None, None, agent=True),
])

USERS_1 = users_file([
    user(40003, "Kwame Mensah", None, "+233 30 123 4567", None),
    user(40004, "Ana Souza", "ana.souza@example.com.br", "", "+55 11 91234-5678"),
    user(40005, "Promo Bot", "promo@spam.example", None, None),
    user(40002, "山田 花子", "hanako.yamada@example.jp", None, "+81 90-1234-5678"),
])

COMPANIES = XML_DECLARATION + '<companies type="array">\n  <company><id type="integer">1</id>' \
    "<name>Example Co</name></company>\n</companies>\n"
GROUPS = XML_DECLARATION + '<groups type="array">\n  <group><id type="integer">1</id>' \
    "<name>Support</name></group>\n</groups>\n"

MEMBERS = {
    "Tickets0.xml": TICKETS_0,
    "Tickets1.xml": TICKETS_1,
    "ArchivedTickets0.xml": ARCHIVED_TICKETS_0,
    "Users0.xml": USERS_0,
    "Users1.xml": USERS_1,
    "Companies.xml": COMPANIES,
    "Groups.xml": GROUPS,
}


def build(path: Path = ZIP_PATH) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in MEMBERS.items():
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, text.encode("utf-8"))
    return path


if __name__ == "__main__":
    print(f"wrote {build()}")
