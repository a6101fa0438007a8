"""Settings every API source reads the same way: base URL, secrets from the environment, numbers, flags.

The rules, once: a secret is only ever read from an environment variable the config names (never
from the config itself); ``base_url`` is ``https://`` unless it points at this machine (the
credential must never cross a network in clear text); a wrong value is one line naming the key.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from extract.context import SourceContext
from extract.errors import ExtractError

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    return False


def base_url(platform: str, options: dict[str, Any], example: str) -> str:
    """``sources.<platform>.base_url``: required, https unless loopback; without a trailing slash."""
    value = options.get("base_url")
    if not isinstance(value, str) or not value.strip():
        raise ExtractError(f"sources.{platform}.base_url: required ({example}), unless simulate: true")
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    host = parts.hostname or ""
    if host and (parts.scheme == "https" or (parts.scheme == "http" and is_loopback(host))):
        return value
    raise ExtractError(f"sources.{platform}.base_url: must be an https:// URL such as {example}, got '{value}'"
                       " (plain http only to this machine: the credential would cross the network in clear text)")


def env_name(platform: str, options: dict[str, Any], key: str, default: str) -> str:
    value = options.get(key, default)
    if not isinstance(value, str) or not ENV_NAME.fullmatch(value):
        raise ExtractError(f"sources.{platform}.{key}: must be the NAME of an environment variable, e.g. {default}"
                           " (the secret itself never goes in the config)")
    return value


def env_secret(service: str, variable: str, what: str) -> str:
    """The value of ``variable``, stripped; a one-line error naming the variable when it is unset."""
    value = os.environ.get(variable, "").strip()
    if not value:
        raise ExtractError(f"{service}: the environment variable {variable} is not set: set it to {what}"
                           " (never in the config file) and run again")
    return value


def flag(platform: str, options: dict[str, Any], key: str, default: bool = False) -> bool:
    value = options.get(key, default)
    if not isinstance(value, bool):
        raise ExtractError(f"sources.{platform}.{key}: must be true or false, got {value!r}")
    return value


def number(platform: str, options: dict[str, Any], key: str, default: float | None, *,
           low: float = 0.0, high: float = float("inf"), whole: bool = False, above: bool = False) -> float | None:
    """A number option in [low, high] (``above``: strictly above ``low``); ``whole``: an int."""
    value = options.get(key, default)
    if value is None:
        return None
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < low or value > high or (
            above and value <= low):
        kind = "a whole number" if whole else "a number"
        bound = f"above {low:g}" if above else f"from {low:g}" + (f" to {high:g}" if high != float("inf") else " up")
        raise ExtractError(f"sources.{platform}.{key}: must be {kind} {bound}, got {value!r}")
    return value


def simulator_folder(ctx: SourceContext, default: Path, needed: tuple[str, ...]) -> Path:
    """The folder a simulator serves: ``simulator_data`` (relative to the config) or the bundled sample."""
    value = ctx.options.get("simulator_data")
    if ctx.files:  # a platform whose simulator_data is a PATH_KEY: the runner resolved it
        folder = ctx.files[0].parent
    elif value is None:
        folder = default
    elif not isinstance(value, str) or not value.strip():
        raise ExtractError(f"sources.{ctx.platform}.simulator_data: must be a folder path")
    else:
        folder = Path(value).expanduser()
        folder = (folder if folder.is_absolute() else ctx.base_dir / folder).resolve()
    missing = [name for name in needed if not (folder / name).is_file()]
    if missing:
        raise ExtractError(f"sources.{ctx.platform}.simulator_data: {ctx.name_of(folder)} has no {missing[0]}"
                           f" (the simulator serves {' and '.join(needed)}, one API object per line)")
    return folder
