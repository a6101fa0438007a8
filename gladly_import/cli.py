"""The command line: ``gladly-import [import] --config my.yml [--mode delta]``, ``gladly-import check --config
my.yml`` (the preflight), ``push …``, ``runs``, ``init``.

Exit codes: 0 the run succeeded; 1 the run failed; 2 nothing was run (a bad config, command
line or environment variable, an output or work folder that cannot be written); 3 the run
wrote everything but needs review (a source exported nothing, or much of it was unreadable:
gladly_import/review.py); 130 interrupted (Ctrl-C). Every expected failure ends in one line on stderr, never a traceback; an
unexpected one says so in one line and leaves its traceback in the run's log file.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb

from extract.api.config import unset_secret
from extract.errors import ExtractError
from extract.platforms import PLATFORMS
from gladly_import import __version__, log
from gladly_import.config import MODES, Config, ConfigError, load_config
from gladly_import.dbt_runner import MEMORY_LIMIT_ENV
from gladly_import.demo import DEMO_FOLDER, DemoError, make_demo
from gladly_import.engines import EngineError, open_engine
from gladly_import.history import delivered_so_far, format_runs, list_runs, refusal, replacing
from gladly_import.ledger import ensure_tables, finish_run, new_run_id, start_run
from gladly_import.lock import FolderInUse, lock_run_folders
from gladly_import.log import result_logger
from gladly_import.paths import INSTALLED, PACKAGE_DIR, SAMPLE_CONFIG, SOURCE_ROOT
from gladly_import.publish import PublishError, settle_earlier_runs
from gladly_import.review import EXIT_NEEDS_REVIEW, NEEDS_REVIEW

EXIT_OK, EXIT_FAILED, EXIT_NOT_RUN, EXIT_INTERRUPTED = 0, 1, 2, 130
PROG = "gladly-import"
MEMORY_LIMIT_RE = re.compile(r"\s*\d+(\.\d+)?\s*(([KMGT]i?)?B|%)\s*", re.IGNORECASE)
# What the writability check writes and removes in output_dir and work_dir: a folder that cannot
# take this much is full, and is found before minutes of extraction, not after.
PROBE_BYTES = 1 << 20
PROBE_NAME = ".gladly-import-write-check"

logger = logging.getLogger("gladly_import.cli")

DESCRIPTION = """\
Move a company's customer-service history into Gladly: extract each helpdesk's export or API,
transform it with dbt on DuckDB (or Spark: engine: spark), and write the Gladly conversation-item
CSV files, a rejects file, a summary, an HTML report, a timeline preview and a log of the run.

commands:
  import   (the default) run an import: gladly-import --config my.yml [--mode delta]
  check    the preflight: can the run go ahead? credentials, permissions, limits, size, time
  push     send the exported files to Gladly's API: gladly-import push --help
  runs     list the runs of a work dir (imports and pushes): gladly-import runs --config my.yml
  init     make a folder to try it in (the samples and a starter config): gladly-import init [FOLDER]
"""

EPILOG = """\
exit codes:
  0    the run succeeded
  1    the run failed (a failing data test, an API that refused, a DuckDB file in use, ...)
  2    nothing was run: a bad config, command line or environment variable, or an output or
       work folder that cannot be written
  3    the run wrote everything but needs review: a source exported nothing (full run) or over
       10% (and at least 10) of its records were unreadable; a WARNING per source names the
       likely cause
  130  interrupted (Ctrl-C): nothing was recorded in the export ledger

