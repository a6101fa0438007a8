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


def secret_variable(options: dict[str, Any], secrets: dict[str, tuple[str, str]], key: str) -> str:
    """The environment variable the secret of ``key`` is read from: the one the config names, else
    the default of the platform's ``SECRET_ENV_KEYS`` ({key: (default variable, what it holds)})."""
    return setting(options, key, secrets[key][0])


def unset_secret(options: dict[str, Any], secrets: dict[str, tuple[str, str]], key: str) -> str | None:
    """What to say when the variable of ``key`` is unset or blank, else None (checked before the run
    by the command line, again when the secret is read)."""
    variable = secret_variable(options, secrets, key)
    if os.environ.get(variable, "").strip():
        return None
    return (f"the environment variable {variable} is not set: set it to {secrets[key][1]} (never in the config"
            " file) and run again")


def env_secret(service: str, options: dict[str, Any], secrets: dict[str, tuple[str, str]], key: str) -> str:
    """The secret of ``key``, stripped; a one-line error naming the variable when it is unset."""
    if problem := unset_secret(options, secrets, key):
        raise ExtractError(f"{service}: {problem}")
    return os.environ[secret_variable(options, secrets, key)].strip()


def simulator_folder(ctx: SourceContext, default: Path) -> Path:
    """The folder a simulator serves: ``simulator_data`` (relative to the config) or the bundled sample."""
    if ctx.files:  # a platform whose simulator_data is a PATH_KEY: the runner resolved it
        return ctx.files[0].parent
    value = setting(ctx.options, "simulator_data")
    if value is None:
        return default
    folder = Path(value).expanduser()
    return (folder if folder.is_absolute() else ctx.base_dir / folder).resolve()
