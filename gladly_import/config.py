"""The import's YAML config file: loaded, checked and resolved before anything runs.

Every block is checked against its declaration (``CONFIG_KEYS`` = ``{key: required?}`` and
``CONFIG_TYPES`` = ``{key: extract.options.Option}``): the top level here, each platform's in its
extract module, and any other top-level block in the module that ``BLOCK_MODULES`` names. Every
problem is collected and reported at once, one line each, naming the file and the key. A file
that cannot be read as a config is named, never echoed.
"""

from __future__ import annotations

import difflib
import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from extract import options as opt
from extract.files import SourcePathError, resolve_files
from extract.platforms import PLATFORMS

MODES = ("full", "delta")
ENGINES = ("duckdb", "spark")
DEFAULT_BATCH_SIZE = 500_000
TOP_LEVEL_KEYS = {"output_dir": False, "work_dir": False, "batch_size": False, "mode": False, "sources": True,
                  "engine": False, "spark": False}
TOP_LEVEL_TYPES = {
    "output_dir": opt.FOLDER,
    "work_dir": opt.FOLDER,
    "batch_size": opt.number(1, whole=True),
    "mode": opt.one_of(MODES),
    "sources": opt.MAPPING,
    "engine": opt.one_of(ENGINES),
    "spark": opt.MAPPING,
}
# The spark: block (engine: spark; gladly_import/engines/).
SPARK_KEYS = {"master": False, "warehouse_dir": False, "raw_location": False, "conf": False}
SPARK_TYPES = {
    "master": opt.Option("a Spark master URL such as local[2]", lambda v: isinstance(v, str) and bool(v.strip())),
    "warehouse_dir": opt.Option("a folder path or a URI", lambda v: isinstance(v, str) and bool(v.strip())),
    "raw_location": opt.Option("a folder path or a URI", lambda v: isinstance(v, str) and bool(v.strip())),
    "conf": opt.Option("a mapping of Spark settings (spark.executor.memory: 4g, ...)",
                       lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v)),
}
# Top-level blocks that another module declares (its CONFIG_KEYS and CONFIG_TYPES): checked with
# the rest when that module is installed; the checked block is in ``Config.blocks``.
BLOCK_MODULES = {"gladly": "gladly_import.push"}
# A config is a few KB: a bigger file is not one (and is not read whole into memory).
MAX_CONFIG_BYTES = 1 << 20
SETTING_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,39}")


class ConfigError(ValueError):
    """Config problems, each described in one line: ``problems``; ``str()`` joins them."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else problems
        super().__init__("; ".join(self.problems))


@dataclass
class SourceConfig:
    platform: str
    options: dict[str, Any]
    files: list[Path] = field(default_factory=list)


@dataclass
class SparkConfig:
    master: str = "local[2]"
    warehouse_dir: str | None = None  # a folder or a Hadoop URI; default <work_dir>/spark-warehouse
    raw_location: str | None = None   # where the raw Parquet is registered from; default <work_dir>/raw
    conf: dict[str, str] = field(default_factory=dict)


@dataclass
class Config:
    path: Path
    output_dir: Path
    work_dir: Path
    batch_size: int
    sources: dict[str, SourceConfig]
    mode: str = "full"
    engine: str = "duckdb"
    spark: SparkConfig = field(default_factory=SparkConfig)
    # Other top-level blocks (BLOCK_MODULES), as checked: e.g. blocks["gladly"] for the push.
    blocks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def gladly(self) -> dict[str, Any]:
        """The push's ``gladly:`` block (gladly_import/push.py), as checked; empty when absent."""
        return self.blocks.get("gladly", {})

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def raw_dir(self) -> Path:
        return self.work_dir / "raw"

    @property
    def database_path(self) -> Path:
        return self.work_dir / "gladly_import.duckdb"


def _key_shown(key: Any) -> str:
    """An unknown key as a message may show it: a setting-like name, never a line of some other file."""
    if isinstance(key, str) and SETTING_NAME_RE.fullmatch(key):
        return f"'{key}'"
    return "a key that is not a setting name"


def check_block(where: str, block: Any, keys: dict[str, bool], types: dict[str, Any],
                base_dir: Path | None = None) -> list[str]:
    """Every problem of one block of settings: unknown and missing keys, wrong types, bad paths."""
    def at(key: str) -> str:
        return f"{where}.{key}" if where else key

    if not isinstance(block, dict):
        return [f"{where}: must be a mapping of settings, got {opt.shown(block)}"]
    problems = []
    in_block = f"{where}: " if where else ""
    for key in block:
        if key not in keys:
            close = difflib.get_close_matches(key, list(keys), n=1) if isinstance(key, str) else []
            hint = f"did you mean '{close[0]}'? " if close else ""
            problems.append(f"{in_block}unknown key {_key_shown(key)} ({hint}allowed: {', '.join(sorted(keys))})")
    for key, required in keys.items():
        value = block.get(key)
        option = opt.as_option(types[key]) if key in types else None
        if value is None or value == "":
            unless = option.required_unless if option else None
            if required:
                problems.append(f"{in_block}missing required key '{key}'")
            elif unless and block.get(unless) is not True:
                problems.append(f"{at(key)}: required unless {unless}: true"
                                + (f" ({option.expected})" if option else ""))
            continue
        if option is not None:
            problem = option.problem(value, base_dir)
            if problem:
                problems.append(f"{at(key)}: {problem}")
    return problems


