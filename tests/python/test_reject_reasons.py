"""Every reject reason the code can emit has its meaning and what to do, in one place that the README shows.

The reasons are found in the code itself: each ``reason=`` argument and ``"reason":`` key of the
Python under extract/ and gladly_import/, and each reason the SQL rules give (macros/, models/).
A reason computed at run time (not a literal) must be listed in COMPUTED with the values it can
take, so a new computed reason fails here until someone documents it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from gladly_import.reject_reasons import README_END, README_START, markdown_table, readme_block, reject_reasons, with_table
from tests.python.conftest import PROJECT_DIR

# (file, the reason's expression as written) -> the reasons it can be, and how we know
COMPUTED = {
    # _reject_ticket(rejected, ...) where rejected is "deleted_ticket" or "spam_ticket" (see its caller)
    ("extract/freshdesk.py", "reason"): {"deleted_ticket", "spam_ticket"},
    # a ticket set aside (Landing._set_aside): deleted, or the reason its comments lookup ended with (_ends_of_lookups)
    ("extract/zendesk_api.py", "reason"): {"deleted_ticket", "ticket_comments_not_found", "ticket_comments_unreadable",
                                           "ticket_without_comments"},
    # one per listing: for listing in ("tickets", "messages")
    ("extract/gorgias.py", "f'malformed_{listing[:-1]}'"): {"malformed_ticket", "malformed_message"},
    # set_aside(message, tickets): the reason of the first of SET_ASIDE that applies to the message
    ("extract/gorgias.py", "aside[0]"): {"deleted_message", "undelivered_message", "trashed_ticket", "spam_ticket"},
    # a page's reject as the stream layer recorded it ({"reason": "malformed_page", ...}), or that default
    ("extract/api/land.py", "as_text(reject.get('reason')) or 'malformed_page'"): {"malformed_page"},
    # SetAside.reason(record): a Gmail message that is not customer history (by its labels, or automated)
    ("extract/gmail/__init__.py", "reason"): {"spam", "trash", "excluded_label", "bounce", "auto_reply"},
    # what an archive reader refused (extract/readers/archives.Refused): each made in that module
    ("extract/readers/archives.py", "self.reason"): {"unreadable_file", "unexpected_file", "unsafe_zip_member",
                                                     "unsafe_archive"},
}


def _python_sources() -> list[Path]:
    return sorted(p for folder in ("extract", "gladly_import") for p in (PROJECT_DIR / folder).rglob("*.py"))


def _literals(value: ast.expr) -> set[str] | None:
    """The reasons an expression can be when every branch of it is a literal (`"a" if x else "b"`), else None."""
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return {value.value}
    if isinstance(value, ast.IfExp):
        body, orelse = _literals(value.body), _literals(value.orelse)
        return body | orelse if body is not None and orelse is not None else None
    return None


def emitted_in_python() -> tuple[dict[str, set[str]], dict[tuple[str, str], int]]:
    """({reason: files} of the literal reasons, {(file, expression): line} of the computed ones).

    A reason is the ``reason=`` of a ``….reject(…)`` call (PlatformOutput.reject, the one way a
    record is set aside), or under extract/ the ``"reason"`` of a dict (a page's reject, landed later).
    """
    literal: dict[str, set[str]] = {}
    computed: dict[tuple[str, str], int] = {}
    for path in _python_sources():
        name = path.relative_to(PROJECT_DIR).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            values = []
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "reject":
                values = [k.value for k in node.keywords if k.arg == "reason"]
            elif isinstance(node, ast.Dict) and name.startswith("extract/"):
                values = [v for k, v in zip(node.keys, node.values, strict=True)
                          if isinstance(k, ast.Constant) and k.value == "reason"]
            for value in values:
                found = _literals(value)
                if found is None:
                    computed[(name, ast.unparse(value))] = value.lineno
                for reason in found or ():
                    literal.setdefault(reason, set()).add(name)
    return literal, computed


def emitted_in_sql() -> set[str]:
    """The reasons of the SQL rules: the `then '<reason>'` of gladly_reject_reason(), and any literal `as reject_reason`."""
    rules = (PROJECT_DIR / "macros" / "gladly_rules.sql").read_text(encoding="utf-8")
    macro = re.search(r"{% macro gladly_reject_reason\(\) -%}(.*?){%- endmacro %}", rules, re.DOTALL).group(1)
    reasons = set(re.findall(r"then '([a-z_]+)'", macro))
    for path in sorted((PROJECT_DIR / "models").rglob("*.sql")):
        reasons |= set(re.findall(r"'([a-z_]+)'\s+as\s+reject_reason", path.read_text(encoding="utf-8")))
    return reasons


def test_the_scan_finds_what_the_code_is_known_to_emit() -> None:
    literal, computed = emitted_in_python()
    assert {"malformed_json", "unparseable_message", "csv_header_invalid", "unsafe_xml", "deleted_note",
            "unexpected_file", "malformed_page"} <= set(literal)
    assert "extract/zendesk.py" in literal["malformed_json"] and "gladly_import/extraction.py" in literal["unexpected_file"]
    assert emitted_in_sql() == {"invalid_id", "missing_email", "invalid_email", "empty_body", "missing_timestamp",
                                "unparseable_timestamp"}


def test_every_reason_the_code_can_emit_is_documented() -> None:
    literal, computed = emitted_in_python()
    unlisted = {where: line for where, line in computed.items() if where not in COMPUTED}
    assert unlisted == {}, "a reason computed at run time: list the values it can take in COMPUTED"
    assert set(COMPUTED) <= set(computed), "a COMPUTED entry the code no longer has"
    emitted = set(literal) | emitted_in_sql() | set().union(*COMPUTED.values())
    documented = set(reject_reasons())
    assert sorted(emitted - documented) == [], "add these to gladly_import/reject_reasons.yml"
    assert sorted(documented - emitted) == [], "documented but emitted nowhere"


def test_every_reason_says_where_what_and_what_to_do() -> None:
    for reason, entry in reject_reasons().items():
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", reason)
        assert all(entry[field].strip() for field in ("where", "meaning", "action")), reason


def test_the_readme_table_is_the_file() -> None:
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    assert readme.count(README_START) == 1 and readme.count(README_END) == 1
    assert readme_block(readme) == markdown_table(), "run: python -m gladly_import.reject_reasons"
    rows = markdown_table().splitlines()[2:]
    assert [re.match(r"\| `([a-z_]+)` \|", row).group(1) for row in rows] == list(reject_reasons())
    assert with_table(readme) == readme


def test_a_pipe_in_a_meaning_does_not_break_the_table(monkeypatch) -> None:
    import gladly_import.reject_reasons as module

    monkeypatch.setattr(module, "reject_reasons",
                        lambda: {"odd_reason": {"where": "CSV", "meaning": "a | in a cell", "action": "a\nline"}})
    row = module.markdown_table().splitlines()[2]
    assert row == "| `odd_reason` | CSV | a \\| in a cell | a line |"
