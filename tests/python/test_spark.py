"""engine: spark runs the whole sample import on a local Spark session, as DuckDB does, byte for byte.

Both engines import the samples with secrets planted in every platform and every kind of redaction
on (tests/python/redaction_helpers.py): redaction happens as the records are landed, so both give
the same bytes and the same counts, and neither leaves a planted value in its files.

One Spark session serves the module (it takes ~10 s to start): the full import (with the dbt unit
tests), the delta after it and the email rule's cases (the table the runner hands every engine).
The JVM runs in America/New_York, so a session time zone left to the machine would move every
`...Z` timestamp by five hours.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.python.conftest import SAMPLES_DIR, run_import
from tests.python.redaction_helpers import plant

pytestmark = pytest.mark.slow

pyspark = pytest.importorskip("pyspark", reason="the Spark extras are not installed (make test installs them)")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    if os.environ.get("CI"):
        raise RuntimeError("CI: the Spark tests need Java 17+")
    pytest.skip("no Java: the Spark tests need Java 17+", allow_module_level=True)

from gladly_import import cli  # noqa: E402
from gladly_import.config import load_config  # noqa: E402
from gladly_import.engines.spark import SparkEngine, start_session  # noqa: E402
from gladly_import.paths import dbt_state_dir  # noqa: E402
from tests.python.sql_lint import lint_compiled_models  # noqa: E402
from tests.python.test_email_rules import EMAIL_CASES, email_table_rows  # noqa: E402

# A CSV as Excel on Windows saves it (Windows-1252, CRLF), with the timestamp forms the CSV
# extractor reads as it lands them (RFC 2822, epoch milliseconds, a US date by timestamp_format),
# one it cannot read, and a value another tool made safe for spreadsheets (a tab before =), which
# trimming must keep on both engines.
UGLY_CSV = ("Conversation Item ID,Customer Email,Customer Name,Customer Phone,Conversation Item Timestamp,"
            "Conversation Item Title,Conversation Item Body,Conversation Item Source,Tags\r\n"
            'sp-1,maria@example.com,José Núñez,,"Thu, 04 Mar 2021 15:22:10 +0100",Café,Café crème €5,,\r\n'
            "sp-2,maria@example.com,\t=1+1,,1614871330123,Note,\t=1+1 ,,\r\n"
            "sp-3,maria@example.com,Maria Garcia,,03/04/2021 15:22,US,US date,,\r\n"
            "sp-4,maria@example.com,Maria Garcia,,04.03.2021 x,Bad,not read,,\r\n").encode("cp1252")


def _config(folder: Path, engine: str) -> Path:
    shutil.copytree(SAMPLES_DIR, folder / "samples")
    planted_values.extend(plant(folder / "samples").forms())
    (folder / "samples" / "csv" / "excel_windows.csv").write_bytes(UGLY_CSV)
    path = folder / "samples" / "config.yml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["sources"]["csv"]["timestamp_format"] = "%m/%d/%Y %H:%M"
    if engine == "spark":
        config["engine"] = "spark"
        config["spark"] = {"conf": {"spark.driver.extraJavaOptions": "-Duser.timezone=America/New_York"}}
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


planted_values: list[str] = []


def _outputs(output_dir: Path) -> dict[str, bytes]:
    names = [p for p in sorted(output_dir.glob("gladly_conversation_items_*.csv"))]
    return {p.name: p.read_bytes() for p in [*names, output_dir / "gladly_import_rejects.csv"]}


def _numbers(summary: dict[str, Any]) -> dict[str, Any]:
    return {"platforms": summary["platforms"], "totals": summary["totals"], "files": summary["files"],
            "rejects_file": summary["rejects_file"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    duck = run_import(_config(tmp_path_factory.mktemp("duckdb"), "duckdb"))
    assert duck.returncode == 0, duck.stderr
    spark_config = _config(tmp_path_factory.mktemp("spark"), "spark")
    session, _ = start_session(load_config(spark_config))
    try:
        output = load_config(spark_config).output_dir
        full_code = cli.main(["--config", str(spark_config), "--with-unit-tests"])
        full = {"code": full_code, "files": _outputs(output),
                "summary": json.loads((output / "import_summary.json").read_text(encoding="utf-8")),
                "preview": (output / "timeline_preview.html").read_text(encoding="utf-8")}
        delta_code = cli.main(["--config", str(spark_config), "--mode", "delta"])
        delta = {"code": delta_code, "files": _outputs(output),
                 "summary": json.loads((output / "import_summary.json").read_text(encoding="utf-8"))}
        target = dbt_state_dir(load_config(spark_config).work_dir) / "target"
        yield {"duckdb": duck, "full": full, "delta": delta, "session": session, "target": target,
               "config": spark_config}
    finally:
        session.stop()


def test_spark_gives_byte_identical_gladly_files_and_rejects(runs: dict[str, Any]) -> None:
    assert runs["full"]["code"] == 0  # dbt build on Spark: models, data tests and unit tests
    duck_files = _outputs(runs["duckdb"].output_dir)
    assert list(runs["full"]["files"]) == list(duck_files)
    assert len(duck_files) >= 2 and runs["full"]["summary"]["totals"]["exported"] > 400
    for name, content in duck_files.items():
        assert runs["full"]["files"][name] == content, f"{name} differs between DuckDB and Spark"


def test_spark_reads_the_excel_csv_as_duckdb_does(runs: dict[str, Any]) -> None:
    """Encoding, timestamp forms and the kept tab: the same bytes on both engines (checked above), and right."""
    items = b"".join(content for name, content in runs["full"]["files"].items() if name.startswith("gladly_conv"))
    rows = {row[0]: row for row in csv.reader(io.StringIO(items.decode("utf-8"))) if row and row[0].startswith("sp-")}
    assert (rows["sp-1"][2], rows["sp-1"][4], rows["sp-1"][6]) == ("José Núñez", "2021-03-04T14:22:10.000Z", "Café crème €5")
    assert (rows["sp-2"][2], rows["sp-2"][4], rows["sp-2"][6]) == ("\t=1+1", "2021-03-04T15:22:10.123Z", "\t=1+1")
    assert rows["sp-3"][4] == "2021-03-04T15:22:00.000Z"
    rejects = list(csv.DictReader(io.StringIO(runs["full"]["files"]["gladly_import_rejects.csv"].decode("utf-8"))))
    (bad,) = [r for r in rejects if r["conversation_item_id"] == "sp-4"]
    assert bad["reject_reason"] == "unparseable_timestamp"
    assert bad["reject_detail"].startswith('could not read the timestamp "04.03.2021 x"; accepted: ISO 8601')
    assert bad["reject_detail"].endswith("set sources.csv.timestamp_format (e.g. %m/%d/%Y %H:%M)")


def test_spark_summary_numbers_equal_duckdbs(runs: dict[str, Any]) -> None:
    assert _numbers(runs["full"]["summary"]) == _numbers(runs["duckdb"].summary)
    assert runs["full"]["summary"]["redaction"] == runs["duckdb"].summary["redaction"]


def test_spark_leaves_no_planted_value_in_its_files(runs: dict[str, Any]) -> None:
    """The redaction counts are the planted ones on both engines, and the files hold none of them."""
    assert runs["full"]["summary"]["redaction"]["totals"]["card_number"]["values"] >= 15
    assert planted_values
    for name, content in runs["full"]["files"].items():
        text = content.decode("utf-8")
        assert [v for v in planted_values if v in text] == [], name


def test_spark_previews_the_same_customers_and_items_as_duckdb(runs: dict[str, Any]) -> None:
    """The sample (busiest, drawn with md5 of a fixed seed, one per platform) and each timeline: the same on both."""
    duck = (runs["duckdb"].output_dir / "timeline_preview.html").read_text(encoding="utf-8")
    spark = runs["full"]["preview"]
    assert duck.count('<section class="customer"') == 23
    assert (duck.replace(runs["duckdb"].summary["run_id"], "<run>")
            == spark.replace(runs["full"]["summary"]["run_id"], "<run>"))


def test_spark_delta_with_nothing_new_writes_no_file(runs: dict[str, Any]) -> None:
    assert runs["delta"]["code"] == 0
    assert runs["delta"]["files"] == runs["full"]["files"] | {
        "gladly_import_rejects.csv": runs["delta"]["files"]["gladly_import_rejects.csv"]}
    totals = runs["delta"]["summary"]["totals"]
    assert totals["exported"] == 0
    assert totals["already_exported"] == runs["full"]["summary"]["totals"]["exported"]
    assert runs["delta"]["summary"]["files"] == []


def test_spark_gets_the_email_rule_as_the_same_table_as_duckdb(runs: dict[str, Any]) -> None:
    """The 15 cases decided by the runner and read back from Spark (test_email_rules.py: from DuckDB)."""
    table = email_table_rows(SparkEngine(load_config(runs["config"])))
    assert {raw: normalized for raw, (normalized, _) in table.items()} == dict(EMAIL_CASES)
    assert {raw: check for raw, (_, check) in table.items()} == {
        raw: (None if normalized is None else True) for raw, normalized in EMAIL_CASES}


def test_the_models_compiled_for_spark_parse_as_spark_sql(runs: dict[str, Any]) -> None:
    """What dbt ran on Spark, in the style of .sqlfluff and parsed as Spark SQL (DuckDB's: test_sql_lint.py)."""
    assert lint_compiled_models(runs["target"], "sparksql") == []


def test_spark_starts_without_its_console_banner_and_warnings(tmp_path: Path) -> None:
    """The import's first line is the import's: Spark's log4j banner, its level hints and the
    native-hadoop warning are gone (spark-log4j2.properties). The JVM's own note on the incubator
    module Spark's launcher adds on Java 17+ cannot be turned off and is the one line left."""
    shutil.copytree(SAMPLES_DIR / "zendesk", tmp_path / "zendesk")
    config = tmp_path / "config.yml"
    config.write_text("engine: spark\nsources:\n  zendesk:\n    path: zendesk/\n", encoding="utf-8")
    child = ("import sys; from gladly_import.config import load_config;"
             " from gladly_import.engines.spark import start_session;"
             " session, _ = start_session(load_config(sys.argv[1])); print(session.version); session.stop()")
    result = subprocess.run([sys.executable, "-c", child, str(config)], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == pyspark.__version__
    assert [line for line in result.stderr.splitlines()
            if line != "WARNING: Using incubator modules: jdk.incubator.vector"] == []
