"""The benchmark's Zendesk and CSV generators: same seed, same bytes; the records they announce."""

from __future__ import annotations

import hashlib
from pathlib import Path

from bench import generate_csv, generate_zendesk
from extract import csv_template, zendesk
from tests.python.conftest import run_extractor


def digest(paths: list[str]) -> list[str]:
    return [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths]


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    for module in (generate_zendesk, generate_csv):
        a = module.generate(tmp_path / "a" / module.__name__, 3000, seed=7)
        b = module.generate(tmp_path / "b" / module.__name__, 3000, seed=7)
        c = module.generate(tmp_path / "c" / module.__name__, 3000, seed=8)
        assert digest(a["paths"]) == digest(b["paths"])
        assert digest(a["paths"]) != digest(c["paths"])


def test_the_generated_records_are_what_the_extractors_see(tmp_path: Path) -> None:
    info = generate_zendesk.generate(tmp_path / "zendesk", 3000, seed=7)
    seen = run_extractor(zendesk, [Path(p) for p in info["paths"]], tmp_path / "z")
    assert seen.manifest["records_seen"] == info["records"]
    assert {r["reject_reason"] for r in seen.rejects} == {"malformed_json", "not_a_ticket"}

    info = generate_csv.generate(tmp_path / "csv", 3000, seed=7)
    seen = run_extractor(csv_template, [Path(p) for p in info["paths"]], tmp_path / "c")
    assert seen.manifest["records_seen"] == info["records"]
    assert 0 < len(seen.rejects) < 3000 * 0.02
