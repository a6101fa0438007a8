"""An API source's settings, as the run reads them, and its secrets from the environment.

Every setting is checked once, before anything runs: by gladly_import/config.py against the
platform's ``CONFIG_TYPES`` (extract/options.py: types, bounds, ``base_url`` https unless it points
at this machine, a ``simulator_data`` folder holding its files), every problem listed at once.
The extractors read the checked values here, with their defaults; they do not check them again.
A secret is only ever read from the environment variable the config names, never from the config.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from extract.context import SourceContext
from extract.errors import ExtractError


def setting(options: dict[str, Any], key: str, default: Any = None) -> Any:
    """A checked option's value; ``default`` when absent or empty (as the check treats it)."""
    value = options.get(key)
    return default if value is None or value == "" else value


def base_url(options: dict[str, Any]) -> str:
    """``base_url`` (checked: https, or http to this machine), without surrounding space or trailing slash."""
    return str(options["base_url"]).strip().rstrip("/")


def env_secret(service: str, variable: str, what: str) -> str:
    """The value of ``variable``, stripped; a one-line error naming the variable when it is unset."""
    value = os.environ.get(variable, "").strip()
    if not value:
        raise ExtractError(f"{service}: the environment variable {variable} is not set: set it to {what}"
                           " (never in the config file) and run again")
    return value


def simulator_folder(ctx: SourceContext, default: Path) -> Path:
    """The folder a simulator serves: ``simulator_data`` (relative to the config) or the bundled sample."""
    if ctx.files:  # a platform whose simulator_data is a PATH_KEY: the runner resolved it
        return ctx.files[0].parent
    value = setting(ctx.options, "simulator_data")
    if value is None:
        return default
    folder = Path(value).expanduser()
    return (folder if folder.is_absolute() else ctx.base_dir / folder).resolve()
