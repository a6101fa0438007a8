"""The config file: checked before anything runs, one clear line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from gladly_import.config import ConfigError, load_config
from tests.python.conftest import run_import, write_config


def _zendesk_file(directory: Path) -> Path:
    path = directory / "exports" / "tickets.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"id": 1, "subject": "s", "comments": []}\n', encoding="utf-8")
    return path


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    _zendesk_file(tmp_path)
    config = load_config(write_config(tmp_path, {"zendesk": {"path": "exports/tickets.json"}}))
    assert config.sources["zendesk"].files == [(tmp_path / "exports" / "tickets.json").resolve()]
    assert config.output_dir == (tmp_path / "output").resolve()
    assert config.batch_size == 500_000


def test_a_folder_and_a_glob_name_every_matching_file(tmp_path: Path) -> None:
    _zendesk_file(tmp_path)
    (tmp_path / "exports" / "more.ndjson.gz").write_bytes(b"")
    (tmp_path / "exports" / "notes.txt").write_text("not an export", encoding="utf-8")
    folder = load_config(write_config(tmp_path, {"zendesk": {"path": "exports"}}))
    assert [p.name for p in folder.sources["zendesk"].files] == ["more.ndjson.gz", "tickets.json"]
    globbed = load_config(write_config(tmp_path, {"zendesk": {"path": "exports/*.json"}}))
    assert [p.name for p in globbed.sources["zendesk"].files] == ["tickets.json"]


@pytest.mark.parametrize(
    ("sources", "top", "message"),
    [
        ({"zendesk": {"path": "nowhere.json"}}, {}, "sources.zendesk.path: 'nowhere.json' does not exist"),
        ({"zendesk": {"path": "exports/*.jsonl"}}, {}, "sources.zendesk.path: no file matches 'exports/*.jsonl'"),
        ({"zendesk": {"path": "exports/tickets.json", "pth": 1}}, {}, "sources.zendesk: unknown key 'pth'"),
        ({"zendesk": {}}, {}, "sources.zendesk: missing required key 'path'"),
        ({"zenddesk": {"path": "x"}}, {}, "sources: unknown key 'zenddesk'"),
        ({"zendesk": {"path": "exports/tickets.json"}}, {"batch_size": 0}, "batch_size: must be a whole number"),
        ({"zendesk": {"path": "exports/tickets.json"}}, {"outputdir": "x"}, "unknown key 'outputdir'"),
    ],
)
def test_config_mistakes_are_one_line_errors(tmp_path: Path, sources: dict, top: dict, message: str) -> None:
    _zendesk_file(tmp_path)
    with pytest.raises(ConfigError, match=None) as caught:
        load_config(write_config(tmp_path, sources, **top))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_sources_key_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("output_dir: out\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="missing required key 'sources'"):
        load_config(path)


def test_cli_prints_the_error_and_runs_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"zendesk": {"path": "missing/*.json"}})
    result = run_import(config)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "config error: sources.zendesk.path: no file matches 'missing/*.json' "
        f"(looked in {tmp_path / 'missing'})"
    ]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "work").exists()
    assert not (tmp_path / "output").exists()
