"""Shared pieces of the Kustomer tests: data sets, an in-process extraction, a CLI run."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from extract import kustomer
from extract.context import Progress, SourceContext
from extract.raw import PlatformOutput

PROJECT_DIR = Path(__file__).resolve().parents[2]
KEY = "kst-test.Zq8v-7Rk2!pW0xL9"


@dataclass
class Extracted:
    tables: dict[str, list[dict[str, Any]]]
    rejects: list[dict[str, Any]]
    progress: str
    out: PlatformOutput

    def message_ids(self) -> list[str]:
        return [row["message_id"] for row in self.tables["messages"]]


def write_jsonl(folder: Path, messages: list[dict[str, Any]], customers: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("messages.jsonl", messages), ("customers.jsonl", customers)):
        with open(folder / name, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    return folder


def run_extract(work: Path, options: dict[str, Any], files: list[Path] | None = None,
                mode: str = "full") -> Extracted:
    """Run the Kustomer extractor in this process, as the runner does; read back what it wrote."""
    stream = io.StringIO()
    raw_dir = work / "raw"
    ctx = SourceContext(platform="kustomer", options=options, base_dir=work, files=files or [],
                        state_dir=work / "state" / "kustomer", progress=Progress("kustomer", stream, interval=0),
                        mode=mode, samples_dir=PROJECT_DIR / "samples")
    out = PlatformOutput(raw_dir, "kustomer", kustomer.TABLES, kustomer.RECORD_TABLES)
    try:
        kustomer.extract(ctx, out)
    except BaseException:
        out.abort()
        raise
    out.close()
    tables = {name: pq.read_table(raw_dir / "kustomer" / f"{name}.parquet").to_pylist() for name in kustomer.TABLES}
    rejects = pq.read_table(out.rejects_path).to_pylist()
    return Extracted(tables, rejects, stream.getvalue(), out)


def write_config(folder: Path, kustomer_block: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = {"output_dir": "output", "work_dir": "work", "sources": {"kustomer": kustomer_block}}
    path = folder / "config.yml"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")  # JSON is YAML
    return path


def cli_env(key: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "KUSTOMER_API_KEY"}
    env["PYTHONPATH"] = str(PROJECT_DIR)
    if key is not None:
        env["KUSTOMER_API_KEY"] = key
    return env


def cli_command(config: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "gladly_import", "--config", str(config), *extra]


def run_cli(config: Path, key: str | None, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_command(config, *extra), cwd=PROJECT_DIR, env=cli_env(key), capture_output=True,
                          text=True, timeout=timeout, check=False)
