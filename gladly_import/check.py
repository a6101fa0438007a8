"""The preflight: ``gladly-import check --config my.yml`` says whether a run can go ahead, before it starts.

For each API source of the config it runs the ``check`` its platform declares
(``extract.platform.Platform.check``; ``extract.api.check``): a handful of read-only requests that
say whether the credentials are accepted, each permission the run needs is held, which rate
limits the account announces, how big the work is and how long it takes at those limits, and
whether the assumptions the extractor makes hold on this account. With a ``gladly:`` block it also
proves the push's credentials with one read-only request. Everything goes into one table on
stdout; the exit code is 0 when nothing failed, 1 otherwise. Nothing is written anywhere: no
folder, no state, no log file (a simulator, with ``simulate: true``, keeps what it serves in memory).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import textwrap
from collections.abc import Iterator
from typing import Any

from extract.api.check import FAIL, Checklist, Finding
from extract.context import SourceContext
from extract.errors import ExtractError
from extract.http_client import BasicAuth, HttpClient
from extract.platforms import PLATFORMS
from gladly_import.config import Config
from gladly_import.paths import SAMPLES_DIR

RESULT_WIDTH = 88          # the result column wraps here: the table stays readable in a terminal
PROBE_ITEM = "gladly-import-preflight-check"  # an item id no import makes: GET it answers 404, nothing is created


def run_checks(config: Config) -> list[tuple[str, Finding]]:
    """(source, finding) for every API source of the config, then Gladly when the config has a gladly: block."""
    rows: list[tuple[str, Finding]] = []
    for name, source in config.sources.items():
        declared = PLATFORMS[name]
        if declared.check is None or declared.reads_files_with(source.options):
            rows.append((name, Finding("preflight", "reads export files: nothing to ask an API", "info")))
            continue
        ctx = SourceContext(platform=name, options=source.options, base_dir=config.base_dir, samples_dir=SAMPLES_DIR)
        rows += [(name, finding) for finding in declared.check(ctx)]
    if config.gladly:
        rows += [("gladly", finding) for finding in check_gladly(config.gladly)]
    return rows


def render(rows: list[tuple[str, Finding]]) -> str:
    """One table: source, check, result (wrapped), verdict; then the verdict of the whole."""
    widths = (max([len("source"), *(len(s) for s, _ in rows)]), max([len("check"), *(len(f.check) for _, f in rows)]))
    lines = [f"{'source':<{widths[0]}}  {'check':<{widths[1]}}  {'verdict':<7}  result",
             f"{'-' * widths[0]}  {'-' * widths[1]}  {'-' * 7}  {'-' * 6}"]
    for source, finding in rows:
        wrapped = textwrap.wrap(finding.result, RESULT_WIDTH) or [""]
        lines.append(f"{source:<{widths[0]}}  {finding.check:<{widths[1]}}  {finding.verdict:<7}  {wrapped[0]}")
        lines += [f"{'':<{widths[0]}}  {'':<{widths[1]}}  {'':<7}  {more}" for more in wrapped[1:]]
    failed = [f"{source}: {finding.check}" for source, finding in rows if finding.verdict == FAIL]
    lines.append("")
    lines.append("the run can go ahead" if not failed else
                 f"the run cannot go ahead as configured: {len(failed)} check(s) failed ({'; '.join(failed)})")
    return "\n".join(lines)


# -- Gladly: the push's credentials ---------------------------------------------------------------


def check_gladly(block: dict[str, Any]) -> list[Finding]:
    """One read-only request with the push's credentials: ``GET`` an item no import makes (404: accepted)."""
    from gladly_import.push import SETTINGS

    settings = SETTINGS.resolve(block)
    found = Checklist()
    try:
        with _gladly_endpoint(settings, found) as client:
            if client is None:
                return found.findings
            answer = found.request("credentials", lambda: client.request_json(
                "GET", f"/api/v1/conversation-items/{PROBE_ITEM}", ok_statuses={404}),
                needs="a permission the API needs (the API token of a Gladly user with API access)")
            if answer is not None:
                found.ok("credentials", f"accepted (GET /api/v1/conversation-items/{{id}} answered {answer.status};"
                         " nothing is created)")
                limit = answer.headers.get("ratelimit-limit-second")
                found.info("rate limit", f"{limit} requests a second announced (Ratelimit-Limit-Second); the push uses"
                           f" at most {settings['requests_per_second']:g}" if limit else
                           f"not announced; the push uses at most {settings['requests_per_second']:g} a second")
    except ExtractError as error:
        found.fail("credentials", str(error))
    return found.findings


@contextlib.contextmanager
def _gladly_endpoint(settings: dict[str, Any], found: Checklist) -> Iterator[HttpClient | None]:
    options = {"timeout": 30.0, "deadline": 60.0, "max_retries": 2, "retry_seconds": 120.0}
    if settings["simulate"]:
        from gladly_import.push.simulator import GladlySimulator

        user, token = "preflight@example.com", "demo-" + secrets.token_urlsafe(16)
        with GladlySimulator(user=user, token=token) as simulator:  # in memory: nothing is kept
            found.info("account", "the local Gladly simulator (simulate: true)")
            with HttpClient(simulator.base_url, BasicAuth(user, token), service="Gladly",
                            credential_hint="the simulator's demo credentials", **options) as client:
                yield client
        return
    user, token = (os.environ.get(settings[key], "").strip() for key in ("user_env", "token_env"))
    missing = [settings[key] for key, value in (("user_env", user), ("token_env", token)) if not value]
    if missing:
        found.fail("credentials", f"the environment variable(s) {', '.join(missing)} are not set: the API user's email"
                   " and API token go there (never in the config file)")
        yield None
        return
    found.info("account", str(settings["base_url"]))
    with HttpClient(str(settings["base_url"]), BasicAuth(user, token), service="Gladly",
                    credential_hint=f"the API user and token in ${settings['user_env']} / ${settings['token_env']}",
                    **options) as client:
        yield client
