"""CSV files received (bank statements, bank results, rosters): rows with their line numbers.

Every file is read by the same rules, whichever way it is split: bad quoting, a field past
``FIELD_LIMIT`` characters (``csv_format``), a character the text rule refuses
(domain/text.py), a header naming a column twice, or a row with more cells than the header has
columns (``csv_columns``) is an ``InvalidValue`` naming the line, never an exception the caller
did not expect. Cells come back in NFC.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Iterator

from domain.errors import InvalidValue
from domain.text import clean_line, clean_row

FIELD_LIMIT = csv.field_size_limit()  # 131,072 characters, the csv module's default


def csv_rows(
    lines: Iterable[str],
    field: str = "file",
    *,
    plain: bool = False,
    width: list[int] | None = None,
) -> Iterator[tuple[int, list[str]]]:
    """(line number, cleaned cells) of each non-blank row; the line is the row's last line.
    ``plain``: the text has no quote character, so each line is split on commas in C (the same
    rows as the csv module gives, without its per-character state machine), with the same field limit. ``width``:
    one number, the most cells a row may have, which the caller may set while rows are read
    (``csv_table`` sets it from the header): checked here, not in another generator around
    this one, because a statement's million lines pass through."""
    most = [sys.maxsize] if width is None else width
    if plain:
        yield from _plain_rows(lines, field, most)
        return
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
        if len(row) > most[0]:
            raise _too_many_cells(field, reader.line_num, len(row), most[0])
        if row:
            yield reader.line_num, clean_row(row, reader.line_num, field)


def _plain_rows(
    lines: Iterable[str], field: str, most: list[int]
) -> Iterator[tuple[int, list[str]]]:
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if not line:
            continue
        cells = clean_line(line, number, field).split(",")
        if len(line) > FIELD_LIMIT and max(map(len, cells)) > FIELD_LIMIT:
            raise InvalidValue(
                f"{field} line {number}: field larger than field limit ({FIELD_LIMIT})",
                field=field,
                rule="csv_format",
            )
        if len(cells) > most[0]:
            raise _too_many_cells(field, number, len(cells), most[0])
        yield number, cells


def _too_many_cells(field: str, line: int, cells: int, columns: int) -> InvalidValue:
    return InvalidValue(
        f"{field} line {line}: {cells} cells for {columns} columns", field=field, rule="csv_columns"
    )


def csv_table(
    lines: Iterable[str], field: str = "file", *, plain: bool = False
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header (names stripped, each once) and (line number, cells) of each row after it;
    a row with more cells than the header has columns is refused naming its line."""
    width = [sys.maxsize]
    rows = csv_rows(lines, field, plain=plain, width=width)
    header = [name.strip() for name in next(rows, (0, []))[1]]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise InvalidValue(
            f"{field} line 1: columns {repeated} are named more than once",
            field=field,
            rule="csv_columns",
        )
    width[0] = len(header)
    return header, rows


def csv_records(
    lines: Iterable[str], required: Iterable[str], field: str = "file", rule: str = "csv_columns"
) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header and (line number, record by column name) of each row after it; a file
    without a required column is refused (``rule``), as is any file ``csv_table`` refuses."""
    header, rows = csv_table(lines, field)
    missing = set(required) - set(header)
    if missing:
        raise InvalidValue(f"the {field} lacks columns {sorted(missing)}", field=field, rule=rule)
    return header, ((line, dict(zip(header, row, strict=False))) for line, row in rows)
