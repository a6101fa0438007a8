"""Where the dbt project and the samples are, in a checkout and in an installed package.

In a checkout they sit beside the packages (``dbt_project.yml``, ``models/``, ``macros/``,
``profiles.yml``, ``samples/`` at the top of the repository). The wheel ships the same files
inside the package, under ``gladly_import/project/`` (``pyproject.toml``'s ``force-include``), so
an installed ``gladly-import`` runs from any folder. Nothing else decides where they are.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path
from typing import Any

import yaml

PACKAGE_DIR = Path(__file__).resolve().parent
# The folder that holds the gladly_import and extract packages: a checkout, or site-packages.
SOURCE_ROOT = PACKAGE_DIR.parent
BUNDLED_PROJECT_DIR = PACKAGE_DIR / "project"
INSTALLED = (BUNDLED_PROJECT_DIR / "dbt_project.yml").is_file()
# The dbt project: dbt_project.yml, profiles.yml, models/, macros/.
PROJECT_DIR = BUNDLED_PROJECT_DIR if INSTALLED else SOURCE_ROOT
SAMPLES_DIR = PROJECT_DIR / "samples"
SAMPLE_CONFIG = SAMPLES_DIR / "config.yml"


# The module dbt runs from, in dbt_command's command line: how a dbt process is told from others.
DBT_MODULE = "dbt.cli.main"


def dbt_command() -> list[str]:
    """How to start dbt with this interpreter, whatever folder its scripts were installed in; dbt dies
    with the process that starts it (a killed import leaves no dbt holding the DuckDB file)."""
    return [sys.executable, "-c", "import sys; from extract.processes import die_with_parent; "
            f"die_with_parent({os.getpid()}); from {DBT_MODULE} import cli; sys.exit(cli())"]


def dbt_state_dir(work_dir: Path) -> Path:
    """Where dbt writes its target/ and logs/: the run's work_dir, never the (maybe read-only,
    maybe shared by several imports) installed package."""
    return work_dir / "dbt"


@cache
def project_vars() -> dict[str, Any]:
    """The dbt project's ``vars:`` (dbt_project.yml): Gladly's limits are written there once, read by the
    models and by the push alike."""
    with open(PROJECT_DIR / "dbt_project.yml", encoding="utf-8") as handle:
        return dict(yaml.safe_load(handle).get("vars") or {})
