"""Resident identity numbers (GB 11643, ISO 7064 MOD 11-2) and bank accounts: validation, masking."""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from domain.errors import InvalidValue

_ACCOUNT = re.compile(r"^\d{8,32}$")


@lru_cache(maxsize=65_536)
def _birth_place_known(code6: str, year: str) -> bool:
    """Whether the region existed in the birth year (stdnum's table lookup is slow; cache it)."""
    try:
        ric.get_birth_place(f"{code6}{year}0101000X")
    except ValidationError:
        return False
    return True


def validate_id_number(value: str, field: str = "id_number") -> str:
    """Return the compact 18-character number or refuse it, naming the broken rule.

    The same checks as ``stdnum.cn.ric.validate`` (length, format, ISO 7064 check digit, birth
    date, birth-registration region), with the region lookup cached for bulk imports.
    """
    number = value.replace(" ", "").upper() if isinstance(value, str) else ""
    if len(number) != 18:
        raise _refused(field, "id_number_length", "must be 18 characters")
    if not (number[:17].isdigit() and (number[17].isdigit() or number[17] == "X")):
        raise _refused(field, "id_number_format", "must be 17 digits and a digit or X")
    if ric.calc_check_digit(number) != number[17]:
        raise _refused(field, "id_number_check_digit", "has a wrong check digit (GB 11643)")
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise _refused(field, "id_number_birth_data", "has an impossible birth date") from None
    if not _birth_place_known(number[:6], number[6:10]):
        raise _refused(field, "id_number_birth_data", "names a region unknown in its birth year")
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
    if not _ACCOUNT.match(compact):
        raise InvalidValue(f"{field} must be 8 to 32 digits", field=field, rule="account_format")
    return compact


def mask_account(value: str) -> str:
    """Keep the last 4 digits of a bank account: ************1234."""
    return "*" * max(len(value) - 4, 0) + value[-4:]


def mask_name(name: str) -> str:
    """Public-disclosure masking (公示): keep the family name, mask the rest: 张*明 → 张**."""
    return name[:1] + "*" * max(len(name) - 1, 1)
