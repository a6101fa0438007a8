"""The layers: extract/ below gladly_import/, and what a platform declares is what the rest reads."""

from __future__ import annotations

import ast
from pathlib import Path

from extract.context import SourceContext
from extract.kustomer import Kustomer
from extract.platforms import PLATFORMS
from tests.python.conftest import PROJECT_DIR


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_module_in_extract_imports_gladly_import() -> None:
    upward = {str(path.relative_to(PROJECT_DIR)): sorted(n for n in _imports(path) if n.split(".")[0] == "gladly_import")
              for path in (PROJECT_DIR / "extract").rglob("*.py")}
    assert {path: names for path, names in upward.items() if names} == {}


def test_every_platform_is_a_declaration_with_its_tables_and_settings() -> None:
    for name, declared in PLATFORMS.items():
        assert declared.name == name
        assert set(declared.record_tables) <= set(declared.schemas), name
        assert declared.reads in ("files", "api", "either")
        assert bool(declared.settings.path_keys) == declared.can_read_files, name  # files come from path settings
        assert declared.can_read_files == bool(declared.file_suffixes), name
        assert declared.can_read_api == (declared.check is not None), name  # an API platform declares its preflight
        given_a_path = {key: "export.json" for key in declared.settings.path_keys}
        assert declared.reads_files_with(given_a_path) == declared.can_read_files, name
        assert declared.reads_files_with({}) == (declared.reads == "files"), name  # "either" without a path: its API
        for setting in declared.settings.secrets:
            assert setting.key.endswith("_env") and setting.default.isupper(), (name, setting.key)


def test_a_state_belongs_to_what_the_readings_declare_not_to_their_labels(tmp_path: Path) -> None:
    ctx = SourceContext(platform="kustomer", options={"base_url": "https://acme.api.kustomerapp.com"},
                        base_dir=tmp_path)
    source = Kustomer(ctx)
    identity = source.identity("https://acme.api.kustomerapp.com")
    assert identity.startswith("https://acme.api.kustomerapp.com | ")
    for reading in source.readings():
        assert reading.name in identity and reading.spool in identity
    assert source.identity("https://other.api.kustomerapp.com") != identity

    class Relabelled(Kustomer):
        def readings(self):  # type: ignore[no-untyped-def]
            readings = super().readings()
            for reading in readings:
                reading.paginator.label = "POST a reworded label"  # type: ignore[attr-defined]
            return readings

    class FewerReadings(Kustomer):
        def readings(self):  # type: ignore[no-untyped-def]
            return super().readings()[:1]

    assert Relabelled(ctx).identity("https://acme.api.kustomerapp.com") == identity
    assert FewerReadings(ctx).identity("https://acme.api.kustomerapp.com") != identity
