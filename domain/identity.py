"""Resident identity numbers (GB 11643, ISO 7064 MOD 11-2) and bank accounts: validation, masking."""

from __future__ import annotations

import re

from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from domain.errors import InvalidValue

_ACCOUNT = re.compile(r"^\d{8,32}$")


def validate_id_number(value: str, field: str = "id_number") -> str:
    """Return the compact 18-character number or refuse it, naming the broken rule."""
    if not isinstance(value, str):
        raise InvalidValue(f"{field} must be a string", field=field, rule="id_number_format")
    try:
        return ric.validate(value)
    except ValidationError as error:
        rule = {
            "InvalidChecksum": "id_number_check_digit",
            "InvalidLength": "id_number_length",
            "InvalidFormat": "id_number_format",
            "InvalidComponent": "id_number_birth_data",
        }.get(type(error).__name__, "id_number_invalid")
        raise InvalidValue(
            f"{field} is not a valid resident identity number ({error})", field=field, rule=rule
        ) from None


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
