"""The README's table of every config key, written from the declarations (``extract.options.Setting``).

    python -m gladly_import.config_docs            print the table
    python -m gladly_import.config_docs --write    write it into README.md (between its markers)

Nothing about a key is written by hand in the README: a key added to a declaration is one line
there, and this writes the table again (a test fails while the README is out of date).
"""

from __future__ import annotations

import argparse
import html
from collections.abc import Iterator
from pathlib import Path

from extract.options import Settings
from extract.platforms import PLATFORMS
from gladly_import.config import BLOCK_MODULES, REDACT, SPARK, TOP_LEVEL, _block_module

BEGIN = "<!-- config keys: written by `python -m gladly_import.config_docs --write` from the declarations -->"
END = "<!-- end of config keys -->"


def blocks() -> Iterator[tuple[str, Settings]]:
    """Every block of the config, with the prefix its keys have: top level, spark, redact, each platform, gladly."""
    yield "", TOP_LEVEL
    yield "spark.", SPARK
    yield "redact.", REDACT
    for name, declared in PLATFORMS.items():
        yield f"sources.{name}.", declared.settings
    for name in BLOCK_MODULES:
        module = _block_module(name)
        if module is not None:
            yield f"{name}.", module.SETTINGS


def _cell(text: str) -> str:
    # <org> would vanish as a tag in markdown; a | would end the cell
    return html.escape(text, quote=False).replace("|", "\\|")


def table() -> str:
    lines = ["| key | what it is | value | default |", "|---|---|---|---|"]
    for prefix, settings in blocks():
        for setting in settings:
            lines.append(f"| `{prefix}{setting.key}` | {_cell(setting.doc)} | {_cell(setting.option.expected)}"
                         f" | {setting.shown_default()} |")
    return "\n".join(lines) + "\n"


def with_table(readme: str) -> str:
    """The README with its table written anew between the markers."""
    head, found, rest = readme.partition(BEGIN)
    if not found or END not in rest:
        raise SystemExit(f"README.md has no '{BEGIN}' ... '{END}' block")
    return head + BEGIN + "\n" + table() + END + rest.split(END, 1)[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gladly_import.config_docs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="write the table into README.md")
    parser.add_argument("--readme", type=Path, default=Path(__file__).resolve().parent.parent / "README.md")
    args = parser.parse_args(argv)
    if not args.write:
        print(table(), end="")
        return 0
    text = args.readme.read_text(encoding="utf-8")
    updated = with_table(text)
    if updated != text:
        args.readme.write_text(updated, encoding="utf-8")
        print(f"wrote the config-key table into {args.readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
