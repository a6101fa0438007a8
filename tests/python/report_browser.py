"""Headless Chromium for the report tests: where each word of a page lies, and screenshots.

Chromium's smallest window is 500 px wide, so a narrower screen (a 390 px phone) is a page that
holds the report in an iframe of that width: the report lays out in a 390 px viewport. The
measurement script is added to a copy of the report (the report itself has none).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync", "--hide-scrollbars"]
MIN_WINDOW = 500

# For every whitespace-delimited word of the page's text: the lines it lies on (a word on two
# lines was split). A free-text cell (td.text) may break a token only when it is wider than the cell.
MEASURE_JS = """
(function () {
  var split = [], words = 0;
  var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (var node = walker.nextNode(); node; node = walker.nextNode()) {
    var parent = node.parentElement;
    if (!parent || parent.closest("svg, style, script, #measure")) continue;
    var re = /\\S+/g, m;
    while ((m = re.exec(node.data)) !== null) {
      words++;
      var range = document.createRange();
      range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
      var tops = {}, width = 0, rects = range.getClientRects();
      for (var i = 0; i < rects.length; i++) {
        if (rects[i].width > 0) { tops[Math.round(rects[i].top)] = 1; width += rects[i].width; }
      }
      var lines = Object.keys(tops).length;
      if (lines > 1) {
        var cell = parent.closest("td.text > div");
        split.push({word: m[0], lines: lines, width: Math.round(width),
                    cell_width: cell ? cell.clientWidth : null});
      }
    }
  }
  // Every number cell (td.n, a big number): its text lies wholly inside what can be seen without
  // scrolling: the viewport and every box that clips its content (overflow other than visible).
  var hidden = [], numbers = 0;
  document.querySelectorAll("td.n, .card .v").forEach(function (cell) {
    if (!cell.textContent.trim()) return;
    numbers++;
    var range = document.createRange();
    range.selectNodeContents(cell);
    var left = 0, right = window.innerWidth;
    for (var box = cell.parentElement; box; box = box.parentElement) {
      var style = getComputedStyle(box);
      if (style.overflowX !== "visible") {
        var r = box.getBoundingClientRect();
        left = Math.max(left, r.left + box.clientLeft);
        right = Math.min(right, r.left + box.clientLeft + box.clientWidth);
      }
    }
    var rects = range.getClientRects();
    for (var i = 0; i < rects.length; i++) {
      if (rects[i].width > 0 && (rects[i].left < left - 0.5 || rects[i].right > right + 0.5)) {
        hidden.push({text: cell.textContent.trim(), left: Math.round(rects[i].left), right: Math.round(rects[i].right),
                     visible: [Math.round(left), Math.round(right)]});
        break;
      }
    }
  });
  var boxes = {};
  document.querySelectorAll(".scroll").forEach(function (box, i) {
    if (box.scrollWidth > box.clientWidth + 1) boxes[i] = [box.clientWidth, box.scrollWidth];
  });
  var result = {viewport: window.innerWidth, page_width: document.documentElement.scrollWidth,
                page_height: document.documentElement.scrollHeight, words: words, split: split,
                scrolling_tables: boxes, text: document.body.innerText, numbers: numbers, hidden_numbers: hidden};
  var target = window.parent.document;
  var out = target.createElement("pre");
  out.id = "measure";
  out.textContent = JSON.stringify(result);
  target.body.appendChild(out);
})();
"""


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: `make test` installs Debian's chromium package")
        pytest.skip("chromium is not installed (make test installs it when it can)")
    return path


def _framed(page_html: str, width: int, height: int) -> str:
    """A page holding ``page_html`` in an iframe ``width`` px wide (srcdoc: same origin, no src)."""
    return (f'<!DOCTYPE html><html><body style="margin:0">'
            f'<iframe srcdoc="{html.escape(page_html, quote=True)}" width="{width}" height="{height}" '
            f'style="border:0;display:block"></iframe></body></html>')


def _run(args: list[str], work: Path) -> subprocess.CompletedProcess[str]:
    profile = work / f"profile-{len(list(work.glob('profile-*')))}"
    completed = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed


def measure(report_html: str, width: int, work: Path) -> dict[str, Any]:
    """Lay the report out ``width`` px wide and measure it (see MEASURE_JS)."""
    page = report_html.replace("</body>", f"<script>{MEASURE_JS}</script></body>")
    if width < MIN_WINDOW:
        page = _framed(page, width, 900)
    path = work / f"measure-{width}.html"
    path.write_text(page, encoding="utf-8")
    dom = _run([f"--window-size={max(width, MIN_WINDOW)},900", "--dump-dom", path.as_uri()], work).stdout
    found = re.search(r'<pre id="measure">(.*?)</pre>', dom, re.DOTALL)
    assert found, "the measurement did not run"
    return json.loads(html.unescape(found.group(1)))


def screenshot(report_html: str, width: int, height: int, target: Path, work: Path) -> Path:
    """A screenshot of the whole report laid out ``width`` px wide."""
    page = _framed(report_html, width, height) if width < MIN_WINDOW else report_html
    path = work / f"shot-{width}.html"
    path.write_text(page, encoding="utf-8")
    _run([f"--window-size={max(width, MIN_WINDOW)},{height}", f"--screenshot={target}", path.as_uri()], work)
    return target
