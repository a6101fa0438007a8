"""What the push tests share: one real import of CSV template rows, copied per test with Gladly's
credentials in the environment, and the config's gladly block set per test."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.python.conftest import run_import, write_config


def import_rows(base: Path, header: list[str], rows: list[list[str]]) -> Path:
    """``base`` after a whole import of ``rows`` (Gladly's CSV template) into it."""
    with open(base / "items.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    result = run_import(write_config(base, {"csv": {"path": "items.csv"}}))
    assert result.returncode == 0, result.stderr
    return base


def copy_project(imported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, user: str, token: str) -> Path:
    """A copy of the imported project, with Gladly's credentials in the environment."""
    target = tmp_path / "project"
    shutil.copytree(imported, target)
    monkeypatch.setenv("GLADLY_API_USER", user)
    monkeypatch.setenv("GLADLY_API_TOKEN", token)
    return target


def configure(project: Path, defaults: dict[str, Any], **gladly: Any) -> Path:
    """The project's config with its ``gladly:`` block: ``defaults`` (the module's), then the test's."""
    path = project / "config.yml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["gladly"] = {**defaults, **gladly}
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path
