"""The Makefile's set-up edges: a Python older than 3.11 is one clear line, a .venv made by another
Python is rebuilt. Run in a copy of the Makefile with stand-in interpreters (shell scripts that
answer like the real ones), so no virtual environment is built."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.python.conftest import PROJECT_DIR

if shutil.which("make") is None:
    pytest.skip("make is not installed", allow_module_level=True)


def _fake_python(path: Path, version: str) -> Path:
    """Answers the Makefile's two questions like a real interpreter of that version."""
    major, minor = (int(x) for x in version.split(".")[:2])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-V" ]; then echo "Python {version}"; exit 0; fi\n'
        f'case "$2" in *"print("*) echo "{major}.{minor}"; exit 0;; esac\n'
        f'case "$2" in *"sys.exit(sys.version_info < (3, 11))"*) exit {1 if (major, minor) < (3, 11) else 0};; esac\n'
        "exit 0\n", encoding="utf-8")
    path.chmod(0o755)
    return path


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    for name in ("Makefile", "requirements.txt", "requirements.lock", "pyproject.toml"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    return tmp_path


def _make(checkout: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=checkout, capture_output=True, text=True, timeout=60)


def test_an_old_python_is_one_clear_line(checkout: Path) -> None:
    old = _fake_python(checkout / "old" / "python3", "3.10.13")
    result = _make(checkout, f"PYTHON={old}", ".venv/.installed")
    assert result.returncode != 0
    assert result.stdout.splitlines() == [
        f"gladly-import needs Python 3.11 or newer; '{old}' is Python 3.10.13: install 3.11+ or run e.g. make PYTHON=python3.12"]
    assert not (checkout / ".venv").exists()  # no broken venv left behind


def test_a_venv_made_by_another_python_is_rebuilt(checkout: Path) -> None:
    current = _fake_python(checkout / "new" / "python3", "3.12.4")
    _fake_python(checkout / ".venv" / "bin" / "python", "3.11.7")
    (checkout / ".venv" / ".installed").touch()  # up to date by its stamp, but made by 3.11
    dry = _make(checkout, f"PYTHON={current}", "-n", ".venv/.installed")
    assert dry.returncode == 0, dry.stderr
    assert "rebuilding .venv: it was made by Python 3.11, not 3.12" in dry.stdout
    same = _make(checkout, f"PYTHON={_fake_python(checkout / 'same' / 'python3', '3.11.9')}", "-n", ".venv/.installed")
    assert "rebuilding" not in same.stdout and "pip install" not in same.stdout  # same Python: nothing to do
