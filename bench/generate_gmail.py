"""A Google Takeout mbox of a support inbox, generated: same seed, same bytes.

Most messages look like Gmail's own (Received/ARC/DKIM header walls,
multipart/alternative with quoted-printable or base64 text and HTML parts, some
attachments); a few percent are the ugly cases real exports carry: CRLF line
endings, lying or missing charsets, raw 8-bit headers, RFC 2047 subjects,
``>From `` escaping, HTML-only mail, no body, chats, bounces, missing dates and
bytes that are no email at all.

    python -m bench.generate_gmail OUT.mbox --items 100000
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

SUPPORT = "support@shop.example"
FIRST = ["Jane", "Omar", "Léa", "Jürgen", "Aiko", "Carlos", "Priya", "Chen", "Fatima", "Noah", "Zoë", "Mateo"]
LAST = ["Doe", "Haddad", "Martin", "Müller", "Tanaka", "García", "Patel", "Wei", "Khan", "Smith", "O'Brien"]
DOMAINS = ["example.com", "mail.example.org", "example.net", "corp.example.co.uk", "example.de"]
TOPICS = ["Order #{n} arrived damaged", "Where is my refund for #{n}?", "Change shipping address",
          "Question about sizing", "Re: Your order #{n} has shipped", "Invoice request #{n}",
          "Produkt defekt – Bestellung {n}", "Commande {n} non reçue", "ご注文 {n} について"]
SENTENCES = [
    "Thanks for getting back to me so quickly.", "The box was crushed when it arrived.",
    "Could you send a replacement, or refund the order?", "I have attached a photo of the damage.",
    "We are sorry to hear that your order arrived damaged.", "A replacement ships today by express.",
    "Your refund was issued to the original payment method.", "It can take 5-10 business days to appear.",
    "Please reply to this email if anything else comes up.", "Das Paket kam leider beschädigt an.",
    "Merci de votre réponse rapide, très appréciée.", "ご確認のほどよろしくお願いいたします。",
    "The tracking number says delivered, but nothing is at my door.", "Is the size chart true to fit?",
    "From what I can see, the parcel is still at the depot.", "Best regards, and have a great week!",
]
LABEL_SETS = [["Inbox", "Important", "Opened"], ["Inbox", "Opened", "Category Updates"], ["Archived", "Opened"],
              ["Inbox", "Unread"], ["Opened", "Support/Escalated", "Inbox"], ['"Orders, 2021"', "Opened"]]
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
UGLY_CASES = ["html_only", "no_body", "chat", "bounce", "lying_charset", "raw_8bit_header", "no_date",
              "from_escape", "latin1_body", "not_an_email", "attachment_only", "encoded_from"]


def _b64_lines(data: bytes) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


def _qp(text: str, charset: str = "utf-8") -> str:
    return binascii.b2a_qp(text.encode(charset)).decode("ascii")


def _encoded_word(text: str) -> str:
    return "=?UTF-8?B?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="


class MboxWriter:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.start = dt.datetime(2021, 1, 4, 8, 0, tzinfo=dt.UTC)

    def person(self) -> tuple[str, str]:
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        local = f"{first}.{last}".lower().encode("ascii", "ignore").decode().replace("'", "")
        return f"{first} {last}", f"{local}{self.rng.randint(1, 999)}@{self.rng.choice(DOMAINS)}"

    def text(self, low: int, high: int) -> str:
        paragraphs = []
        for _ in range(self.rng.randint(low, high)):
            paragraphs.append(" ".join(self.rng.choice(SENTENCES) for _ in range(self.rng.randint(2, 6))))
        return "\n\n".join(paragraphs)

    def html(self, text: str) -> str:
        paragraphs = "".join(f"<p style=\"margin:0 0 12px 0;font-family:Arial\">{p}</p>" for p in text.split("\n\n"))
        return (f'<html><head><style>p {{ color: #222; }}</style></head><body><div dir="ltr">{paragraphs}'
                '<div class="gmail_signature"><table><tr><td>Shop Support</td><td>+1 415 555 0100</td></tr>'
                "</table></div></div></body></html>")

    def header_wall(self, when: dt.datetime, sender: str) -> list[str]:
        r = self.rng
        stamp = when.strftime("%a, %d %b %Y %H:%M:%S -0800 (PST)")
        sig = base64.b64encode(r.randbytes(192)).decode()
        wall = [
            f"Delivered-To: {SUPPORT}",
            f"Received: by 2002:a05:6a10:{r.randint(1000, 9999)}:b0:{r.randint(100, 999)}:{r.randint(1, 99)} "
            f"with SMTP id k{r.randint(10**6, 10**7)}csp{r.randint(10**5, 10**6)}pxb;\n        {stamp}",
            f"X-Google-Smtp-Source: {base64.b64encode(r.randbytes(60)).decode()}",
            f"X-Received: by 2002:a17:90a:{r.randint(1000, 9999)} with SMTP id {r.randint(10**8, 10**9)}.{r.randint(1, 99)};"
            f"\n        {stamp}",
            "ARC-Seal: i=1; a=rsa-sha256; t=1609747200; cv=none;\n        d=google.com; s=arc-20160816;\n"
            f"        b={sig[:70]}\n         {sig[70:140]}\n         {sig[140:]}",
            f"Return-Path: <{sender}>",
            f"Received: from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41])\n        by mx.google.com "
            f"with SMTPS id {r.randint(10**6, 10**7)}sor.{r.randint(1, 99)}.2021.01.04.08.00.00\n        for <{SUPPORT}>"
            f"\n        (Google Transport Security);\n        {stamp}",
            f"Received-SPF: pass (google.com: domain of {sender} designates 209.85.220.41 as permitted sender)"
            " client-ip=209.85.220.41;",
            f"Authentication-Results: mx.google.com;\n       dkim=pass header.i=@{sender.split('@')[1]};\n"
            f"       spf=pass smtp.mailfrom={sender}",
            f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\n        d={sender.split('@')[1]}; s=20161025;\n"
            "        h=mime-version:from:date:message-id:subject:to;\n"
            f"        bh={base64.b64encode(r.randbytes(32)).decode()};\n        b={sig[:72]}\n         {sig[72:]}",
            "MIME-Version: 1.0",
        ]
        return wall

    def message(self, index: int, ugly: str | None) -> bytes:
        r = self.rng
        when = self.start + dt.timedelta(minutes=index * 7 + r.randint(0, 6))
        customer_name, customer = self.person()
        is_sent = r.random() < 0.3
        sender_name, sender = ("Shop Support", SUPPORT) if is_sent else (customer_name, customer)
        to_name, to = (customer_name, customer) if is_sent else ("Shop Support", SUPPORT)
        labels = list(r.choice(LABEL_SETS)) + (["Sent"] if is_sent else [])
        subject = r.choice(TOPICS).format(n=r.randint(1000, 99999))
        thread = r.randint(10**18, 9 * 10**18)
        separator = f"From {thread}@xxx {when.strftime('%a %b %d %H:%M:%S +0000 %Y')}"
        date = (when.astimezone(dt.timezone(dt.timedelta(hours=1)))).strftime("%a, %-d %b %Y %H:%M:%S +0100")
        body = self.text(1, 6)

        if ugly == "chat":
            labels = ["Chat"]
        subject_header = subject if subject.isascii() else _encoded_word(subject)
        from_header = f'"{sender_name}" <{sender}>' if r.random() < 0.5 else f"{sender_name} <{sender}>"
        if not sender_name.isascii() or ugly == "encoded_from":
            from_header = f"{_encoded_word(sender_name)} <{sender}>"
        headers = [f"X-GM-THRID: {thread}", f"X-Gmail-Labels: {','.join(labels)}"]
        headers += self.header_wall(when, sender)
        headers += [f"From: {from_header}"]
        if ugly != "no_date":
            headers.append(f"Date: {date}")
        headers += [f"Message-ID: <CA{r.randbytes(12).hex()}@mail.gmail.com>", f"Subject: {subject_header}",
                    f"To: {to_name} <{to}>"]
        boundary = f"0000000000{r.randbytes(8).hex()}"

        parts: list[str]
        if ugly == "not_an_email":
            return self._join(separator, [f"{r.randbytes(30).hex()} damaged export bytes"], [self.text(1, 2)], "utf-8")
        if ugly == "raw_8bit_header":
            headers[-2] = f"Subject: Réclamation commande {r.randint(1000, 9999)} – urgent"
        if ugly == "html_only":
            headers += ['Content-Type: text/html; charset="UTF-8"', "Content-Transfer-Encoding: quoted-printable"]
            parts = ["", _qp(self.html(body))]
        elif ugly == "no_body":
            headers += ['Content-Type: text/plain; charset="UTF-8"']
            parts = [""]
        elif ugly == "lying_charset":
            headers += ['Content-Type: text/plain; charset="gb2312"', "Content-Transfer-Encoding: base64"]
            parts = ["", _b64_lines(("您好，我的订单还没有到。" + body).encode("gbk", "replace"))]
        elif ugly == "latin1_body":
            headers += ["Content-Type: text/plain", "Content-Transfer-Encoding: 8bit"]
            return self._join(separator, headers, ["", body], "latin-1")
        elif ugly == "bounce":
            at = next(i for i, h in enumerate(headers) if h.startswith("From: "))
            headers[at] = "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>"
            headers += [f'Content-Type: multipart/report; boundary="{boundary}"; report-type=delivery-status']
            parts = ["", f"--{boundary}", "Content-Type: text/plain; charset=\"UTF-8\"", "",
                     f"Address not found: your message wasn't delivered to {customer}.", f"--{boundary}",
                     "Content-Type: message/delivery-status", "", "Reporting-MTA: dns; googlemail.com", "",
                     f"Final-Recipient: rfc822; {customer}", "Action: failed", "Status: 5.1.1", f"--{boundary}",
                     "Content-Type: message/rfc822", "", f"From: {SUPPORT}", f"To: {customer}", "Subject: Re: order",
                     "", "Original text.", f"--{boundary}--"]
        elif ugly == "attachment_only":
            headers += [f'Content-Type: multipart/mixed; boundary="{boundary}"']
            parts = ["", f"--{boundary}", 'Content-Type: application/pdf; name="label.pdf"',
                     'Content-Disposition: attachment; filename="label.pdf"', "Content-Transfer-Encoding: base64", "",
                     _b64_lines(r.randbytes(r.randint(2000, 20000))), f"--{boundary}--"]
        else:
            parts = self.alternative(headers, boundary, body, ugly)
        return self._join(separator, headers, parts, "utf-8")

    def alternative(self, headers: list[str], boundary: str, body: str, ugly: str | None) -> list[str]:
        r = self.rng
        if ugly == "from_escape":
            body += "\n>From the warehouse: the parcel left on Monday.\n"
        quoted = "\n".join("> " + line for line in self.text(1, 4).split("\n")) if r.random() < 0.5 else ""
        plain = body + ("\n\nOn Mon, Jan 4, 2021 at 9:00 AM Shop Support <support@shop.example> wrote:\n" + quoted
                        if quoted else "")
        encoding = r.choice(["quoted-printable", "quoted-printable", "base64", "7bit"])
        if encoding == "7bit" and not plain.isascii():
            encoding = "quoted-printable"
        encoded_plain = {"quoted-printable": lambda: _qp(plain), "base64": lambda: _b64_lines(plain.encode()),
                         "7bit": lambda: plain}[encoding]()
        alt = [f"--{boundary}", 'Content-Type: text/plain; charset="UTF-8"',
               f"Content-Transfer-Encoding: {encoding}", "", encoded_plain, f"--{boundary}",
               'Content-Type: text/html; charset="UTF-8"', "Content-Transfer-Encoding: quoted-printable", "",
               _qp(self.html(plain)), f"--{boundary}--"]
        if r.random() < 0.12:  # with an attachment: multipart/mixed around the alternative
            outer = "0000000000" + r.randbytes(8).hex()
            headers.append(f'Content-Type: multipart/mixed; boundary="{outer}"')
            name = r.choice(["photo.jpg", "invoice.pdf", "damage.png"])
            return ["", f"--{outer}", f'Content-Type: multipart/alternative; boundary="{boundary}"', "", *alt, "",
                    f"--{outer}", f'Content-Type: application/octet-stream; name="{name}"',
                    f'Content-Disposition: attachment; filename="{name}"', "Content-Transfer-Encoding: base64",
                    f"X-Attachment-Id: f_{r.randbytes(5).hex()}", "",
                    _b64_lines(r.randbytes(r.randint(20_000, 250_000))), f"--{outer}--"]
        headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        return ["", *alt]

    def _join(self, separator: str, headers: list[str], parts: list[str], charset: str) -> bytes:
        text = "\n".join(headers) + "\n" + "\n".join(parts) + "\n"
        text = "\n".join((">" + line) if line.lstrip(">").startswith("From ") else line for line in text.split("\n"))
        newline = "\r\n" if self.rng.random() < 0.5 else "\n"
        data = (separator + "\n").encode() + text.replace("\n", newline).encode(charset, errors="replace")
        return data + newline.encode()


def generate(out_path_or_dir: str | Path, n_items: int, seed: int = 42) -> dict[str, Any]:
    """Write ``n_items`` messages to one mbox file; returns what was written.

    A path ending in ``.mbox`` is the file; anything else is a folder that gets ``takeout.mbox``.
    """
    rng = random.Random(seed)
    writer = MboxWriter(rng)
    path = Path(out_path_or_dir)
    if path.suffix != ".mbox":
        path = path / "takeout.mbox"
    path.parent.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with open(path, "wb") as handle:
        for index in range(n_items):
            ugly = rng.choice(UGLY_CASES) if rng.random() < 0.04 else None
            counts[ugly or "common"] = counts.get(ugly or "common", 0) + 1
            handle.write(writer.message(index, ugly))
    return {"platform": "gmail", "path": str(path), "config": {"path": str(path), "support_addresses": [SUPPORT]},
            "records": n_items, "items": n_items, "bytes": path.stat().st_size, "seed": seed, "cases": counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the mbox file (or folder) to write")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    print(json.dumps(generate(args.out, args.items, args.seed), indent=2))


if __name__ == "__main__":
    main()
