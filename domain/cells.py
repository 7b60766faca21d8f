"""The cells of every spreadsheet and CSV file doudi writes, made inert (CSV/formula injection).

A spreadsheet runs a cell whose text begins with ``= + - @``, a tab or a carriage return as a
formula, so a name such as ``=HYPERLINK(…)`` recorded in a case would run on an officer's
machine. Every export writes its cells through this module (CSV) or through
``api.outputs.cells`` (XLSX), which uses ``formula_like``:

- XLSX: every text is a string cell (never a formula, number or link), and a text beginning
  with one of those characters also carries the quote prefix (Excel's own "this is text" mark),
  so editing the cell keeps it text. The text itself is unchanged.
- CSV: a text beginning with one of those characters gets a leading ``'`` (OWASP's advice);
  a number, or a text that is only a signed decimal number (``-12.30``), is data and stays as
  it is. No real person's or payee's name begins with these characters, so in the bank file
  only a hostile or mistyped name is changed: the bank's name check fails that line and it
  comes back failed, to be corrected and paid again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_DECIMAL = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")  # ASCII digits: a number as data, as written


def formula_like(text: str) -> bool:
    """Whether a spreadsheet would read this text as the start of a formula (leading spaces
    are skipped: some spreadsheets skip them too)."""
    start = text.lstrip(" ")
    return start.startswith(FORMULA_STARTS) and _DECIMAL.fullmatch(start) is None


def csv_cell(value: Any) -> Any:
    """A CSV cell: formula-like text gets a leading ``'``; anything else is written as it is."""
    if isinstance(value, str) and formula_like(value):
        return "'" + value
    return value


def csv_row(values: Iterable[Any]) -> list[Any]:
    return [csv_cell(value) for value in values]
