"""Shared pytest fixtures (build configs, run the whole import in a subprocess) and the guard that
fails a test not marked slow when it starts a whole import (tests/python/whole_import_guard.py)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.python import whole_import_guard

PROJECT_DIR = Path(__file__).resolve().parents[2]
SAMPLES_DIR = PROJECT_DIR / "samples"
GUARD_LOG = pytest.StashKey[Path]()
GUARD_READ = pytest.StashKey[int]()


def pytest_configure(config: pytest.Config) -> None:
    """The guard for the whole session: a log its hooks write to, in this process and in every Python child."""
    log = Path(tempfile.mkdtemp(prefix="gladly-import-guard-")) / "whole-imports.log"
    log.touch()
    config.stash[GUARD_LOG], config.stash[GUARD_READ] = log, 0
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(whole_import_guard.SITE_DIR), os.environ.get("PYTHONPATH")) if p)
    whole_import_guard.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    if GUARD_LOG in config.stash:
        shutil.rmtree(config.stash[GUARD_LOG].parent, ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
    """While a test not marked slow runs (its fixtures included), dbt and Spark are refused to it and its children."""
    guarded = item.get_closest_marker("slow") is None
    before = os.environ.pop(whole_import_guard.GUARD_ENV, None)
    if guarded:
        os.environ[whole_import_guard.GUARD_ENV] = str(item.config.stash[GUARD_LOG])
    try:
        return (yield)
    finally:
        os.environ.pop(whole_import_guard.GUARD_ENV, None)
        if before is not None:
            os.environ[whole_import_guard.GUARD_ENV] = before


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A phase in which the guard refused a start fails, whatever the test made of the refusal."""
    report = yield
    log, read = item.config.stash[GUARD_LOG], item.config.stash[GUARD_READ]
    with open(log, encoding="utf-8") as handle:
        handle.seek(read)
        refused = handle.read()
        item.config.stash[GUARD_READ] = handle.tell()
    if refused:
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid} is not marked slow but its {call.when} started a whole import "
                           "(dbt or Spark): mark it @pytest.mark.slow (make test-fast runs no whole import).\n"
                           + refused)
    return report


def read_items(paths: list[Path]) -> list[dict[str, str]]:
    """The rows of Gladly CSV files, in file order."""
    rows: list[dict[str, str]] = []
    for path in paths:
        with open(path, encoding="utf-8", newline="") as handle:
            rows.extend(csv.DictReader(handle))
    return rows


def item_ids(paths: list[Path]) -> list[str]:
    """The Conversation Item IDs of Gladly CSV files, in file order."""
    return [row["Conversation Item ID"] for row in read_items(paths)]


@dataclass
class ImportResult:
    returncode: int
    stdout: str
    stderr: str
    output_dir: Path
    work_dir: Path

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads((self.output_dir / "import_summary.json").read_text(encoding="utf-8"))

    def item_files(self) -> list[Path]:
        return sorted(self.output_dir.glob("gladly_conversation_items_*.csv"))

    def items(self) -> list[dict[str, str]]:
        return read_items(self.item_files())

    def rejects(self) -> list[dict[str, str]]:
        with open(self.output_dir / "gladly_import_rejects.csv", encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))


def write_config(directory: Path, sources: dict[str, Any], **top: Any) -> Path:
    config = {"output_dir": "output", "work_dir": "work", **top, "sources": sources}
    path = directory / "config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def run_import(config_path: Path, *args: str, env: dict[str, str] | None = None,
               timeout: int = 600) -> ImportResult:
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    base = config_path.parent
    completed = subprocess.run(
        [sys.executable, "-m", "gladly_import", "--config", str(config_path), *args],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    return ImportResult(
        returncode=completed.returncode,
        stdout=completed.stdout,
        stderr=completed.stderr,
        output_dir=(base / config.get("output_dir", "output")).resolve(),
        work_dir=(base / config.get("work_dir", "work")).resolve(),
    )


@pytest.fixture
def import_runner():
    return run_import


@pytest.fixture
def config_writer():
    return write_config


@dataclass
class Extracted:
    tables: dict[str, list[dict[str, Any]]]
    rejects: list[dict[str, Any]]
    manifest: dict[str, Any]
    file_facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    likely_causes: dict[str, str] = field(default_factory=dict)


def run_extractor(module: Any, files: list[Path], tmp_path: Path, options: dict[str, Any] | None = None) -> Extracted:
    """Run one platform's extractor on files, as the runner does, and read back what it wrote."""
    import pyarrow.parquet as pq

    from extract.context import SourceContext

    raw_dir = tmp_path / "raw"
    declared = module.PLATFORM
    out = declared.output(raw_dir)
    ctx = SourceContext(platform=declared.name, options=options or {}, base_dir=tmp_path, files=files,
                        state_dir=tmp_path / "state" / declared.name)
    module.extract(ctx, out)
    out.close()
    tables = {name: pq.read_table(raw_dir / declared.name / f"{name}.parquet").to_pylist() for name in declared.schemas}
    rejects = pq.read_table(out.rejects_path).to_pylist()
    return Extracted(tables=tables, rejects=rejects, manifest=out.manifest_row(is_configured=True),
                     file_facts=out.file_facts, likely_causes=out.likely_causes)


@pytest.fixture
def extractor():
    return run_extractor
