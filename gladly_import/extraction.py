"""Extraction: every configured platform read into its own raw Parquet, side by side over the cores.

Each platform writes only its own folder of ``raw/``, its own reject file and its own API state, so
platforms can be read at the same time without sharing anything. With ``extract_processes`` above 1
(the default: the cores this process may use) and more than one platform configured, each platform
is read in a process of its own, that many at a time: the API sources first (against a real account
they are the long ones), then the files, the largest first. Not more processes than that: each
costs its interpreter and its writers (~100 MB), and beyond the cores they only take turns (at 1M
items, API sources beside the files in four processes: 1.1 GB at the peak, no faster). The processes send
the runner three things on one queue: their progress (shown by the run's display as if read here),
their log records (handled by this process's loggers: console, log file, -q/-v) and their result or
their error (re-raised here as it was raised there: an ``ExtractError`` is still one line). The
manifest is written in ``PLATFORMS`` order whatever order they finish in, so the output does not
depend on it. ``extract_processes: 1`` reads them one after the other in this process.

A failure in one platform stops the others (their partial files are cleared by the next run, as a
crash's are); Ctrl-C stops them all; a process that dies without a word (killed, out of memory) is an
error naming its platform and its signal; if the runner itself is killed, its extraction processes
die with it (Linux: ``PR_SET_PDEATHSIG``), so nothing writes into ``raw/`` behind the next run.
"""

from __future__ import annotations

import logging
import logging.handlers
import multiprocessing
import os
import queue as queue_module
import shutil
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extract import redact
from extract.context import PlainLines, Progress, ProgressDisplay, SourceContext, amount
from extract.errors import ExtractError
from extract.files import unread_exports
from extract.platform import Platform
from extract.platforms import PLATFORMS
from extract.processes import available_cores, interrupts_ignored, picklable_error, worker_started
from extract.raw import MANIFEST_SCHEMA, PlatformOutput, write_table
from gladly_import.config import Config, SourceConfig
from gladly_import.metrics import StageMetrics
from gladly_import.paths import SAMPLES_DIR

logger = logging.getLogger(__name__)
runner_logger = logging.getLogger("gladly_import.run")  # the stage lines, as the runner's own
# spawn, not fork: a process starts clean, holding nothing of the runner's (its DuckDB buffers, a Spark
# session, the display's threads): forked, each counted the runner's pages again (1.8 GB at 1M against 0.9)
START_METHOD = "spawn"
POLL_SECONDS = 0.5  # how often the runner looks for a process that died without a word


@dataclass
class Job:
    """What reading one platform needs, in a form another process can be handed (spawn pickles it)."""

    platform: str
    source: SourceConfig
    raw_dir: Path
    redact: dict[str, Any] | None  # the redact: block, not its Redactor (a custom pattern's finder does not pickle)
    base_dir: Path
    state_dir: Path
    mode: str
    input_files: list[Path] = field(default_factory=list)

    @property
    def input_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.input_files)

    @property
    def stage(self) -> str:
        return f"extract {self.platform}"

    @property
    def redactor(self) -> redact.Redactor:
        return redact.redactor_from(self.redact)


@dataclass
class Extracted:
    """One platform's result: its manifest row, what its reader found out, its stage's metrics."""

    row: dict[str, Any]
    findings: dict[str, Any]
    reject_reasons: dict[str, int]
    metrics: dict[str, Any]


def extract_all(config: Config, metrics: StageMetrics | None = None, mode: str = "full",
                display: ProgressDisplay | None = None, findings: dict[str, dict] | None = None) -> list[dict]:
    """Run each configured extractor; unconfigured platforms get empty raw tables.

    ``findings`` gets, per configured platform, what its reader found out about each file
    (``file_facts``: a CSV's encoding and delimiter) and the likely causes of what it could not read.
    """
    metrics = metrics or StageMetrics.disabled()
    raw_dir = config.raw_dir
    manifest: dict[str, dict[str, Any]] = {}
    jobs = []
    for platform, declared in PLATFORMS.items():
        shutil.rmtree(raw_dir / platform, ignore_errors=True)
        (raw_dir / "extract_rejects" / f"{platform}.parquet").unlink(missing_ok=True)
        source = config.sources.get(platform)
        if source is None:
            out = declared.output(raw_dir, config.redactor)
            out.close()
            manifest[platform] = out.manifest_row(is_configured=False)
            continue
        jobs.append(Job(platform=platform, source=source, raw_dir=raw_dir, redact=config.redact,
                        base_dir=config.base_dir, state_dir=config.work_dir / "state" / platform, mode=mode,
                        input_files=source.files if declared.reads_files_with(source.options) else []))
    processes = config.extract_processes or available_cores()
    if processes > 1 and len(jobs) > 1:
        results = _side_by_side(jobs, processes, metrics, display)
    else:
        results = {}
        for job in jobs:
            _say_started(job)
            progress = Progress(job.stage, display, files=job.input_files)
            results[job.platform] = extract_platform(job, progress, metrics)
            progress.finish()
            _say_finished(job, results[job.platform])
    for platform, extracted in results.items():
        manifest[platform] = extracted.row
        if findings is not None:
            findings[platform] = extracted.findings
    rows = [manifest[platform] for platform in PLATFORMS]
    write_table(raw_dir / "extract_manifest.parquet", MANIFEST_SCHEMA, rows)
    return rows


