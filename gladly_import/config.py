"""The import's YAML config file: loaded, checked and resolved before anything runs.

Every block is checked against its declared settings (``extract.options.Settings``): the top
level and ``spark:`` here, ``redact:`` in ``extract.redact`` (what is removed from titles and bodies
as they are landed), each platform's in its ``PLATFORM`` declaration, and any other top-level
block in the module that ``BLOCK_MODULES`` names. Every problem is collected and reported at once,
one line each, naming the file and the key. A file that cannot be read as a config is named, never
echoed. A source's options are kept with every declared key, its default where absent.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from extract import options as opt
from extract import redact
from extract.files import SourcePathError, resolve_files
from extract.platforms import PLATFORMS

MODES = ("full", "delta")
ENGINES = ("duckdb", "spark")
_LOCATION = opt.Option("a folder path or a URI", lambda v: isinstance(v, str) and bool(v.strip()))
TOP_LEVEL = opt.Settings((
    opt.Setting("output_dir", opt.FOLDER, "where the Gladly files, the rejects and the report go", default="output",
                shows="`output` (paths are relative to the config file)"),
    opt.Setting("work_dir", opt.FOLDER, "the raw Parquet, the API state and the DuckDB file of the staged history",
                default="work"),
    opt.Setting("batch_size", opt.number(1, whole=True), "rows per Gladly CSV file (the guide: batches of 500K)",
                default=500_000),
    opt.Setting("mode", opt.one_of(MODES), "full exports every item; delta only the new ones", default="full",
                shows="`full` (`--mode` overrides it)"),
    opt.Setting("sources", opt.MAPPING, "the platforms to import, each with its settings", default=opt.REQUIRED,
                shows="required: one or more platforms"),
    opt.Setting("engine", opt.one_of(ENGINES), "where the models run", default="duckdb"),
    opt.Setting("extract_processes", opt.number(1, whole=True),
                "how many platforms are read at once, each in a process of its own (API sources first, then the"
                " largest files); 1 reads them one after the other in this process",
                shows="the cores the import may use"),
    opt.Setting("spark", opt.MAPPING, "the Spark engine's settings", shows="(with `engine: spark`)"),
    opt.Setting("redact", opt.MAPPING, "what is removed from titles and bodies before anything is written"
                " (docs/redaction.md)", shows="card numbers removed"),
))
# The redact: block (extract/redact.py; docs/redaction.md).
REDACT = redact.SETTINGS
# The spark: block (engine: spark; gladly_import/engines/).
SPARK_METHODS = ("session", "thrift")
# dbt-spark's thrift auth modes (PyHive): NONE is SASL PLAIN with the user and no password
SPARK_AUTHS = ("NONE", "NOSASL", "LDAP", "CUSTOM", "KERBEROS")
SPARK = opt.Settings((
    opt.Setting("method", opt.one_of(SPARK_METHODS), "session: a Spark session in the import's process (its master "
                "local or a cluster's); thrift: a Spark Thrift server (dbt-spark's thrift method)", default="session"),
    opt.Setting("host", opt.TEXT, "the Thrift server's host", shows="required with `method: thrift`"),
    opt.Setting("port", opt.number(1, 65535, whole=True), "the Thrift server's port", default=10000),
    opt.Setting("user", opt.TEXT, "the user the Thrift session opens as", shows="none (the server's default)"),
    opt.Setting("auth", opt.one_of(SPARK_AUTHS), "the Thrift server's authentication (hive.server2.authentication)",
                default="NONE"),
    opt.Setting("kerberos_service_name", opt.TEXT, "the server's Kerberos service name (`auth: KERBEROS`)"),
    opt.Setting("password_env", opt.ENV_NAME, "the variable that holds the password (`auth: LDAP` or `CUSTOM`)",
                shows="none"),
    opt.Setting("master", opt.Option("a Spark master URL such as local[2]", lambda v: isinstance(v, str) and bool(v.strip())),
                "the Spark master", default="local[2]"),
    opt.Setting("warehouse_dir", _LOCATION, "where Spark keeps the staged history",
                shows="`<work_dir>/spark-warehouse`"),
    opt.Setting("raw_location", _LOCATION, "where Spark reads the raw Parquet from", shows="`<work_dir>/raw`"),
    opt.Setting("conf", opt.Option("a mapping of Spark settings (spark.executor.memory: 4g, ...)",
                                   lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v)),
                "Spark settings passed as they are"),
))
# Top-level blocks that another module declares (its SETTINGS): checked with the rest when that
# module is installed; the checked block is in ``Config.blocks``.
BLOCK_MODULES = {"gladly": "gladly_import.push"}
# A config is a few KB: a bigger file is not one (and is not read whole into memory).
MAX_CONFIG_BYTES = 1 << 20


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
    method: str = "session"           # session (in this process) or thrift (a Spark Thrift server)
    host: str | None = None           # thrift: the server
    port: int = 10000
    user: str | None = None
    auth: str = "NONE"
    kerberos_service_name: str | None = None
    password_env: str | None = None   # the NAME of the variable holding the password, never the password
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
    # The redact: block as checked (None: absent, the defaults: card numbers removed).
    redact: dict[str, Any] | None = None
    # Platforms read at once (gladly_import/extraction.py); None: the cores the import may use.
    extract_processes: int | None = None

    @property
    def redactor(self) -> redact.Redactor:
        """What the extractors remove from titles and bodies as they land them."""
        return redact.redactor_from(self.redact)

    @property
    def gladly(self) -> dict[str, Any]:
        """The push's ``gladly:`` block (gladly_import/push/settings.py), as checked; empty when absent."""
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


