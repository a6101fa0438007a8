"""The config file: checked before anything runs, one clear line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from extract import options as opt
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
        ({"zendesk": {}}, {}, "sources.zendesk: give one of path (the JSON export"),  # or base_url: the API
        ({"kustomer": {}}, {}, "sources.kustomer.base_url: required unless simulate: true"),
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


def test_cli_prints_every_error_and_runs_nothing(tmp_path: Path) -> None:
    """Every problem of every block at once, one line each naming the file and the key, before any
    extraction: the valid Zendesk source is not extracted (no work folder is even made)."""
    _zendesk_file(tmp_path)
    config = write_config(tmp_path, {
        "zendesk": {"path": "exports/tickets.json"},
        "kustomer": {"requests_per_minute": "fast"},
        "gorgias": {"simulate": "yes", "simulator_rate_limit": 2.5},
        "gmail": {"path": "missing/*.mbox"},
    }, batch_size="big")
    result = run_import(config)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"config error: {config}: batch_size: must be a whole number of at least 1, got 'big'",
        f"config error: {config}: sources.kustomer.base_url: required unless simulate: true"
        " (an https:// URL such as https://<org>.api.kustomerapp.com)",
        f"config error: {config}: sources.kustomer.requests_per_minute: must be a number above 0, got 'fast'",
        f"config error: {config}: sources.gorgias.base_url: required unless simulate: true"
        " (an https:// URL such as https://<domain>.gorgias.com)",
        f"config error: {config}: sources.gorgias.simulate: must be true or false, got 'yes'",
        f"config error: {config}: sources.gorgias.simulator_rate_limit: must be a whole number of at least 0"
        " (requests per 20 s, 0 for none), got 2.5",
        f"config error: {config}: sources.gmail.path: no file matches 'missing/*.mbox' (looked in {tmp_path / 'missing'})",
    ]
    assert not (tmp_path / "work").exists()
    assert not (tmp_path / "output").exists()


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"base_url": "http://acme.api.kustomerapp.com"}, "sources.kustomer.base_url: must be an https:// URL"),
        ({"base_url": "ftp://x"}, "sources.kustomer.base_url: must be an https:// URL"),
        ({"base_url": "acme.api.kustomerapp.com"}, "sources.kustomer.base_url: must be an https:// URL"),
        ({"base_url": "https://me:s3cret@acme.api.kustomerapp.com"},
         "sources.kustomer.base_url: must not hold credentials; they come from the environment"),
        ({"base_url": "https://acme.api.kustomerapp.com", "api_key_env": "sk-live-123"},
         "sources.kustomer.api_key_env: must be the NAME of an environment variable"),
        ({"simulate": True, "concurrency": 0}, "sources.kustomer.concurrency: must be a whole number from 1 to 64, got 0"),
        ({"simulate": True, "concurrency": 8.5}, "sources.kustomer.concurrency: must be a whole number from 1 to 64"),
        ({"simulate": True, "delta_overlap_hours": True}, "delta_overlap_hours: must be a number from 0 to 8784, got True"),
        ({"simulate": True, "delta_overlap_hours": "1 day"}, "delta_overlap_hours: must be a number from 0 to 8784"),
        ({"simulate": True, "reuse_completed": "no"}, "sources.kustomer.reuse_completed: must be true or false, got 'no'"),
        ({"simulate": True, "simulator_data": "nowhere"}, "sources.kustomer.simulator_data: folder 'nowhere' does not exist"),
        ({"simulate": True, "simulator_data": "exports"}, "folder 'exports' has no messages.jsonl or customers.jsonl"),
        ({"simulate": True, "requests_per_minute": -5}, "requests_per_minute: must be a number above 0, got -5"),
    ],
)
def test_each_api_option_is_typed_before_the_run(tmp_path: Path, options: dict, problem: str) -> None:
    _zendesk_file(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, {"kustomer": options}))
    assert len(caught.value.problems) == 1
    assert problem in caught.value.problems[0]


# What the Gorgias extractor used to check itself, at run time: now only here, before the run.
@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"base_url": "https://x.gorgias.com", "simulate": "yes"}, "sources.gorgias.simulate: must be true or false, got 'yes'"),
        ({}, "sources.gorgias.base_url: required unless simulate: true (an https:// URL such as"
             " https://<domain>.gorgias.com)"),
        ({"base_url": ""}, "sources.gorgias.base_url: required unless simulate: true"),
        ({"base_url": "http://your-shop.gorgias.com"}, "sources.gorgias.base_url: must be an https:// URL"),
        ({"base_url": "http://10.0.0.8:8080"}, "sources.gorgias.base_url: must be an https:// URL"),
        ({"base_url": "your-shop.gorgias.com"}, "sources.gorgias.base_url: must be an https:// URL"),
        ({"simulate": True, "simulator_rate_limit": "fast"}, "sources.gorgias.simulator_rate_limit: must be a whole"
                                                              " number of at least 0 (requests per 20 s, 0 for none),"
                                                              " got 'fast'"),
        ({"simulate": True, "simulator_data": "exports"}, "sources.gorgias.simulator_data: folder 'exports' has no"
                                                           " tickets.jsonl"),
        ({"simulate": True, "delta_overlap_hours": "1 day"}, "sources.gorgias.delta_overlap_hours: must be a number"
                                                              " from 0 to 8784, got '1 day'"),
        ({"base_url": "https://x.gorgias.com", "email_env": "me@shop.example"},
         "sources.gorgias.email_env: must be the NAME of an environment variable"),
    ],
)
def test_each_gorgias_option_is_checked_before_the_run(tmp_path: Path, options: dict, problem: str) -> None:
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "messages.jsonl").write_text("", encoding="utf-8")
    _zendesk_file(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, {"gorgias": options}))
    assert len(caught.value.problems) == 1, caught.value.problems
    assert problem in caught.value.problems[0]


def test_loopback_http_and_simulate_need_no_https(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, {"kustomer": {"base_url": "http://127.0.0.1:8080"},
                                                 "gorgias": {"simulate": True}}))
    assert set(config.sources) == {"kustomer", "gorgias"}


def test_an_empty_file_says_so(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: the config file is empty: it needs at least a sources: block (see the README)"
    assert "NoneType" not in str(caught.value)


SHADOW = (
    "root:$6$Zq3hXb1T$kT0mFz8P3wL0b9c1s2VJx7wq8Q0zLrY1u5eN4dGm0hT6pA2rK9yC3vB7nS1oI4jE8fU5xW2qZ6lM0:19650:0:99999:7:::\n"
    "daemon:*:19650:0:99999:7:::\n"
    "svc-backup:$y$j9T$Ab12Cd34$Qm9xL2nP7rS4tU6vW8yZ0aB1cD3eF5gH7iJ9kL1mN3o:19700:0:99999:7:::\n"
)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (SHADOW, "not an import config: none of its 3 keys is a setting"),
        ("root:x:0:0:root:/root:/bin/bash daemon:x:1:1", "not an import config: it holds a text of"),
        ("password: hunter2\napi_token: sk-live-abcdef\n", "not an import config: none of its 2 keys is a setting"),
        ("sources: [zendesk]\nhunter2-sk-live-abcdef:secret-value-here: 1\n", "unknown key"),
        ("- root:x:0:0\n- daemon:x:1:1\n", "not an import config: it holds a list"),
        ("sources: {zendesk: {path: 'a\n", "not valid YAML at line"),
    ],
)
def test_a_file_that_is_not_a_config_is_named_never_echoed(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "shadow"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert expected in message and str(path) in message
    for secret in ("hunter2", "sk-live", "$6$", "19650", "root:x", "daemon", "secret-value"):
        assert secret not in message


def test_etc_shadow_is_not_printed(tmp_path: Path) -> None:
    shadow = Path("/etc/shadow")
    try:
        lines = [line for line in shadow.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        pytest.skip("/etc/shadow is not readable here: the other cases cover what a readable one would show")
    with pytest.raises(ConfigError) as caught:
        load_config(shadow)
    message = str(caught.value)
    assert message.startswith("/etc/shadow: ")
    for line in lines:
        assert line not in message
        assert line.split(":")[0] + ":" not in message.removeprefix("/etc/shadow:")


def test_a_symlink_loop_and_a_folder_are_one_line_errors(tmp_path: Path) -> None:
    loop_a, loop_b = tmp_path / "a.yml", tmp_path / "b.yml"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    with pytest.raises(ConfigError) as caught:
        load_config(loop_a)
    assert str(caught.value) == f"{loop_a}: cannot open the config file: symlink loop"
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert str(caught.value) == f"{tmp_path}: is a folder, not a config file"


def test_a_binary_or_huge_file_is_not_read_as_a_config(tmp_path: Path) -> None:
    binary = tmp_path / "photo.yml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe" + bytes(range(256)))
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_config(binary)
    huge = tmp_path / "dump.yml"
    huge.write_bytes(b"sources: {}\n" + b"#" * (2 << 20))
    with pytest.raises(ConfigError, match="over 1 MB: not a config file"):
        load_config(huge)


def test_an_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    _zendesk_file(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, {"zendesk": {"paht": "exports/tickets.json"}}))
    from extract.zendesk import SETTINGS

    allowed = ", ".join(sorted(SETTINGS.keys))
    one_of = "give one of " + ", ".join(f"{k}: true ({SETTINGS[k].doc})" if k == "simulate" else f"{k} ({SETTINGS[k].doc})"
                                        for k in ("path", "base_url", "simulate"))
    assert caught.value.problems == [
        f"{tmp_path / 'config.yml'}: sources.zendesk: unknown key 'paht' (did you mean 'path'? allowed: {allowed})",
        f"{tmp_path / 'config.yml'}: sources.zendesk: {one_of}",
    ]
    assert allowed.startswith("api_token_env, base_url, ") and "path" in allowed


def test_a_setting_declared_in_one_line_is_checked_defaulted_and_documented(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """One Setting line is the whole of an option: the config check, the default a run reads, the README row."""
    import dataclasses

    from extract.platforms import PLATFORMS
    from gladly_import import config_docs

    csv = PLATFORMS["csv"]
    added = opt.Setting("quote", opt.one_of(['"', "'"]), "the quote character", default='"')
    monkeypatch.setitem(PLATFORMS, "csv", dataclasses.replace(csv, settings=opt.Settings((*csv.settings, added))))
    (tmp_path / "items.csv").write_text("Customer Email\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, {"csv": {"path": "items.csv", "quote": "|"}}))
    assert caught.value.problems == [f"{tmp_path / 'config.yml'}: sources.csv.quote: must be one of \", ',"
                                     " got '|'"]
    config = load_config(write_config(tmp_path, {"csv": {"path": "items.csv"}}))
    assert config.sources["csv"].options == {"path": "items.csv", "source_name": "CSV", "encoding": None,
                                             "delimiter": None, "timestamp_format": None, "quote": '"'}
    assert "| `sources.csv.quote` | the quote character | one of \", ' | `\"` |" in config_docs.table()


def test_a_block_of_another_module_is_checked_with_its_declaration(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """gladly: is declared in gladly_import.push (its SETTINGS)."""
    import sys
    import types


    push = types.ModuleType("gladly_import.push")
    push.SETTINGS = opt.Settings((  # type: ignore[attr-defined]
        opt.Setting("base_url", opt.https_url("https://<org>.gladly.com"), "Gladly", required_unless="simulate"),
        opt.Setting("concurrency", int, "requests at once", default=8),
        opt.Setting("simulate", bool, "the demo", default=False)))
    monkeypatch.setitem(sys.modules, "gladly_import.push", push)
    _zendesk_file(tmp_path)
    sources = {"zendesk": {"path": "exports/tickets.json"}}
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, sources, gladly={"concurrency": True, "simulate": 1, "tokn": "x"}))
    path = tmp_path / "config.yml"
    assert caught.value.problems == [
        f"{path}: gladly: unknown key 'tokn' (allowed: base_url, concurrency, simulate)",
        f"{path}: gladly.base_url: required unless simulate: true (an https:// URL such as https://<org>.gladly.com)",
        f"{path}: gladly.concurrency: must be a whole number, got True",
        f"{path}: gladly.simulate: must be true or false, got 1",
    ]
    config = load_config(write_config(tmp_path, sources, gladly={"simulate": True, "concurrency": 4}))
    assert config.gladly == {"simulate": True, "concurrency": 4}
    monkeypatch.setitem(sys.modules, "gladly_import.push", None)
    with pytest.raises(ConfigError, match="gladly: this installation has no gladly_import.push"):
        load_config(write_config(tmp_path, sources, gladly={"simulate": True}))


def test_the_readme_lists_every_config_key_with_the_words_of_its_check() -> None:
    """README's key table is the declarations, as written: every key of every block, none more, each value's
    words (run `python -m gladly_import.config_docs --write` after changing a declaration)."""
    import html
    import re

    from gladly_import import config_docs
    from tests.python.conftest import PROJECT_DIR

    declared = {prefix + setting.key: setting.option.expected
                for prefix, settings in config_docs.blocks() for setting in settings}
    assert {"sources.kustomer.api_key_env", "gladly.token_env", "spark.master", "batch_size"} <= set(declared)
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    assert config_docs.with_table(readme) == readme, "README's table is out of date: python -m gladly_import.config_docs --write"
    table = readme.split(config_docs.BEGIN)[1].split(config_docs.END)[0]
    documented = {key: html.unescape(value)  # (<org> is written &lt;org&gt;: markdown would drop it as a tag)
                  for key, value in re.findall(r"^\| `([\w.]+)` \| .+? \| (.+?) \| .+ \|$", table, re.MULTILINE)}
    assert documented == declared
