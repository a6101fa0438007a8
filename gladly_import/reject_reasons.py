"""The reject reasons' meaning and what to do, from one file (reject_reasons.yml) for the README and the report.

The README's table is written from it (``python -m gladly_import.reject_reasons`` rewrites the
block between README_START and README_END; a test checks the two agree), and the report shows the
same words next to each reason's counts. A reason the file does not know (a newer extractor's) is
shown as such, never dropped.
"""

from __future__ import annotations

import re
import sys
from functools import cache
from pathlib import Path

import yaml

REASONS_FILE = Path(__file__).with_name("reject_reasons.yml")
README_START = "<!-- reject reasons: made from gladly_import/reject_reasons.yml by `python -m gladly_import.reject_reasons` -->"
README_END = "<!-- end of reject reasons -->"
FIELDS = ("where", "meaning", "action")


@cache
def reject_reasons() -> dict[str, dict[str, str]]:
    """{reason: {where, meaning, action}}, in the file's order."""
    data = yaml.safe_load(REASONS_FILE.read_text(encoding="utf-8"))
    return {reason: {field: str(entry[field]) for field in FIELDS} for reason, entry in data.items()}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table() -> str:
    """The README's table: reason, where it comes from, meaning, what to do."""
    lines = ["| reason | from | meaning | what to do |", "|---|---|---|---|"]
    lines += [f"| `{reason}` | {_cell(e['where'])} | {_cell(e['meaning'])} | {_cell(e['action'])} |"
              for reason, e in reject_reasons().items()]
    return "\n".join(lines)


def readme_block(readme: str) -> str | None:
    """The table as it stands in the README (between the markers), or None without them."""
    found = re.search(re.escape(README_START) + r"\n(.*?)" + re.escape(README_END), readme, re.DOTALL)
    return found.group(1).removesuffix("\n") if found else None


def with_table(readme: str) -> str:
    """The README with its reject-reasons block made from the file."""
    if readme_block(readme) is None:
        raise ValueError(f"the README has no block between {README_START!r} and {README_END!r}")
    return re.sub(re.escape(README_START) + r"\n.*?" + re.escape(README_END),
                  lambda _: f"{README_START}\n{markdown_table()}\n{README_END}", readme, count=1, flags=re.DOTALL)


def main(argv: list[str] | None = None) -> int:
    """Rewrite the README's table (the path given, else the checkout's README.md)."""
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else Path(__file__).resolve().parents[1] / "README.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(with_table(text), encoding="utf-8")
    print(f"wrote the reject reasons' table of {path} ({len(reject_reasons())} reasons)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