Each run writes its log to <work_dir>/logs/import-<run id>.log (every level), and keeps its report
files in <output_dir>/runs/<run id>/ (gladly-import runs lists them).
"""


class PreflightError(Exception):
    """What was found before the run starts that stops it: ``problems``, one line each."""

    def __init__(self, *problems: str) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def _common(parser: argparse.ArgumentParser, top: bool = False) -> None:
    """-v, -q and --version, before or after the command (the command's must not reset the top's)."""
    default = log.NORMAL if top else argparse.SUPPRESS
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=log.VERBOSE,
                          default=default, help="say more: debug lines, with time and logger name")
    loudness.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=log.QUIET,
                          default=default, help="say only warnings and errors (the result still goes to stdout)")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="{import,check,push,runs,init}")
    run = commands.add_parser("import", help="run an import (the default command)", epilog=EPILOG,
                              description="Run an import: extract, transform, export the Gladly files.",
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    default = "the bundled sample" if not INSTALLED else "none: required"
    run.add_argument("--config", default=None, help=f"the import's YAML config (default: {default})")
    run.add_argument("--mode", choices=MODES, help="full (the default) exports every item; delta only new ones. "
                     "After a delta or a push, a full run must be asked for with --mode full")
    run.add_argument("--with-unit-tests", action="store_true", help="also run the dbt model unit tests (make test does)")
    _common(run)
    check = commands.add_parser(
        "check", help="the preflight: can the run go ahead? (read-only requests, nothing written)",
        description="The preflight: a handful of read-only requests per API source (and to Gladly with a gladly:"
                    " block): credentials, permissions, rate limits, the size of the work and its time, the"
                    " extractor's assumptions tested on the account. One table on stdout; nothing is written.",
        epilog=CHECK_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("--config", default=None, help=f"the import's YAML config (default: {default})")
    _common(check)
    push = commands.add_parser("push", help="send the last import's batch to Gladly's API (gladly-import push --help)",
                               description="Send the last successful import's batch to Gladly's API"
                                           " (docs/gladly-push.md).", epilog=EPILOG,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    push.add_argument("--config", default=None,
                      help=f"the import's YAML config, with its gladly: block (default: {default})")
    push.add_argument("--dry-run", action="store_true",
                      help="validate every payload against the API's rules, count the requests; send nothing")
    _common(push)
    runs = commands.add_parser("runs", help="list the runs of a work dir: imports and pushes",
                               description="List the runs recorded in a work dir's ledger (imports and pushes): mode, "
                                           "times, status, items, files, and where each run's report files are kept.")
    runs.add_argument("--config", default=None, help=f"the import's YAML config (default: {default})")
    _common(runs)
    init = commands.add_parser("init", help="make a folder with the samples and a starter config",
                               description="Copy the bundled samples and a commented starter config into a folder, "
                                           "and say the next command.")
    init.add_argument("folder", nargs="?", default=DEMO_FOLDER, help=f"where (default: ./{DEMO_FOLDER}); new or empty")
    _common(init)
    return parser


CHECK_EPILOG = """\
exit codes:
  0    the run can go ahead
  1    it cannot as configured: a check failed (a refused credential, a missing permission, ...)
  2    nothing was checked: a bad config or command line
  130  interrupted (Ctrl-C)
