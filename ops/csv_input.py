"""CSV files received (bank statements, bank results, rosters): rows with their line numbers.

Every problem of the file itself — bad quoting, a field past the csv module's size limit, a
character the text rule refuses (domain/text.py), wrong columns — is an ``InvalidValue``
naming the line, never an exception the caller did not expect. Cells come back in NFC.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from domain.errors import InvalidValue
from domain.text import clean_row


def csv_rows(lines: Iterable[str], field: str = "file") -> Iterator[tuple[int, list[str]]]:
    """(line number, cleaned cells) of each non-blank row; the line is the row's last line."""
    reader = csv.reader(lines, strict=True)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise InvalidValue(
                f"{field} line {reader.line_num}: {error}", field=field, rule="csv_format"
            ) from None
        if row:
            yield reader.line_num, clean_row(row, reader.line_num, field)


def csv_records(
    lines: Iterable[str], required: Iterable[str], field: str = "file", rule: str = "csv_columns"
) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header and (line number, record by column name) of each row after it; a file
    without a required column, or a row with more cells than the header, is refused."""
    rows = csv_rows(lines, field)
    header = [name.strip() for name in next(rows, (0, []))[1]]
    missing = set(required) - set(header)
    if missing:
        raise InvalidValue(f"the {field} lacks columns {sorted(missing)}", field=field, rule=rule)

    def records() -> Iterator[tuple[int, dict[str, str]]]:
        for line, row in rows:
            if len(row) > len(header):
                raise InvalidValue(
                    f"{field} line {line}: {len(row)} cells for {len(header)} columns",
                    field=field,
                    rule="csv_columns",
                )
            yield line, dict(zip(header, row, strict=False))

    return header, records()
