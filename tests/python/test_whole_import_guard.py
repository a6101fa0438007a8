"""The guard of `make test-fast` (conftest + whole_import_guard.py): a test not marked slow that starts
a whole import fails, wherever the import runs (the test's process, a CLI child, a fixture) and
whatever the test made of the refusal; a slow test may start dbt; a fast test that starts neither
dbt nor Spark is left alone."""

from __future__ import annotations

import os
import sys

import pytest

from gladly_import.paths import dbt_command
from tests.python.conftest import PROJECT_DIR
from tests.python.whole_import_guard import whole_import_step

pytest_plugins = ("pytester",)

INNER_TESTS = '''
import subprocess
import sys

import pytest

from gladly_import.paths import dbt_command
from tests.python.conftest import run_import, write_config

TICKET = ('{"id": 5, "subject": "Hi", "requester": {"email": "a@example.com"}, "comments": '
          '[{"id": 9, "body": "hello", "created_at": "2021-01-01T00:00:00Z"}]}\\n')


def test_an_import_in_a_cli_child_that_expects_to_fail(tmp_path):
    (tmp_path / "t.json").write_text(TICKET, encoding="utf-8")
    result = run_import(write_config(tmp_path, {"zendesk": {"path": "t.json"}}))
    assert result.returncode != 0  # the child's dbt was refused: this test "passes", the guard fails it


def test_dbt_in_this_process():
    subprocess.run([*dbt_command(), "--version"], check=True)


@pytest.fixture
def built():
    subprocess.run([*dbt_command(), "--version"], check=False)


def test_a_fixture_that_starts_dbt(built):
    pass


@pytest.mark.slow
def test_dbt_in_a_slow_test():
    assert subprocess.run([*dbt_command(), "--version"], capture_output=True, text=True).returncode == 0


def test_a_fast_test_with_a_child_that_starts_no_dbt():
    assert subprocess.run([sys.executable, "-c", "print('hi')"], capture_output=True, text=True).stdout == "hi\\n"
'''


def test_a_fast_test_that_starts_a_whole_import_fails_and_a_slow_one_does_not(pytester: pytest.Pytester,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(PROJECT_DIR), os.environ.get("PYTHONPATH")) if p))
    pytester.makepyfile(test_inner=INNER_TESTS)
    result = pytester.runpytest_subprocess("-p", "tests.python.conftest", "-p", "no:cacheprovider", "-rA",
                                           "-W", "ignore::pytest.PytestUnknownMarkWarning")
    result.assert_outcomes(passed=2, failed=2, errors=1)
    output = result.stdout.str()
    for test, phase in [("test_an_import_in_a_cli_child_that_expects_to_fail", "call"), ("test_dbt_in_this_process", "call"),
                        ("test_a_fixture_that_starts_dbt", "setup")]:
        assert f"test_inner.py::{test} is not marked slow but its {phase} started a whole import" in output
    assert "PASSED test_inner.py::test_an_import_in_a_cli_child_that_expects_to_fail" not in output
    assert "PASSED test_inner.py::test_dbt_in_a_slow_test" in output
    assert "PASSED test_inner.py::test_a_fast_test_with_a_child_that_starts_no_dbt" in output
    assert "mark it @pytest.mark.slow" in output


def test_the_steps_of_a_whole_import_are_told_from_other_processes() -> None:
    assert whole_import_step([*dbt_command(), "build", "--vars", "{}"]) is not None
    assert whole_import_step(["/opt/venv/bin/dbt", "test"]) is not None
    assert whole_import_step(("/opt/spark/bin/spark-submit", "pyspark-shell")) is not None
    assert whole_import_step(b"/usr/bin/dbt build") is not None
    assert whole_import_step([sys.executable, "-m", "gladly_import", "--version"]) is None
    assert whole_import_step([sys.executable, "-c", "print('dbt')"]) is None
    assert whole_import_step(["git", "status"]) is None and whole_import_step(None) is None
