"""The contact card: after a customer's first item is in Gladly, its profile gets the batch's name and phone.

Per distinct customer of the batch with a name or phone to set: read the profile (by the id the
item's 200 carries, following 301 to a merged customer's id; else ``GET ?email=``), then, when it
lacks a name or lacks the phone, ``PATCH`` it: the name only when the profile has none; the phone
added to the full list as read (``phones`` replaces the whole list), without a ``type`` (OTHER),
in E.164 when ``phonenumbers`` can read it (``phone_region`` for numbers written without a country
code), else as written (Gladly then reads it as a US number) and counted. Emails are never sent, so
none is ever lost. A phone Gladly refuses (409: another customer's MOBILE number; 400) is recorded
with its detail, and the name is then set on its own. A customer costs 2 requests (read, update), or
1 when its card is already complete; a 301, or a 404 on the update (merged meanwhile), one more.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import phonenumbers

from extract.http_client import HttpClient
from gladly_import.push.sender import REFUSAL_STATUSES, Answer, failed, gladly_error

PROFILES_PATH = "/api/v1/customer-profiles"
OUTCOMES = ("created", "updated", "complete", "refused", "not_found")
MAX_MOVES = 3  # 301s followed for one read
READ_FRESH_SECONDS = 600  # a recorded read older than this is read again (the profile may have changed since)


def phone_entry(raw: str, region: str | None) -> tuple[dict[str, str], bool]:
    """(the phone as sent, normalized?): E.164 (and its extension) when it can be read, else as written."""
    try:
        number = phonenumbers.parse(raw, region)
        if phonenumbers.is_possible_number(number):
            entry = {"original": phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)}
            return ({**entry, "extension": number.extension} if number.extension else entry), True
    except phonenumbers.NumberParseException:
        pass
    return {"original": raw.strip()}, False


def _digits(text: Any) -> str:
    return re.sub(r"\D", "", str(text or ""))


def holds_phone(phones: list[Any], ours: dict[str, str]) -> bool:
    """The profile already has this number (compared as E.164 where Gladly normalized it, else by digits)."""
    wanted = _digits(ours["original"])
    return any(isinstance(p, dict) and wanted and wanted in (_digits(p.get("normalized")), _digits(p.get("original")))
               for p in phones)


def profile_answer(email: str, answer: Any, step: str, status: str, **extra: Any) -> Answer:
    code, detail = gladly_error(answer.body) if answer.status >= 300 else (None, None)
    return Answer(email, status, answer.status, code, detail, kind="profile", final=False, extra={"step": step, **extra})


@dataclass
class ProfileTask:
    email: str
    name: str | None
    phone: str | None
    region: str | None = None
    customer_id: str | None = None   # from the item's 200, or a recorded 301
    item_created: bool = False       # an item of this push (or an earlier one) created it: a new customer
    recorded: dict[str, Any] | None = None  # a fresh read an earlier push recorded: {"customer_id", "profile"}
    phone_refused: tuple[int, str | None, str | None] | None = None  # an earlier push's answer to the phone
    ours: dict[str, str] | None = field(init=False, default=None)
    normalized: bool = field(init=False, default=True)

    @property
    def key(self) -> str:
        return self.email

    def run(self, client: HttpClient) -> Iterator[Answer]:
        try:
            if self.phone:
                self.ours, self.normalized = phone_entry(self.phone, self.region)
            if self.recorded:
                profile_id, profile, read = self.recorded["customer_id"], self.recorded["profile"], None
            else:
                profile_id, profile, read = yield from self._read(client)
                if profile is None:
                    return
            yield from self._update(client, profile_id, profile, read)
        except Exception as error:  # noqa: BLE001 - retries exhausted, a credential refused: the push stops
            yield failed(self.email, error, kind="profile")

    def _read(self, client: HttpClient) -> Iterator[Answer]:
        """Yields the answers before the read; returns (id, profile, the read's answer) or (None, None, None)."""
        profile_id, moves = self.customer_id, 0
        while profile_id and moves <= MAX_MOVES:
            answer = client.request_json("GET", f"{PROFILES_PATH}/{quote(profile_id, safe='')}", ok_statuses={301, 404})
            if answer.status == 200 and isinstance(answer.body, dict):
                return profile_id, answer.body, profile_answer(self.email, answer, "read", "read", customer_id=profile_id)
            if answer.status != 301:
                break  # 404: look it up by email
            errors = answer.body.get("errors") if isinstance(answer.body, dict) else None
            meta = errors[0].get("meta") if isinstance(errors, list) and errors and isinstance(errors[0], dict) else None
            profile_id = meta.get("new") if isinstance(meta, dict) and isinstance(meta.get("new"), str) else None
            yield profile_answer(self.email, answer, "read", "moved", customer_id=profile_id)
            moves += 1
        answer = client.request_json("GET", PROFILES_PATH, params={"email": self.email}, ok_statuses=REFUSAL_STATUSES)
        found = [p for p in answer.body if isinstance(p, dict) and isinstance(p.get("id"), str) and any(
            isinstance(e, dict) and str(e.get("original", "")).strip().lower() == self.email.lower()
            or isinstance(e, dict) and e.get("normalized") == self.email.lower() for e in p.get("emails") or [])] \
            if answer.status == 200 and isinstance(answer.body, list) else []
        if not found:
            status = "refused" if answer.status != 200 else "not_found"
            final = profile_answer(self.email, answer, "find", status)
            final.final, final.extra["outcome"] = True, status
            yield final
            return None, None, None
        return found[0]["id"], found[0], profile_answer(self.email, answer, "find", "found", customer_id=found[0]["id"])

    def _update(self, client: HttpClient, profile_id: str, profile: dict[str, Any], read: Answer | None) -> Iterator[Answer]:
        phones = [p for p in profile.get("phones") or [] if isinstance(p, dict)]
        need_name = bool(self.name) and not str(profile.get("name") or "").strip()
        need_phone = self.ours is not None and not holds_phone(phones, self.ours)
        if read is not None:
            read.extra["profile"] = json.dumps({"name": profile.get("name"), "phones": phones}, ensure_ascii=False)
        if not need_name and not need_phone:
            if read is None:  # a recorded read: say so once more, without a request
                read = Answer(self.email, "read", None, kind="profile", extra={"step": "read", "customer_id": profile_id})
            read.final, read.extra["outcome"] = True, "complete"
            yield read
            return
        if read is not None:
            yield read
        outcome = "created" if self.item_created and not str(profile.get("name") or "").strip() and not phones else "updated"
        body = {**({"name": self.name} if need_name else {}), **({"phones": [*phones, self.ours]} if need_phone else {})}
        path = f"{PROFILES_PATH}/{quote(profile_id, safe='')}"
        extra = {"step": "update", "customer_id": profile_id, "phone_as_written": need_phone and not self.normalized}
        if need_phone and self.phone_refused:  # answered before: the phone is not sent again
            yield from self._name_alone(client, path, need_name, *self.phone_refused, extra)
            return
        answer = client.request_json("PATCH", path, body=body, ok_statuses=REFUSAL_STATUSES | {404, 409})
        if answer.status == 404:  # merged since it was read: the next push looks it up again
            yield Answer(self.email, "refused", 404, *gladly_error(answer.body), kind="profile",
                         extra={**extra, "outcome": "refused"})
            return
        if answer.status < 300:
            yield Answer(self.email, "updated", answer.status, kind="profile", extra={**extra, "outcome": outcome})
            return
        code, detail = gladly_error(answer.body)
        if not (need_phone and need_name):
            yield Answer(self.email, "refused", answer.status, code, detail, kind="profile",
                         extra={**extra, "outcome": "refused"})
            return
        yield Answer(self.email, "refused", answer.status, code, detail, kind="profile", final=False, extra=extra)
        yield from self._name_alone(client, path, need_name, answer.status, code, detail, extra)

    def _name_alone(self, client: HttpClient, path: str, need_name: bool, status: int, code: str | None,
                    detail: str | None, extra: dict[str, Any]) -> Iterator[Answer]:
        """The phone was refused: the name on its own (when it is missing); the outcome is refused, with why."""
        if not need_name:
            yield Answer(self.email, "refused", None, code, detail, kind="profile", extra={**extra, "outcome": "refused"})
            return
        named = client.request_json("PATCH", path, body={"name": self.name}, ok_statuses=REFUSAL_STATUSES | {404, 409})
        name_code, name_detail = gladly_error(named.body) if named.status >= 300 else (code, f"{detail} (the name was set)")
        yield Answer(self.email, "updated" if named.status < 300 else "refused", named.status, name_code, name_detail,
                     kind="profile", extra={**extra, "step": "update_name", "outcome": "refused"})


class ProfileTally:
    """The profile outcomes of this push, as recorded."""

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.answers = 0
        self.phones_as_written = 0

    def note(self, answer: Answer) -> None:
        self.answers += answer.http_status is not None
        outcome = answer.extra.get("outcome")
        if outcome:
            self.outcomes[outcome] += 1
            self.phones_as_written += bool(answer.extra.get("phone_as_written"))
        if outcome == "refused" or outcome == "not_found":
            reason = f"{answer.code or outcome}: {answer.detail}" if answer.detail else (answer.code or outcome)
            self.refused[reason] += 1

    def summary(self) -> dict[str, Any]:
        return {"created": self.outcomes["created"], "updated": self.outcomes["updated"],
                "already_complete": self.outcomes["complete"], "refused": self.outcomes["refused"],
                "not_found": self.outcomes["not_found"], "refused_by_reason": dict(self.refused),
                "phones_sent_as_written": self.phones_as_written, "requests_answered": self.answers}
