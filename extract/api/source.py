"""An API source and the one way it runs: plan, read (or reuse), land, finish.

A platform module subclasses ``ApiSource`` with its knowledge: how to reach the account
(``account``: the client and the account its state belongs to, or the local simulator), the
readings it declares (``readings``) and how a delta changes them (``delta``), its child lookups
(``children``), the id of a record of each spool (``key``) and how spooled API objects become raw
rows (``land``). ``run_source`` does the rest, the same for every platform.

A saved state is resumed only by the same account and the same declared readings (names, spools,
paginators) and child lookups: its identity is derived from them, never typed by hand, so
rewording a label keeps the state and changing what is read starts afresh.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from extract.api import config
from extract.api.store import Spool, State
from extract.api.stream import Children, Extraction, Reading
from extract.context import SourceContext
from extract.errors import ExtractError
from extract.http_client import HttpClient
from extract.options import Settings
from extract.raw import PlatformOutput


class ApiSource:
    name = "api"
    service = "the API"
    spools: tuple[str, ...] = ()
    concurrency = 0        # workers for child lookups
    sequential = False     # readings one after the other (an order the platform needs), else at once
    reuse_completed = False
    settings: Settings | None = None  # the platform's declared settings, read into the attributes below

    def __init__(self, ctx: SourceContext) -> None:
        self.ctx = ctx
        if self.settings is None:
            return
        # the settings every API source reads alike (each declared by the platform, absent ones are None)
        self.options = options = self.settings.resolve(ctx.options)
        self.simulate = options.get("simulate") is True
        self.base_url = None if self.simulate else config.base_url(options)
        self.requests_per_minute = options.get("requests_per_minute")
        self.concurrency = options.get("concurrency") or type(self).concurrency
        self.reuse_completed = options.get("reuse_completed") is True
        self.overlap = timedelta(hours=options.get("delta_overlap_hours") or 0)

    @contextlib.contextmanager
    def account(self) -> Iterator[tuple[HttpClient, str]]:
        """The client of the account and the account its state belongs to: the base URL with the credentials
        of ``credentials()``, or (``simulate: true``) the platform's ``simulator`` serving its folder."""
        if self.simulate:
            folder = config.simulator_folder(self.ctx, self.options)
            simulator, auth, credentials = self.simulator(folder, config.demo_secret())
            with simulator:
                self.ctx.report(f"simulate: true: using the local {self.service} API simulator at {simulator.base_url}"
                                f" with the data in {self.ctx.name_of(folder)} and {credentials}; no real"
                                f" {self.service} account is contacted", force=True)
                with self.client(simulator.base_url, auth, f"the simulator's {credentials}") as client:
                    yield client, f"simulator:{folder}"
            return
        assert self.base_url is not None
        auth, hint = self.credentials()
        with self.client(self.base_url, auth, hint) as client:
            yield client, self.base_url

    def credentials(self) -> tuple[Any, str]:
        """(the auth of the real account, from the environment; what to call it in an error)."""
        raise NotImplementedError

    def simulator(self, folder: Path, secret: str) -> tuple[Any, Any, str]:
        """(the local simulator of ``folder`` accepting ``secret``, the auth to send it, what to call that)."""
        raise NotImplementedError

    def client(self, base_url: str, auth: Any, hint: str) -> HttpClient:
        """The source's HTTP client of ``base_url`` (its limits, budgets, hints); ``hint`` names the credential."""
        raise NotImplementedError

    def readings(self) -> list[Reading]:
        """The readings of a full run."""
        raise NotImplementedError

    def delta(self, state: State, readings: list[Reading]) -> list[Reading]:
        """The readings of a delta run (``state.delta`` set): by default the full run's, each resuming
        from the progress the delta leaves in ``state.reading(name)``."""
        return readings

    def identity(self, account: str) -> str:
        """What a saved state must belong to: the account, the readings and the child lookups declared."""
        children = self.children()
        declared = [f"{r.name}->{r.spool} ({type(r.paginator).__name__})" for r in self.readings()]
        if children is not None:
            declared.append(f"{children.spool} per {children.parent}")
        return f"{account} | {'; '.join(declared)}"

    def children(self) -> Children | None:
        return None

    def key(self, spool: str) -> Callable[[Any], str | None]:
        raise NotImplementedError

    def land(self, state: State, out: PlatformOutput) -> dict[str, dict[str, Any] | None]:
        raise NotImplementedError

    def summary(self, state: State) -> str:
        return ""


