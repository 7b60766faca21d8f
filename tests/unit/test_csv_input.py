"""Every CSV file is read by one set of rules (domain/csv_input.py), whether the csv module reads it
or, for a file without quotes, a split on commas."""

from __future__ import annotations

import io

import pytest

from domain.csv_input import FIELD_LIMIT, csv_records, csv_table
from domain.errors import InvalidValue

PLAIN = "reference,amount_fen,booked_on\r\nR1,100,2024-03-01\r\n\r\n R2 ,-5,2024-03-02\r\nR3,7\r\n"


def read(text: str, *, plain: bool) -> tuple[list[str], list[tuple[int, list[str]]]]:
    header, rows = csv_table(io.StringIO(text, newline=""), plain=plain)
    return header, list(rows)


def test_the_split_on_commas_gives_the_csv_modules_rows() -> None:
    """Goal: the fast path is a faster way to the same rows and line numbers. Method: a quote-free
    file with a blank line, spaces and a short row, read both ways."""
    assert read(PLAIN, plain=True) == read(PLAIN, plain=False)
    assert read(PLAIN, plain=True)[1][1] == (4, [" R2 ", "-5", "2024-03-02"])


@pytest.mark.parametrize(
    ("text", "rule", "line"),
    [
        (f"a,b\r\nR1,{'x' * (FIELD_LIMIT + 1)}\r\n", "csv_format", 2),
        ("a,b\r\nR1,x\r\nR2,x,EXTRA\r\n", "csv_columns", 3),
        ("a,b,a\r\nR1,x,y\r\n", "csv_columns", 1),
        ("a,b\r\nR1,x\u2028y\r\n", "text_line_break", 2),
    ],
    ids=["field-past-the-limit", "more-cells-than-columns", "repeated-column", "line-separator"],
)
@pytest.mark.parametrize("plain", [True, False], ids=["split", "csv-module"])
def test_both_paths_refuse_the_same_files_naming_the_line(
    text: str, rule: str, line: int, plain: bool
) -> None:
    """Goal: no rule depends on how a file is split. Method: each problem read both ways; the
    refusal names the rule and the line."""
    with pytest.raises(InvalidValue) as refused:
        read(text, plain=plain)
    assert (refused.value.field, refused.value.rule) == ("file", rule)
    assert f"line {line}" in refused.value.detail


def test_a_roster_naming_a_column_twice_is_refused() -> None:
    """Goal: a header never has two columns of one name (which one would count?). Method: a
    roster header with ``name`` twice, read as records."""
    with pytest.raises(InvalidValue) as refused:
        csv_records(io.StringIO("name,id_number,name\r\n王一,1,王二\r\n"), ["name"], field="roster")
    assert (refused.value.field, refused.value.rule) == ("roster", "csv_columns")
