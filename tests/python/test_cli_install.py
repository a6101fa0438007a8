"""Acceptance: the wheel, installed in a fresh virtual environment, imports from any folder.

The wheel is built from this checkout (with this venv's hatchling) and installed into a new venv
with the dependencies pyproject.toml declares, from the package index as a user's ``pip install``
gets them (held to requirements.lock's versions, so pip finds them in its cache): a dependency the
code needs but the package does not declare fails here (numpy, which DuckDB's Python functions need,
did while this test lent the new venv this one's site-packages). The checkout is on no path of the
new interpreter, and the command runs from an unrelated folder: what it reads of the dbt project and
the samples can only come from the installed package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gladly_import
from tests.python.conftest import PROJECT_DIR, SAMPLES_DIR, read_items

pytestmark = pytest.mark.slow


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a fresh venv where only the built wheel of this checkout is installed."""
    root = tmp_path_factory.mktemp("install")
    wheels = root / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(wheels), str(PROJECT_DIR)], check=True, capture_output=True, timeout=300)
    wheel = next(wheels.glob("gladly_import-*.whl"))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                                "--quiet", "-c", str(PROJECT_DIR / "requirements.lock"), str(wheel)],
                               capture_output=True, text=True, timeout=900)
    assert installed.returncode == 0, installed.stderr[-3000:]
    return venv / "bin"


def test_the_fresh_venv_has_only_what_the_package_declares(installed: Path) -> None:
    names = subprocess.run([str(installed / "python"), "-c", "import importlib.metadata as m;"
                            " print('\\n'.join(sorted(d.metadata['Name'].lower() for d in m.distributions())))"],
                           capture_output=True, text=True, check=True, timeout=60).stdout.split()
    assert "gladly-import" in names and "numpy" in names
    assert not {"pyspark", "dbt-spark", "pytest", "ruff", "sqlfluff"} & set(names)  # none of this venv's extras


def _user_env() -> dict[str, str]:
    """A user's shell: none of the Makefile's variables pointing at the checkout."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DBT_PROFILES_DIR", "GLADLY_DUCKDB_PATH")}


def test_the_installed_command_says_its_version_from_any_folder(installed: Path, tmp_path: Path) -> None:
    result = subprocess.run([str(installed / "gladly-import"), "--version"], cwd=tmp_path, env=_user_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"gladly-import {gladly_import.__version__}\n"


def test_the_installed_package_is_what_runs_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    probe = ("import sys, gladly_import.paths as p, extract; print(p.INSTALLED); print(p.PROJECT_DIR);"
             " print(extract.__file__); print(any(x.rstrip('/') == sys.argv[1] for x in sys.path))")
    out = subprocess.run([str(installed / "python"), "-c", probe, str(PROJECT_DIR)], cwd=tmp_path, env=_user_env(),
                         capture_output=True, text=True, check=True).stdout.splitlines()
    venv = installed.parent
    assert out[0] == "True"
    assert Path(out[1]).is_relative_to(venv) and (Path(out[1]) / "dbt_project.yml").is_file()
    assert Path(out[2]).is_relative_to(venv)
    assert out[3] == "False"  # the checkout is on no path


def test_pip_installed_gladly_import_writes_the_gladly_files(installed: Path, tmp_path: Path) -> None:
    user = tmp_path / "acme-migration"
    shutil.copytree(SAMPLES_DIR / "zendesk", user / "exports" / "zendesk")
    shutil.copytree(SAMPLES_DIR / "csv", user / "exports" / "csv")
    (user / "my.yml").write_text("sources:\n  zendesk:\n    path: exports/zendesk/\n  csv:\n    path: exports/csv/*.csv\n",
                                 encoding="utf-8")
    elsewhere = tmp_path / "somewhere-else"
    elsewhere.mkdir()
    bundled = next(installed.parent.glob("lib/python3*/site-packages/gladly_import/project"))
    before = _files(bundled)
    result = subprocess.run([str(installed / "gladly-import"), "--config", str(user / "my.yml")], cwd=elsewhere,
                            env=_user_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    items = sorted((user / "output").glob("gladly_conversation_items_*.csv"))
    assert [p.name for p in items] == ["gladly_conversation_items_0001.csv"]
    rows = read_items(items)
    assert {r["Conversation Item Source"] for r in rows} >= {"Zendesk", "Help Scout"}
    assert (user / "output" / "gladly_import_rejects.csv").is_file()
    assert (user / "output" / "import_summary.json").is_file()
    assert len(list((user / "work" / "logs").glob("import-*.log"))) == 1
    assert not (user / "output" / "logs").exists() and not (user / "output" / ".gladly_import.lock").exists()
    assert (user / "work" / "dbt" / "target" / "manifest.json").is_file()  # dbt wrote into the run's work_dir
    assert _files(bundled) == before  # and nothing into the installed package
    assert list(elsewhere.iterdir()) == []


def test_the_installed_command_starts_from_init_and_never_writes_into_the_package(installed: Path, tmp_path: Path) -> None:
    bundled = next(installed.parent.glob("lib/python3*/site-packages/gladly_import"))
    before = _files(bundled)
    hint = subprocess.run([str(installed / "gladly-import")], cwd=tmp_path, env=_user_env(), capture_output=True,
                          text=True, timeout=120)
    assert hint.returncode == 2 and "gladly-import init" in hint.stderr
    inside = subprocess.run([str(installed / "gladly-import"), "--config", str(bundled / "project" / "samples" / "config.yml")],
                            cwd=tmp_path, env=_user_env(), capture_output=True, text=True, timeout=120)
    assert inside.returncode == 2 and "inside the installed gladly-import package" in inside.stderr
    made = subprocess.run([str(installed / "gladly-import"), "init"], cwd=tmp_path, env=_user_env(), capture_output=True,
                          text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines()[-1] == "next: gladly-import --config gladly-import-demo/config.yml"
    demo = subprocess.run([str(installed / "gladly-import"), "--config", "gladly-import-demo/config.yml"], cwd=tmp_path,
                          env=_user_env(), capture_output=True, text=True, timeout=900)
    assert demo.returncode == 0, demo.stderr[-3000:]
    output = tmp_path / "gladly-import-demo" / "output"
    assert [p.name for p in output.glob("gladly_conversation_items_*.csv")] == ["gladly_conversation_items_0001.csv"]
    assert (output / "timeline_preview.html").is_file() and len(list((output / "runs").iterdir())) == 1
    assert _files(bundled) == before  # nothing written inside the installed package, not even a __pycache__
