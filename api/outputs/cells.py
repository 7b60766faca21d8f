"""XLSX workbooks whose cells stay inert: every text a string cell, never a formula, number or
link, and a formula-like text quote-prefixed (``domain.cells`` says why)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from domain.cells import formula_like


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
