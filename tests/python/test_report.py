"""import_report.html: self-contained, opens in headless Chromium, shows every summary number."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.python.conftest import SAMPLES_DIR, ImportResult, run_import

pytestmark = pytest.mark.slow  # whole imports: make test-fast leaves these out

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--enable-logging=stderr", "--v=0"]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: `make test` installs Debian's chromium package")
        pytest.skip("chromium is not installed (make test installs it when it can)")
    return path


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def numbers_in(value: Any) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, dict):
        return [n for v in value.values() for n in numbers_in(v)]
    if isinstance(value, list):
        return [n for v in value for n in numbers_in(v)]
    return []


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> ImportResult:
    target = tmp_path_factory.mktemp("report")
    shutil.copytree(SAMPLES_DIR, target / "samples")
    result = run_import(target / "samples" / "config.yml")
    assert result.returncode == 0, result.stderr
    return result


def test_the_report_is_one_self_contained_file(sample_run: ImportResult) -> None:
    html = (sample_run.output_dir / "import_report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(?:src|href)\s*=""", html, re.IGNORECASE)
    assert "<script" not in html.lower()
    assert not re.search(r"url\(", html)


def test_the_report_renders_in_headless_chromium_with_every_summary_number(sample_run: ImportResult,
                                                                              tmp_path: Path) -> None:
    browser = chromium()
    report = sample_run.output_dir / "import_report.html"
    completed = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", report.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    console_errors = [line for line in completed.stderr.splitlines()
                      if "CONSOLE" in line or "Uncaught" in line or "Failed to load resource" in line]
    assert console_errors == []
    parser = _Text()
    parser.feed(completed.stdout)
    text = " ".join(" ".join(parser.parts).split())
    assert "Gladly historical import" in text
    summary = sample_run.summary
    for number in numbers_in(summary):
        assert f"{number:,}" in text, number
    for name, platform in summary["platforms"].items():
        row = re.search(rf"\b{name} {platform['files_read']:,} {platform['records_seen']:,} "
                        rf"{platform['exported']:,} {platform['rejected']:,} {platform['duplicates']:,}", text)
        assert row, f"the totals row of {name} is not shown"
        for reason, count in platform["rejected_by_reason"].items():
            assert f"{name} {reason} {count:,}" in text
    for f in summary["files"]:
        assert f"{f['file']} {f['rows']:,}" in text

    screenshot = tmp_path / "report.png"
    shot = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile2'}", "--window-size=1200,2000",
         f"--screenshot={screenshot}", report.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert shot.returncode == 0 and screenshot.stat().st_size > 10_000
