"""Administrative division codes (GB/T 2260) and township statistical codes.

A 6-digit code is 2 province + 2 city + 2 county digits; a 12-digit township or village code
starts with its county's 6 digits. Known codes come from python-stdnum's ``cn/loc`` table.
A credential's region scope is a prefix decided by the code's level: 2 digits (province), 4
(city), 6 (county), 9 (township), or empty for a national scope (``000000``).
"""

from __future__ import annotations

import re
from functools import lru_cache

from stdnum import numdb

from domain.errors import InvalidValue

_COUNTY = re.compile(r"^[0-9]{6}$")
_TOWNSHIP = re.compile(r"^[0-9]{9}([0-9]{3})?$")
NATIONAL = "000000"


# stdnum's region table (``cn/loc``), parsed on first use and kept by stdnum for the process.
REGION_TABLE = "cn/loc"


def load_region_table() -> None:
    """Parse the region table now rather than at the first code a request checks: a process
    that serves requests or generates rolls calls this as it starts (``Services``), so the
    parse and the objects it leaves for the cyclic collector are not paid for inside a roll."""
    numdb.get(REGION_TABLE)


@lru_cache(maxsize=8192)
def _known(code6: str) -> str | None:
    """Return the current name of a 6-digit code, or None if unknown or abolished."""
    info = {k: v for _part, props in numdb.get(REGION_TABLE).info(code6) for k, v in props.items()}
    if code6.endswith("0000"):
        return info.get("province")
    names = info.get("county")
    if not names:
        return None
    for name in names.split(","):
        if not name.startswith("["):
            return name
        period, label = name[1:].split("]", 1)
        if period.endswith("-"):
            return label
    return None


def validate_region_code(code: str, field: str = "region_code") -> str:
    """Accept a known 6-digit division code or a 9/12-digit township code under a known county."""
    if not isinstance(code, str) or not (_COUNTY.fullmatch(code) or _TOWNSHIP.fullmatch(code)):
        raise InvalidValue(
            f"{field} must be a 6-digit division code or a 9- or 12-digit township code",
            field=field,
            rule="region_code_format",
        )
    if _known(code[:6]) is None:
        raise InvalidValue(
            f"{field} {code[:6]} is not a current GB/T 2260 code", field=field, rule="known_region"
        )
    return code


def county_of(code: str) -> str:
    return code[:6]


def city_of(code: str) -> str:
    return code[:4] + "00"


def province_of(code: str) -> str:
    return code[:2] + "0000"


def policy_lookup_chain(code: str) -> list[str]:
    """The codes whose policy applies to ``code``, most specific first (county, city, province)."""
    chain = [county_of(code), city_of(code), province_of(code)]
    return list(dict.fromkeys(chain))


def region_prefix(code: str) -> str:
    """The digits that name a region at its own GB/T 2260 level — what every code inside it starts
    with: '420000' → '42' (province), '420500' → '4205' (city), '420582' → '420582' (county),
    '420582001' and '420582001000' → '420582001' (township), a village's 12 digits as they are,
    '000000' → '' (the nation). The level comes from the code's structure, never from trimming
    zeros: 130110 is a county, not the parent of 130111."""
    if code == NATIONAL:
        return ""
    if len(code) == 6:
        if code.endswith("0000"):
            return code[:2]
        return code[:4] if code.endswith("00") else code
    if len(code) == 12 and code.endswith("000"):
        return code[:9]
    return code


def scope_prefix(scope_code: str) -> str:
    """The prefix a scope code grants (see ``region_prefix``)."""
    return region_prefix(scope_code)


def in_scope(scope_code: str, region_code: str) -> bool:
    return region_code.startswith(scope_prefix(scope_code))


def is_ancestor_or_self(region_code: str, scope_code: str) -> bool:
    """Whether ``region_code`` is ``scope_code``'s own region or one it lies in (its county, city,
    province): a county reads the policy of its city and province, never of a sibling."""
    return scope_prefix(scope_code).startswith(region_prefix(region_code))


def current_county_level_codes() -> list[str]:
    """Every current 6-digit code of the region table (provinces, cities, counties)."""
    codes = [
        province + rest
        for _length, province, _high, _props, children in numdb.get(REGION_TABLE).prefixes
        for _length2, rest, _high2, _props2, _grand in children
    ]
    return [code for code in codes if _known(code) is not None]
