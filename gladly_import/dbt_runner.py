"""dbt in its own process, against this run's DuckDB file."""

from __future__ import annotations

import os

from gladly_import.config import Config
from gladly_import.paths import INSTALLED, PROJECT_DIR, SOURCE_ROOT, dbt_command, dbt_state_dir
from gladly_import.processes import child_process


def run_dbt(config: Config, args: list[str]) -> bool:
    """Run dbt in its own process, against this run's DuckDB file."""
    env = {
        **os.environ,
        "GLADLY_DUCKDB_PATH": str(config.database_path),
        "DBT_PROFILES_DIR": str(PROJECT_DIR),
        # In a checkout dbt imports gladly_import.dbt_plugin from it; installed, from site-packages.
        "PYTHONPATH": os.pathsep.join(p for p in (None if INSTALLED else str(SOURCE_ROOT), os.environ.get("PYTHONPATH")) if p),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        # dbt's target/ and logs/ belong to the run, not to the (maybe installed, read-only) project.
        "DBT_TARGET_PATH": str(dbt_state_dir(config.work_dir) / "target"),
        "DBT_LOG_PATH": str(dbt_state_dir(config.work_dir) / "logs"),
    }
    command = [*dbt_command(), *args, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]
    with child_process(command, cwd=PROJECT_DIR, env=env) as dbt:
        return dbt.wait() == 0
