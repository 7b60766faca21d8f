"""Months (YYYY-MM) and ISO dates as they appear in events and requests."""

from __future__ import annotations

import re
from datetime import date

from domain.errors import InvalidValue

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def validate_month(value: str, field: str = "month") -> str:
    match = _MONTH.match(value) if isinstance(value, str) else None
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1950:
        raise InvalidValue(
            f"{field} must be a month YYYY-MM with month 01–12", field=field, rule="month_format"
        )
    return value


def validate_date(value: str, field: str = "effective_date") -> str:
    try:
        return date.fromisoformat(value).isoformat() if len(value) == 10 else _bad_date(field)
    except (TypeError, ValueError):
        return _bad_date(field)


def _bad_date(field: str) -> str:
    raise InvalidValue(f"{field} must be an ISO date YYYY-MM-DD", field=field, rule="date_format")


def month_of(iso_date: str) -> str:
    return iso_date[:7]


def first_day(month: str) -> str:
    return f"{month}-01"


def add_months(month: str, count: int) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    index = year * 12 + (mon - 1) + count
    return f"{index // 12:04d}-{index % 12 + 1:02d}"
