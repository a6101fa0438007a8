"""The compute run's API simulators, each served by a process of the bench's own, beside the import.

A simulator is the vendor's side: with ``simulate: true`` it would run inside the import's Kustomer or
Gorgias process, its data (every message of the account) in the import's memory and its JSON in the
import's CPU time. Served from here, the import reaches it over loopback HTTP with a ``base_url`` and a
key in its environment, as it reaches a real account: the simulators still share the machine's cores
(the wall times include them), but the import's peak RSS is the import's own. Every limit is lifted
(no figure of the compute run is a rate limit; the budget run measures those).
"""

from __future__ import annotations

import multiprocessing
import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import psutil

SERVED = ("kustomer", "gorgias")
START_SECONDS = 300  # a 1M corpus' simulator reads its JSON lines before it answers


def _simulator(platform: str, folder: Path, key: str) -> Any:
    if platform == "kustomer":
        from extract.simulators.kustomer import KustomerSimulator

        return KustomerSimulator(folder, api_key=key, search_rate_limit=None)
    from extract.simulators.gorgias import DEMO_EMAIL, GorgiasSimulator

    return GorgiasSimulator.from_dir(folder, email=DEMO_EMAIL, api_key=key, bucket_capacity=None)


def _serve(platform: str, folder: str, key: str, connection: Any) -> None:
    with _simulator(platform, Path(folder), key) as simulator:
        connection.send(simulator.base_url)
        try:
            connection.recv()  # until the bench says stop, or ends
        except EOFError:
            pass


@contextmanager
def _served(platform: str, folder: str, key: str) -> Iterator[tuple[str, int]]:
    """The simulator's base URL and its process id."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(platform, folder, key, theirs), name=f"{platform} simulator",
                              daemon=True)
    process.start()
    try:
        if not ours.poll(START_SECONDS):
            raise SystemExit(f"bench: the {platform} simulator did not start in {START_SECONDS}s")
        yield ours.recv(), process.pid
    finally:
        ours.close()
        process.join(timeout=30)
        if process.is_alive():
            process.kill()


@contextmanager
def api_simulators(corpus: dict[str, dict[str, Any]]
                   ) -> Iterator[tuple[dict[str, dict[str, Any]], dict[str, str], Callable[[], float]]]:
    """(each served platform's config block, the environment the import needs to reach them, the CPU
    seconds the simulators have used so far: they share the cores with the import)."""
    from extract.simulators.gorgias import DEMO_EMAIL

    key = "bench-" + secrets.token_urlsafe(16)
    blocks: dict[str, dict[str, Any]] = {}
    simulators: list[psutil.Process] = []

    def cpu_seconds() -> float:
        return sum(sum(p.cpu_times()[:4]) for p in simulators)  # user, system and their children's

    with ExitStack() as stack:
        for platform in SERVED:
            block = (corpus.get(platform) or {}).get("config") or {}
            if block.get("simulate"):  # the generator's own config: its simulator's data
                url, pid = stack.enter_context(_served(platform, str(block["simulator_data"]), key))
                blocks[platform] = {"base_url": url}
                simulators.append(psutil.Process(pid))
        if "kustomer" in blocks:
            blocks["kustomer"]["search_requests_per_minute"] = 1_000_000  # the client's own pacing lifted
        yield blocks, {"KUSTOMER_API_KEY": key, "GORGIAS_EMAIL": DEMO_EMAIL, "GORGIAS_API_KEY": key}, cpu_seconds
