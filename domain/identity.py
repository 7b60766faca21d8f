"""Resident identity numbers (GB 11643, ISO 7064 MOD 11-2) and bank accounts: validation, masking."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import lru_cache

from stdnum import numdb
from stdnum.cn import ric

from domain.errors import InvalidValue

# ASCII digits only: ``str.isdigit()`` and ``\d`` also take full-width (０-９) and
# Arabic-Indic digits, which would give one person or account a second spelling.
_ID_NUMBER = re.compile(r"[0-9]{17}[0-9X]")
_ACCOUNT = re.compile(r"[0-9]{8,32}")
# No one alive or paid was born before this day; an earlier year in a number is a typing error.
FIRST_BIRTH_DATE = date(1900, 1, 1)


@lru_cache(maxsize=65_536)
def _issuing_region_known(code6: str) -> bool:
    """Whether the code was ever a division code (stdnum's ``cn/loc``, with its historical codes).

    A number keeps the code of the place that issued it, which may have been created years
    after the holder's birth (a county formed in 1992 issues numbers to people born in 1960),
    so the code is not checked against the birth year: only a code never in the table is.
    """
    info = {k: v for _part, props in numdb.get("cn/loc").info(code6) for k, v in props.items()}
    return "county" in info


def validate_id_number(value: str, field: str = "id_number", born_by: str | None = None) -> str:
    """Return the compact 18-character number or refuse it, naming the broken rule.

    Spaces are dropped and a lower-case ``x`` is read as ``X``; anything else but ASCII digits
    is refused. Then the checks of ``stdnum.cn.ric.validate`` (ISO 7064 check digit, birth
    date, region), except that the region must be known, not known in the birth year. The birth
    date must be a calendar date from 1900-01-01 up to today (UTC) and, when the number is part
    of a decision, up to ``born_by``, its effective date: no one is decided on before birth.
    """
    number = value.replace(" ", "") if isinstance(value, str) else ""
    if len(number) != 18:
        raise _refused(field, "id_number_length", "must be 18 characters")
    number = number[:17] + ("X" if number[17] == "x" else number[17])
    if not _ID_NUMBER.fullmatch(number):
        raise _refused(field, "id_number_format", "must be 17 ASCII digits and a digit or X")
    if ric.calc_check_digit(number) != number[17]:
        raise _refused(field, "id_number_check_digit", "has a wrong check digit (GB 11643)")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise _refused(field, "id_number_birth_data", "has an impossible birth date") from None
    latest = datetime.now(UTC).date()
    if born_by is not None:
        latest = min(latest, date.fromisoformat(born_by))
    if not FIRST_BIRTH_DATE <= born <= latest:
        why = f"has a birth date outside {FIRST_BIRTH_DATE.isoformat()} … {latest.isoformat()}"
        raise _refused(field, "id_number_birth_data", why)
    if not _issuing_region_known(number[:6]):
        raise _refused(field, "id_number_region", "names a region code that never existed")
    return number


def _refused(field: str, rule: str, why: str) -> InvalidValue:
    return InvalidValue(
        f"{field} is not a valid resident identity number: it {why}", field=field, rule=rule
    )


def mask_id_number(value: str) -> str:
    """Keep the region (6) and the last 4 characters: 110105********002X."""
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def validate_account(value: str, field: str = "account_number") -> str:
    compact = value.replace(" ", "") if isinstance(value, str) else ""
    if not _ACCOUNT.fullmatch(compact):
        raise InvalidValue(f"{field} must be 8 to 32 digits", field=field, rule="account_format")
    return compact


def mask_account(value: str) -> str:
    """Keep the last 4 digits of a bank account: ************1234."""
    return "*" * max(len(value) - 4, 0) + value[-4:]


def mask_name(name: str) -> str:
    """Public-disclosure masking (公示): keep the family name, mask the rest: 张*明 → 张**."""
    return name[:1] + "*" * max(len(name) - 1, 1)
