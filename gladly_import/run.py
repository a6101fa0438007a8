"""One import run: extract every configured source, build the dbt models, export the Gladly files."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from extract.context import Progress, ProgressDisplay, amount
from gladly_import import review
from gladly_import.config import Config
from gladly_import.email_rules import EMAIL_SOURCE_MODEL, distinct_raw_addresses, hand_email_rule_to_engine
from gladly_import.engines import Engine
from gladly_import.export import export_items, export_rejects
from gladly_import.extraction import extract_all
from gladly_import.faults import checkpoint
from gladly_import.ledger import finish_run
from gladly_import.log import result_logger
from gladly_import.metrics import StageMetrics
from gladly_import.preview import PREVIEW_FILE, write_preview
from gladly_import.progress import progress_display
from gladly_import.publish import first_file_number, publish, sha256_of, staging_dir
from gladly_import.report import REPORT_FILE, write_report
from gladly_import.summary import SUMMARY_FILE, build_summary, format_table, write_summary

logger = logging.getLogger(__name__)


def say(message: str) -> None:
    """A stage line for the person running the import (stderr and the run's log file)."""
    logger.info(message)


def result(message: str = "") -> None:
    """A line of the run's result (stdout and the run's log file)."""
    result_logger.info(message)


def counted(batches: Iterator[list[Any]], progress: Progress) -> Iterator[list[Any]]:
    """The batches, each counted on ``progress`` as it is handed on (the email rule's minutes at scale)."""
    for batch in batches:
        yield batch
        progress.advance(len(batch))


def run_import(config: Config, engine: Engine, mode: str, run_id: str, with_unit_tests: bool, started: float) -> str:
    metrics = StageMetrics()
    try:
        with progress_display() as display:
            return _stages(config, engine, mode, run_id, with_unit_tests, started, metrics, display)
    finally:
        metrics.write(config.work_dir / "run_metrics.json")


def _stages(config: Config, engine: Engine, mode: str, run_id: str, with_unit_tests: bool, started: float,
            metrics: StageMetrics, display: ProgressDisplay) -> str:
    findings: dict[str, dict] = {}
    engine.release()  # the extraction needs no engine: not its buffers of the ledger in this process either
    manifest = extract_all(config, metrics, mode, display, findings)
    records = sum(row["records_seen"] for row in manifest)

    say("transform: dbt build")
    engine.register_raw(config.raw_dir)
    first_file = first_file_number(engine, config.output_dir, mode)
    dbt_vars = {"import_mode": mode, "batch_size": config.batch_size, "first_file_number": first_file,
                "run_id": run_id}
    build = ["build", "--vars", json.dumps(dbt_vars)]
    if not with_unit_tests:
        build += ["--exclude-resource-type", "unit_test"]
    with metrics.stage("dbt build", items=records):
        # the views up to the unioned items, so the runner can decide Gladly's email rule for their
        # distinct addresses (gladly_import/email_rules.py), then every model, test and check
        built = engine.run_dbt(["run", "--select", f"+{EMAIL_SOURCE_MODEL}", "--vars", json.dumps(dbt_vars)],
                               Progress("transform: dbt run (up to the unioned items)", display, unit="models and tests"))
        if built:
            deciding = Progress("transform: Gladly's email rule", display, unit="distinct addresses")
            hand_email_rule_to_engine(engine, counted(distinct_raw_addresses(engine), deciding))
            deciding.finish(f"{amount(deciding.done, 'distinct addresses')} decided")
            say(f"transform: Gladly's email rule: {amount(deciding.done, 'distinct addresses')} decided "
                f"in {deciding.elapsed:,.1f}s")
            built = engine.run_dbt(build, Progress("transform: dbt build", display, unit="models and tests"))
    if not built:
        say("import failed: dbt build reported errors or failing tests (see above)")
        return "failed"

    say(f"export: Gladly CSV ({mode})")
    staging = staging_dir(config.output_dir, run_id)
    with metrics.stage("export") as export_stage:
        exporting = Progress(f"export: Gladly CSV ({mode})", display)
        files = export_items(engine, staging)
        checkpoint("items exported")  # (the crash tests' steps of the export, then publish's own)
        for f in files:  # the report gives them, the ledger records them (publish)
            f["sha256"] = sha256_of(staging / f["file"])
        export_stage["items"] = sum(f["rows"] for f in files)
        exporting.finish(f"{export_stage['items']:,} rows in {len(files):,} {'file' if len(files) == 1 else 'files'}")
        rejects = export_rejects(engine, staging)
        checkpoint("rejects exported")
        preview = write_preview(engine, staging, run_id)
        summary = build_summary(engine, files, rejects, mode, run_id, config)
        summary["preview"] = preview
        _add_file_facts(summary, findings)
        needing_review = review.assess(summary, config, findings, mode)
        review.apply(summary, needing_review)
        write_summary(summary, staging)
        checkpoint("summary written")
        write_report(engine, summary, staging)
        if summary["totals"]["unaccounted"]:
            say("import failed: some records are unaccounted for (see import_reconciliation)")
            return "failed"
        rows = {f["file"]: f["rows"] for f in [*files, rejects]}
        exported = publish(engine, run_id, staging, config.output_dir, mode, rows, {f["file"]: f["sha256"] for f in files})
        finish_run(engine, run_id, "succeeded", exported, summary["platforms"], files)

    display.close()
    result(format_table(summary))
    result()
    for f in files:
        result(f"wrote {config.output_dir / f['file']} ({f['rows']:,} rows)")
    if not files:
        result("no new conversation item to export: no Gladly CSV written" if mode == "delta"
               else "no conversation item to export: no Gladly CSV written")
    result(f"wrote {config.output_dir / rejects['file']} ({rejects['rows']:,} rows)")
    result(f"wrote {config.output_dir / SUMMARY_FILE}, {config.output_dir / REPORT_FILE} and "
           f"{config.output_dir / PREVIEW_FILE}")
    result(f"run {run_id}: staged history in {engine.describe()}"
           f"  (done in {time.monotonic() - started:,.1f}s)")
    for entry in needing_review:  # one WARNING per source (shown under -q too)
        logger.warning(f"WARNING: needs review: {entry['platform']}: {entry['cause']}")
    if needing_review:
        say(f"the files are written, but look at them before handing them to Gladly: "
            f"{config.output_dir / REPORT_FILE} (exit code {review.EXIT_NEEDS_REVIEW})")
        return review.NEEDS_REVIEW
    return "succeeded"


def _add_file_facts(summary: dict, findings: dict[str, dict]) -> None:
    """Each input file's facts as its reader found them (a CSV's encoding, delimiter), beside its size."""
    for entry in summary["inputs"]:
        facts = (findings.get(entry["platform"]) or {}).get("file_facts", {}).get(entry.get("file"))
        if facts:
            entry.update(facts)
            if "encoding" in facts:
                entry["read_as"] = (f"{facts['encoding']}{'' if facts['encoding_detected'] else ' (set in the config)'}, "
                                    f"{facts['delimiter']}-separated"
                                    f"{'' if facts['delimiter_detected'] else ' (set in the config)'}"
                                    + (f", {facts['undecodable_rows']:,} undecodable rows set aside"
                                       if facts.get("undecodable_rows") else ""))
