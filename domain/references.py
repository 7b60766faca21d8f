"""Bank references of roll lines (compiled with mypyc: see ``ops/native.py``).

A roll gives every line its reference at the bank; a million-line roll does it a million times,
which as interpreted Python was ~3,700 instructions a line under callgrind (with the numbering).
"""

from __future__ import annotations


def bank_reference(county_code: str, month: str, group: str, line_no: int) -> str:
    """A roll line's reference at the bank, unique per roll: county, month, group letter, line."""
    return f"{reference_prefix(county_code, month, group)}{line_no:07d}"


def reference_prefix(county_code: str, month: str, group: str) -> str:
    """What every line reference of a roll starts with (the line number, in at least seven
    digits, follows)."""
    return f"{county_code}{month.replace('-', '')}{group[0].upper()}"
