"""Config settings, declared once: ``Setting`` (one key) and ``Settings`` (a block of them).

A setting says, in one line, everything there is to know about a key: its name, what its value
must be (an ``Option``: its type and bounds, in the words of the error), whether it is required
(or required unless a flag is true), its default, whether it names the environment variable of a
secret (and what that secret is), whether it holds export paths, and its one-line documentation.
Everything else reads that declaration: the config check (``gladly_import.config``, every problem
of every block at once), the defaults at the use site (``Settings.resolve``), the up-front check
of the secrets' variables, and the README's table of every key (``gladly_import.config_docs``).
A rule across keys is declared with the block too: ``OneOf`` (exactly one of a few keys given,
e.g. a platform read from its export files or from its API).
An option's ``problem`` never repeats a long or multi-line value: a config file that is not one
(``--config /etc/shadow``) must not be echoed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
    ``check_path`` checks a path value against the folder of the config file (the config's paths
    are relative to it); ``check_value`` says what is wrong with a well-typed value in its own
    words (a URL that holds a password must not be echoed back).
    """

    expected: str
    accepts: Callable[[Any], bool]
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


def lowered_texts(value: str | list[str] | None) -> frozenset[str]:
    """A ``TEXT_LIST`` value as the set of its texts, trimmed and lower-cased (None: the empty set)."""
    items = value.split(",") if isinstance(value, str) else value or []
    return frozenset(str(v).strip().lower() for v in items if str(v).strip())


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


def https_url(example: str) -> Option:
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

    return Option(expected, _is_text, check_value=problem)


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


# -- declarations -------------------------------------------------------------------------------

REQUIRED = object()  # the default of a setting that must be given


@dataclass(frozen=True)
class Setting:
    """One config key, declared once.

    ``default`` is the value a run uses when the key is absent (``REQUIRED``: it must be given;
    ``required_unless``: it must be given unless that flag is true); ``shows`` is how the README
    shows the default when the value alone would not say it ("95% of the limit the API
    announces"). ``secret`` marks a key that names an environment variable, and says what the
    variable holds: its default is the variable's usual name, and it is checked to be set before
    anything runs. ``paths`` marks export files, resolved relative to the config file and read by
    the platform; ``folder`` a folder path, resolved likewise.
    """

    key: str
    type: Option | type | tuple[type, ...]
    doc: str
    default: Any = None
    shows: str | None = None
    required_unless: str | None = None
    secret: str | None = None
    paths: bool = False
    folder: bool = False

    @property
    def option(self) -> Option:
        return as_option(self.type)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def shown_default(self) -> str:
        """The default as the README's table says it."""
        if self.shows is not None:
            return self.shows
        if self.required:
            return "required"
        if self.required_unless:
            return f"required unless `{self.required_unless}: true`"
        if self.default is None:
            return "none"
        if isinstance(self.default, bool):
            return f"`{str(self.default).lower()}`"
        if isinstance(self.default, str):
            return f"`{self.default}`"
        return f"{self.default:g}" if isinstance(self.default, float) else str(self.default)


@dataclass(frozen=True)
class OneOf:
    """Exactly one of ``keys`` is given (a flag counts as given when true): the alternatives a block
    is read by, e.g. Zendesk's export files (``path``) or its API (``base_url``, or ``simulate: true``)."""

    keys: tuple[str, ...]

    def given(self, block: Mapping[str, Any]) -> list[str]:
        return [key for key in self.keys
                if (block.get(key) is True if isinstance(block.get(key), bool) else not is_absent(block.get(key)))]

    def problem(self, block: Mapping[str, Any], settings: Settings) -> str | None:
        given = self.given(block)
        if len(given) == 1:
            return None

        def named(key: str) -> str:
            return f"{key}: true" if settings[key].option is FLAG else key

        if not given:
            return "give one of " + ", ".join(f"{named(key)} ({settings[key].doc})" for key in self.keys)
        return f"{' and '.join(named(key) for key in given)} are alternatives: give only one"


@dataclass(frozen=True)
class Settings:
    """A block of settings (the top level, ``spark:``, ``gladly:``, one platform's): its declarations,
    and the rules across its keys (``one_of``)."""

    declared: tuple[Setting, ...]
    one_of: tuple[OneOf, ...] = ()
    by_key: dict[str, Setting] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_key", {s.key: s for s in self.declared})
        assert len(self.by_key) == len(self.declared), "a key declared twice"
        assert all(key in self.by_key for rule in self.one_of for key in rule.keys), "a rule names an undeclared key"

    def __iter__(self) -> Iterator[Setting]:
        return iter(self.declared)

    def __getitem__(self, key: str) -> Setting:
        return self.by_key[key]

    def __contains__(self, key: object) -> bool:
        return key in self.by_key

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.by_key)

    @property
    def secrets(self) -> tuple[Setting, ...]:
        return tuple(s for s in self.declared if s.secret)

    @property
    def path_keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.declared if s.paths)

    def resolve(self, block: Mapping[str, Any] | None) -> dict[str, Any]:
        """The block (checked) with every declared key: its value, else its default (None if required)."""
        block = block or {}
        values = {}
        for setting in self.declared:
            value = block.get(setting.key)
            if is_absent(value):
                value = None if setting.default is REQUIRED else setting.default
            values[setting.key] = value
        return values


def is_absent(value: Any) -> bool:
    """A key left out, or given no value (``key:`` or ``key: ""``): the check treats both alike."""
    return value is None or value == ""


def problems_of(where: str, block: Any, settings: Settings, base_dir: Path | None = None) -> list[str]:
    """Every problem of one block: unknown and missing keys, wrong types, bad paths; one line each."""
    import difflib

    def at(key: str) -> str:
        return f"{where}.{key}" if where else key

    if not isinstance(block, dict):
        return [f"{where}: must be a mapping of settings, got {shown(block)}"]
    problems = []
    in_block = f"{where}: " if where else ""
    for key in block:
        if key not in settings:
            close = difflib.get_close_matches(key, list(settings.keys), n=1) if isinstance(key, str) else []
            hint = f"did you mean '{close[0]}'? " if close else ""
            problems.append(f"{in_block}unknown key {key_shown(key)} ({hint}allowed: {', '.join(sorted(settings.keys))})")
    for setting in settings:
        value = block.get(setting.key)
        if is_absent(value):
            if setting.required:
                problems.append(f"{in_block}missing required key '{setting.key}'")
            elif setting.required_unless and block.get(setting.required_unless) is not True:
                problems.append(f"{at(setting.key)}: required unless {setting.required_unless}: true"
                                f" ({setting.option.expected})")
            continue
        if problem := setting.option.problem(value, base_dir):
            problems.append(f"{at(setting.key)}: {problem}")
    for rule in settings.one_of:
        if problem := rule.problem(block, settings):
            problems.append(f"{in_block}{problem}")
    return problems


SETTING_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,39}")


def key_shown(key: Any) -> str:
    """An unknown key as a message may show it: a setting-like name, never a line of some other file."""
    if isinstance(key, str) and SETTING_NAME_RE.fullmatch(key):
        return f"'{key}'"
    return "a key that is not a setting name"
