"""Shared pieces of the Gorgias tests: generated accounts, one extraction run, its results.

Also a command line (``python tests/python/gorgias_helpers.py BASE_URL WORK_DIR``) that runs
one extraction in its own process, for the test that kills a run half-way.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

PROJECT_DIR = Path(__file__).resolve().parents[2]
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from bench.generate_gorgias import generate  # noqa: E402
from extract import gorgias  # noqa: E402
from extract.context import Progress, SourceContext  # noqa: E402
from extract.simulators.gorgias import load_jsonl  # noqa: E402

EMAIL = "ops+gorgias@brand.example.com"
API_KEY = "gorgias-KEY-7f3a9c1e-do-not-log"  # the "secret" the tests look for in logs and files
FAST_CLIENT = {"timeout": 5.0, "max_retries": 6, "backoff_base": 0.01, "backoff_max": 0.05}


def account(folder: Path, n_messages: int, seed: int = 7) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A generated account of ``n_messages`` messages: (tickets, messages)."""
    generate(folder, n_messages, seed=seed)
    return load_jsonl(folder / "tickets.jsonl"), load_jsonl(folder / "messages.jsonl")


@dataclass
class Extraction:
    messages: list[dict[str, Any]]
    tickets: list[dict[str, Any]]
    rejects: list[dict[str, Any]]
    log: str

    @property
    def message_ids(self) -> list[str]:
        return sorted(row["message_id"] for row in self.messages)


def extract_once(base_url: str, work_dir: Path, options: dict[str, Any] | None = None,
                 log_path: Path | None = None, mode: str = "full") -> Extraction:
    """Run the Gorgias extractor like the runner does; returns what it landed."""
    raw_dir = work_dir / "raw"
    out = gorgias.PLATFORM.output(raw_dir)
    log_path = log_path or work_dir / "progress.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as log:
        ctx = SourceContext(
            platform=gorgias.PLATFORM.name, options={"base_url": base_url, **(options or {})}, base_dir=work_dir,
            state_dir=work_dir / "state" / gorgias.PLATFORM.name,
            progress=Progress(gorgias.PLATFORM.name, stream=log, interval=0),
            mode=mode, samples_dir=PROJECT_DIR / "samples",
        )
        try:
            gorgias.extract(ctx, out)
        except BaseException:
            out.abort()
            raise
        out.close()
    return Extraction(
        messages=pq.read_table(raw_dir / "gorgias" / "messages.parquet").to_pylist(),
        tickets=pq.read_table(raw_dir / "gorgias" / "tickets.parquet").to_pylist(),
        rejects=pq.read_table(out.rejects_path).to_pylist(),
        log=log_path.read_text(encoding="utf-8"),
    )


def files_containing(folder: Path, needles: list[str]) -> list[str]:
    """Files under ``folder`` whose bytes contain any of ``needles``."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if any(needle.encode() in data for needle in needles):
                found.append(str(path))
    return found


if __name__ == "__main__":
    gorgias.CLIENT_OPTIONS = {**gorgias.CLIENT_OPTIONS, **FAST_CLIENT}
    result = extract_once(sys.argv[1], Path(sys.argv[2]))
    print(json.dumps({"messages": len(result.messages)}))


def state_identity(base_url: str, tmp_path: Path) -> str:
    """The identity a Gorgias state of this account is saved under (derived from the declared readings)."""
    ctx = SourceContext(platform="gorgias", options={"base_url": base_url}, base_dir=tmp_path)
    return gorgias.Gorgias(ctx).identity(base_url)