def check_block(where: str, block: Any, settings: opt.Settings, base_dir: Path | None = None) -> list[str]:
    """Every problem of one block of settings (``extract.options.problems_of``)."""
    return opt.problems_of(where, block, settings, base_dir)


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
    values = SPARK.resolve(block)
    return SparkConfig(
        method=values["method"], host=values["host"], port=int(values["port"]), user=values["user"],
        auth=values["auth"], kerberos_service_name=values["kerberos_service_name"],
        password_env=values["password_env"],
        master=values["master"],
        warehouse_dir=_location(block["warehouse_dir"], base_dir) if "warehouse_dir" in block else None,
        raw_location=_location(block["raw_location"], base_dir) if "raw_location" in block else None,
        conf={k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (block.get("conf") or {}).items()},
    )


def _spark_method_problems(block: dict[str, Any]) -> list[str]:
    """What `method: thrift` needs beyond each key's own check (the password only ever by its variable's name)."""
    if block.get("method") != "thrift":
        return []
    problems = [] if block.get("host") else ["spark.host: required with method: thrift (the Thrift server's host)"]
    if block.get("auth") in ("LDAP", "CUSTOM") and not block.get("password_env"):
        problems.append(f"spark.password_env: required with auth: {block['auth']} (the NAME of the variable that"
                        " holds the password)")
    return problems


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
    known = set(TOP_LEVEL.keys) | set(BLOCK_MODULES)
    if not known & set(data):
        raise ConfigError(f"{shown_path}: not an import config: none of its {len(data)} keys is a setting"
                          f" ({', '.join(sorted(TOP_LEVEL.keys))})")
    base_dir = config_path.parent

    top_level = opt.Settings((*TOP_LEVEL, *(opt.Setting(name, opt.MAPPING, f"the {name} block")
                                            for name in BLOCK_MODULES)))
    problems = check_block("", data, top_level)
    if isinstance(data.get("spark"), dict):
        problems += check_block("spark", data["spark"], SPARK) + _spark_method_problems(data["spark"])
    if isinstance(data.get("redact"), dict):
        problems += check_block("redact", data["redact"], REDACT)

    blocks: dict[str, dict[str, Any]] = {}
    for name in BLOCK_MODULES:
        if data.get(name) is None:
            continue
        module = _block_module(name)
        if module is None:
            problems.append(f"{name}: this installation has no {BLOCK_MODULES[name]}: remove the block")
            continue
        # the module's own check when it joins keys (gladly: simulator_today only with simulate), else its SETTINGS
        check = getattr(module, "block_problems", None)
        problems += check(data[name]) if check else check_block(name, data[name], module.SETTINGS, base_dir)
        blocks[name] = data[name]

    sources: dict[str, SourceConfig] = {}
    sources_block = data.get("sources")
    if isinstance(sources_block, dict):
        if not sources_block:
            problems.append(f"sources: name at least one of {', '.join(PLATFORMS)}")
        platforms = opt.Settings(tuple(opt.Setting(name, opt.MAPPING, p.service) for name, p in PLATFORMS.items()))
        problems += check_block("sources", sources_block, platforms)
        for platform, options in sources_block.items():
            declared = PLATFORMS.get(platform)
            if declared is None:
                continue
            where = f"sources.{platform}"
            found = check_block(where, options, declared.settings, base_dir)
            problems += found
            if not isinstance(options, dict):
                continue
            source = SourceConfig(platform=platform, options=declared.options(options))
            for key in declared.settings.path_keys:
                if key in options and not any(p.startswith(f"{where}.{key}:") for p in found):
                    try:
                        files = resolve_files(options[key], base_dir, declared.file_suffixes, declared.reads_archives)
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
    top = TOP_LEVEL.resolve(data)
    return Config(
        path=config_path,
        output_dir=_resolve_dir(top["output_dir"], base_dir),
        work_dir=_resolve_dir(top["work_dir"], base_dir),
        batch_size=top["batch_size"],
        sources=sources,
        mode=top["mode"],
        engine=top["engine"],
        spark=_spark_config(data.get("spark"), base_dir),
        blocks=blocks,
        redact=data.get("redact"),
        extract_processes=top["extract_processes"],
    )
