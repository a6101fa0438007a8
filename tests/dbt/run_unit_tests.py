"""`make test-sql`: the models' dbt unit tests alone, on a throwaway DuckDB file, in seconds.

    python tests/dbt/run_unit_tests.py [-v] [--keep DIR] [--project-dir DIR]

A unit test swaps a model's inputs for its fixture rows, but dbt still reads the columns of every
relation the model selects from, so those relations must exist. The cheapest correct database is
the one an import starts from, without the data: the raw tables every platform writes when it is
not configured (empty, with their real columns: the runner's extract stage on a config without
sources), the ledger's tables, registered through the engine layer as an import registers them;
then ``dbt run --empty`` (every model built with no rows) and ``dbt test --select test_type:unit``.
Two steps, not one ``dbt build``: there a failing unit test skips its model and, with it, every
unit test downstream; here each one runs and says what it found. dbt's target/ and logs/ go into
the throwaway folder: nothing is written in the checkout. Exit 0 only when every unit test the
project declares ran and passed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gladly_import.config import TOP_LEVEL, Config
from gladly_import.dbt_runner import dbt_environment, dbt_invocation
from gladly_import.email_rules import hand_email_rule_to_engine
from gladly_import.engines import open_engine
from gladly_import.extraction import extract_all
from gladly_import.ledger import ensure_tables
from gladly_import.paths import PROJECT_DIR, dbt_state_dir

MODELS = ["run", "--empty"]
UNIT_TESTS = ["test", "--select", "test_type:unit"]


def prepare(work: Path) -> Config:
    """An empty import's database in ``work``: every platform's raw tables (no rows) and the ledger."""
    config = Config(path=work / "config.yml", output_dir=work / "output", work_dir=work / "work",
                    batch_size=TOP_LEVEL["batch_size"].default, sources={})
    extract_all(config)  # no source configured: each platform's raw tables, empty, and the manifest
    engine = open_engine(config)
    try:
        ensure_tables(engine)
        engine.register_raw(config.raw_dir)
        hand_email_rule_to_engine(engine, [])  # the email rule's table, empty as the raw ones
    finally:
        engine.close()  # dbt needs the DuckDB file to itself
    return config


def unit_test_results(target: Path) -> tuple[list[str], dict[str, str]]:
    """The unit tests the project declares, and the status of each one dbt ran (manifest, run results)."""
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    declared = sorted(manifest.get("unit_tests", {}))
    results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))["results"]
    return declared, {r["unique_id"]: r["status"] for r in results if r["unique_id"].startswith("unit_test.")}


def run(work: Path, project_dir: Path = PROJECT_DIR, verbose: bool = False) -> int:
    started = time.monotonic()
    config = prepare(work)
    print(f"test-sql: dbt {' '.join(MODELS)}, then dbt {' '.join(UNIT_TESTS)}, on an empty import's DuckDB file"
          f" in {work}", flush=True)
    env, quiet = dbt_environment(config), [] if verbose else ["--quiet"]
    target = dbt_state_dir(config.work_dir) / "target"
    models = subprocess.run(dbt_invocation([*MODELS, *quiet], project_dir), cwd=project_dir, env=env, check=False)
    if models.returncode != 0:
        print(f"test-sql: the models do not build (dbt exit {models.returncode}): no unit test run", file=sys.stderr)
        return 1
    (target / "run_results.json").unlink(missing_ok=True)
    tests = subprocess.run(dbt_invocation([*UNIT_TESTS, *quiet], project_dir), cwd=project_dir, env=env, check=False)
    if not (target / "run_results.json").is_file():
        print(f"test-sql: dbt stopped before running a unit test (exit {tests.returncode})", file=sys.stderr)
        return 1
    declared, ran = unit_test_results(target)
    passed = sorted(u for u, status in ran.items() if status == "pass")
    problems = [f"{u.split('.', 2)[-1]}: {ran.get(u, 'not run')}" for u in declared if ran.get(u) != "pass"]
    seconds = time.monotonic() - started
    if tests.returncode != 0 or problems or not declared:
        print(f"test-sql: {len(passed)} of {len(declared)} dbt unit tests passed in {seconds:,.1f}s;"
              f" dbt exit {tests.returncode}" + "".join(f"\n  {p}" for p in problems), file=sys.stderr)
        return 1
    print(f"test-sql: {len(passed)} of {len(declared)} dbt unit tests passed in {seconds:,.1f}s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_unit_tests", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="dbt's whole output, not only its errors")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="build in DIR (kept) instead of a throwaway folder")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR, help="the dbt project (this checkout's)")
    args = parser.parse_args(argv)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        return run(args.keep.resolve(), args.project_dir.resolve(), args.verbose)
    with tempfile.TemporaryDirectory(prefix="gladly-test-sql-") as work:
        return run(Path(work), args.project_dir.resolve(), args.verbose)


if __name__ == "__main__":
    sys.exit(main())