def progress_line(source: ApiSource, extraction: Extraction, client: HttpClient) -> str:
    counts = extraction.counts
    children = source.children()
    parts = [f"{extraction.spools[name].items:,} {name}" for name in source.spools
             if children is None or name != children.ends]
    if children is not None:
        fetched = f"{children.label} " if children.ends else ""  # a lookup of several records: say of what
        parts[-1] += f" ({extraction.children_done:,} {fetched}fetched this run)"
    return f"{', '.join(parts)}; {counts.pages:,} pages this run; {rate_text(client)}"


def rate_text(client: HttpClient) -> str:
    """The achieved rate of the client and of each of its budgets, their limits, the 429s: for progress."""
    stats = client.stats
    limit = client.limiter.per_minute_now()
    bucket = client.limiter.bucket
    shape = f", a bucket of {bucket.capacity:g} drained in {bucket.window:g} s" if bucket and bucket.capacity else ""
    text = f"{stats.rate_text()}" + (f" (limit {limit:,.0f}/min{shape})" if limit else "")
    for budget in client.budgets:
        text += f", of which {budget.text()}"
    return f"{text}, {stats.throttled:,} throttled"


def run_source(source: ApiSource, out: PlatformOutput) -> None:
    ctx = source.ctx
    if ctx.state_dir is None:
        raise ExtractError(f"{source.service}: no state folder to checkpoint into")
    with source.account() as (client, account):
        state = State(ctx.state_dir, source.identity(account))
        ctx.report(state.plan(ctx.mode, source.reuse_completed), force=True)
        if state.action != "reuse":
            _read(source, state, client)
    watermarks = source.land(state, out)
    out.files_read = state.data.get("pages", 0)  # API pages read
    if state.action != "reuse":
        state.finish(watermarks)


def _read(source: ApiSource, state: State, client: HttpClient) -> None:
    ctx = source.ctx
    children = source.children()
    spools: dict[str, Spool] = {}
    rejects = Spool(state.spool_path("rejects"), lambda item: None)
    extraction = Extraction(ctx, client, state, spools, rejects, workers=source.concurrency, children=children)
    # the child spool first: the parent's records, recovered, queue the children still missing
    order = sorted(source.spools, key=lambda name: children is not None and name == children.parent)
    try:
        for name in order:
            recovered = extraction.queue_children_of if children and name == children.parent else None
            spools[name] = Spool(state.spool_path(name), source.key(name), on_recovered=recovered)
        if state.action == "delta":
            state.data["kept"] = {name: spool.items for name, spool in spools.items()}
        readings = source.readings()
        if state.delta is not None:
            readings = source.delta(state, readings)
        for reading in readings if state.action == "resume" else ():
            progress = state.reading(reading.name)
            if not progress.get("done") and (progress.get("pages") or progress.get("queries")):
                done = (f"after page {progress['pages']}" if progress.get("pages")
                        else f"with {len(progress['windows']):,} window(s) left" if progress.get("windows")
                        else f"at query {progress['queries']}")
                ctx.report(f"{reading.name}: resuming {done} ({spools[reading.spool].items:,} {reading.spool}"
                           " already fetched)", force=True)
        state.save()
        extraction.run(readings, lambda: progress_line(source, extraction, client), sequential=source.sequential)
    finally:
        state.data["pages"] = state.data.get("pages", 0) + extraction.counts.pages
        with contextlib.suppress(OSError):
            state.save()
        for spool in (*spools.values(), rejects):
            spool.close()
    stats = client.stats
    summary = source.summary(state)
    ctx.report(f"done: {progress_line(source, extraction, client)}; {stats.requests:,} requests this run"
               f" ({stats.retries:,} retries, {stats.throttled:,} throttled, {stats.waited_seconds:,.1f}s waited)"
               + (f"; {summary}" if summary else ""), force=True)
    for learned in client.learned:
        ctx.report(f"the rate limit, learned from the answers: {learned}", force=True)
    kept = state.data.get("kept")
    if state.delta is not None and isinstance(kept, dict):
        ctx.report(f"delta {state.delta}: " + " and ".join(
            f"{Spool.count(state.spool_path(name)) - kept.get(name, 0):,} new {name}" for name in source.spools
            if children is None or name != children.ends) + " added to the ones kept", force=True)
