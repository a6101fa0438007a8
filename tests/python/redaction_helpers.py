"""Secrets planted in a copy of the bundled samples: one record or more per platform, each in the
platform's own format, holding card numbers (the schemes' test numbers, typed with spaces, dashes
or none), IBANs, a US social security number and a custom token, in titles, bodies and rejected
records. ``plant`` returns what a run with ``REDACT_EVERYTHING`` must have removed, per platform
and kind, and every value as written, so a test can look for each in every file the run leaves.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.python.freshdesk_helpers import tickets_xml, users_xml, write_zip

REDACT_EVERYTHING = {"card_numbers": True, "iban": True, "us_ssn": True,
                     "patterns": [{"name": "order_token", "regex": "tok_[A-Za-z0-9]{24}"}]}

# The CSV row without an ID: its id must be the one the same row has without redaction.
CSV_ROW_WITHOUT_ID = {"email": "planted.csv@example.com", "occurred_at": "2021-05-02T10:00:00Z",
                      "title": "Card 3782 822463 10005", "body": "SSN 536-90-4399, token tok_4eC39HqLyjWDarjtT1zdp7dc",
                      "source_name": "Help Scout"}


@dataclass
class Planted:
    values: list[str] = field(default_factory=list)  # every value as written
    expected: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)  # platform -> kind -> items, values

    def expect(self, platform: str, kind: str, items: int, values: int) -> None:
        self.expected.setdefault(platform, {})[kind] = {"items": items, "values": values}

    def forms(self) -> list[str]:
        """Each value as written and as its bare digits and letters (how a careless copy would hold it)."""
        return sorted({*self.values, *(re.sub(r"[^0-9A-Za-z]", "", v) for v in self.values)})


def plant(samples: Path) -> Planted:
    """Plant the secrets into ``samples`` (a copy of samples/), turn every kind on in its config."""
    planted = Planted()

    # Zendesk: a ticket whose subject holds a card (both comments take it as their title), a card
    # in the first comment's body (as text, HTML and plain text: one body), an IBAN in the second;
    # a line cut off mid-record holding another card (a malformed_json reject and its excerpt).
    zendesk_card, body_card, iban, rejected_card = ("4111 1111 1111 1111", "5555-5555-5555-4444",
                                                    "DE89 3704 0044 0532 0130 00", "4012888888881881")
    ticket = {"id": 990001, "subject": f"Card {zendesk_card} charged twice", "status": "solved",
              "created_at": "2021-05-01T09:00:00Z", "updated_at": "2021-05-01T12:00:00Z",
              "requester": {"id": 77, "name": "Pat Planted", "email": "pat.planted@example.com"},
              "comments": [
                  {"id": 1, "author_id": 77, "public": True, "created_at": "2021-05-01T09:00:00Z",
                   "body": f"My Mastercard {body_card} was charged twice.",
                   "html_body": f"<p>My Mastercard {body_card} was charged twice.</p>",
                   "plain_body": f"My Mastercard {body_card} was charged twice."},
                  {"id": 2, "author_id": 501, "public": True, "created_at": "2021-05-01T11:00:00Z",
                   "body": f"Refund sent to {iban}.", "html_body": f"<p>Refund sent to {iban}.</p>"}]}
    (samples / "zendesk" / "planted.json").write_text(
        json.dumps(ticket) + "\n" + '{"id": 990002, "subject": "card ' + rejected_card + ' cut off\n', encoding="utf-8")
    planted.values += [zendesk_card, body_card, iban, rejected_card]
    planted.expect("zendesk", "card_number", items=3, values=4)
    planted.expect("zendesk", "iban", items=1, values=1)

    # CSV: a row without an ID (an exported item: card in the title, SSN and token in the body); a
    # row without an email (rejected by Gladly's rules: its title is the rejects' excerpt); a row
    # with a field too many (rejected as it is read: its text is the excerpt).
    row = CSV_ROW_WITHOUT_ID
    (samples / "csv" / "planted.csv").write_text(
        "Conversation Item ID,Customer Email,Customer Name,Customer Phone,Conversation Item Timestamp,"
        "Conversation Item Title,Conversation Item Body,Conversation Item Source,Tags\r\n"
        f",{row['email']},Csv Planted,,{row['occurred_at']},{row['title']},\"{row['body']}\",{row['source_name']},\r\n"
        "pl-2,,No Email,,2021-05-02T11:00:00Z,Pay with 6011 1111 1111 1117,please,Help Scout,\r\n"
        "pl-3,x@example.com,Extra,,2021-05-02T12:00:00Z,Card 5105105105105100,body,Help Scout,,one too many\r\n",
        encoding="utf-8")
    planted.values += ["3782 822463 10005", "536-90-4399", "tok_4eC39HqLyjWDarjtT1zdp7dc", "6011 1111 1111 1117",
                       "5105105105105100"]
    planted.expect("csv", "card_number", items=3, values=3)
    planted.expect("csv", "us_ssn", items=1, values=1)
    planted.expect("csv", "order_token", items=1, values=1)

    # Gmail: a message with a card in its subject and body (typed two ways) and an IBAN in its body.
    (samples / "gmail" / "planted.mbox").write_text(
        "From 1688001000000099001@xxx Sun May 02 10:00:00 +0000 2021\n"
        "X-Gmail-Labels: Inbox\n"
        "From: Gil Planted <gil.planted@example.com>\n"
        "To: Shop Support <support@shop.example>\n"
        "Date: Sun, 2 May 2021 10:00:00 +0000\n"
        "Message-ID: <planted-99001@mail.example.com>\n"
        "Subject: Card 3530 1113 3330 0000\n"
        "Content-Type: text/plain; charset=\"UTF-8\"\n"
        "\n"
        "My JCB card 3530-1113-3330-0000 again; refund to GB82 WEST 1234 5698 7654 32 please.\n", encoding="utf-8")
    planted.values += ["3530 1113 3330 0000", "3530-1113-3330-0000", "GB82 WEST 1234 5698 7654 32"]
    planted.expect("gmail", "card_number", items=1, values=2)
    planted.expect("gmail", "iban", items=1, values=1)

    # Freshdesk: a second export zip; the ticket's subject (every item's title) holds a card, its
    # description an IBAN, its note an SSN and another card.
    write_zip(samples / "freshdesk" / "planted.zip", {
        "Tickets0.xml": tickets_xml("""  <helpdesk-ticket>
    <created-at type="datetime">2021-05-03T10:15:00+05:30</created-at>
    <deleted type="boolean">false</deleted>
    <description>Refund to FR14 2004 1010 0505 0001 3M02 606 please</description>
    <description-html>&lt;div&gt;Refund to FR14 2004 1010 0505 0001 3M02 606 please&lt;/div&gt;</description-html>
    <display-id type="integer">99901</display-id>
    <id type="integer">8899901</id>
    <notes type="array">
      <helpdesk-note>
        <body>SSN 536-90-4399, card 4242 4242 4242 4242</body>
        <body-html>&lt;p&gt;SSN 536-90-4399, card 4242 4242 4242 4242&lt;/p&gt;</body-html>
        <created-at type="datetime">2021-05-03T11:00:00+05:30</created-at>
        <deleted type="boolean">false</deleted>
        <id type="integer">8899902</id>
        <incoming type="boolean">true</incoming>
        <private type="boolean">false</private>
        <user-id type="integer">49901</user-id>
      </helpdesk-note>
    </notes>
    <requester-id type="integer">49901</requester-id>
    <spam type="boolean">false</spam>
    <subject>Card 3566 0020 2036 0505</subject>
    <requester-name>Fran Planted</requester-name>
  </helpdesk-ticket>
