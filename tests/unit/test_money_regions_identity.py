"""Money rounding, region codes and identity numbers: the small rules everything else relies on."""

from __future__ import annotations

from pathlib import Path

import pytest
from stdnum import numdb

from domain.dates import add_months, validate_month
from domain.errors import InvalidValue
from domain.identity import mask_account, mask_id_number, mask_name, validate_id_number
from domain.money import (
    MAX_FEN,
    RoundingMode,
    RoundingUnit,
    divide_rounded,
    format_yuan,
    require_fen,
)
from domain.regions import (
    REGION_TABLE,
    _known,
    in_scope,
    load_region_table,
    policy_lookup_chain,
    scope_prefix,
    validate_region_code,
)
from tests.factories import id_number


def test_annual_standard_divided_by_twelve_under_each_rule() -> None:
    """Rural 5,280 yuan a year is exactly 440 yuan a month; 6,001 yuan shows each rounding rule."""
    assert divide_rounded(528_000, 12, RoundingUnit.FEN, RoundingMode.HALF_UP) == 44_000
    # 600,100 fen / 12 = 50,008.33… fen
    assert divide_rounded(600_100, 12, RoundingUnit.FEN, RoundingMode.HALF_UP) == 50_008
    assert divide_rounded(600_100, 12, RoundingUnit.FEN, RoundingMode.UP) == 50_009
    assert divide_rounded(600_100, 12, RoundingUnit.YUAN, RoundingMode.HALF_UP) == 50_000
    assert divide_rounded(600_100, 12, RoundingUnit.YUAN, RoundingMode.UP) == 50_100
    # exactly half a yuan rounds up under half-up: 150 fen / 1 → 1.50 yuan → 2 yuan
    assert divide_rounded(150, 1, RoundingUnit.YUAN, RoundingMode.HALF_UP) == 200
    assert divide_rounded(149, 1, RoundingUnit.YUAN, RoundingMode.HALF_UP) == 100


def test_fen_must_be_whole_and_not_negative() -> None:
    assert require_fen(0, "x") == 0
    assert require_fen(MAX_FEN, "x") == MAX_FEN
    for bad in (-1, 1.5, "100", True, MAX_FEN + 1, 2**64):
        with pytest.raises(InvalidValue) as caught:
            require_fen(bad, "amount_fen")
        assert caught.value.field == "amount_fen"
    with pytest.raises(InvalidValue):
        require_fen(0, "amount_fen", allow_zero=False)
    assert format_yuan(67_000) == "670.00" and format_yuan(-5) == "-0.05"


def test_a_process_started_with_services_reads_the_region_table_once_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Services`` parses the region table as it starts; the first code checked afterwards (a
    roll's county, a request's region) reads no file and parses nothing."""
    from ops.services.core import Services
    from tests.conftest import make_settings

    loaded: list[bool] = []
    monkeypatch.setattr("ops.services.core.load_region_table", lambda: loaded.append(True))
    Services(make_settings(f"sqlite:///{tmp_path}/doudi.sqlite3")).close()
    assert loaded == [True]

    # As in a new process: stdnum has parsed nothing yet (its own cache, put back after).
    monkeypatch.delitem(numdb._open_databases, REGION_TABLE, raising=False)
    load_region_table()
    _known.cache_clear()

    def parsing(*_args: object) -> None:
        raise AssertionError("the region table was parsed again")

    monkeypatch.setattr(numdb, "read", parsing)
    assert validate_region_code("420502") == "420502"


def test_region_codes_and_scopes() -> None:
    """Known codes pass; unknown or abolished ones are refused; scopes are prefixes."""
    assert validate_region_code("420582") == "420582"
    assert validate_region_code("420582101000") == "420582101000"
    for bad in ("429999", "42058", "abcdef", "420582-1"):
        with pytest.raises(InvalidValue):
            validate_region_code(bad)
    assert policy_lookup_chain("420582101000") == ["420582", "420500", "420000"]
    assert (
        scope_prefix("420000") == "42"
        and scope_prefix("420500") == "4205"
        and scope_prefix("000000") == ""
    )
    assert in_scope("420500", "420582101000") and not in_scope("420581", "420582101000")


def test_identity_numbers_are_checked_and_masked() -> None:
    good = id_number()
    assert validate_id_number(good) == good
    wrong_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    with pytest.raises(InvalidValue) as caught:
        validate_id_number(wrong_check)
    assert caught.value.rule == "id_number_check_digit"
    assert mask_id_number("11010519491231002X") == "110105********002X"
    assert mask_account("6222020200112233") == "************2233"
    assert mask_name("王小明") == "王**"


def test_months() -> None:
    assert validate_month("2024-04") == "2024-04"
    for bad in ("2023-13", "2023-00", "2023-4", "23-04"):
        with pytest.raises(InvalidValue):
            validate_month(bad)
    assert add_months("2024-11", 3) == "2025-02"
