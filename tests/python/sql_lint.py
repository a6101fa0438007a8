"""sqlfluff on the SQL dbt compiled, with the project's .sqlfluff rules, in one engine's dialect."""

from __future__ import annotations

from pathlib import Path

from tests.python.conftest import PROJECT_DIR


def lint_compiled_models(target_dir: Path, dialect: str) -> list[str]:
    """Every violation (a parse error included) in the compiled models under a dbt target folder,
    as `file:line: code message`; the compiled tests are dbt's, not ours, and are left out."""
    from sqlfluff.core import FluffConfig, Linter

    linter = Linter(config=FluffConfig.from_path(str(PROJECT_DIR), overrides={"dialect": dialect}))
    models = sorted((target_dir / "compiled").glob("*/models/**/*.sql"))
    models = [path for path in models if not any(part.endswith(".yml") for part in path.parts)]
    assert models, f"no compiled model under {target_dir}"
    problems = []
    for path in models:
        for violation in linter.lint_string(path.read_text(encoding="utf-8"), fname=str(path)).get_violations():
            problems.append(f"{path.relative_to(target_dir)}:{violation.line_no}: {violation.rule_code()} {violation.desc()}")
    return problems
