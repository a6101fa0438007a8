"""The command line: version, help, commands, logging, and every common failure in one line.

Each failure is produced for real: a read-only or full output folder is a tmpfs mounted in a
private mount namespace (``unshare``, root only: skipped elsewhere), the DuckDB file is held by
another process, Ctrl-C is SIGINT to the import's process group as a terminal sends it.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

import duckdb
import psutil
import pytest

import gladly_import
from gladly_import import cli, log
from gladly_import.config import load_config
from gladly_import.dbt_runner import DEFAULT_MEMORY_LIMIT, MEMORY_LIMIT_ENV, dbt_environment
from gladly_import.engines.duckdb import DuckDBEngine
from gladly_import.paths import DBT_MODULE
from tests.python.conftest import PROJECT_DIR, SAMPLES_DIR, run_import, write_config


def _zendesk_config(directory: Path, **top: object) -> Path:
    shutil.copytree(SAMPLES_DIR / "zendesk", directory / "zendesk")
    return write_config(directory, {"zendesk": {"path": "zendesk/"}}, **top)


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def _cli(*args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = (),
         **popen: object) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-m", "gladly_import", *args], cwd=PROJECT_DIR,
                          capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}, **popen)


# -- version, help, commands ----------------------------------------------------------------------


def test_version_is_the_package_version() -> None:
    from importlib.metadata import version

    result = _cli("--version")
    assert result.returncode == 0
    assert result.stdout == f"gladly-import {gladly_import.__version__}\n"
    assert version("gladly-import") == gladly_import.__version__  # the installed metadata says the same


def test_help_explains_the_commands_and_the_exit_codes() -> None:
    result = _cli("--help")
    assert result.returncode == 0
    for text in ("import   (the default) run an import", "push     send the exported files",
                 "runs     list the runs of a work dir", "init     make a folder to try it in", "-v, --verbose",
                 "-q, --quiet", "0    the run succeeded", "1    the run failed", "2    nothing was run", "130  interrupted"):
        assert text in result.stdout
    assert "--mode {full,delta}" in _cli("import", "--help").stdout


def test_import_is_the_default_command_and_flags_go_before_or_after_it() -> None:
    assert cli.split_command(["--config", "x.yml"]) == ([], "import", ["--config", "x.yml"])
    assert cli.split_command(["-q", "--config", "import.yml"]) == (["-q"], "import", ["--config", "import.yml"])
    assert cli.split_command(["-v", "push", "--dry-run"]) == (["-v"], "push", ["--dry-run"])
    assert cli.split_command(["runs", "--config", "x.yml"]) == ([], "runs", ["--config", "x.yml"])
    assert cli.split_command(["-q", "init", "demo"]) == (["-q"], "init", ["demo"])
    assert cli.build_parser().parse_args(["-q", "import"]).verbosity == log.QUIET
    assert cli.build_parser().parse_args(["import", "-v"]).verbosity == log.VERBOSE
    assert cli.build_parser().parse_args(["import"]).verbosity == log.NORMAL


def test_push_calls_the_push_module_with_its_arguments(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The command line owns the push's arguments (one parser): the push module gets the loaded config."""
    calls: list[tuple[Path, bool]] = []
    fake = types.ModuleType("gladly_import.push")
    fake.push = lambda config, dry_run: calls.append((config.path, dry_run)) or 3  # type: ignore[attr-defined]
    fake.PushError = RuntimeError  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gladly_import.push", fake)
    (tmp_path / "items.csv").write_text("Customer Email\n", encoding="utf-8")
    config = write_config(tmp_path, {"csv": {"path": "items.csv"}})
    assert cli.main(["push", "--config", str(config), "--dry-run"]) == 3
    assert calls == [(config.resolve(), True)]


def test_push_without_its_module_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "gladly_import.push", None)  # import raises ModuleNotFoundError
    assert cli.main(["push"]) == cli.EXIT_NOT_RUN
    assert _one_line(capsys.readouterr().err) == "push: not available in this version of gladly-import (no gladly_import.push)"


