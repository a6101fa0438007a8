"""The types of config options.

Each platform module declares ``CONFIG_TYPES = {key: Option}`` beside ``CONFIG_KEYS``; any other
config block does the same (``gladly_import.push`` for ``gladly:``). ``gladly_import.config``
checks every value of every block before anything runs and lists every problem at once, one
line each. An option's ``problem`` never repeats a long or multi-line value: a config file that
is not one (``--config /etc/shadow``) must not be echoed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SHOWN_MAX_CHARS = 40


def shown(value: Any) -> str:
    """A value as an error message may show it: short scalars only, never a file's content."""
    if value is None:
        return "nothing"
    if isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str):
        if len(value) <= SHOWN_MAX_CHARS and value.isprintable():
            return repr(value)
        return f"a text of {len(value):,} characters"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


@dataclass(frozen=True)
class Option:
    """What one option's value must be.

    ``accepts(value)`` says whether a value is well-typed; ``expected`` completes "must be …".
    ``required_unless`` names a flag option that, when true, makes this one optional (an API's
    ``base_url`` is required unless ``simulate: true``); ``check_path`` checks a path value
    against the folder of the config file (the config's paths are relative to it);
    ``check_value`` says what is wrong with a well-typed value in its own words (a URL that holds
    a password must not be echoed back).
    """

    expected: str
    accepts: Callable[[Any], bool]
    required_unless: str | None = None
    check_path: Callable[[Any, Path], str | None] | None = None
    check_value: Callable[[Any], str | None] | None = None

    def problem(self, value: Any, base_dir: Path | None = None) -> str | None:
        if not self.accepts(value):
            return f"must be {self.expected}, got {shown(value)}"
        if self.check_value is not None and (problem := self.check_value(value)):
            return problem
        if self.check_path is not None and base_dir is not None:
            return self.check_path(value, base_dir)
        return None


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


FLAG = Option("true or false", lambda v: isinstance(v, bool))
TEXT = Option("a text", _is_text)
ENV_NAME = Option("the NAME of an environment variable (the secret itself never goes in the config)",
                  lambda v: isinstance(v, str) and ENV_NAME_RE.fullmatch(v) is not None)
PATHS = Option("a path, a folder or a glob (or a list of them)",
               lambda v: _is_text(v) or (isinstance(v, list) and bool(v) and all(_is_text(p) for p in v)))
FOLDER = Option("a folder path", _is_text)
MAPPING = Option("a mapping of settings", lambda v: isinstance(v, dict))
TEXT_LIST = Option("a list of texts (or one comma-separated text)",
                   lambda v: isinstance(v, str) or (isinstance(v, list) and all(isinstance(p, str) for p in v)))


def number(minimum: float | None = None, maximum: float | None = None, *, whole: bool = False,
           above: float | None = None, what: str | None = None) -> Option:
    """A number (``whole`` for an integer) within the bounds: ``above`` is exclusive, the others inclusive."""

    def accepts(value: Any) -> bool:
        if not _is_number(value) or (whole and not isinstance(value, int)):
            return False
        return ((minimum is None or value >= minimum) and (maximum is None or value <= maximum)
                and (above is None or value > above))

    kind = "a whole number" if whole else "a number"
    if above is not None:
        bounds = f" above {above:g}"
    elif minimum is not None and maximum is not None:
        bounds = f" from {minimum:g} to {maximum:g}"
    elif minimum is not None:
        bounds = f" of at least {minimum:g}"
    else:
        bounds = ""
    return Option(f"{kind}{bounds}" + (f" ({what})" if what else ""), accepts)


def one_of(choices: Sequence[str]) -> Option:
    return Option("one of " + ", ".join(choices), lambda v: isinstance(v, str) and v in choices)


def is_this_machine(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    return False


def https_url(example: str, *, required_unless: str | None = None) -> Option:
    """A base URL a credential is sent to: https, or plain http to this machine only (a credential
    must never cross a network in clear text); no credentials in it (never echoed: they come from
    the environment)."""
    expected = f"an https:// URL such as {example}"

    def problem(value: str) -> str | None:
        parts = urlsplit(value.strip())
        if parts.username or parts.password:
            return "must not hold credentials; they come from the environment"
        host = parts.hostname or ""
        if not host or parts.scheme not in ("http", "https"):
            return f"must be {expected}, got {shown(value)}"
        if parts.scheme == "http" and not is_this_machine(host):
            return (f"must be {expected}, got {shown(value)} (plain http is only allowed to 127.0.0.1, this"
                    " machine: the credential would cross the network in clear text)")
        return None

    return Option(expected, _is_text, required_unless=required_unless, check_value=problem)


def folder_with(*names: str) -> Option:
    """A folder (relative to the config file) holding these files, e.g. a simulator's data."""

    def check(value: Any, base_dir: Path) -> str | None:
        folder = Path(value).expanduser()
        folder = folder if folder.is_absolute() else base_dir / folder
        if not folder.is_dir():
            return f"folder '{value}' does not exist (resolved to {folder})"
        missing = [name for name in names if not (folder / name).is_file()]
        return f"folder '{value}' has no {' or '.join(missing)}" if missing else None

    return Option("a folder path", _is_text, check_path=check)


def as_option(declared: Option | type | tuple[type, ...]) -> Option:
    """A declared type as an Option: an Option, or plain Python types (``int``, ``(int, float)``)."""
    if isinstance(declared, Option):
        return declared
    kinds = declared if isinstance(declared, tuple) else (declared,)
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a text", list: "a list",
             dict: "a mapping of settings"}

    def accepts(value: Any) -> bool:
        return isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))

    return Option(" or ".join(names.get(k, k.__name__) for k in kinds), accepts)
