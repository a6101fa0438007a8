"""The push's ``gladly:`` block: each key declared once (``extract.options.Setting``), read through that.

The config check (gladly_import/config.py, every block of the config before anything runs, every
problem at once) reads ``SETTINGS`` and ``block_problems``; the push reads the checked block with
its defaults through ``PushSettings.from_block``. The credentials are named here (``secret=``) and
read only from the environment, by ``extract.api.config.env_secret``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from extract import options as opt
from gladly_import.config import ConfigError, check_block

ACTIVITY_TYPES = ("EMAIL", "ISSUE", "SMS", "SURVEY")


def _is_date(value: Any) -> bool:
    if isinstance(value, date):
        return True
    try:
        date.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


def _is_region(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 2 and value.isascii() and value.isalpha() and value.isupper()


SETTINGS = opt.Settings((
    opt.Setting("base_url", opt.https_url("https://<org>.gladly.com (or .qa)"),
                "the organization's Gladly (sandbox: .gladly.qa)", required_unless="simulate"),
    opt.Setting("user_env", opt.ENV_NAME, "the variable that holds the API user's email", default="GLADLY_API_USER",
                secret="the API user's email"),
    opt.Setting("token_env", opt.ENV_NAME, "the variable that holds the API token", default="GLADLY_API_TOKEN",
                secret="the API user's token"),
    opt.Setting("activity_type", opt.one_of(ACTIVITY_TYPES), "the timeline icon of the items pushed",
                default="EMAIL"),
    opt.Setting("phone_region", opt.Option("a two-letter region code such as US or GB", _is_region),
                "the country of phone numbers written without one (else Gladly reads them as US numbers)",
                shows="none"),
    opt.Setting("requests_per_second", opt.number(maximum=1000, above=0),
                "the organization's limit (Gladly may grant more)", default=10),
    opt.Setting("concurrency", opt.number(1, 64, whole=True), "requests in flight at once", default=8),
    opt.Setting("simulate", opt.FLAG, "push to the local Gladly API simulator instead (the demo)", default=False),
    opt.Setting("simulator_today", opt.Option("a date (YYYY-MM-DD)", _is_date),
                "the demo: the date the simulator (and the window) takes as today", shows="today"),
    opt.Setting("simulator_latency", opt.number(0, 10, what="seconds"), "the demo: seconds a request takes",
                default=0.1),
))
DEFAULT_CONCURRENCY = SETTINGS["concurrency"].default
USER, TOKEN = SETTINGS["user_env"], SETTINGS["token_env"]


def block_problems(block: Any) -> list[str]:
    """Every problem of a ``gladly:`` block: its declared keys, and the one rule that joins two of them."""
    problems = check_block("gladly", block, SETTINGS)
    if isinstance(block, dict) and "simulator_today" in block and block.get("simulate") is not True:
        problems.append("gladly.simulator_today: only with simulate: true")
    return problems


@dataclass
class PushSettings:
    base_url: str | None
    user_env: str
    token_env: str
    activity_type: str
    phone_region: str | None
    requests_per_second: float
    concurrency: int
    simulate: bool
    simulator_today: date | None
    simulator_latency: float

    @classmethod
    def from_block(cls, block: dict[str, Any] | None) -> PushSettings:
        """A checked block (``Config.gladly``), every key with its default."""
        settings = cls(**SETTINGS.resolve(block))
        if settings.simulator_today is not None and not isinstance(settings.simulator_today, date):
            settings.simulator_today = date.fromisoformat(settings.simulator_today)
        if settings.base_url:
            settings.base_url = settings.base_url.strip().rstrip("/")
        return settings


def parse_settings(block: dict[str, Any] | None) -> PushSettings:
    """A block that did not come through the config check (a test's, the bench's): checked, then read."""
    if problems := block_problems(dict(block or {})):
        raise ConfigError(problems)
    return PushSettings.from_block(block)