def test_init_makes_a_demo_folder_and_says_the_next_command(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["init"]) == cli.EXIT_OK
    demo = tmp_path / "gladly-import-demo"
    assert capsys.readouterr().out.splitlines() == [
        "made gladly-import-demo/: the sample exports of each platform and a commented starter config",
        "next: gladly-import --config gladly-import-demo/config.yml"]
    platforms = sorted(p.name for p in SAMPLES_DIR.iterdir() if p.is_dir())
    assert sorted(p.name for p in demo.iterdir()) == sorted([*platforms, "config.yml"])
    for platform in platforms:
        assert sorted(p.name for p in (demo / platform).iterdir()) == sorted(p.name for p in (SAMPLES_DIR / platform).iterdir())
    config = load_config(demo / "config.yml")  # the starter config: its folders inside the demo folder
    assert (config.output_dir, config.work_dir) == (demo / "output", demo / "work")
    assert set(config.sources) == set(load_config(SAMPLES_DIR / "config.yml").sources)
    assert all(f.is_relative_to(demo) for source in config.sources.values() for f in source.files)
    text = (demo / "config.yml").read_text(encoding="utf-8")
    assert text.startswith("# A starter config made by `gladly-import init`")
    assert "Run it with:  gladly-import --config gladly-import-demo/config.yml" in text
    # a folder that is not empty is left as it is
    assert cli.main(["init"]) == cli.EXIT_NOT_RUN
    assert _one_line(capsys.readouterr().err) == ("init: gladly-import-demo already exists and is not an empty folder: "
                                                  "give another folder (gladly-import init my-demo)")
    assert cli.main(["init", str(tmp_path / "elsewhere" / "demo")]) == cli.EXIT_OK
    assert (tmp_path / "elsewhere" / "demo" / "config.yml").is_file()


