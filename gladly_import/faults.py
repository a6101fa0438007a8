"""Fault injection for the crash tests, in one place: a run that kills or stops itself at a named step.

``GLADLY_IMPORT_TEST_KILL_AT=<step>`` SIGKILLs the process (no clean-up: a crash, a power cut) when
it reaches ``checkpoint(<step>)``; ``GLADLY_IMPORT_TEST_STOP_AT=<step>`` SIGSTOPs it there (to hold
a run mid-way). The steps: the export's ``item file N`` (before the Nth item file is written),
``item row N`` (before the Nth item row is written: Spark's export, a row at a time), ``exported
file N``, ``items exported``, ``rejects exported``, ``summary written``, then publishing's
``staged``, ``batch recorded``, ``published N``, ``old files removed``, ``items recorded``,
``confirmed``. Never set in normal use; read once, so an unarmed run pays nothing.
"""

from __future__ import annotations

import os
import signal

KILL_AT_ENV = "GLADLY_IMPORT_TEST_KILL_AT"
STOP_AT_ENV = "GLADLY_IMPORT_TEST_STOP_AT"
_KILL_AT = os.environ.get(KILL_AT_ENV)
_STOP_AT = os.environ.get(STOP_AT_ENV)
ARMED = bool(_KILL_AT or _STOP_AT)  # callers on a hot path test this before building a step's name


def checkpoint(step: str) -> None:
    if step == _KILL_AT:
        os.kill(os.getpid(), signal.SIGKILL)
    if step == _STOP_AT:
        os.kill(os.getpid(), signal.SIGSTOP)