"""


COMMANDS = ("import", "check", "push", "runs", "init")
LOUDNESS_FLAGS = {"-v": log.VERBOSE, "--verbose": log.VERBOSE, "-q": log.QUIET, "--quiet": log.QUIET}


def split_command(argv: list[str]) -> tuple[list[str], str, list[str]]:
    """(leading -v/-q flags, the command, its arguments); ``import`` is the default command."""
    leading = 0
    while leading < len(argv) and argv[leading] in LOUDNESS_FLAGS:
        leading += 1
    rest = argv[leading:]
    if rest[:1] and rest[0] in COMMANDS:
        return argv[:leading], rest[0], rest[1:]
    if rest[:1] and rest[0] in ("-h", "--help", "--version"):
        return argv[:leading], "", rest
    return argv[:leading], "import", rest


def main(argv: list[str] | None = None) -> int:
    flags, command, rest = split_command(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args([*flags, *([command] if command else []), *rest])
    log.setup(args.verbosity)
    try:
        if args.command == "push":
            return push_command(args)
        if args.command == "check":
            return check_command(args)
        if args.command == "runs":
            return runs_command(args)
        if args.command == "init":
            return init_command(args)
        return run_command(args)
    finally:
        log.shutdown()


def init_command(args: argparse.Namespace) -> int:
    """``gladly-import init [FOLDER]``: the samples and a starter config in a folder; says the next command."""
    try:
        config = make_demo(Path(args.folder))
    except DemoError as error:
        logger.error(str(error))
        return EXIT_NOT_RUN
    result_logger.info(f"made {args.folder}/: the sample exports of each platform and a commented starter config")
    result_logger.info(f"next: {PROG} --config {config}")
    return EXIT_OK


def runs_command(args: argparse.Namespace) -> int:
    """``gladly-import runs``: the runs of a work dir's ledger, imports and pushes, oldest first."""
    try:
        config = _load(args.config)
    except (ConfigError, PreflightError) as error:
        return _not_run(error)
    try:
        with _ledger_reader(config) as conn:
            if conn is None:
                result_logger.info(f"no run recorded in work_dir {config.work_dir} yet")
                return EXIT_OK
            rows = list_runs(conn, config.output_dir)
    except duckdb.Error as error:
        logger.error(duckdb_in_use(error, config.database_path) or f"DuckDB error on {config.database_path}: "
                     f"{_first_line(error)}")
        return EXIT_FAILED
    except EngineError as error:
        logger.error(f"engine error: {error}")
        return EXIT_NOT_RUN
    result_logger.info(format_runs(rows) if rows else f"no run recorded in work_dir {config.work_dir} yet")
    return EXIT_OK


@contextlib.contextmanager
def _ledger_reader(config: Config) -> Iterator[Any]:
    """The ledger, read only (DuckDB: a read-only connection, never creating the file), or None without one."""
    if config.engine == "duckdb":
        if not config.database_path.is_file():
            yield None
            return
        with duckdb.connect(str(config.database_path), read_only=True) as conn:
            has_ledger = conn.execute("select count(*) from information_schema.tables where table_schema = 'ledger' "
                                      "and table_name = 'import_run_events'").fetchone()[0]
            yield conn if has_ledger else None
        return
    engine = open_engine(config)
    try:
        ensure_tables(engine)
        yield engine
    finally:
        engine.close()