def test_an_installed_package_is_never_written_into(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Installed: no --config points at init; a config writing inside the package is refused before anything runs."""
    package = tmp_path / "site-packages" / "gladly_import"
    bundled = package / "project" / "samples"
    shutil.copytree(SAMPLES_DIR, bundled)
    monkeypatch.setattr(cli, "INSTALLED", True)
    monkeypatch.setattr(cli, "PACKAGE_DIR", package)
    monkeypatch.setattr(cli, "SOURCE_ROOT", package.parent)
    assert cli.main([]) == cli.EXIT_NOT_RUN
    assert _one_line(capsys.readouterr().err) == (
        "no --config given: name your import's YAML config (gladly-import --config my.yml), or try it on the samples "
        "first: gladly-import init (then gladly-import --config gladly-import-demo/config.yml)")
    assert cli.main(["--config", str(bundled / "config.yml")]) == cli.EXIT_NOT_RUN
    assert _one_line(capsys.readouterr().err) == (
        f"output_dir {package / 'project' / 'output'} is inside the installed gladly-import package, where nothing is "
        "written: copy the samples out with gladly-import init, then gladly-import --config gladly-import-demo/config.yml")
    assert cli.main(["runs", "--config", str(bundled / "config.yml")]) == cli.EXIT_NOT_RUN
    assert "inside the installed gladly-import package" in capsys.readouterr().err
    assert sorted(p.name for p in package.iterdir()) == ["project"]  # nothing was written there


# -- logging --------------------------------------------------------------------------------------


def test_every_package_logger_reaches_the_console_and_the_run_file(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    try:
        log.setup(log.NORMAL)
        path = log.add_run_file(tmp_path, "20260101T000000Z-abc123")
        logging.getLogger("extract.api").warning("Kustomer: HTTP 429, retry 1 of 8 in 2.0 s")
        logging.getLogger("gladly_import.progress").info("[zendesk] 41% of 2.1 GB, 3 min left")
        logging.getLogger("gladly_import.run").debug("a detail for the log file only")
        logging.getLogger("gladly_import.result").info("wrote output/gladly_conversation_items_0001.csv")
    finally:
        log.shutdown()
    captured = capsys.readouterr()
    assert captured.err.splitlines() == ["Kustomer: HTTP 429, retry 1 of 8 in 2.0 s", "[zendesk] 41% of 2.1 GB, 3 min left"]
    assert captured.out == "wrote output/gladly_conversation_items_0001.csv\n"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert path == tmp_path / "logs" / "import-20260101T000000Z-abc123.log"
    assert [line.split(" ", 1)[1] for line in lines] == [
        "WARNING extract.api: Kustomer: HTTP 429, retry 1 of 8 in 2.0 s",
        "INFO    gladly_import.progress: [zendesk] 41% of 2.1 GB, 3 min left",
        "DEBUG   gladly_import.run: a detail for the log file only",
        "INFO    gladly_import.result: wrote output/gladly_conversation_items_0001.csv",
    ]
    assert all(line[:4].isdigit() and line[23] == "Z" for line in lines)  # UTC timestamps


@pytest.mark.parametrize(("verbosity", "shown"), [(log.QUIET, ["a warning"]),
                                                  (log.VERBOSE, ["a detail", "a stage line", "a warning"])])
def test_quiet_and_verbose(verbosity: int, shown: list[str], capsys: pytest.CaptureFixture) -> None:
    try:
        log.setup(verbosity)
        logging.getLogger("extract.kustomer").debug("a detail")
        logging.getLogger("gladly_import.run").info("a stage line")
        logging.getLogger("gladly_import.run").warning("a warning")
    finally:
        log.shutdown()
    assert [line.rsplit(": ", 1)[-1] for line in capsys.readouterr().err.splitlines()] == shown


# -- one-line errors, before anything runs ------------------------------------------------------


@pytest.mark.parametrize("value", ["lots", "400MB'; drop table ledger.export_ledger; --", "12 parsecs", "-1GB", ""])
def test_a_bad_duckdb_memory_limit_is_one_line(value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture) -> None:
    config = _zendesk_config(tmp_path)
    monkeypatch.setenv("GLADLY_DUCKDB_MEMORY_LIMIT", value)
    assert cli.main(["--config", str(config)]) == cli.EXIT_NOT_RUN
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("GLADLY_DUCKDB_MEMORY_LIMIT=")
    assert line.endswith("give e.g. 256MB, 2GB or 50%, or unset it")
    assert not (tmp_path / "work").exists()


def test_a_good_duckdb_memory_limit_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("400MB", "2GB", "1.5GiB", "50%"):
        monkeypatch.setenv("GLADLY_DUCKDB_MEMORY_LIMIT", value)
        cli.check_memory_limit()


@pytest.mark.parametrize("set_to", [None, "1GB"])
def test_dbt_and_the_export_give_duckdb_one_memory_limit(set_to: str | None, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """dbt (its profile reads the variable the runner hands it) and the runner's own connection (the
    export) take the environment's limit, else the one default; the profile's default, for dbt run by
    hand, is that default too."""
    if set_to is None:
        monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)
    else:
        monkeypatch.setenv(MEMORY_LIMIT_ENV, set_to)
    expected = set_to or DEFAULT_MEMORY_LIMIT
    config = load_config(_zendesk_config(tmp_path))
    engine = DuckDBEngine(config)
    try:
        runner_limit = engine.execute("select current_setting('memory_limit')").fetchone()[0]
    finally:
        engine.close()
    with duckdb.connect() as conn:
        conn.execute(f"set memory_limit = '{expected}'")
        assert runner_limit == conn.execute("select current_setting('memory_limit')").fetchone()[0]
    assert dbt_environment(config)[MEMORY_LIMIT_ENV] == expected
    profile = (PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8")
    assert f"memory_limit: \"{{{{ env_var('{MEMORY_LIMIT_ENV}', '{DEFAULT_MEMORY_LIMIT}') }}}}\"" in profile


def test_a_symlink_loop_config_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a.yml").symlink_to(tmp_path / "b.yml")
    (tmp_path / "b.yml").symlink_to(tmp_path / "a.yml")
    result = _cli("--config", str(tmp_path / "a.yml"))
    assert result.returncode == 2
    assert _one_line(result.stderr) == f"config error: {tmp_path / 'a.yml'}: cannot open the config file: symlink loop"


@pytest.mark.parametrize("unreadable", ["config.yml", "tickets.json"])
def test_an_unreadable_config_or_export_is_one_line_without_its_content(unreadable: str) -> None:
    folder = Path(tempfile.mkdtemp(prefix="gladly-unreadable-"))
    try:
        folder.chmod(0o755)
        config = folder / "config.yml"
        config.write_text("sources:\n  zendesk:\n    path: tickets.json\n", encoding="utf-8")
        (folder / "tickets.json").write_text('{"id": 1, "subject": "secret subject"}\n', encoding="utf-8")
        (folder / unreadable).chmod(0o000)
        # root reads any file: run the import as root without the capabilities that bypass file modes
        # (still the owner of the checkout, however private its folder is; another user, such as
        # nobody, could not even import the package from a 0700 home folder).
        as_other = (("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all")
                    if os.geteuid() == 0 else ())
        if as_other and not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: cannot make a file unreadable")
        result = _cli("--config", str(config), prefix=as_other, env={"PYTHONPATH": str(PROJECT_DIR)})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert result.returncode == 2
    expected = ("cannot read the config file: Permission denied" if unreadable == "config.yml"
                else f"sources.zendesk.path: cannot read {folder / 'tickets.json'}: Permission denied")
    assert _one_line(result.stderr) == f"config error: {config}: {expected}"
    assert not (folder / "work").exists()


def _in_mount(target: Path, options: str) -> tuple[str, ...]:
    """A command prefix: run in a private mount namespace where ``target`` is a fresh tmpfs."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare to mount a read-only or full file system")
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o {options} tmpfs '{target}'"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {probe.stderr.strip()}")
    return ("unshare", "-m", "sh", "-c", f"mount -t tmpfs -o {options} tmpfs '{target}' && exec \"$@\"", "sh")


