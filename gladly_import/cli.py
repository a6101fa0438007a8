"""The command line: `python -m gladly_import --config my.yml [--mode delta]`."""

from __future__ import annotations

import argparse
import time

from extract.errors import ExtractError
from gladly_import.config import MODES, ConfigError, load_config
from gladly_import.engines import EngineError, open_engine
from gladly_import.ledger import finish_run, new_run_id, start_run
from gladly_import.lock import FolderInUse, lock_run_folders
from gladly_import.publish import settle_earlier_runs
from gladly_import.run import PROJECT_DIR, run_import, say


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gladly_import", description="Import customer-service history into Gladly.")
    parser.add_argument("--config", default=str(PROJECT_DIR / "samples" / "config.yml"),
                        help="the import's YAML config (default: the bundled sample)")
    parser.add_argument("--mode", choices=MODES, help="full (default) exports every item; delta only new ones")
    parser.add_argument("--with-unit-tests", action="store_true",
                        help="also run the dbt model unit tests (make test does)")
    args = parser.parse_args(argv)

    try:
        config = load_config(args.config)
    except ConfigError as error:
        say(f"config error: {error}")
        return 2
    mode = args.mode or config.mode

    started = time.monotonic()
    run_id = new_run_id()
    config.work_dir.mkdir(parents=True, exist_ok=True)
    config.output_dir.mkdir(parents=True, exist_ok=True)
    try:
        folders = lock_run_folders(run_id, config.work_dir, config.output_dir)  # held until main returns
    except FolderInUse as error:
        say(str(error))
        return 2
    engine = open_engine(config)
    try:
        settle_earlier_runs(engine, config.output_dir)
        start_run(engine, run_id, mode, str(config.path))
    except EngineError as error:
        say(f"engine error: {error}")
        folders.release()
        return 2
    say(f"import {run_id}: {mode} run on {engine.name}, config {config.path}")

    status = "failed"
    try:
        status = run_import(config, engine, mode, run_id, args.with_unit_tests, started)
    except ExtractError as error:
        say(f"extract error: {error}")
        return 1
    except KeyboardInterrupt:
        status = "interrupted"
        say(f"import {run_id} interrupted: nothing was recorded in the export ledger")
        return 130
    finally:
        if status != "succeeded":
            finish_run(engine, run_id, status)
        engine.close()
        folders.release()
    return 0 if status == "succeeded" else 1