"""),
        "Users0.xml": users_xml("""  <user>
    <email>fran.planted@example.com</email>
    <helpdesk-agent type="boolean">false</helpdesk-agent>
    <id type="integer">49901</id>
    <name>Fran Planted</name>
  </user>
"""),
    })
    planted.values += ["3566 0020 2036 0505", "FR14 2004 1010 0505 0001 3M02 606", "4242 4242 4242 4242"]
    planted.expect("freshdesk", "card_number", items=2, values=3)
    planted.expect("freshdesk", "iban", items=1, values=1)
    planted.expect("freshdesk", "us_ssn", items=1, values=1)

    # Kustomer (the simulator's data): a message whose preview holds a card and subject an IBAN.
    messages = samples / "kustomer" / "messages.jsonl"
    first = json.loads(messages.read_text(encoding="utf-8").splitlines()[0])
    message = {**first, "id": "99a0c0ffee0000000000beef"}
    message["attributes"] = {**first["attributes"], "preview": "Card 3056 930902 5904 please",
                             "subject": "Refund to NL91ABNA0417164300", "createdAt": "2019-01-01T03:00:00.000Z",
                             "sentAt": "2019-01-01T03:00:00.000Z", "updatedAt": "2019-01-01T03:00:00.000Z"}
    _append(messages, message)
    planted.values += ["3056 930902 5904", "NL91ABNA0417164300"]
    planted.expect("kustomer", "card_number", items=1, values=1)
    planted.expect("kustomer", "iban", items=1, values=1)

    # Gorgias (the simulator's data): a ticket whose subject holds a card (its message has none of
    # its own and takes it: a value, but the ticket is no item), a message with a card in its body.
    tickets, gorgias_messages = samples / "gorgias" / "tickets.jsonl", samples / "gorgias" / "messages.jsonl"
    first_ticket = json.loads(tickets.read_text(encoding="utf-8").splitlines()[0])
    first_message = json.loads(gorgias_messages.read_text(encoding="utf-8").splitlines()[0])
    ticket_id = 99990001
    _append(tickets, {**first_ticket, "id": ticket_id, "uri": f"/api/tickets/{ticket_id}/",
                      "subject": "Charged twice on 6200 0000 0000 0005",
                      "customer": {**first_ticket["customer"], "email": "gina.planted@example.com"}})
    card = "5200 8282 8282 8210"
    _append(gorgias_messages, {**first_message, "id": 99990002, "ticket_id": ticket_id, "subject": None,
                               "uri": f"/api/tickets/{ticket_id}/messages/99990002/",
                               "body_text": f"Card {card}", "body_html": f"<p>Card {card}</p>",
                               "stripped_text": f"Card {card}"})
    planted.values += ["6200 0000 0000 0005", card]
    planted.expect("gorgias", "card_number", items=1, values=2)

    config_path = samples / "config.yml"
    config: dict[str, Any] = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config["sources"]["freshdesk"]["path"] = ["freshdesk/freshdesk_export.zip", "freshdesk/planted.zip"]
    config["redact"] = REDACT_EVERYTHING
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return planted


def _append(path: Path, item: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(item) + "\n")


def totals(expected: dict[str, dict[str, dict[str, int]]]) -> dict[str, dict[str, int]]:
    summed: dict[str, dict[str, int]] = {}
    for kinds in expected.values():
        for kind, counts in kinds.items():
            total = summed.setdefault(kind, {"items": 0, "values": 0})
            total["items"] += counts["items"]
            total["values"] += counts["values"]
    return dict(sorted(summed.items()))