@pytest.mark.parametrize(("options", "reason"), [("ro,size=4m", "Read-only file system"),
                                                  ("size=256k", "No space left on device")])
def test_an_output_dir_that_cannot_be_written_stops_before_extraction(tmp_path: Path, options: str,
                                                                      reason: str) -> None:
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    output = mounted / "output" if options.startswith("ro") else mounted
    config = _zendesk_config(tmp_path, output_dir=str(output))
    result = _cli("--config", str(config), prefix=_in_mount(mounted, options))
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert line.startswith(f"output_dir {output}: cannot write there: {reason}")
    assert not (tmp_path / "work" / "raw").exists()  # nothing was extracted


def test_a_duckdb_file_held_by_another_program_is_one_line(tmp_path: Path) -> None:
    config = _zendesk_config(tmp_path)
    database = tmp_path / "work" / "gladly_import.duckdb"
    database.parent.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]);"
                               " print('open', flush=True); time.sleep(120)", str(database)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        result = run_import(config)
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1
    assert _one_line(result.stderr) == (
        f"the DuckDB file {database} is open in another program (process {holder.pid}), e.g. a SQL client or"
        " another import: close it and run again")


def test_a_file_in_place_of_the_duckdb_database_is_one_line_and_left_as_it_is(tmp_path: Path) -> None:
    config = _zendesk_config(tmp_path)
    database = tmp_path / "work" / "gladly_import.duckdb"
    database.parent.mkdir()
    garbage = b"PK\x03\x04 not a database: a zip someone saved under the DuckDB file's name" * 100
    database.write_bytes(garbage)
    result = run_import(config)
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert line.startswith(f"import not started: DuckDB error on {database}: IO Error:")
    assert "not a valid DuckDB database file" in line and line.endswith("-v shows the traceback)")
    assert database.read_bytes() == garbage
    assert not (tmp_path / "work" / "raw").exists()


def test_an_unexpected_error_before_the_run_starts_is_one_line_and_v_shows_its_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    config = _zendesk_config(tmp_path)

    def broken_settle(engine: object, output_dir: Path) -> None:
        raise RuntimeError("the ledger schema is from a newer version\nsecond line")

    monkeypatch.setattr(cli, "settle_earlier_runs", broken_settle)
    assert cli.main(["--config", str(config)]) == cli.EXIT_FAILED
    assert _one_line(capsys.readouterr().err) == (
        "import not started: unexpected RuntimeError: the ledger schema is from a newer version"
        " (nothing was run or recorded; -v shows the traceback)")
    assert cli.main(["-v", "--config", str(config)]) == cli.EXIT_FAILED
    verbose = capsys.readouterr().err
    assert "Traceback" in verbose and "in broken_settle" in verbose