def _read(config_path: Path, shown_path: str) -> Any:
    """The parsed YAML, or a ConfigError naming the file (never quoting it)."""
    try:
        with open(config_path, "rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except IsADirectoryError:
        raise ConfigError(f"{shown_path}: is a folder, not a config file") from None
    except OSError as error:
        raise ConfigError(f"{shown_path}: cannot read the config file: {error.strerror or error}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{shown_path}: over {MAX_CONFIG_BYTES >> 20} MB: not a config file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{shown_path}: not UTF-8 text: not a config file") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{shown_path}: not valid YAML{where}") from None


def _unreadable(files: list[Path]) -> list[str]:
    """The files that cannot be opened, each named: found now, not after other platforms' extraction."""
    problems = []
    for path in files:
        try:
            with open(path, "rb"):
                pass
        except OSError as error:
            problems.append(f"cannot read {path}: {error.strerror or error}")
    return problems


def _resolve_dir(value: str, base_dir: Path) -> Path:
    path = Path(value).expanduser()
    return (path if path.is_absolute() else base_dir / path).resolve()


def _location(value: str, base_dir: Path) -> str:
    """A folder (relative to the config file) or a Hadoop URI such as s3a://bucket/prefix, kept as is."""
    return value.rstrip("/") if "://" in value else _resolve_dir(value, base_dir).as_posix()


def _spark_config(block: dict[str, Any] | None, base_dir: Path) -> SparkConfig:
    """The checked spark: block (check_block has seen its keys and types)."""
    block = block or {}
    return SparkConfig(
        master=block.get("master", "local[2]"),
        warehouse_dir=_location(block["warehouse_dir"], base_dir) if "warehouse_dir" in block else None,
        raw_location=_location(block["raw_location"], base_dir) if "raw_location" in block else None,
        conf={k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (block.get("conf") or {}).items()},
    )


def _block_module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(BLOCK_MODULES[name])
    except ModuleNotFoundError as error:
        if error.name and BLOCK_MODULES[name].startswith(error.name):
            return None
        raise


def load_config(path: str | Path) -> Config:
    shown_path = str(path)
    try:
        config_path = Path(path).expanduser().resolve(strict=True)
    except FileNotFoundError:
        raise ConfigError(f"{shown_path}: config file does not exist") from None
    except (OSError, RuntimeError) as error:  # a symlink loop is RuntimeError before Python 3.13
        reason = getattr(error, "strerror", None) or ("symlink loop" if "loop" in str(error).lower() else str(error))
        raise ConfigError(f"{shown_path}: cannot open the config file: {reason}") from None
    data = _read(config_path, shown_path)
    if data is None:
        raise ConfigError(f"{shown_path}: the config file is empty: it needs at least a sources: block"
                          " (see the README)")
    if not isinstance(data, dict):
        raise ConfigError(f"{shown_path}: not an import config: it holds {opt.shown(data)},"
                          " not settings such as sources:")
    known = set(TOP_LEVEL_KEYS) | set(BLOCK_MODULES)
    if not known & set(data):
        raise ConfigError(f"{shown_path}: not an import config: none of its {len(data)} keys is a setting"
                          f" ({', '.join(sorted(TOP_LEVEL_KEYS))})")
    base_dir = config_path.parent

    top_keys = {**TOP_LEVEL_KEYS, **{name: False for name in BLOCK_MODULES}}
    problems = check_block("", data, top_keys, TOP_LEVEL_TYPES)
    if isinstance(data.get("spark"), dict):
        problems += check_block("spark", data["spark"], SPARK_KEYS, SPARK_TYPES)

    blocks: dict[str, dict[str, Any]] = {}
    for name in BLOCK_MODULES:
        if data.get(name) is None:
            continue
        module = _block_module(name)
        if module is None:
            problems.append(f"{name}: this installation has no {BLOCK_MODULES[name]}: remove the block")
            continue
        problems += check_block(name, data[name], module.CONFIG_KEYS, getattr(module, "CONFIG_TYPES", {}), base_dir)
        blocks[name] = data[name]

    sources: dict[str, SourceConfig] = {}
    sources_block = data.get("sources")
    if isinstance(sources_block, dict):
        if not sources_block:
            problems.append(f"sources: name at least one of {', '.join(PLATFORMS)}")
        problems += check_block("sources", sources_block, {name: False for name in PLATFORMS}, {})
        for platform, options in sources_block.items():
            module = PLATFORMS.get(platform)
            if module is None:
                continue
            where = f"sources.{platform}"
            found = check_block(where, options, module.CONFIG_KEYS, getattr(module, "CONFIG_TYPES", {}), base_dir)
            problems += found
            if not isinstance(options, dict):
                continue
            source = SourceConfig(platform=platform, options=dict(options))
            for key in getattr(module, "PATH_KEYS", ()):
                if key in options and not any(p.startswith(f"{where}.{key}:") for p in found):
                    try:
                        files = resolve_files(options[key], base_dir, module.FILE_SUFFIXES)
                        problems += [f"{where}.{key}: {problem}" for problem in _unreadable(files)]
                        source.files.extend(files)
                    except SourcePathError as error:
                        problems.append(f"{where}.{key}: {error}")
                    except OSError as error:
                        problems.append(f"{where}.{key}: cannot read {error.filename or options[key]}:"
                                        f" {error.strerror or error}")
            sources[platform] = source

    if problems:
        raise ConfigError([f"{shown_path}: {problem}" for problem in problems])
    return Config(
        path=config_path,
        output_dir=_resolve_dir(data.get("output_dir", "output"), base_dir),
        work_dir=_resolve_dir(data.get("work_dir", "work"), base_dir),
        batch_size=data.get("batch_size", DEFAULT_BATCH_SIZE),
        sources=sources,
        mode=data.get("mode", "full"),
        engine=data.get("engine", "duckdb"),
        spark=_spark_config(data.get("spark"), base_dir),
        blocks=blocks,
    )