def extract_platform(job: Job, progress: Progress, metrics: StageMetrics) -> Extracted:
    """Read one platform into its raw tables (here or in a process of its own)."""
    declared = PLATFORMS[job.platform]
    out = declared.output(job.raw_dir, job.redactor)
    ctx = SourceContext(platform=job.platform, options=job.source.options, base_dir=job.base_dir,
                        files=job.source.files, state_dir=job.state_dir, progress=progress, mode=job.mode,
                        samples_dir=SAMPLES_DIR)
    with metrics.stage(job.stage, input_mb=round(job.input_bytes / 2**20, 1)) as stage:
        try:
            declared.extract(ctx, out)
            _reject_unread_exports(ctx, declared, out)
        except BaseException:
            out.abort()
            raise
        out.close()
        stage["items"] = out.records_extracted + out.records_rejected
        stage["redaction_seconds"] = round(out.redaction_seconds, 3)
    return Extracted(row=out.manifest_row(is_configured=True), reject_reasons=dict(out.reject_reasons),
                     findings={"file_facts": out.file_facts, "likely_causes": out.likely_causes}, metrics=stage)


def _reject_unread_exports(ctx: SourceContext, declared: Platform, out: PlatformOutput) -> None:
    """An export in a packing no reader opens, found in a source folder: a reject, not a silent skip."""
    for key in declared.settings.path_keys:
        if ctx.options.get(key):
            for path in unread_exports(ctx.options[key], ctx.base_dir, declared.file_suffixes,
                                       declared.reads_archives):
                out.reject(reason="unexpected_file", source_file=ctx.name_of(path), position="file",
                           detail="an archive or compression this import does not read: unpack it "
                                  f"into {', '.join(declared.file_suffixes)} files (or .gz)")


def _say_started(job: Job) -> None:
    files = job.input_files
    runner_logger.info(f"{job.stage}: {len(files)} {'file' if len(files) == 1 else 'files'}, "
                       f"{amount(job.input_bytes, 'bytes')}" if files else job.stage)


def _say_finished(job: Job, extracted: Extracted) -> None:
    rejected = ", ".join(f"{n:,} {r}" for r, n in sorted(extracted.reject_reasons.items()))
    runner_logger.info(f"{job.stage}: {extracted.row['records_extracted']:,} records in "
                       f"{extracted.metrics['seconds']:,.1f}s" + (f"; set aside: {rejected}" if rejected else ""))


# --- side by side --------------------------------------------------------------------------------

@dataclass
class _Running:
    job: Job
    process: Any  # multiprocessing.Process
    progress: Progress  # this process's view of the child's progress, shown by the run's display


class _Forwarded:
    """A child's progress display: each state it shows (paced at the runner's display's interval,
    forced lines too), sent to the runner to show."""

    def __init__(self, queue: Any, platform: str, interval: float) -> None:
        self.queue, self.platform, self.interval = queue, platform, interval

    def show(self, progress: Progress, final: bool = False) -> None:
        if not final:  # the runner finishes the stage when the result is in
            self.queue.put(("progress", self.platform,
                            (progress.done, progress.total, progress.unit, progress.message)))

    def close(self) -> None:
        pass


class _ForwardedRecords(logging.handlers.QueueHandler):
    """A child's log records, sent to the runner's loggers (its console, its log file, its -q/-v)."""

    def enqueue(self, record: logging.LogRecord) -> None:
        self.queue.put(("log", None, record))