def test_unset_api_secrets_are_found_before_anything_runs_each_in_one_line(tmp_path: Path) -> None:
    shutil.copytree(SAMPLES_DIR / "zendesk", tmp_path / "zendesk")
    config = write_config(tmp_path, {"zendesk": {"path": "zendesk/"},
                                     "kustomer": {"base_url": "https://acme.api.kustomerapp.com"},
                                     "gorgias": {"base_url": "https://acme.gorgias.com", "email_env": "SHOP_EMAIL"}})
    unset = {name: "" for name in ("KUSTOMER_API_KEY", "SHOP_EMAIL", "GORGIAS_API_KEY")}
    result = _cli("--config", str(config), env=unset)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"environment error: {config}: sources.{key}: the environment variable {name} is not set: set it to {holds}"
        " (never in the config file) and run again"
        for key, name, holds in [
            ("kustomer.api_key_env", "KUSTOMER_API_KEY", "the Kustomer API key"),
            ("gorgias.email_env", "SHOP_EMAIL", "the email of the account's API user"),
            ("gorgias.api_key_env", "GORGIAS_API_KEY", "the account's REST API key (Gorgias: Settings > REST API)")]]
    assert not (tmp_path / "work" / "raw").exists()  # zendesk was not extracted first
    # the demo's credentials need none
    config = write_config(tmp_path, {"kustomer": {"simulate": True}, "gorgias": {"simulate": True}})
    assert cli.missing_secrets(load_config(config)) == []


# -- Ctrl-C ---------------------------------------------------------------------------------------


