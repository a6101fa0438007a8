"""The guard that keeps `make test-fast` honest: a test not marked `slow` may not start a whole import.

Every whole import reaches dbt (a `dbt build` in a child process, for DuckDB) or starts a Spark
session (a `spark-submit` child), whether it runs in the test's process (``cli.main``,
``gladly_import.run.run_import``), in a ``python -m gladly_import`` child (conftest's
``run_import``, a hand-made ``Popen``, ``python -m bench``) or further down. So the guard watches
process starts, with a Python audit hook (``subprocess.Popen`` raises an audit event before it
starts anything), in the test process and in every Python child:

- conftest sets ``GUARD_ENV`` (the path of the session's violation log) in the environment while
  a test not marked ``slow`` runs, and removes it for a slow one; children inherit it;
- ``guard_site/sitecustomize.py`` is put first on the children's ``PYTHONPATH``: it installs
  the same hook in every Python child that finds ``GUARD_ENV`` set;
- the hook refuses to start dbt or Spark while ``GUARD_ENV`` is set: it writes what was refused to
  the log and raises ``WholeImportInFastTest``; conftest fails the test that owns the phase
  (setup, call or teardown) in which a line was written, even if the child's error was swallowed.

A Python child started with an environment of its own (``env=`` without ``os.environ``), a
``PYTHONPATH`` of its own (``make`` sets one) or ``-I``/``-S`` escapes the guard: such a test is
marked slow by hand when it imports.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

GUARD_ENV = "GLADLY_TEST_NO_WHOLE_IMPORT"
SITE_DIR = Path(__file__).resolve().parent / "guard_site"
# How the runner starts dbt (gladly_import.paths.DBT_MODULE, in dbt_command), dbt's own script, and
# Spark's launcher. A copy, not an import: every Python child of a test loads this file before the
# package is importable; test_whole_import_guard checks that dbt_command() is caught.
DBT_MODULE = "dbt.cli.main"
LAUNCHERS = {"dbt", "spark-submit", "spark-class"}


class WholeImportInFastTest(RuntimeError):
    """A test not marked slow started dbt or Spark."""


def whole_import_step(args: object) -> str | None:
    """What a process start would run, when it is dbt or Spark (a whole import's step); else None."""
    if isinstance(args, (str, bytes, os.PathLike)):
        argv = [os.fsdecode(args)]
    elif isinstance(args, (list, tuple)):
        argv = [os.fsdecode(a) for a in args if isinstance(a, (str, bytes, os.PathLike))]
    else:
        return None
    if not argv:
        return None
    words = " ".join(argv)
    if DBT_MODULE in words or os.path.basename(argv[0]) in LAUNCHERS or words.split()[0].rsplit("/", 1)[-1] in LAUNCHERS:
        return words[:300]
    return None


def _audit(event: str, args: tuple) -> None:
    if event != "subprocess.Popen":
        return
    log = os.environ.get(GUARD_ENV)
    if not log:
        return
    step = whole_import_step(args[1] if len(args) > 1 else None)
    if step is None:
        return
    line = f"process {os.getpid()} was about to start: {step}"
    try:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(line.replace("\n", " ") + "\n")
    except OSError:
        pass  # the exception below still stops it
    raise WholeImportInFastTest(f"a test not marked slow started a whole import ({line}): mark it @pytest.mark.slow")


def install() -> None:
    """Install the audit hook in this process, once (audit hooks cannot be removed)."""
    if getattr(sys, "_gladly_whole_import_guard", False):
        return
    sys._gladly_whole_import_guard = True  # type: ignore[attr-defined]
    sys.addaudithook(_audit)
