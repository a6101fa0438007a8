"""Cells of files meant for people (the rejects CSV) that a spreadsheet must not run as formulas.

OWASP's CSV-injection rule: a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return can be read as a formula by Excel, LibreOffice or Google Sheets; a leading apostrophe makes
it text (the spreadsheet shows the value without it). Defensively, beyond that list, the rule also
applies when such a character follows leading spaces or line breaks, to a leading NUL (OWASP ASVS
names it), and to the full-width forms (``＝ ＋ － ＠``) that some spreadsheets accept for them.
The Gladly CSVs are not for spreadsheets and stay faithful to the data: never use this there.
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = frozenset("=+-@\t\r\0\uff1d\uff0b\uff0d\uff20")
_LEADING_BLANKS = " \t\r\n"


def neutralise(value: Any) -> Any:
    """``value`` with an apostrophe in front when a spreadsheet would read it as a formula."""
    if not isinstance(value, str) or not value:
        return value
    if value[0] in FORMULA_STARTS or value.lstrip(_LEADING_BLANKS)[:1] in FORMULA_STARTS:
        return "'" + value
    return value


def neutralise_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(neutralise(v) for v in row)
