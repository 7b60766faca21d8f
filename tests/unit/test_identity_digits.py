"""Identity numbers and accounts take ASCII digits only; a region code is refused only if it
never existed (domain/identity.py, issue #23 item 5)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from stdnum.cn import ric

from domain.errors import InvalidValue
from domain.identity import validate_account, validate_id_number
from tests.factories import id_number


def with_x() -> str:
    return next(id_number(sequence=n) for n in range(1, 200) if id_number(sequence=n)[-1] == "X")


def refused_rule(value: str, check: object = validate_id_number) -> str:
    with pytest.raises(InvalidValue) as refused:
        check(value)  # type: ignore[operator]
    return refused.value.rule


def test_other_scripts_digits_are_refused() -> None:
    """Goal: one person, one key. Method: the same valid number in full-width digits,
    Arabic-Indic and Devanagari digits, and with a full-width X, is refused as a format error
    (``isdigit()`` and ``\\d`` accepted them all)."""
    number = with_x()
    for zero in (0xFF10, 0x0660, 0x06F0, 0x0966):
        variant = "".join(chr(zero + int(c)) if c.isdigit() else c for c in number)
        assert refused_rule(variant) == "id_number_format"
    assert refused_rule(number[:-1] + "\uff38") == "id_number_format"


def test_lower_case_x_and_spaces_are_read_as_the_same_number() -> None:
    """Goal: harmless variants give the same compact number (hence the same person key)."""
    number = with_x()
    assert validate_id_number(number[:-1] + "x") == number
    assert validate_id_number(f"{number[:6]} {number[6:14]} {number[14:]}") == number
    for other_space in ("\u3000", "\u00a0", "\t"):
        assert refused_rule(number[:6] + other_space + number[6:]) in (
            "id_number_length",
            "id_number_format",
        )


def test_a_region_code_created_after_the_birth_year_is_accepted() -> None:
    """Goal: a number keeps the code of the place that issued it. 420582 (当阳市) dates from
    1992 and 130111 (栾城区) from 2014: adults born before are accepted, as is a code since
    abolished (320621 海安县, 1983–2018) for someone born in 2020."""
    for region, birth in (("420582", "19600101"), ("130111", "19701231"), ("320621", "20200101")):
        body = f"{region}{birth}001"
        number = body + ric.calc_check_digit(body + "0")
        assert validate_id_number(number) == number


def test_an_unknown_region_code_is_refused() -> None:
    """Goal: a code never in the table (any period) is refused, naming the rule."""
    for region in ("999999", "420599", "000000"):
        body = f"{region}19800101001"
        assert refused_rule(body + ric.calc_check_digit(body + "0")) == "id_number_region"


def test_bank_accounts_take_ascii_digits_only() -> None:
    """Goal: an account has one spelling. Method: full-width and Arabic-Indic accounts refused,
    a trailing newline refused (``$`` matched before it), spaces dropped."""
    assert validate_account("6222 0202 0011 2233") == "6222020200112233"
    for bad in ("６２２２０２０２００１１", "٦٢٢٢٠٢٠٢٠٠١١", "62220202001122\n"):
        assert refused_rule(bad, validate_account) == "account_format"


def test_a_birth_date_lies_between_1900_and_the_decision_or_today() -> None:
    """Goal: no impossible person. Method: numbers born 1899-12-31, tomorrow and after the date
    a decision is about are refused as `id_number_birth_data`; 1900-01-01, today and the
    decision's own day are accepted."""
    today = datetime.now(UTC).date()

    def born(day: date) -> str:
        return id_number(birth=day.strftime("%Y%m%d"), sequence=5)

    assert refused_rule(born(date(1899, 12, 31))) == "id_number_birth_data"
    assert refused_rule(born(today + timedelta(days=1))) == "id_number_birth_data"
    assert validate_id_number(born(date(1900, 1, 1))) == born(date(1900, 1, 1))
    assert validate_id_number(born(today)) == born(today)
    decided = date(2024, 1, 5)
    with pytest.raises(InvalidValue) as refused:
        validate_id_number(born(decided + timedelta(days=1)), born_by=decided.isoformat())
    assert refused.value.rule == "id_number_birth_data"
    assert validate_id_number(born(decided), born_by=decided.isoformat()) == born(decided)
