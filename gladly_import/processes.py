"""Child processes (dbt) that a Ctrl-C in the terminal does not reach.

The terminal sends SIGINT to its whole foreground process group: a child in that group dies
printing its own traceback (~50 lines from dbt). A child started here is in a session of its
own; on a Ctrl-C (KeyboardInterrupt in the runner) or any other exception it is terminated and
reaped before the exception goes on, so the runner alone says, in one line, what happened.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

STOP_SECONDS = 10.0


def stop(process: subprocess.Popen) -> None:
    """Terminate a child and wait for it (killed if it does not stop in STOP_SECONDS)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def child_process(command: list[str], **popen: Any) -> Iterator[subprocess.Popen]:
    """``subprocess.Popen(command, **popen)`` in its own session, stopped if the block raises."""
    process = subprocess.Popen(command, start_new_session=True, **popen)
    try:
        yield process
    except BaseException:
        stop(process)
        raise
    finally:
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()
