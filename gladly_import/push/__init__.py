"""The push: send the last successful import's batch straight to Gladly's API, resumable, nothing twice.

    gladly-import push --config my.yml [--dry-run]      (make push [CONFIG=...] [DRY_RUN=1];
                                                          python -m gladly_import.push is the same command)

Its parts, one module each: ``settings`` (the ``gladly:`` block, declared once), ``rules`` (what an
item is on the API and the API's rules), ``batch`` (what is sent), ``endpoint`` (Gladly or the
simulator, one client and one rate limiter), ``sender`` (workers, answers recorded as they arrive),
``ledger`` (Gladly's answers, kept), ``report`` (push_summary.json, the table, the import report's
section), ``run`` (one push, start to end) and ``simulator`` (a local Gladly for the tests and the
demo). docs/gladly-push.md says what it does and why.

The config check imports this package for ``SETTINGS`` before anything runs: the rest loads on
first use (PEP 562), so that check, and the ledger that declares the push ledger's table with the
others, never pull in the HTTP client or the engines.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from gladly_import.push.settings import DEFAULT_CONCURRENCY, SETTINGS, block_problems, parse_settings

# name -> the module that defines it
_LAZY = {
    "push": "run", "PushError": "batch", "SUMMARY_FILE": "report", "format_summary": "report",
    "payload": "rules", "payload_problem": "rules", "cutoff": "rules", "gladly_error": "sender",
    "GladlySimulator": "simulator",
}

__all__ = ["DEFAULT_CONCURRENCY", "SETTINGS", "block_problems", "main", "parse_settings", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> int:
    """``gladly-import push`` with these arguments: the command line's one parser and exit codes."""
    from gladly_import.cli import main as cli_main

    return cli_main(["push", *(sys.argv[1:] if argv is None else argv)])
