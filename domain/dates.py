"""Months (YYYY-MM) and ISO dates as they appear in events and requests.

Every date and month doudi accepts lies in 1990-01-01 … 2100-12-31: older than the programmes
it pays, or later than any plan, a date is a typing error (year 1, year 9999), and refusing it
keeps every stored date within what both databases, spreadsheets and bank files represent.
"""

from __future__ import annotations

import re
from datetime import date

from domain.errors import InvalidValue

FIRST_DATE = date(1990, 1, 1)
LAST_DATE = date(2100, 12, 31)
FIRST_YEAR, LAST_YEAR = FIRST_DATE.year, LAST_DATE.year
DATE_RANGE = f"{FIRST_DATE.isoformat()} … {LAST_DATE.isoformat()}"
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def validate_month(value: str, field: str = "month") -> str:
    match = _MONTH.fullmatch(value) if isinstance(value, str) else None
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise InvalidValue(
            f"{field} must be a month YYYY-MM with month 01–12", field=field, rule="month_format"
        )
    if not FIRST_YEAR <= int(match.group(1)) <= LAST_YEAR:
        raise InvalidValue(
            f"{field} must lie in {FIRST_YEAR}-01 … {LAST_YEAR}-12", field=field, rule="month_range"
        )
    return value


def validate_date(value: str, field: str = "effective_date") -> str:
    """An ISO date YYYY-MM-DD (ASCII digits only) within the accepted range."""
    try:
        day = date.fromisoformat(value) if _DATE.fullmatch(value) else None
    except (TypeError, ValueError):
        day = None
    if day is None:
        raise InvalidValue(
            f"{field} must be an ISO date YYYY-MM-DD", field=field, rule="date_format"
        )
    if not FIRST_DATE <= day <= LAST_DATE:
        raise InvalidValue(f"{field} must lie in {DATE_RANGE}", field=field, rule="date_range")
    return day.isoformat()


def month_of(iso_date: str) -> str:
    return iso_date[:7]


def first_day(month: str) -> str:
    return f"{month}-01"


def add_months(month: str, count: int) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    index = year * 12 + (mon - 1) + count
    return f"{index // 12:04d}-{index % 12 + 1:02d}"
