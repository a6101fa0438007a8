"""Platforms extracted side by side, each in a process of its own (gladly_import/extraction.py): the same
raw tables as one after the other, the runner's display and log fed by the processes, a failure in
one stopping the others, a process that dies named, and none left behind when the runner dies."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pyarrow.parquet as pq
import pytest
import yaml

from extract.context import Progress
from extract.errors import ExtractError
from extract.platforms import PLATFORMS
from gladly_import import extraction
from gladly_import.config import Config, load_config
from gladly_import.extraction import extract_all
from gladly_import.metrics import StageMetrics
from tests.python.conftest import PROJECT_DIR, SAMPLES_DIR, write_config


def samples_config(tmp_path: Path, platforms: tuple[str, ...] | None = None, **top: Any) -> Config:
    """The bundled samples' sources (their files and simulators where they lie), working in tmp_path."""
    data = yaml.safe_load((SAMPLES_DIR / "config.yml").read_text(encoding="utf-8"))
    sources = {platform: {key: str(SAMPLES_DIR / value) if key in ("path", "simulator_data") else value
                          for key, value in options.items()}
               for platform, options in data["sources"].items() if platforms is None or platform in platforms}
    tmp_path.mkdir(parents=True, exist_ok=True)
    return load_config(write_config(tmp_path, sources, **top))


def raw_files(raw_dir: Path) -> dict[str, list[str]]:
    """Every raw table's rows, sorted: Kustomer's customers are fetched concurrently, in no fixed order."""
    return {str(path.relative_to(raw_dir)): sorted(json.dumps(row, sort_keys=True, default=str)
                                                  for row in pq.read_table(path).to_pylist())
            for path in sorted(raw_dir.rglob("*.parquet"))}


def children() -> list[str]:
    """This process's live children (not multiprocessing's resource tracker: it lives as long as we do)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(child.cmdline()):
                found.append(" ".join(child.cmdline()))
        except psutil.NoSuchProcess:
            pass
    return found


class Recorder:
    """A display that keeps every state it is shown, per stage."""

    interval = 0.0

    def __init__(self) -> None:
        self.states: dict[str, list[tuple[float, float | None, str | None, bool]]] = {}

    def show(self, progress: Progress, final: bool = False) -> None:
        self.states.setdefault(progress.stage, []).append((progress.done, progress.total, progress.unit, final))

    def close(self) -> None:
        pass


def replaced(platform: str, extract: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The platform's extract replaced, in this process and in the processes it forks (not spawns)."""
    monkeypatch.setitem(PLATFORMS, platform, dataclasses.replace(PLATFORMS[platform], extract=extract))
    monkeypatch.setattr(extraction, "START_METHOD", "fork")