def _side_by_side(jobs: list[Job], processes: int, metrics: StageMetrics,
                  display: ProgressDisplay | None) -> dict[str, Extracted]:
    context = multiprocessing.get_context(START_METHOD)
    queue = context.Queue()
    interval = display.interval if display is not None else PlainLines().interval
    logs = _log_setup()
    waiting = sorted(jobs, key=lambda j: (bool(j.input_files), -j.input_bytes))  # API sources, then the largest
    running: dict[str, _Running] = {}
    results: dict[str, Extracted] = {}
    in_bytes = round(sum(j.input_bytes for j in jobs) / 2**20, 1)

    def start_while_room() -> None:
        while waiting and len(running) < processes:
            job = waiting.pop(0)
            _say_started(job)
            process = context.Process(target=_child, name=job.stage, daemon=False,
                                      args=(job, queue, interval, logs, os.getpid()))
            with interrupts_ignored():  # even while it starts: the runner alone takes Ctrl-C
                process.start()
            running[job.platform] = _Running(job, process, Progress(job.stage, display))

    logger.debug(f"extract: {len(jobs)} platforms side by side, {processes} at a time")
    with metrics.stage("extract", input_mb=in_bytes, platforms=len(jobs), processes=processes) as stage:
        try:
            start_while_room()
            while running:
                for kind, platform, payload in _messages(queue, running):
                    if kind == "log":
                        logging.getLogger(payload.name).handle(payload)
                    elif kind == "progress" and platform in running:
                        running[platform].progress.show_as_told(*payload)
                    elif kind == "failed":
                        if len(running) > 1:
                            runner_logger.info(f"extract {platform}: failed; stopping "
                                               + ", ".join(r.job.stage for p, r in running.items() if p != platform))
                        raise payload
                    else:  # done
                        finished = running.pop(platform)
                        finished.process.join()
                        if finished.job.input_files and finished.progress.total:  # every byte read, as
                            finished.progress.done = finished.progress.total  # a stage read here ends: no line
                        finished.progress.finish()
                        payload.metrics["side_by_side"] = True  # its seconds overlap the others'
                        metrics.stages.append(payload.metrics)
                        results[platform] = payload
                        _say_finished(finished.job, payload)
                        start_while_room()
        except BaseException:
            _stop(running)
            raise
        finally:
            queue.close()
            queue.join_thread()
        stage["items"] = sum(r.metrics.get("items", 0) for r in results.values())
    return {job.platform: results[job.platform] for job in jobs}


def _messages(queue: Any, running: dict[str, _Running]) -> list[tuple[str, str | None, Any]]:
    """The next message, or a process's failure: one that ended without its result (after what it sent)."""
    try:
        sent = [queue.get(timeout=POLL_SECONDS)]
    except queue_module.Empty:
        sent = []
    for platform, entry in running.items():
        if entry.process.exitcode is not None:
            sent += _drain(queue)  # its last words were written before it ended
            if any(kind in ("done", "failed") and p == platform for kind, p, _ in sent):
                return sent
            code = entry.process.exitcode
            how = (f"killed by signal {-code} ({signal.Signals(-code).name})"
                   + (": out of memory?" if -code == signal.SIGKILL else "") if code < 0 else f"exit code {code}")
            return [*sent, ("failed", platform,
                            ExtractError(f"extract {platform}: its process ended without a result ({how})"))]
    return sent


def _drain(queue: Any) -> list[tuple[str, str | None, Any]]:
    sent = []
    while True:
        try:
            sent.append(queue.get(timeout=0.1))
        except queue_module.Empty:
            return sent


def _stop(running: dict[str, _Running]) -> None:
    """Stop every extraction still running (a failure elsewhere, Ctrl-C): their partial files are cleared
    by the next run."""
    for entry in running.values():
        if entry.process.is_alive():
            entry.process.kill()
    for entry in running.values():
        entry.process.join(timeout=10)


def _log_setup() -> dict[str, Any]:
    """What a child needs to log as this process would: whether logging is set up, and the levels."""
    return {"forward": logging.getLogger("extract").hasHandlers(),
            "levels": {name: logging.getLogger(name).level for name in ("", "gladly_import", "extract")}}


def _child(job: Job, queue: Any, interval: float, logs: dict[str, Any], runner_pid: int) -> None:
    """One platform's extraction in a process of its own (see the module's docstring)."""
    worker_started(runner_pid)  # the runner takes Ctrl-C and stops us
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__  # not a live display's proxies (fork)
    if logs["forward"]:
        handler = _ForwardedRecords(queue)
        for name, lg in [("", logging.getLogger()), *logging.Logger.manager.loggerDict.items()]:
            if isinstance(lg, logging.Logger):
                lg.handlers = [handler] if name == "" or not lg.propagate and lg.handlers else []
        for name, level in logs["levels"].items():
            logging.getLogger(name).setLevel(level)
    try:
        progress = Progress(job.stage, _Forwarded(queue, job.platform, interval), files=job.input_files)
        metrics = StageMetrics()
        queue.put(("done", job.platform, extract_platform(job, progress, metrics)))
    except BaseException as error:  # noqa: BLE001 (sent to the runner, which raises it)
        logger.debug(f"{job.stage}: failed", exc_info=True)
        queue.put(("failed", job.platform, picklable_error(error)))
