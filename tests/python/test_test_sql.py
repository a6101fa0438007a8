"""`make test-sql` (tests/dbt/run_unit_tests.py) can fail: the unit tests run on their fixture rows
whatever `--empty` does to the models, a wrong expectation is named and fails the run, and every
unit test the project declares is counted. (`make test` and `make test-fast` run it on the project
itself: every unit test passes there.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.python.conftest import PROJECT_DIR

pytestmark = pytest.mark.slow  # dbt builds the models

RIGHT_ID = "csv-35a046bfdf3f6ef28156310a07de30e3"
UNIT_TEST = "csv_without_id_gets_a_stable_content_id"


def test_a_unit_test_whose_expectation_is_wrong_fails_the_run_and_is_named(tmp_path: Path) -> None:
    project = tmp_path / "project"
    for name in ("models", "macros"):
        shutil.copytree(PROJECT_DIR / name, project / name)
    shutil.copy(PROJECT_DIR / "dbt_project.yml", project)
    properties = project / "models" / "staging" / "csv" / "_csv__models.yml"
    text = properties.read_text(encoding="utf-8")
    # Only this unit test's expectation is made wrong (others quote the same id, on purpose).
    start = text.index(f"- name: {UNIT_TEST}\n")
    end = text.find("\n  - name: ", start + 1)
    end = len(text) if end == -1 else end
    section = text[start:end]
    assert section.count(RIGHT_ID) == 2
    properties.write_text(text[:start] + section.replace(RIGHT_ID, "csv-00000000000000000000000000000000") + text[end:],
                          encoding="utf-8")
    declared = sum(len(yaml.safe_load(p.read_text(encoding="utf-8")).get("unit_tests") or [])
                   for p in (project / "models").rglob("*.yml"))
    assert declared >= 45

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_DIR), os.environ.get("PYTHONPATH")) if p)}
    script = PROJECT_DIR / "tests" / "dbt" / "run_unit_tests.py"
    done = subprocess.run([sys.executable, str(script), "--project-dir", str(project)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"test-sql: {declared - 1} of {declared} dbt unit tests passed" in done.stderr
    assert f"stg_csv__conversation_items.{UNIT_TEST}: fail" in done.stderr
    assert "csv-00000000000000000000000000000000" in done.stdout + done.stderr  # dbt's diff, shown
