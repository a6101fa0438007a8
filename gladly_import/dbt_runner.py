"""dbt in its own process, against this run's DuckDB file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gladly_import.config import Config

PROJECT_DIR = Path(__file__).resolve().parent.parent


def run_dbt(config: Config, args: list[str]) -> bool:
    """Run dbt in its own process, against this run's DuckDB file."""
    env = {
        **os.environ,
        "GLADLY_DUCKDB_PATH": str(config.database_path),
        "DBT_PROFILES_DIR": str(PROJECT_DIR),
        "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_DIR), os.environ.get("PYTHONPATH")) if p),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    dbt = Path(sys.executable).with_name("dbt")
    command = [str(dbt), *args, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]
    return subprocess.run(command, cwd=PROJECT_DIR, env=env, check=False).returncode == 0