class RunningImport:
    """An import in its own process group, its stderr read as it comes, interrupted as a terminal does."""

    def __init__(self, config: Path) -> None:
        self.process = psutil.Popen([sys.executable, "-m", "gladly_import", "--config", str(config)], cwd=PROJECT_DIR,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, condition, what: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process.poll() is None, f"the import ended before {what}: {self.lines}"
            assert time.monotonic() < deadline, f"no {what} in {timeout:.0f}s: {self.lines}"
            time.sleep(0.02)

    def children(self, marker: str) -> list[psutil.Process]:
        found = []
        for child in self.process.children(recursive=True):
            try:
                if marker in " ".join(child.cmdline()):
                    found.append(child)
            except psutil.Error:
                pass
        return found

    def ctrl_c(self, timeout: float = 60.0) -> int:
        """SIGINT to the whole foreground group, again every 0.25 s as an impatient person would."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            assert time.monotonic() < deadline, f"still running {timeout:.0f}s after Ctrl-C: {self.lines}"
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(0.25)
            except psutil.TimeoutExpired:
                pass
        self._reader.join(10)
        return self.process.returncode


def _assert_interrupted(run: RunningImport, code: int, work: Path) -> None:
    assert code == 130, run.lines
    stderr = "\n".join(run.lines)
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr and "SpawnPoolWorker" not in stderr, stderr
    run_id = run.lines[0].split()[1].rstrip(":")
    assert run.lines[-1] == f"import {run_id} interrupted: nothing was recorded in the export ledger"
    with duckdb.connect(str(work / "gladly_import.duckdb"), read_only=True) as conn:
        assert conn.execute("select status from ledger.import_runs where run_id = ?", [run_id]).fetchall() == [
            ("interrupted",)]
        assert conn.execute("select count(*) from ledger.export_ledger").fetchone() == (0,)
    log_file = next((work / "logs").glob(f"import-{run_id}.log"))
    assert log_file.read_text(encoding="utf-8").rstrip().endswith(run.lines[-1])


def _big_mbox(path: Path, megabytes: int) -> None:
    """The sample mailbox repeated, each copy with its own Message-IDs (enough for the Gmail workers to start)."""
    sample = (SAMPLES_DIR / "gmail" / "support-inbox.mbox").read_bytes()
    with open(path, "wb") as handle:
        copy = 0
        while handle.tell() < megabytes << 20:
            handle.write(sample.replace(b"Message-ID: <", b"Message-ID: <c%d." % copy))
            copy += 1


@pytest.mark.slow
def test_ctrl_c_during_extraction_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "gmail").mkdir()
    _big_mbox(tmp_path / "gmail" / "big.mbox", 40)
    config = write_config(tmp_path, {"gmail": {"path": "gmail/"}})
    run = RunningImport(config)
    run.wait_for(lambda: run.children("multiprocessing"), "Gmail worker process")
    code = run.ctrl_c()
    assert run.lines[-2].startswith("extract gmail: 1 file"), run.lines  # interrupted in the Gmail stage
    _assert_interrupted(run, code, tmp_path / "work")


@pytest.mark.slow
def test_ctrl_c_during_dbt_is_one_line_and_stops_dbt(tmp_path: Path) -> None:
    run = RunningImport(_zendesk_config(tmp_path))
    run.wait_for(lambda: run.children(DBT_MODULE), "dbt process")
    dbt = run.children(DBT_MODULE)
    time.sleep(1.5)  # dbt is parsing or building by now
    assert all(p.is_running() for p in dbt), "dbt ended before the test could interrupt it"
    code = run.ctrl_c()
    assert run.lines[-2] == "transform: dbt build", run.lines
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in dbt)
    _assert_interrupted(run, code, tmp_path / "work")


# -- a batch left pending by a killed run, its export batch table gone ---------------------------


def _pending_batch_without_its_table(work: Path, output: Path, recorded: int) -> str:
    """A killed run's batch: 2 items in one file in place, ``recorded`` of them in the ledger, and
    main.gladly_export_batch dropped since (dbt run by hand against the DuckDB file)."""
    from gladly_import.ledger import ensure_tables, record_pending_batch, start_run
    from gladly_import.publish import sha256_of

    run_id = "20240101T000000Z-dead01"
    output.mkdir(parents=True)
    items = output / "gladly_conversation_items_0001.csv"
    items.write_text("Conversation Item ID,Customer Email\r\nzendesk-1-11,a@example.com\r\nzendesk-1-12,b@example.com\r\n",
                     encoding="utf-8")
    work.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(work / "gladly_import.duckdb")) as conn:
        ensure_tables(conn)
        start_run(conn, run_id, "delta", "config.yml")
        record_pending_batch(conn, run_id, "delta", f".partial-{run_id}", 2,
                             [{"file": items.name, "rows": 2, "sha256": sha256_of(items)}])
        for item in ("zendesk-1-11", "zendesk-1-12")[:recorded]:
            conn.execute("insert into ledger.export_ledger values (?, 'zendesk', ?, ?, current_timestamp)",
                         [item, run_id, items.name])
    return run_id


def test_a_pending_batch_fully_recorded_is_confirmed_without_its_batch_table(tmp_path: Path) -> None:
    from gladly_import.publish import settle_earlier_runs

    run_id = _pending_batch_without_its_table(tmp_path / "work", tmp_path / "output", recorded=2)
    (tmp_path / "output" / f".partial-{run_id}").mkdir()
    with duckdb.connect(str(tmp_path / "work" / "gladly_import.duckdb")) as conn:
        assert settle_earlier_runs(conn, tmp_path / "output") == [(run_id, "confirmed")]
        assert conn.execute("select count(*) from ledger.export_ledger").fetchone() == (2,)  # nothing added twice
    assert (tmp_path / "output" / "gladly_conversation_items_0001.csv").is_file()
    assert not (tmp_path / "output" / f".partial-{run_id}").exists()


def test_a_pending_batch_partly_recorded_without_its_batch_table_is_one_line(tmp_path: Path) -> None:
    config = _zendesk_config(tmp_path)
    run_id = _pending_batch_without_its_table(tmp_path / "work", tmp_path / "output", recorded=1)
    result = _cli("--config", str(config))
    assert result.returncode == 1
    assert _one_line(result.stderr) == (
        f"import not started: run {run_id} was stopped while recording its items (1 of 2 recorded) and its export"
        " batch table main.gladly_export_batch no longer holds them: the rest cannot be recorded, and a delta"
        " would export them again; nothing was changed (see the README, 'A publish that cannot be settled')")
    assert not (tmp_path / "work" / "raw").exists()  # nothing was extracted
    with duckdb.connect(str(tmp_path / "work" / "gladly_import.duckdb"), read_only=True) as conn:
        assert conn.execute("select status from ledger.export_batches").fetchall() == [("pending",)]
