"""Roll line numbers and bank references (compiled with mypyc: see ``ops/native.py``).

A roll numbers every line and gives it its reference at the bank; a million-line roll does it a
million times, which as interpreted Python was ~3,700 instructions a line under callgrind.
"""

from __future__ import annotations

from typing import Any


def bank_reference(county_code: str, month: str, group: str, line_no: int) -> str:
    """A roll line's reference at the bank, unique per roll: county, month, group letter, line."""
    return f"{county_code}{month.replace('-', '')}{group[0].upper()}{line_no:07d}"


def number_lines(
    lines: list[dict[str, Any]], first: int, county_code: str, month: str, group: str
) -> None:
    """Number ``lines`` from ``first`` and give each its bank reference, in place."""
    prefix = bank_reference(county_code, month, group, 0)[:-7]  # all but the line number
    line_no = first
    for line in lines:
        line["line_no"] = line_no
        line["reference"] = prefix + str(line_no).zfill(7)
        line_no += 1
