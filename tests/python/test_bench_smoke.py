"""`make test` runs the bench at a smoke scale: every stage (each platform's extract, dbt build, export,
the baselines, the push, the API rates) reports a result, from any folder, writing nothing in the
checkout; a stage that fails fails the bench, so a bench that rots fails CI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import MIX, push_failures
from extract.processes import available_cores
from tests.python.conftest import PROJECT_DIR

SCALE = 3_000
IGNORED = {".venv", ".git", "__pycache__", ".pytest_cache", ".ruff_cache"}


def _checkout() -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in PROJECT_DIR.rglob("*") if not IGNORED & set(p.relative_to(PROJECT_DIR).parts)}


@pytest.mark.slow
def test_the_bench_at_a_smoke_scale_reports_every_stage_and_writes_nothing_in_the_checkout(tmp_path: Path) -> None:
    before = _checkout()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_DIR), os.environ.get("PYTHONPATH")) if p)}
    done = subprocess.run([sys.executable, "-m", "bench", "--scale", str(SCALE), "--dir", "out"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "out" / "results" / f"bench-{SCALE}.json").read_text(encoding="utf-8"))

    for label, scale in (("small", 1_000), ("full", SCALE)):
        run = results[label]
        stages = {s["stage"]: s for s in run["stages"]}
        side_by_side = available_cores() > 1  # the platforms read side by side, within the whole extraction's stage
        whole = {"extract"} if side_by_side else set()
        assert set(stages) == {f"extract {p}" for p in MIX} | {"dbt build", "export"} | whole, label
        assert all(stages[f"extract {p}"].get("side_by_side", False) is side_by_side for p in MIX), label
        assert all(s["seconds"] >= 0 and s["peak_rss_mb"] > 0 for s in stages.values())
        assert all(stages[f"extract {p}"]["items"] > 0 for p in MIX)
        assert run["items"] >= scale * 0.9 and 0 < run["exported"] <= run["items"] and run["peak_rss_mb"] > 0
        assert len(run["load_average"]["before"]) == 3, label
        # CPU: every stage's, the processes it waited for included (dbt's, the extraction's, the workers')
        # (a clock tick is 10 ms: a small platform's stage may show none)
        assert all(s["cpu_seconds"] >= 0 for s in stages.values()) and stages["dbt build"]["cpu_seconds"] > 0, label
        own = sum(s["cpu_seconds"] for s in stages.values() if not s.get("side_by_side"))
        assert own - 0.1 <= run["cpu_seconds"], label  # the stages are within the import's
        if side_by_side:
            platforms = sum(stages[f"extract {p}"]["cpu_seconds"] for p in MIX)
            assert platforms - 0.1 <= stages["extract"]["cpu_seconds"], label
        assert run["simulators_cpu_seconds"] >= 0, label  # a few requests at this scale: maybe under a tick
    baselines = {"gmail", "freshdesk", "kustomer", "gorgias", "csv", "zendesk"}  # each bench_<platform>.py's baseline()
    assert baselines <= set(results["baselines"])
    assert all(results["baselines"][p] for p in baselines)
    for platform in ("gmail", "csv", "zendesk"):  # the extractor against the naive reader, same files, same run
        assert results["baselines"][platform]["throughput_ratio"] > 0, platform
    # the budget run: every API source's every budget, and the hours for 1M items at each plan
    budgets = {(r["source"], r["budget"].split(" (")[0]) for r in results["budgets"]}
    assert {source for source, _ in budgets} == {"kustomer", "zendesk", "gorgias", "gladly"}
    assert len(budgets) == 7
    assert all(r["limit_per_minute"] > 0 and r["requests"] > 0 for r in results["budgets"])
    projected = [(r["source"], r["plan"]) for r in results["projections"]]
    assert sorted({s for s, _ in projected}) == ["gladly (push)", "gorgias", "kustomer", "zendesk (API)"]
    assert len(projected) == 4 + 4 + 2 + 1 and all(r["hours"] > 0 for r in results["projections"])
    push = results["push"]
    assert push_failures(push) == []
    assert all(push[run]["created"] > 0 for run in ("concurrent", "slow_server_concurrent", "slow_server_sequential_baseline"))
    assert push["slow_server_speedup"] > 1
    for platform in ("kustomer", "gorgias"):
        assert results["api_rate"][platform]["messages"] > 0 and results["api_rate"][platform]["requests"] > 0
    for line in ("compute run (load average", "whole import: ", "CPU: the import ", "dbt build", "budget run (", "push: ",
                 "kustomer API: ", "gorgias API: ", "zendesk API: ", "results: "):
        assert line in done.stdout
    assert _checkout() == before, "the bench wrote in the checkout"


def test_a_push_that_did_not_create_every_item_or_failed_stops_the_bench() -> None:
    ok = {"exit_code": 0, "created": 30, "items": 30}
    assert push_failures({"concurrent": ok, "slow_server_speedup": 3.1}) == []
    assert push_failures({"concurrent": ok, "slow_server_concurrent": {"exit_code": 1, "created": 30, "items": 30},
                          "slow_server_sequential_baseline": {"exit_code": 0, "created": 9, "items": 10}}) == [
        "slow_server_concurrent: exit 1, 30 of 30 items created",
        "slow_server_sequential_baseline: exit 0, 9 of 10 items created"]
