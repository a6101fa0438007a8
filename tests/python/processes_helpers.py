"""Functions the tests of extract/processes.py hand to worker processes (a spawned worker imports them)."""

from __future__ import annotations

import glob
import os
import signal
import time


def square_after(item: tuple[int, float]) -> int:
    """The item's number squared, after its nap (the naps differ: results come back out of order)."""
    number, nap = item
    time.sleep(nap)
    return number * number


def fail_on_three(number: int) -> int:
    if number == 3:
        raise ValueError(f"three is not allowed (worker {os.getpid()})")
    return number


def die_on_two(number: int) -> int:
    if number == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return number


def work_two_minutes(folder: str) -> None:
    open(os.path.join(folder, f"working-{os.getpid()}"), "w").close()  # noqa: SIM115
    time.sleep(120)


def working(folder: str) -> list[str]:
    """The pids of the workers busy with ``work_two_minutes``."""
    return sorted(name.rsplit("-", 1)[1] for name in glob.glob(os.path.join(folder, "working-*")))