def test_side_by_side_writes_the_same_raw_tables_as_one_after_the_other(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Every platform of the samples (four file platforms, two API simulators): the same rows in every
    raw table and the same manifest, whether read in this process, in forked processes or in spawned
    ones (the default: everything a process is handed must travel by pickle)."""
    tables, manifests = {}, {}
    for label, processes, method in (("in this process", 1, None), ("forked", 2, "fork"), ("spawned", 3, "spawn")):
        monkeypatch.setattr(extraction, "START_METHOD", method)
        # a pattern of one's own: its finder is a closure, which a spawned process is not handed as such
        config = samples_config(tmp_path / label, extract_processes=processes,
                                redact={"patterns": [{"name": "order_number", "regex": r"#\d{4,}"}]})
        metrics = StageMetrics(interval=0.05)
        manifests[label] = extract_all(config, metrics)
        tables[label] = raw_files(config.raw_dir)
        stages = {s["stage"]: s for s in metrics.stages}
        assert {f"extract {p}" for p in PLATFORMS} <= set(stages)
        assert ("extract" in stages) is (processes > 1)  # the whole extraction's wall time beside the platforms'
        assert all(stages[f"extract {p}"].get("side_by_side", False) is (processes > 1) for p in PLATFORMS)
    baseline = tables["in this process"]
    assert sum(len(rows) for rows in baseline.values()) > 500
    assert {name for name in baseline if name.startswith("kustomer/")} and baseline["extract_rejects/csv.parquet"]
    assert any("order_number" in row for name, rows in baseline.items() if name.startswith("extract_redactions/")
               for row in rows), "the pattern found nothing"
    for label in ("forked", "spawned"):
        assert tables[label] == baseline, label
        assert manifests[label] == manifests["in this process"], label


def test_the_runner_shows_each_process_progress_and_logs_its_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A file platform's bytes reach the runner's display (total = its files' size, done = all of it at the
    end); what the CSV reader logs (the encoding it detected) reaches the runner's loggers from the
    process that logged it."""
    caplog.set_level(logging.INFO)
    config = samples_config(tmp_path, ("csv", "zendesk", "gorgias"), extract_processes=2)
    display = Recorder()
    extract_all(config, display=display)
    zendesk_bytes = sum(f.stat().st_size for f in config.sources["zendesk"].files)
    states = display.states["extract zendesk"]
    assert states[-1] == (zendesk_bytes, zendesk_bytes, "bytes", True)
    assert all(total in (None, zendesk_bytes) for _, total, _, _ in states)
    assert display.states["extract gorgias"][-1][3] is True
    facts = [r for r in caplog.records if "UTF-8 (detected), comma-separated (detected)" in r.getMessage()]
    assert facts and all(r.process != os.getpid() for r in facts)
    finished = [r.getMessage() for r in caplog.records if r.process == os.getpid() and " records in " in r.getMessage()]
    assert sorted(line.split(":")[0] for line in finished) == ["extract csv", "extract gorgias", "extract zendesk"]


def _fails_soon(ctx: Any, out: Any) -> None:
    time.sleep(0.5)
    raise ExtractError("csv: the export was taken away while it was read")


def _reads_forever(ctx: Any, out: Any) -> None:
    (ctx.state_dir.parent / "reading.pid").parent.mkdir(parents=True, exist_ok=True)
    (ctx.state_dir.parent / "reading.pid").write_text(str(os.getpid()), encoding="utf-8")
    time.sleep(120)


def _unexpected(ctx: Any, out: Any) -> None:
    raise ValueError("a bug in a reader")


def _killed(ctx: Any, out: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_failure_stops_the_other_platforms_and_is_raised_as_it_was(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    replaced("csv", _fails_soon, monkeypatch)
    replaced("gmail", _reads_forever, monkeypatch)
    config = samples_config(tmp_path, ("csv", "gmail"), extract_processes=2)
    started = time.monotonic()
    with pytest.raises(ExtractError, match="^csv: the export was taken away while it was read$"):
        extract_all(config)
    assert time.monotonic() - started < 30  # not the 120 s of the other platform
    assert (config.work_dir / "state" / "reading.pid").exists()  # it was running beside the failure
    assert children() == []
    assert not (config.raw_dir / "extract_manifest.parquet").exists()


def test_an_unexpected_error_keeps_its_type_and_its_traceback_reaches_the_log(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch,
                                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    replaced("zendesk", _unexpected, monkeypatch)
    config = samples_config(tmp_path, ("csv", "zendesk"), extract_processes=2)
    with pytest.raises(ValueError, match="^a bug in a reader$"):
        extract_all(config)
    traced = [r.getMessage() for r in caplog.records if r.getMessage().startswith("extract zendesk: failed")]
    assert traced and "Traceback" in traced[0] and "_unexpected" in traced[0]
    assert children() == []


def test_a_process_that_dies_without_a_word_is_an_error_naming_its_platform(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    replaced("freshdesk", _killed, monkeypatch)
    config = samples_config(tmp_path, ("csv", "freshdesk"), extract_processes=2)
    with pytest.raises(ExtractError, match=r"^extract freshdesk: its process ended without a result "
                                           r"\(killed by signal 9 \(SIGKILL\): out of memory\?\)$"):
        extract_all(config)
    assert children() == []


def test_the_extraction_processes_die_with_the_runner(tmp_path: Path) -> None:
    """A runner killed mid-extraction (no clean-up: a crash) leaves no process writing into raw/: its
    Kustomer process, waiting on an API that accepted the connection and never answers, dies with it."""
    silent = socket.create_server(("127.0.0.1", 0))
    silent.settimeout(60)
    sources = {"kustomer": {"base_url": f"http://127.0.0.1:{silent.getsockname()[1]}"},
               "csv": {"path": str(SAMPLES_DIR / "csv")}}
    config_path = write_config(tmp_path, sources, extract_processes=2)
    script = ("from gladly_import.config import load_config\nfrom gladly_import.extraction import extract_all\n"
              f"if __name__ == '__main__':\n    extract_all(load_config({str(config_path)!r}))\n")
    runner = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT_DIR,
                              env={**os.environ, "KUSTOMER_API_KEY": "test-key"})
    try:
        connection, _ = silent.accept()  # the Kustomer process is reading
        reading = [p for p in psutil.Process(runner.pid).children()
                   if "resource_tracker" not in " ".join(p.cmdline()) and p.is_running()]
        assert reading, "no extraction process"
        runner.kill()
        runner.wait(timeout=10)
        gone, alive = psutil.wait_procs(reading, timeout=10)
        for process in alive:
            process.kill()
        assert alive == [], "an extraction process outlived its runner"
        connection.close()
    finally:
        silent.close()
        if runner.poll() is None:
            runner.kill()
