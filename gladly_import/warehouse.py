"""The DuckDB file: raw Parquet exposed as views in schema `raw`, for dbt and for analysts."""

from __future__ import annotations

from pathlib import Path

import duckdb

from extract.platforms import PLATFORMS


def _quote(path: Path) -> str:
    return "'" + path.as_posix().replace("'", "''") + "'"


def raw_views(raw_dir: Path) -> dict[str, str]:
    """View name -> the select behind it, for every raw table of every platform."""
    views = {}
    for platform, module in PLATFORMS.items():
        for table in module.TABLES:
            views[f"{platform}_{table}"] = f"select * from read_parquet({_quote(raw_dir / platform / (table + '.parquet'))})"
    views["extract_rejects"] = (
        f"select * from read_parquet({_quote(raw_dir / 'extract_rejects' / '*.parquet')}, union_by_name = true)"
    )
    # Fields the raw writer cut to its cap, with their real length (extract/raw.py).
    views["extract_truncations"] = (
        f"select * from read_parquet({_quote(raw_dir / 'extract_truncations' / '*.parquet')}, union_by_name = true)"
    )
    views["extract_manifest"] = f"select * from read_parquet({_quote(raw_dir / 'extract_manifest.parquet')})"
    return views


def create_raw_views(database_path: Path, raw_dir: Path) -> None:
    database_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(database_path)) as conn:
        conn.execute("create schema if not exists raw")
        for name, select in raw_views(raw_dir).items():
            conn.execute(f"create or replace view raw.{name} as {select}")
