"""A local Gladly REST API: the conversation-items endpoints the push uses, strict, with Gladly's limits and faults.

Run by the tests, the bench and the demo (``gladly: simulate: true``) on 127.0.0.1 over real HTTP.
What it serves, per Gladly's published OpenAPI (konfig-sdks/openapi-examples ``gladly/openapi.yaml``,
api-evangelist/gladly ``openapi/gladly-conversations-api-openapi.yml``):

- ``POST /api/v1/conversation-items``: creates a ``CUSTOMER_ACTIVITY`` on the timeline of the customer
  given by ``customer.emailAddress`` (or ``mobilePhone``; exactly one). The body is validated the way the
  OpenAPI describes it: ``id`` optional, URL safe, at most 50 characters; ``content.type`` must be
  ``CUSTOMER_ACTIVITY`` (the only type the push sends); ``activityType`` one of EMAIL, ISSUE, SMS, SURVEY
  (required); ``title`` <= 100, ``body`` <= 25,000, ``sourceName`` <= 50 characters (Unicode code
  points, as JSON Schema's ``maxLength`` counts); ``occurredAt`` RFC 3339 with milliseconds and no
  older than one year (365 days). A bad body answers 400 ``{"errors":[{"attr","code","detail"}]}``
  listing every problem, with Gladly's codes (``blank``, ``invalid``, ``too_long``). An ``id`` already
  used answers 409 with Gladly's body ``{"errors":[{"attr":"newConversationItems","code":"taken",
  "detail":"conversation item already exists"}]}``. Success answers 200 with the created item.
- The customer profiles (profiles.py): create, find by email, get (301 for a merged customer),
  patch (whole-list replacement), the 409 rules on id, email and MOBILE phone; an item for an email
  no profile holds creates an email-only profile, whose id the item's 200 carries (``customerId``).
- ``GET /api/v1/conversation-items/{id}``: the item, or 404 ``not_exist``.
- ``DELETE /api/v1/conversation-items/{id}``: 204, or 404 (the push's undo).
- HTTP Basic (the API user's email and token): 401 without it.
- Gladly's rate limit: 10 requests per second per organization, every method and path counted together.
  Enforced as "at most ``rate_limit``
  admitted requests in any 1-second window" (stricter than a fixed per-second counter, so a client
  that passes here passes there); a request over it answers 429. Every answer carries
  ``Ratelimit-Limit-Second`` and ``Ratelimit-Remaining-Second``; there is no ``Retry-After`` (Gladly
  documents none). A 429 does not use up the window.
- ``latency``: seconds every admitted request takes before it is answered (requests are served
  concurrently, one thread per connection).

Where the OpenAPI is silent the simulator is stricter than Gladly is likely to be, and says so in its
answer: it refuses unknown body fields and a malformed email address, and Gladly's exact 401/429
bodies and its one-year rule's exact wording are not published (``detail`` texts here are its own).

Faults, for the tests: ``Faults.by_request`` keyed by the 1-based number of the request, and
``Faults.by_item`` keyed by item id (a list: the first POST of that id gets the first fault, the
next POST the next, ...). Kinds: ``500`` (answered before anything is created), ``500_after_create``
(the item IS created, then 500: a retry must answer 409), ``drop`` (the connection is closed without
an answer, nothing created), ``drop_after_create`` (created, then the connection is closed), ``429``
(throttled whatever the window says), ``400`` (refused with a Gladly-shaped error on the email), and
``slow`` (``slow_seconds`` more).

``store_path``: a JSON-lines file the created and deleted items are appended to and reloaded from, so
the demo's simulated Gladly remembers what an earlier push created (a re-send answers 409 as the real
one does). Without it the items live in memory only.
"""

from __future__ import annotations

import sys
from pathlib import Path

from extract.simulators.harness import serve_until_interrupted
from gladly_import.push.simulator.rules import DEMO_TOKEN, DEMO_USER, TAKEN, customer_id, validate_item
from gladly_import.push.simulator.server import Faults, GladlySimulator, LoggedRequest

__all__ = ["DEMO_TOKEN", "DEMO_USER", "TAKEN", "Faults", "GladlySimulator", "LoggedRequest", "customer_id",
           "validate_item", "main"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    store = Path(args[0]) if args else None
    simulator = GladlySimulator(store_path=store, latency=0.1)
    return serve_until_interrupted(simulator.start, simulator.stop, lambda url: (
        f"Gladly API simulator on {url} ({len(simulator.items)} items); Basic auth {DEMO_USER}:{DEMO_TOKEN};"
        " 10 requests a second."))


if __name__ == "__main__":
    raise SystemExit(main())
