"""The models' SQL in the style of .sqlfluff, parsed as DuckDB SQL (Spark SQL: test_spark.py).

The compiled SQL is linted (the jinja is dbt's, with the project's dispatch macros resolved for
the engine), so a DuckDB-only construct written in a model, not in a dispatch macro, fails the
Spark dialect's parse there, and a keyword in capitals or a leading comma fails here.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gladly_import.paths import dbt_command
from tests.python.conftest import PROJECT_DIR
from tests.python.sql_lint import lint_compiled_models

pytest.importorskip("sqlfluff", reason="sqlfluff is in requirements.txt")


@pytest.fixture(scope="module")
def duckdb_target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("compiled")
    env = {**os.environ, "GLADLY_DUCKDB_PATH": str(folder / "lint.duckdb"), "DBT_PROFILES_DIR": str(PROJECT_DIR),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    done = subprocess.run([*dbt_command(), "compile", "--quiet", "--no-use-colors",
                           "--target-path", str(folder / "target"), "--log-path", str(folder / "logs"),
                           "--project-dir", str(PROJECT_DIR)],
                          cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder / "target"


@pytest.mark.slow  # dbt compiles the project
def test_the_models_compiled_for_duckdb_follow_the_sql_style(duckdb_target: Path) -> None:
    assert lint_compiled_models(duckdb_target, "duckdb") == []


def test_the_lint_refuses_duckdb_only_sql_as_spark_and_a_style_slip(tmp_path: Path) -> None:
    """The check can fail: a model with DuckDB's cast shorthand and list literal, capitals, a leading comma."""
    model = tmp_path / "compiled" / "gladly_import" / "models" / "stg_x.sql"
    model.parent.mkdir(parents=True)
    model.write_text("select\n    null::varchar as note,\n    ['vip'] as tags\nfrom raw.x as x\n", encoding="utf-8")
    assert any(" PRS " in problem for problem in lint_compiled_models(tmp_path, "sparksql"))
    model.write_text("SELECT a\n    , b\nfrom raw.x as x\n", encoding="utf-8")
    codes = {problem.split(" ")[1] for problem in lint_compiled_models(tmp_path, "duckdb")}
    assert {"CP01", "LT04"} <= codes