def check_command(args: argparse.Namespace) -> int:
    """``gladly-import check``: the preflight's table on stdout; 0 when the run can go ahead, else 1."""
    try:
        config = _load(args.config)
    except (ConfigError, PreflightError) as error:
        return _not_run(error)
    from gladly_import.check import FAIL, render, run_checks

    try:
        rows = run_checks(config)
    except KeyboardInterrupt:
        logger.error("check interrupted")
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001 (each platform's expected failures are rows of the table)
        logger.debug("unexpected error in the check", exc_info=True)
        logger.error(f"check failed: unexpected {type(error).__name__}: {_first_line(error)} (-v shows the traceback)")
        return EXIT_FAILED
    log.result_logger.info(render(rows))
    return EXIT_FAILED if any(finding.verdict == FAIL for _, finding in rows) else EXIT_OK


def push_command(args: argparse.Namespace) -> int:
    """``gladly-import push``: gladly_import.push, when it is installed, with every expected failure in one line."""
    try:
        push = importlib.import_module("gladly_import.push")
    except ModuleNotFoundError as error:
        if error.name not in ("gladly_import.push", "gladly_import"):
            raise
        logger.error("push: not available in this version of gladly-import (no gladly_import.push)")
        return EXIT_NOT_RUN
    try:
        config = _load(args.config)
        if not args.dry_run and (problems := missing_push_secrets(config)):
            raise PreflightError(*(f"environment error: {config.path}: {problem}" for problem in problems))
        return push.push(config, dry_run=args.dry_run)
    except (ConfigError, PreflightError) as error:
        return _not_run(error)
    except (push.PushError, FolderInUse, ExtractError) as error:
        logger.error(f"push failed: {error}")
        return EXIT_FAILED
    except duckdb.Error as error:
        line = duckdb_in_use(error, config.database_path) or f"cannot open the staged history ({_first_line(error)[:200]})"
        logger.error(f"push failed: {line}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        logger.error("push interrupted before sending")
        return EXIT_INTERRUPTED


def _interrupt_once(signum: int, frame: object) -> None:
    """Ctrl-C: one KeyboardInterrupt; the next ones (people press it again) must not cut the clean-up short."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def run_command(args: argparse.Namespace) -> int:
    """The import command, with every expected failure turned into its one line and exit code."""
    run: dict[str, object] = {}
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, _interrupt_once) if main_thread else None
    try:
        return _run_command(args, run)
    finally:
        if "engine" in run:
            with contextlib.suppress(Exception):
                run["engine"].close()  # type: ignore[attr-defined]
        if "folders" in run:
            run["folders"].release()  # type: ignore[attr-defined]
        # After a Ctrl-C, Ctrl-C stays ignored: another one while the process exits would kill it
        # by the signal (exit status -2, not 130), after its last line.
        if main_thread and "interrupted" not in run:
            signal.signal(signal.SIGINT, previous or signal.default_int_handler)


def _run_command(args: argparse.Namespace, run: dict[str, object]) -> int:
    try:
        config = _load(args.config)
        _preflight(config)
        return _run(config, args, run)
    except (ConfigError, PreflightError) as error:
        return _not_run(error)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the last line short
        run["interrupted"] = True
        recorded = _finish(run, "interrupted")
        if "id" not in run:
            logger.error("import interrupted before it started: nothing was run or recorded")
        elif recorded == "succeeded":  # Ctrl-C while the result was printed: the run was complete
            logger.error(f"import {run['id']} interrupted after it completed: its files and ledger are in place")
        else:
            logger.error(f"import {run['id']} interrupted: nothing was recorded in the export ledger")
        return EXIT_INTERRUPTED


def _not_run(error: ConfigError | PreflightError) -> int:
    """A bad config or what the preflight found: each problem in one line; nothing was run."""
    for problem in error.problems:
        logger.error(f"config error: {problem}" if isinstance(error, ConfigError) else problem)
    return EXIT_NOT_RUN


def _load(config_arg: str | None) -> Config:
    if config_arg is None:
        if INSTALLED:
            raise PreflightError(f"no --config given: name your import's YAML config ({PROG} --config my.yml), or try it"
                                 f" on the samples first: {PROG} init (then {PROG} --config {DEMO_FOLDER}/config.yml)")
        config_arg = str(SAMPLE_CONFIG)
    config = load_config(config_arg)
    _outside_the_package(config)
    return config


def _outside_the_package(config: Config) -> None:
    """An installed package is never written into (it may be read-only, shared, replaced by an upgrade)."""
    if not INSTALLED:
        return  # a checkout: its samples write to the checkout's output/ and work/, as make import does
    packages = [PACKAGE_DIR, SOURCE_ROOT / "extract"]
    for label, folder in (("output_dir", config.output_dir), ("work_dir", config.work_dir)):
        if any(folder.resolve().is_relative_to(p) for p in packages):
            raise PreflightError(f"{label} {folder} is inside the installed gladly-import package, where nothing is"
                                 f" written: copy the samples out with {PROG} init, then"
                                 f" {PROG} --config {DEMO_FOLDER}/config.yml")


def check_memory_limit() -> None:
    """GLADLY_DUCKDB_MEMORY_LIMIT (read by the export and by dbt's profile) is a size DuckDB takes."""
    value = os.environ.get(MEMORY_LIMIT_ENV)
    if value is None:
        return
    problem = None
    if not MEMORY_LIMIT_RE.fullmatch(value):
        problem = "not a memory size"
    else:
        try:
            with duckdb.connect(":memory:") as conn:
                conn.execute(f"set memory_limit = '{value.strip()}'")
        except duckdb.Error:
            problem = "not a memory size DuckDB accepts"
    if problem:
        shown = repr(value) if len(value) <= 40 else f"a text of {len(value)} characters"
        raise PreflightError(f"{MEMORY_LIMIT_ENV}={shown}: {problem}; give e.g. 256MB, 2GB or 50%, or unset it")


def check_writable(label: str, folder: Path) -> None:
    """The folder exists or can be made, and takes a PROBE_BYTES file: else one line naming it."""
    probe = folder / PROBE_NAME
    if folder.exists() and not folder.is_dir():
        raise PreflightError(f"{label} {folder}: is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as handle:
            handle.write(b"\0" * PROBE_BYTES)
            handle.flush()
            os.fsync(handle.fileno())
        probe.unlink()
    except OSError as error:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)
        free = ""
        with contextlib.suppress(OSError):
            free = f" ({shutil.disk_usage(folder).free / 2**20:,.1f} MB free)"
        raise PreflightError(f"{label} {folder}: cannot write there: {error.strerror or error}{free}") from None


def missing_secrets(config: Config) -> list[str]:
    """An API source's environment variables that are unset: each in one line naming its key.

    Not checked with ``simulate: true`` (demo credentials), ``reuse_completed: true`` (a completed
    extraction may be re-used without calling the API), nor for a source that reads export files
    (Zendesk given a ``path``).
    """
    problems = []
    for platform, source in config.sources.items():
        options = source.options
        if (options.get("simulate") is True or options.get("reuse_completed") is True
                or PLATFORMS[platform].reads_files_with(options)):
            continue
        problems += [f"sources.{platform}.{setting.key}: {problem}" for setting in PLATFORMS[platform].settings.secrets
                     if (problem := unset_secret(options, setting))]
    return problems


def missing_push_secrets(config: Config) -> list[str]:
    """The push's credential variables that are unset (none with ``simulate: true``: demo credentials)."""
    from gladly_import.push import SETTINGS

    if config.gladly.get("simulate") is True:
        return []
    return [f"gladly.{setting.key}: {problem}" for setting in SETTINGS.secrets
            if (problem := unset_secret(config.gladly, setting))]


def _preflight(config: Config) -> None:
    """What can be known to fail before anything runs: checked before any extraction."""
    if problems := missing_secrets(config):
        raise PreflightError(*(f"environment error: {config.path}: {problem}" for problem in problems))
    check_memory_limit()
    check_writable("output_dir", config.output_dir)
    check_writable("work_dir", config.work_dir)


def duckdb_in_use(error: duckdb.Error, path: Path) -> str | None:
    """The one line for a DuckDB file that another process holds open, else None."""
    text = str(error)
    if "lock" not in text.lower():
        return None
    holder = re.search(r"PID (\d+)", text)
    who = f" (process {holder.group(1)})" if holder else ""
    return (f"the DuckDB file {path} is open in another program{who}, e.g. a SQL client or another import:"
            " close it and run again")


def _run(config: Config, args: argparse.Namespace, run: dict[str, object]) -> int:
    mode = args.mode or config.mode
    started = time.monotonic()
    run_id = new_run_id()
    try:
        run["folders"] = lock_run_folders(run_id, config.work_dir, config.output_dir)  # held until the run ends
    except FolderInUse as error:
        logger.error(str(error))
        return EXIT_NOT_RUN
    engine = run["engine"] = open_engine(config)
    replaced = None
    try:
        settle_earlier_runs(engine, config.output_dir)
        if mode == "full":
            delivered = delivered_so_far(engine, config.output_dir)
            if delivered.needs_saying_full and args.mode != "full":  # a forgotten MODE=delta after go-live
                logger.error(refusal(delivered))
                return EXIT_NOT_RUN
            replaced = replacing(delivered, config.output_dir)
        start_run(engine, run_id, mode, str(config.path))
    except EngineError as error:
        logger.error(f"engine error: {error}")
        return EXIT_NOT_RUN
    except PublishError as error:
        logger.error(f"import not started: {error}")
        return EXIT_FAILED
    except duckdb.Error as error:
        if (line := duckdb_in_use(error, config.database_path)) is not None:
            logger.error(line)
            return EXIT_FAILED
        return _not_started(f"DuckDB error on {config.database_path}", error)
    except Exception as error:  # noqa: BLE001 (before the run's log file: the traceback goes to -v)
        return _not_started(f"unexpected {type(error).__name__}", error)
    run.update(id=run_id, database=config.database_path)
    log_path = log.add_run_file(config.work_dir, run_id)
    logger.info(f"import {run_id}: {mode} run on {engine.name}, config {config.path}")
    if replaced:
        logger.warning(replaced)
    logger.debug(f"log file {log_path}")

    from gladly_import.run import run_import  # the stages import dbt's and pyarrow's worlds: only now

    return _guarded(lambda: run_import(config, engine, mode, run_id, args.with_unit_tests, started), run, log_path)


def _not_started(what: str, error: Exception) -> int:
    """A failure before the run started (nothing to record it in): one line; its traceback with -v."""
    logger.debug("error before the run started", exc_info=True)
    logger.error(f"import not started: {what}: {_first_line(error)} (nothing was run or recorded; -v shows the traceback)")
    return EXIT_FAILED


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else ""


def _guarded(stages: Callable[[], str], run: dict[str, object], log_path: Path) -> int:
    """Run the stages; an expected failure is one line, an unexpected one too (traceback in the log file)."""
    status = "failed"
    try:
        status = stages()
    except ExtractError as error:
        logger.error(f"extract error: {error}")
    except duckdb.Error as error:
        line = duckdb_in_use(error, run["database"])  # type: ignore[arg-type]
        if line is None:
            logger.debug("DuckDB error", exc_info=True)
            line = f"DuckDB error: {_first_line(error)} (details in {log_path})"
        logger.error(f"import failed: {line}")
    except OSError as error:
        logger.debug("file-system error", exc_info=True)
        where = f": {error.filename}" if error.filename else ""
        logger.error(f"import failed: {error.strerror or error}{where}")
    except KeyboardInterrupt:
        status = "interrupted"
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # restored by run_command once its last line is out
        raise
    except Exception as error:
        logger.debug("unexpected error", exc_info=True)
        logger.error(f"import failed: unexpected {type(error).__name__}: {_first_line(error)}"
                     f" (traceback in {log_path})")
    finally:
        if status not in ("succeeded", NEEDS_REVIEW):
            run["recorded"] = _finish(run, status)
    return {"succeeded": EXIT_OK, NEEDS_REVIEW: EXIT_NEEDS_REVIEW}.get(status, EXIT_FAILED)


def _finish(run: dict[str, object], status: str) -> str | None:
    """Mark a run that did not succeed in the run history (unless it had completed); the status recorded."""
    if "id" not in run or "recorded" in run:
        return run.get("recorded")  # type: ignore[return-value]
    run["recorded"] = None
    engine = run["engine"]
    try:
        row = engine.execute("select status from ledger.import_runs where run_id = ?",  # type: ignore[attr-defined]
                             [run["id"]]).fetchone()
        if row and row[0] == "succeeded":
            run["recorded"] = "succeeded"
        else:
            finish_run(engine, str(run["id"]), status)  # type: ignore[arg-type]
            run["recorded"] = status
    except Exception:  # the engine's own error (a DuckDB file taken meanwhile, a Spark session gone)
        logger.debug("could not mark the run %s in the run history", status, exc_info=True)
    return run["recorded"]  # type: ignore[return-value]
