"""Bank references of roll lines: county, month, group letter and line number."""

from __future__ import annotations


def bank_reference(county_code: str, month: str, group: str, line_no: int) -> str:
    """A roll line's reference at the bank, unique per roll: county, month, group letter, line."""
    return f"{reference_prefix(county_code, month, group)}{line_no:07d}"


def reference_prefix(county_code: str, month: str, group: str) -> str:
    """What every line reference of a roll starts with (the line number, in at least seven
    digits, follows)."""
    return f"{county_code}{month.replace('-', '')}{group[0].upper()}"
