"""The import's YAML config file: loaded, checked and resolved before anything runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from extract.files import SourcePathError, resolve_files
from extract.platforms import PLATFORMS

TOP_LEVEL_KEYS = {"output_dir": False, "work_dir": False, "batch_size": False, "mode": False, "sources": True,
                  "gladly": False, "engine": False, "spark": False}
MODES = ("full", "delta")
ENGINES = ("duckdb", "spark")
SPARK_KEYS = {"master": False, "warehouse_dir": False, "raw_location": False, "conf": False}
DEFAULT_BATCH_SIZE = 500_000


class ConfigError(ValueError):
    """A config problem, described in one line."""


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
    gladly: dict[str, Any] = field(default_factory=dict)  # the push's settings (gladly_import/push.py)
    engine: str = "duckdb"
    spark: SparkConfig = field(default_factory=SparkConfig)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def raw_dir(self) -> Path:
        return self.work_dir / "raw"

    @property
    def database_path(self) -> Path:
        return self.work_dir / "gladly_import.duckdb"


def _check_keys(where: str, block: Any, allowed: dict[str, bool]) -> None:
    if not isinstance(block, dict):
        raise ConfigError(f"{where}: expected a mapping of settings, got {type(block).__name__}")
    unknown = sorted(set(block) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}' (allowed: {', '.join(sorted(allowed))})")
    missing = sorted(k for k, required in allowed.items() if required and block.get(k) in (None, ""))
    if missing:
        raise ConfigError(f"{where}: missing required key '{missing[0]}'")


def _resolve_dir(value: Any, base_dir: Path, key: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key}: must be a folder path")
    path = Path(value).expanduser()
    return (path if path.is_absolute() else base_dir / path).resolve()


def _location(value: Any, base_dir: Path, key: str) -> str:
    """A folder (relative to the config file) or a Hadoop URI such as s3a://bucket/prefix, kept as is."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key}: must be a folder path or a URI")
    if "://" in value:
        return value.rstrip("/")
    return _resolve_dir(value, base_dir, key).as_posix()


def _spark_config(block: Any, base_dir: Path) -> SparkConfig:
    if block is None:
        return SparkConfig()
    _check_keys("spark", block, SPARK_KEYS)
    master = block.get("master", "local[2]")
    if not isinstance(master, str) or not master.strip():
        raise ConfigError(f"spark.master: must be a Spark master URL such as local[2], got {master!r}")
    conf = block.get("conf") or {}
    if not isinstance(conf, dict) or not all(isinstance(k, str) for k in conf):
        raise ConfigError("spark.conf: must be a mapping of Spark settings (spark.executor.memory: 4g, ...)")
    return SparkConfig(
        master=master,
        warehouse_dir=_location(block["warehouse_dir"], base_dir, "spark.warehouse_dir") if "warehouse_dir" in block else None,
        raw_location=_location(block["raw_location"], base_dir, "spark.raw_location") if "raw_location" in block else None,
        conf={k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in conf.items()},
    )


def load_config(path: str | Path) -> Config:
    config_path = Path(path).expanduser().resolve()
    if not config_path.is_file():
        raise ConfigError(f"config file '{path}' does not exist")
    try:
        data = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{config_path.name}: not valid YAML{where}") from None
    _check_keys(config_path.name, data, TOP_LEVEL_KEYS)
    base_dir = config_path.parent

    batch_size = data.get("batch_size", DEFAULT_BATCH_SIZE)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ConfigError(f"batch_size: must be a whole number above 0, got {batch_size!r}")

    mode = data.get("mode", "full")
    if mode not in MODES:
        raise ConfigError(f"mode: must be one of {', '.join(MODES)}, got {mode!r}")

    engine = data.get("engine", "duckdb")
    if engine not in ENGINES:
        raise ConfigError(f"engine: must be one of {', '.join(ENGINES)}, got {engine!r}")
    spark = _spark_config(data.get("spark"), base_dir)

    sources_block = data["sources"]
    _check_keys("sources", sources_block, {name: False for name in PLATFORMS})
    if not sources_block:
        raise ConfigError(f"sources: name at least one of {', '.join(PLATFORMS)}")

    sources: dict[str, SourceConfig] = {}
    for platform, options in sources_block.items():
        module = PLATFORMS[platform]
        _check_keys(f"sources.{platform}", options, module.CONFIG_KEYS)
        source = SourceConfig(platform=platform, options=dict(options))
        for key in getattr(module, "PATH_KEYS", ()):
            if key in options:
                try:
                    source.files.extend(resolve_files(options[key], base_dir, module.FILE_SUFFIXES))
                except SourcePathError as error:
                    raise ConfigError(f"sources.{platform}.{key}: {error}") from None
        sources[platform] = source

    from gladly_import.push import CONFIG_KEYS as GLADLY_KEYS  # push imports this module

    gladly = data.get("gladly") or {}
    _check_keys("gladly", gladly, GLADLY_KEYS)

    return Config(
        path=config_path,
        output_dir=_resolve_dir(data.get("output_dir", "output"), base_dir, "output_dir"),
        work_dir=_resolve_dir(data.get("work_dir", "work"), base_dir, "work_dir"),
        batch_size=batch_size,
        sources=sources,
        mode=mode,
        gladly=dict(gladly),
        engine=engine,
        spark=spark,
    )
