"""Progress that tells the truth: bytes of known totals, time left, no noise, dbt's events."""

from __future__ import annotations

import gc
import gzip
import io
import json
import logging
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import extract.context as context_module
from extract import zendesk
from extract.context import PlainLines, Progress, SourceContext
from extract.raw import PlatformOutput
from extract.readers.streams import open_binary, open_zip, read_position
from gladly_import.dbt_runner import DbtEvents
from gladly_import.progress import LiveDisplay, progress_display
from tests.python.conftest import SAMPLES_DIR, run_import


class Recorder:
    """A display that keeps every state it is shown."""

    interval = 0.0

    def __init__(self) -> None:
        self.states: list[tuple[float, float | None, str, bool]] = []

    def show(self, progress: Progress, final: bool = False) -> None:
        self.states.append((progress.done, progress.total, progress.message, final))

    def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(context_module.time, "monotonic", fake)
    return fake


def zendesk_lines(first_id: int, count: int) -> bytes:
    tickets = []
    for n in range(first_id, first_id + count):
        ticket = {"id": n, "subject": f"Order #{n} arrived damaged", "requester": {"email": f"c{n}@example.com"},
                  "comments": [{"id": n * 10, "created_at": "2021-03-04T15:22:10Z",
                                "html_body": "<p>The box was crushed.</p>" * 20}]}
        tickets.append(json.dumps(ticket))
    tickets.insert(count // 2, '{"id": 7, "subject": "truncated line')  # a malformed line on the way
    return ("\n".join(tickets) + "\n").encode()


def test_file_progress_is_the_bytes_read_of_the_known_total(tmp_path: Path) -> None:
    plain = tmp_path / "a.json"
    plain.write_bytes(zendesk_lines(1, 4000))  # ~3 MB: several 1 MB reads
    packed = tmp_path / "b.json.gz"
    packed.write_bytes(gzip.compress(zendesk_lines(5000, 3000)))
    files = [plain, packed]
    recorder = Recorder()
    progress = Progress("extract zendesk", recorder, files=files)
    ctx = SourceContext(platform="zendesk", options={}, base_dir=tmp_path, files=files, progress=progress)
    out = PlatformOutput(tmp_path / "raw", "zendesk", zendesk.TABLES, zendesk.RECORD_TABLES)
    zendesk.extract(ctx, out)
    out.close()
    progress.finish()

    total = plain.stat().st_size + packed.stat().st_size
    assert {t for _, t, _, _ in recorder.states} == {float(total)}
    done = [d for d, _, _, _ in recorder.states]
    assert done == sorted(done), "progress never goes back"
    assert done[-1] == total and recorder.states[-1][3]
    inside_first = {d for d in done if 0 < d < plain.stat().st_size}
    inside_second = {d for d in done if plain.stat().st_size < d < total}
    assert len(inside_first) >= 2 and len(inside_second) >= 1, "positions inside each file, not per file"
    assert any("b.json.gz: line" in m for _, _, m, _ in recorder.states)


def test_a_zip_archive_and_a_gzip_file_report_their_position_on_disk(tmp_path: Path) -> None:
    archive_path = tmp_path / "export.zip"
    with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for n in range(3):
            archive.writestr(f"Tickets{n}.xml", "<helpdesk-tickets>" + "<x>é</x>" * 200_000 + "</helpdesk-tickets>")
    path = archive_path.resolve()
    positions = []
    with open_zip(archive_path) as archive:
        for info in archive.infolist():
            with archive.open(info) as member:
                while member.read(64 * 1024):
                    positions.append(read_position(path))
    assert positions[0][0] > 0 and positions == sorted(positions)
    assert positions[-1][0] <= archive_path.stat().st_size
    assert read_position(path) == (archive_path.stat().st_size, True)  # closed: all of it was read

    packed = tmp_path / "x.json.gz"
    packed.write_bytes(gzip.compress(b"x" * 5_000_000))
    with open_binary(packed) as handle:
        handle.read(4_000_000)
        offset, finished = read_position(packed.resolve())
        assert 0 < offset <= packed.stat().st_size and not finished  # compressed bytes, not 4,000,000


def test_a_file_read_in_other_processes_is_told_by_its_extractor(tmp_path: Path) -> None:
    files = [tmp_path / "one.mbox", tmp_path / "two.mbox"]
    for f in files:
        f.write_bytes(b"x" * 1000)
    recorder = Recorder()
    progress = Progress("extract gmail", recorder, files=files)
    progress.update("one.mbox: 3 messages", file=files[0], done=400)
    progress.update("two.mbox: 1 messages", file=files[1], done=100)
    assert [d for d, *_ in recorder.states[1:]] == [400.0, 1100.0]


def test_no_line_before_anything_happened_and_no_forced_line_twice(clock: Clock,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gladly_import.progress")
    progress = Progress("extract zendesk", PlainLines(interval=5.0), total=100, unit="bytes")
    progress.update("a.json: line 1, 0 comments", done=1)  # the first record: too early to say anything
    assert caplog.records == []
    clock.now += 6
    progress.update("a.json: line 900, 899 comments", done=50)
    progress.update("a.json: line 901, 900 comments", done=51)  # within the interval
    clock.now += 1
    progress.update("a.json: 1,000 messages", force=True, done=90)
    progress.update("a.json: 1,000 messages", force=True, done=90)  # a file's last line, said again
    progress.finish()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert re.fullmatch(r"\d\d:\d\d:\d\d extract zendesk: 50% of 100 bytes, 8 bytes/s, about 6s left; "
                        r"a\.json: line 900, 899 comments", lines[0])
    assert lines[1].endswith("90% of 100 bytes, 13 bytes/s, about 1s left; a.json: 1,000 messages")


def test_an_api_stage_without_a_total_says_what_it_did_and_for_how_long(clock: Clock) -> None:
    progress = Progress("extract kustomer", Recorder())
    clock.now += 75
    progress.update("page 12, 1,200 messages")
    assert progress.line() == "extract kustomer: page 12, 1,200 messages (1m15s)"
    progress.update("page 13", done=13, total=40, unit="pages")  # what an API that knows its pages declares
    clock.now += 10
    progress.update(done=23)
    assert progress.line() == "extract kustomer: 57% of 40 pages, about 17s left; page 13"


def test_on_a_terminal_each_stage_is_a_live_row_with_its_share_and_words(clock: Clock) -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=140, color_system=None)
    with progress_display(console) as display:
        assert isinstance(display, LiveDisplay)
        progress = Progress("extract zendesk", display, total=10 * 2**20, unit="bytes")
        clock.now += 1
        progress.update("a.json: line 9,000", done=5 * 2**20)
        display.rows.refresh()
    shown = screen.getvalue()
    assert "extract zendesk" in shown and "50%" in shown and "5.0 MB/10.0 MB" in shown
    assert "a.json: line 9,000" in shown


def test_every_stage_keeps_its_own_row_when_cpython_reuses_a_finished_stages_id(clock: Clock) -> None:
    """A run's stages one after the other, each dropped once finished (as run.py does): CPython gives a
    collected stage's id() to a later object, so rows keyed by id() showed one stage's numbers in
    another's row and lost rows."""
    console = Console(file=io.StringIO(), force_terminal=True, width=140, color_system=None)
    stages = [(f"extract {name} {n}", 10 + n) for n in range(10)
              for name in ("zendesk", "csv", "freshdesk", "kustomer", "gorgias")]
    with progress_display(console) as display:
        assert isinstance(display, LiveDisplay)
        for name, total in stages:
            stage = Progress(name, display, total=total, unit="files")
            clock.now += 1
            stage.update(f"{name}: file {total}", force=True, done=total)
            stage.finish()
            del stage
            gc.collect()
        rows = [(task.description, task.completed, task.total) for task in display.rows.tasks]
    assert rows == [(name, total, total) for name, total in stages]


def test_plain_lines_when_not_a_terminal_and_nothing_under_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    with progress_display(Console(file=io.StringIO())) as display:
        assert isinstance(display, PlainLines)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # only the console handler of -q (not pytest's)
    quiet = logging.StreamHandler(io.StringIO())
    quiet.setLevel(logging.WARNING)  # what -q sets
    root.addHandler(quiet)
    try:
        with progress_display(Console(file=io.StringIO(), force_terminal=True)) as display:
            assert isinstance(display, PlainLines)
        progress = Progress("extract zendesk", display, total=10, unit="bytes")
        progress.update("forced", force=True, done=5)
        assert quiet.stream.getvalue() == ""
    finally:
        root.removeHandler(quiet)


# dbt's JSON events, as dbt 1.11 writes them (trimmed to the fields the runner reads).
def dbt_event(event: str, level: str, msg: str, **data: Any) -> str:
    return json.dumps({"info": {"name": event, "level": level, "msg": msg, "ts": "2026-12-02T07:00:00Z"},
                       "data": data})


DBT_RUN = [
    dbt_event("MainReportVersion", "info", "Running with dbt=1.11.16", version="=1.11.16"),
    dbt_event("FoundStats", "info", "Found 2 models, 2 data tests", stat_line="2 models, 2 data tests"),
    dbt_event("ConcurrencyLine", "info", "Concurrency: 2 threads (target='duckdb')", node_count=4, num_threads=2),
    dbt_event("LogStartLine", "info", "1 of 4 START sql view model staging.stg_x [RUN]", index=1, total=4,
              description="sql view model staging.stg_x"),
    dbt_event("LogModelResult", "info", "1 of 4 OK created sql view model staging.stg_x [OK in 0.3s]",
              index=1, total=4, status="OK", description="sql view model staging.stg_x"),
    dbt_event("LogTestResult", "error", "2 of 4 FAIL 3 not_null_stg_x_email [FAIL 3 in 0.1s]", index=2,
              num_models=4, status="fail", num_failures=3, name="not_null_stg_x_email"),
    dbt_event("LogModelResult", "error", "3 of 4 ERROR creating sql table model main.batch [ERROR in 0.5s]",
              index=3, total=4, status="error", description="sql table model main.batch"),
    dbt_event("SkippingDetails", "info", "4 of 4 SKIP test unique_batch_id [SKIP]", index=4, total=4,
              node_name="unique_batch_id", resource_type="test"),
    dbt_event("EndOfRunSummary", "info", "Completed with 2 errors", num_errors=2),
    dbt_event("RunResultFailure", "error", "Failure in model batch (models/marts/batch.sql)", node_name="batch"),
    dbt_event("RunResultError", "error", "  Runtime Error in model batch (models/marts/batch.sql)\n  Binder Error: "
              'Referenced column "abc" not found in FROM clause!\n  \n  LINE 76: ... / abc'),
    dbt_event("SQLCompiledPath", "info", "  compiled code at target/compiled/gladly_import/models/marts/batch.sql",
              path="target/compiled/gladly_import/models/marts/batch.sql"),
    dbt_event("StatsLine", "info", "Done. PASS=1 WARN=0 ERROR=2 SKIP=1 NO-OP=0 TOTAL=4"),
]


def test_dbt_events_give_nodes_done_of_the_total_and_one_clear_line_per_failure(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    recorder = Recorder()
    events = DbtEvents(Progress("transform: dbt build", recorder, unit="models and tests"))
    for line in DBT_RUN:
        events.feed(line + "\n")
    events.finish(succeeded=False)
    progress_states = [(d, t) for d, t, _, final in recorder.states if t is not None]
    assert progress_states[0] == (0, 4) and (4, 4) in progress_states
    assert ("found 2 models, 2 data tests") in [m for _, _, m, _ in recorder.states]
    shown = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO and r.name == "gladly_import.dbt"]
    assert shown == [
        "dbt: data test not_null_stg_x_email failed (3 rows)",
        "dbt: sql table model main.batch failed",
        'dbt: Runtime Error in model batch (models/marts/batch.sql): Binder Error: Referenced column "abc" not found'
        " in FROM clause!: LINE 76: ... / abc",
        "dbt: compiled code at target/compiled/gladly_import/models/marts/batch.sql",
        "transform: dbt build: 4 of 4 models and tests, 3 failed in 0.0s",
    ]
    assert not any("{" in line for line in shown), "no raw JSON for people"
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert "dbt: Done. PASS=1 WARN=0 ERROR=2 SKIP=1 NO-OP=0 TOTAL=4" in debug  # all of it in the log file


def test_a_dbt_crash_without_events_shows_what_dbt_printed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    events = DbtEvents(None)
    for line in ["Traceback (most recent call last):\n", '  File "dbt/main.py", line 1\n', "MemoryError\n"]:
        events.feed(line)
    events.finish(succeeded=False)
    assert [r.getMessage() for r in caplog.records][-4:-1] == [
        "dbt: Traceback (most recent call last):", 'dbt:   File "dbt/main.py", line 1', "dbt: MemoryError"]


@pytest.mark.slow
def test_a_run_in_a_pipe_prints_plain_timestamped_lines_without_colours(tmp_path: Path) -> None:
    shutil.copytree(SAMPLES_DIR, tmp_path / "samples")
    result = run_import(tmp_path / "samples" / "config.yml", env={"GLADLY_PROGRESS_SECONDS": "0", "NO_COLOR": ""})
    assert result.returncode == 0, result.stderr
    err = result.stderr.splitlines()
    assert "\x1b[" not in result.stderr + result.stdout  # neither ours nor dbt's colours in a pipe
    assert "extract zendesk: 2 files, 66.6 KB" in err
    assert "extract kustomer" in err and "extract gorgias" in err  # an API: no "2 file(s)"
    assert sum(line.endswith("gmail/support-inbox.mbox: 14 messages") for line in err) == 1
    zendesk_lines_ = [line for line in err if re.match(r"\d\d:\d\d:\d\d extract zendesk: \d+% of 66\.6 KB", line)]
    assert zendesk_lines_, err
    shares = [int(re.search(r"zendesk: (\d+)%", line).group(1)) for line in zendesk_lines_]
    assert shares == sorted(shares)
    assert any(re.match(r"\d\d:\d\d:\d\d transform: dbt build: \d+% of \d+ models and tests", line) for line in err)
    assert any(re.match(r"transform: dbt build: (\d+) of \1 models and tests in", line) for line in err)
    # the step between the two dbt runs says what it did: the samples' distinct customer addresses
    decided = [line for line in err if line.startswith("transform: Gladly's email rule: ")]
    assert len(decided) == 1 and re.fullmatch(r".*: \d{2,} distinct addresses decided in \d+\.\ds", decided[0]), err
    assert not any(line.lstrip().startswith("{") for line in err), "dbt's raw output is not dumped"
    assert "already exported" in result.stdout and "sent before" not in result.stdout
