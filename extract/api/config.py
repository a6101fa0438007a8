"""An API source's secrets, read from the environment, and the folder its simulator serves.

Every setting is checked once, before anything runs (gladly_import/config.py, against the
platform's declared settings: extract/options.py), and read with its default through
``Settings.resolve``. A secret is only ever read from the environment variable that its
setting names (a setting declared with ``secret=``: its default is the variable's usual name),
never from the config; the command line checks every one is set before any platform is extracted.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from extract import options as opt
from extract.context import SourceContext
from extract.errors import ExtractError
from extract.options import Setting

ANNOUNCED = "none: 95% of the limit the API announces"


def requests_per_minute(doc: str) -> Setting:
    """``requests_per_minute``: this import's cap below the account's limit (else 95% of what it announces)."""
    return opt.Setting("requests_per_minute", opt.number(above=0), doc, shows=ANNOUNCED)


def budget(key: str, doc: str, default: float) -> Setting:
    """A budget inside the account's, in requests a minute, spaced evenly (Kustomer's searches, Zendesk's
    incremental exports): ``extract.rate_limits.Budget``."""
    return opt.Setting(key, opt.number(above=0), doc, default=default)


def simulate(doc: str = "run against the bundled local simulator, not a real account") -> Setting:
    return opt.Setting("simulate", opt.FLAG, doc, default=False)


def concurrency(doc: str, default: int) -> Setting:
    """``concurrency``: child lookups in flight while the pages are read."""
    return opt.Setting("concurrency", opt.number(1, 64, whole=True), doc, default=default)


def demo_secret() -> str:
    """A fresh credential for a simulator of this run: nobody else's, never a real one."""
    return "demo-" + secrets.token_urlsafe(16)


def base_url(options: Mapping[str, Any]) -> str:
    """``base_url`` (checked: https, or http to this machine), without surrounding space or trailing slash."""
    return str(options["base_url"]).strip().rstrip("/")


def secret_variable(options: Mapping[str, Any], setting: Setting) -> str:
    """The environment variable the secret of ``setting`` is read from: the one the config names, else its default."""
    value = options.get(setting.key)
    return value if isinstance(value, str) and value.strip() else setting.default


def unset_secret(options: Mapping[str, Any], setting: Setting) -> str | None:
    """What to say when the variable of ``setting`` is unset or blank, else None (checked before the run
    by the command line, again when the secret is read)."""
    variable = secret_variable(options, setting)
    if os.environ.get(variable, "").strip():
        return None
    return (f"the environment variable {variable} is not set: set it to {setting.secret} (never in the config"
            " file) and run again")


def env_secret(service: str, options: Mapping[str, Any], setting: Setting) -> str:
    """The secret of ``setting``, stripped; a one-line error naming the variable when it is unset."""
    if problem := unset_secret(options, setting):
        raise ExtractError(f"{service}: {problem}")
    return os.environ[secret_variable(options, setting)].strip()


def simulator_folder(ctx: SourceContext, options: Mapping[str, Any]) -> Path:
    """The folder a simulator serves: ``simulator_data`` (relative to the config) or the bundled sample."""
    value = options.get("simulator_data")
    if not value:
        if ctx.samples_dir is None:
            raise ExtractError(f"{ctx.platform}: simulate: true needs simulator_data (no bundled samples here)")
        return ctx.samples_dir / ctx.platform
    folder = Path(value).expanduser()
    return (folder if folder.is_absolute() else ctx.base_dir / folder).resolve()
