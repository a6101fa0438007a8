"""Gladly's customer profiles, as its published OpenAPI describes them (api-evangelist/gladly
``openapi/gladly-customers-api-openapi.yml``), with their inconvenient parts:

- ``POST /api/v1/customer-profiles``: 201 with a ``Location`` header and no body; 409 ``taken`` when
  the id, an email or a MOBILE phone is another profile's ("Id, mobile phone number, and email address
  must be unique across customer records").
- ``GET /api/v1/customer-profiles?email=``: exactly one identifier (``email``, ``phoneNumber`` or
  ``externalCustomerId``), at most 50 profiles, the most recently updated first.
- ``GET /api/v1/customer-profiles/{id}``: the profile; 301 ``moved`` with ``meta.old`` / ``meta.new``
  for a customer merged into another; 404 ``not_exist``.
- ``PATCH /api/v1/customer-profiles/{id}``: 204; ``emails`` and ``phones`` replace the whole list
  ("it is not possible to add or delete a single value"); 404 for a merged customer.
- A phone without ``type`` is OTHER; its ``original`` is read in ``regionCode``, else as E.164, else
  as a US number; one that cannot be read is refused (400: Gladly's behaviour is not published, the
  simulator takes the strict side). Where the OpenAPI leaves it open whether a phone of another type
  may equal another profile's MOBILE phone, the simulator refuses it too (409): the push must be
  right either way.
- A conversation item for an email no profile holds creates the email-only profile Gladly creates.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import phonenumbers

from gladly_import.push.simulator.rules import customer_id, error, rfc3339_ms

PROFILES_PATH = "/api/v1/customer-profiles"
MAX_FOUND = 50
PHONE_TYPES = ("HOME", "MOBILE", "OFFICE")
PROFILE_FIELDS = {"id", "name", "image", "address", "emails", "phones", "externalCustomerId", "customAttributes"}
EMAIL_FIELDS = {"original", "normalized", "primary"}
PHONE_FIELDS = {"original", "normalized", "extension", "regionCode", "primary", "smsPreference", "type"}
NOT_EXIST = {"errors": [{"code": "not_exist", "detail": "customer profile does not exist"}]}


def normalized_phone(phone: dict[str, Any]) -> str | None:
    try:
        number = phonenumbers.parse(str(phone.get("original", "")), phone.get("regionCode") or "US")
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) \
        if phonenumbers.is_possible_number(number) else None


def _list_problems(body: dict[str, Any]) -> list[dict[str, str]]:
    problems = [error(key, "invalid", f"unknown field {key} (the simulator is strict)")
                for key in sorted(set(body) - PROFILE_FIELDS)]
    for key, allowed in (("emails", EMAIL_FIELDS), ("phones", PHONE_FIELDS)):
        values = body.get(key)
        if values is None:
            continue
        if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
            problems.append(error(key, "invalid", f"{key} must be a list of objects"))
            continue
        for n, value in enumerate(values):
            if not isinstance(value.get("original"), str) or not value["original"].strip():
                problems.append(error(f"{key}.{n}.original", "blank", "original cannot be blank"))
            elif set(value) - allowed:
                problems.append(error(f"{key}.{n}", "invalid", f"unknown field(s) {sorted(set(value) - allowed)}"))
            elif key == "phones" and value.get("type") not in (None, *PHONE_TYPES):
                problems.append(error(f"phones.{n}.type", "invalid", f"type must be one of {', '.join(PHONE_TYPES)}"))
            elif key == "phones" and normalized_phone(value) is None:
                problems.append(error(f"phones.{n}.original", "invalid", "not a phone number"))
    if "name" in body and not isinstance(body["name"], str):
        problems.append(error("name", "invalid", "name must be a string"))
    return problems


class ProfileStore:
    """The organization's profiles: ids, the emails and MOBILE phones each holds, the merged ids."""

    def __init__(self, now: Callable[[], datetime], persist: Callable[[dict[str, Any]], None]) -> None:
        self.now, self.persist = now, persist
        self.profiles: dict[str, dict[str, Any]] = {}
        self.moved: dict[str, str] = {}  # a merged customer's id -> the id it was merged into
        self.lock = threading.RLock()

    # -- state ------------------------------------------------------------

    def load(self, record: dict[str, Any]) -> None:
        if record.get("op") == "profile":
            self.profiles[record["profile"]["id"]] = record["profile"]
        elif record.get("op") == "merge":
            self.profiles.pop(record["old"], None)
            self.moved[record["old"]] = record["new"]

    def _save(self, profile: dict[str, Any]) -> None:
        profile["updatedAt"] = rfc3339_ms(self.now())
        self.profiles[profile["id"]] = profile
        self.persist({"op": "profile", "profile": profile})

    def holder_of_email(self, email: str) -> str | None:
        wanted = email.strip().lower()
        return next((pid for pid, p in self.profiles.items()
                     if any(e["normalized"] == wanted for e in p.get("emails", []))), None)

    def _conflict(self, body: dict[str, Any], own_id: str | None) -> dict[str, str] | None:
        for email in body.get("emails") or []:
            holder = self.holder_of_email(email["original"])
            if holder not in (None, own_id):
                return error("emails", "taken", f"email {email['original']} belongs to another customer")
        for phone in body.get("phones") or []:
            number = normalized_phone(phone)
            for pid, other in self.profiles.items():
                if pid != own_id and any(p.get("type") == "MOBILE" and p.get("normalized") == number
                                         for p in other.get("phones", [])):
                    return error("phones", "taken", f"mobile phone {number} belongs to another customer")
        return None

    @staticmethod
    def _normalized(body: dict[str, Any], profile: dict[str, Any]) -> None:
        if "emails" in body:
            profile["emails"] = [{**{k: v for k, v in e.items() if k != "normalized"},
                                  "normalized": e["original"].strip().lower()} for e in body["emails"]]
        if "phones" in body:
            profile["phones"] = [{**{k: v for k, v in p.items() if k != "normalized"}, "normalized": normalized_phone(p)}
                                 for p in body["phones"]]
        for key in PROFILE_FIELDS - {"id", "emails", "phones"}:
            if key in body:
                profile[key] = body[key]

    def create(self, body: dict[str, Any]) -> tuple[int, Any, str | None]:
        """(201, None, the new id) or (409 / 400, Gladly's errors, None)."""
        if problems := _list_problems(body):
            return 400, {"errors": problems}, None
        with self.lock:
            new_id = body.get("id") or customer_id((body.get("emails") or body.get("phones") or [{"original": rfc3339_ms(
                self.now()) + str(len(self.profiles))}])[0]["original"])
            if new_id in self.profiles or new_id in self.moved:
                return 409, {"errors": [error("id", "taken", "customer ID exists")]}, None
            if taken := self._conflict(body, None):
                return 409, {"errors": [taken]}, None
            profile: dict[str, Any] = {"id": new_id, "emails": [], "phones": [], "createdAt": rfc3339_ms(self.now())}
            self._normalized(body, profile)
            self._save(profile)
            return 201, None, new_id

    def for_item(self, email: str) -> str:
        """The id of the profile an item for this email lands on: the holder's, else a new email-only profile."""
        with self.lock:
            holder = self.holder_of_email(email)
            if holder is not None:
                return holder
            status, _, new_id = self.create({"emails": [{"original": email}]})
            assert status == 201 and new_id
            return new_id

    def patch(self, profile_id: str, body: dict[str, Any]) -> tuple[int, Any]:
        if problems := _list_problems(body) + ([error("id", "invalid", "id cannot be changed")] if "id" in body else []):
            return 400, {"errors": problems}
        with self.lock:
            profile = self.profiles.get(profile_id)
            if profile is None:  # merged ones too: "requests to update a customer by id will return 404"
                return 404, NOT_EXIST
            if taken := self._conflict(body, profile_id):
                return 409, {"errors": [taken]}
            updated = dict(profile)
            self._normalized(body, updated)
            self._save(updated)
            return 204, None

    def merge(self, old: str, new: str) -> None:
        """Merge customer ``old`` into ``new``: its emails and phones join new's; its id answers 301 from now on."""
        with self.lock:
            gone, kept = self.profiles.pop(old), dict(self.profiles[new])
            kept["emails"] = kept.get("emails", []) + gone.get("emails", [])
            kept["phones"] = kept.get("phones", []) + gone.get("phones", [])
            self.moved[old] = new
            self.persist({"op": "merge", "old": old, "new": new})
            self._save(kept)

    # -- the HTTP routes -----------------------------------------------------

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any, dict[str, str]]:
        """(status, body, headers) for a request under PROFILES_PATH."""
        if path == PROFILES_PATH and method == "GET":
            given = {k: v for k, v in query.items() if k in ("email", "phoneNumber", "externalCustomerId")}
            if len(given) != 1 or len(next(iter(given.values()))) != 1:
                return 400, {"errors": [error(None, "invalid", "give exactly one of email, phoneNumber, externalCustomerId")]}, {}
            key, (value,) = next(iter(given.items()))
            with self.lock:
                found = [p for p in self.profiles.values() if key == "email" and any(
                    e["normalized"] == value.strip().lower() for e in p.get("emails", []))
                    or key == "phoneNumber" and any(ph.get("normalized") == value for ph in p.get("phones", []))]
            found.sort(key=lambda p: p.get("updatedAt", ""), reverse=True)
            return 200, found[:MAX_FOUND], {}
        if not isinstance(body, dict) and method in ("POST", "PATCH"):
            return 400, {"errors": [error(None, "invalid", "the request body must be a JSON object")]}, {}
        if path == PROFILES_PATH and method == "POST":
            status, answer, new_id = self.create(body)
            return status, answer, ({"Location": f"{PROFILES_PATH}/{new_id}"} if new_id else {})
        profile_id = path[len(PROFILES_PATH) + 1:]
        if not profile_id or "/" in profile_id:
            return 404, NOT_EXIST, {}
        if method == "GET":
            with self.lock:
                if profile_id in self.moved:
                    return 301, {"errors": [{"attr": "customerId", "code": "moved", "detail": "customer id has changed",
                                             "meta": {"old": profile_id, "new": self.moved[profile_id]}}]}, {}
                profile = self.profiles.get(profile_id)
            return (200, profile, {}) if profile else (404, NOT_EXIST, {})
        if method == "PATCH":
            return (*self.patch(profile_id, body), {})
        return 405, {"errors": [error(None, "invalid", f"{method} is not supported here")]}, {}
