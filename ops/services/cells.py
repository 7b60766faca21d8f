"""The cells of every spreadsheet and CSV file doudi writes, made inert (CSV/formula injection).

A spreadsheet runs a cell whose text begins with ``= + - @``, a tab or a carriage return as a
formula, so a name such as ``=HYPERLINK(…)`` recorded in a case would run on an officer's
machine. Every export writes its cells through this module:

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
from collections.abc import Iterable, Sequence
from typing import IO, Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

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


class Sheet:
    """A worksheet that writes text as text: numbers as numbers, everything else as a string."""

    def __init__(self, sheet: Worksheet, quoted: Format) -> None:
        self._sheet = sheet
        self._quoted = quoted

    def write(self, row: int, column: int, value: Any, cell_format: Format | None = None) -> None:
        if isinstance(value, int | float) and not isinstance(value, bool):
            self._sheet.write_number(row, column, value, cell_format)
            return
        text = "" if value is None else str(value)
        if formula_like(text):
            cell_format = self._quoted
        self._sheet.write_string(row, column, text, cell_format)

    def write_row(
        self, row: int, column: int, values: Sequence[Any], cell_format: Format | None = None
    ) -> None:
        for offset, value in enumerate(values):
            self.write(row, column + offset, value, cell_format)

    def write_number(
        self, row: int, column: int, number: float, cell_format: Format | None = None
    ) -> None:
        self._sheet.write_number(row, column, number, cell_format)


class Workbook:
    """An xlsxwriter workbook that never turns a text into a formula, a number or a link."""

    def __init__(self, out: IO[bytes], **options: Any) -> None:
        self._book = xlsxwriter.Workbook(
            out,
            {
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
                **options,
            },
        )
        self._quoted = self._book.add_format({"quote_prefix": True})

    def add_format(self, properties: dict[str, Any]) -> Format:
        return self._book.add_format(properties)

    def add_worksheet(self, name: str) -> Sheet:
        return Sheet(self._book.add_worksheet(name), self._quoted)

    def close(self) -> None:
        self._book.close()
