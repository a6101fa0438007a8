"""`make import`: extract every configured source, build the dbt models, export the Gladly files."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from extract.context import Progress, SourceContext
from extract.errors import ExtractError
from extract.platforms import PLATFORMS
from extract.raw import MANIFEST_SCHEMA, PlatformOutput, write_table
from gladly_import.config import Config, ConfigError, load_config
from gladly_import.export import export_items, export_rejects
from gladly_import.summary import build_summary, format_table, write_summary
from gladly_import.warehouse import create_raw_views

PROJECT_DIR = Path(__file__).resolve().parent.parent


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def extract_all(config: Config) -> list[dict]:
    """Run each configured extractor; unconfigured platforms get empty raw tables."""
    raw_dir = config.raw_dir
    manifest = []
    for platform, module in PLATFORMS.items():
        shutil.rmtree(raw_dir / platform, ignore_errors=True)
        (raw_dir / "extract_rejects" / f"{platform}.parquet").unlink(missing_ok=True)
        out = PlatformOutput(raw_dir, platform, module.TABLES, module.RECORD_TABLES)
        source = config.sources.get(platform)
        if source is None:
            out.close()
            manifest.append(out.manifest_row(is_configured=False))
            continue
        started = time.monotonic()
        say(f"extract {platform}: {len(source.files)} file(s)" if source.files else f"extract {platform}")
        ctx = SourceContext(
            platform=platform, options=source.options, base_dir=config.base_dir, files=source.files,
            state_dir=config.work_dir / "state" / platform, progress=Progress(platform),
        )
        try:
            module.extract(ctx, out)
        except BaseException:
            out.abort()
            raise
        out.close()
        row = out.manifest_row(is_configured=True)
        manifest.append(row)
        rejected = ", ".join(f"{n:,} {r}" for r, n in sorted(out.reject_reasons.items()))
        say(f"extract {platform}: {row['records_extracted']:,} records in {time.monotonic() - started:,.1f}s"
            + (f"; set aside: {rejected}" if rejected else ""))
    write_table(raw_dir / "extract_manifest.parquet", MANIFEST_SCHEMA, manifest)
    return manifest


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gladly_import", description=__doc__)
    parser.add_argument("--config", default=str(PROJECT_DIR / "samples" / "config.yml"),
                        help="the import's YAML config (default: the bundled sample)")
    parser.add_argument("--with-unit-tests", action="store_true",
                        help="also run the dbt model unit tests (make test does)")
    args = parser.parse_args(argv)

    try:
        config = load_config(args.config)
    except ConfigError as error:
        say(f"config error: {error}")
        return 2

    started = time.monotonic()
    say(f"import: config {config.path}")
    try:
        extract_all(config)
    except ExtractError as error:
        say(f"extract error: {error}")
        return 1
    except KeyboardInterrupt:
        say("import interrupted: run it again to continue (API sources resume from their checkpoint)")
        return 130

    say("transform: dbt build")
    create_raw_views(config.database_path, config.raw_dir)
    build = ["build", "--quiet"] if not args.with_unit_tests else ["build"]
    if not args.with_unit_tests:
        build += ["--exclude-resource-type", "unit_test"]
    if not run_dbt(config, build):
        say("import failed: dbt build reported errors or failing tests (see above)")
        return 1

    say("export: Gladly CSV")
    with duckdb.connect(str(config.database_path)) as conn:
        conn.execute("set TimeZone = 'UTC'")
        files = export_items(conn, config.output_dir, config.batch_size)
        rejects = export_rejects(conn, config.output_dir)
        summary = build_summary(conn, files, rejects)
    write_summary(summary, config.output_dir)

    print(format_table(summary))
    print()
    for f in files:
        print(f"wrote {config.output_dir / f['file']} ({f['rows']:,} rows)")
    if not files:
        print("no conversation item to export: no Gladly CSV written")
    print(f"wrote {config.output_dir / rejects['file']} ({rejects['rows']:,} rows)")
    print(f"wrote {config.output_dir / 'import_summary.json'}")
    print(f"staged history: duckdb {config.database_path}  (done in {time.monotonic() - started:,.1f}s)")
    if summary["totals"]["unaccounted"]:
        say("import failed: some records are unaccounted for (see import_reconciliation)")
        return 1
    return 0
