"""Worked examples of the entitlement engine, to the fen (SPEC §4–5; standards from the seeds).

Dangyang (当阳): urban dibao 670 yuan per person per month, rural 6,000 yuan a year (500 a month),
特困 at 2 × the dibao standard; Hanzhong care allowances 10 / 15 / 25 % of the minimum wage.
"""

from __future__ import annotations

import pytest

from domain.entitlement import (
    CareStandard,
    HouseholdBasis,
    Income,
    Rounding,
    Sourced,
    TekunBasis,
    counted_income_fen,
    gradual_exit_ended,
    gradual_exit_pays,
    household_entitlement,
    income_before_rise,
    tekun_entitlement,
)
from domain.errors import InvalidValue
from domain.money import RoundingMode, RoundingUnit

URBAN = Sourced(67_000, "policy:urban@5")
RURAL_MONTH = Sourced(50_000, "policy:rural@6")
FEN = Rounding()
YUAN = Rounding(RoundingUnit.YUAN, RoundingMode.HALF_UP, "policy:rounding@2")


def basis(
    income_fen: int, members: int = 3, covered: int | None = None, **income: int
) -> HouseholdBasis:
    return HouseholdBasis(
        method="top_up",
        household_members=members,
        covered_members=members if covered is None else covered,
        income=Income(income_fen, **income, source="check@2"),
        source="case@3",
    )


def test_top_up_household_of_three() -> None:
    """Income 900 yuan for 3 people: 300 per capita, gap 370 × 3 = 1,110.00 yuan."""
    result = household_entitlement(basis(90_000), URBAN, FEN)
    assert result.amount_fen == 111_000
    assert result.components[0].sources == ("policy:urban@5", "check@2", "case@3")
    assert "670" in result.components[0].rule.replace("67000", "670")


def test_counted_income_excludes_pension_and_deducts_capped_costs() -> None:
    """1,500 yuan income; 200 basic pension excluded; 300 rigid expenditure; employment costs 800
    capped at one standard (670): counted 330, per capita 110, gap 560 × 3 = 1,680 yuan."""
    income = Income(
        150_000,
        excluded_income_fen=20_000,
        rigid_expenditure_fen=30_000,
        employment_cost_fen=80_000,
    )
    assert counted_income_fen(income, 67_000) == 33_000
    result = household_entitlement(
        basis(
            150_000,
            excluded_income_fen=20_000,
            rigid_expenditure_fen=30_000,
            employment_cost_fen=80_000,
        ),
        URBAN,
        FEN,
    )
    assert result.amount_fen == 168_000


def test_income_above_standard_pays_nothing_and_deductions_never_go_negative() -> None:
    assert household_entitlement(basis(300_000), URBAN, FEN).amount_fen == 0
    assert counted_income_fen(Income(10_000, rigid_expenditure_fen=50_000), 67_000) == 0


def test_single_person_cover_rounds_once_under_the_regions_rule() -> None:
    """单人保: 1 of 3 covered, income 1,000 yuan: (670 × 3 − 1,000) / 3 = 336.666… yuan →
    336.67 yuan rounding to the fen, 337 yuan rounding to the yuan (half-up)."""
    assert household_entitlement(basis(100_000, covered=1), URBAN, FEN).amount_fen == 33_667
    assert household_entitlement(basis(100_000, covered=1), URBAN, YUAN).amount_fen == 33_700
    down = Rounding(RoundingUnit.YUAN, RoundingMode.DOWN)
    assert household_entitlement(basis(100_000, covered=1), URBAN, down).amount_fen == 33_600


def test_tier_method_pays_the_tier_amount_per_covered_member() -> None:
    """Rural tier B at 350 yuan for a household of 2: 700 yuan, naming the tier table's event."""
    tiers = {"A": Sourced(50_000, "tiers@7"), "B": Sourced(35_000, "tiers@7")}
    tiered = HouseholdBasis(
        method="tier",
        household_members=2,
        covered_members=2,
        income=Income(0),
        tier_code="B",
        source="case@4",
    )
    result = household_entitlement(tiered, RURAL_MONTH, FEN, tiers)
    assert result.amount_fen == 70_000 and result.components[0].sources[0] == "tiers@7"
    with pytest.raises(InvalidValue):
        household_entitlement(HouseholdBasis("tier", 2, 2, Income(0), "Z"), RURAL_MONTH, FEN, tiers)


def test_tekun_twice_the_standard_plus_care_by_minimum_wage() -> None:
    """Dangyang urban 特困: 2 × 670 = 1,340 yuan; partial self-care 15 % × 1,800 = 270 yuan."""
    result = tekun_entitlement(
        TekunBasis("partial", centralized=False, source="tekun@1"),
        URBAN,
        Sourced(200, "rule@3"),
        None,
        CareStandard(None, 15, "care@4"),
        Sourced(180_000, "wage@1"),
        FEN,
    )
    assert [(c.code, c.amount_fen) for c in result.components] == [
        ("base", 134_000),
        ("care", 27_000),
    ]
    assert result.amount_fen == 161_000


def test_tekun_explicit_amount_wins_when_higher() -> None:
    """Rural 420 yuan × 1.3 = 546 yuan, below an explicit 600 yuan: 600 is paid."""
    result = tekun_entitlement(
        TekunBasis("full_self_care", centralized=True),
        Sourced(42_000, "std@1"),
        Sourced(130, "rule@1"),
        Sourced(60_000, "rule@1"),
        CareStandard(0, None, "care@1"),
        None,
        FEN,
    )
    assert result.amount_fen == 60_000 and len(result.components) == 1
    assert "explicit" in result.components[0].rule


def test_gradual_exit_pays_exactly_n_months() -> None:
    months = [f"2024-{m:02d}" for m in range(1, 13)] + ["2025-01"]
    paid = [m for m in months if gradual_exit_pays("2024-07", 6, m)]
    assert paid == ["2024-07", "2024-08", "2024-09", "2024-10", "2024-11", "2024-12"]
    assert (
        household_entitlement(
            HouseholdBasis("top_up", 1, 1, Income(0), paying=False), URBAN, FEN
        ).amount_fen
        == 0
    )


def test_a_gradual_exit_ends_the_day_after_its_last_month() -> None:
    """A 6-month exit from July 2024 pays July–December and is over on 1 January 2025."""
    assert not gradual_exit_ended("2024-07", 6, "2024-12-31")
    assert gradual_exit_ended("2024-07", 6, "2025-01-01")


def test_the_income_an_exit_pays_on_is_the_one_before_the_rise() -> None:
    """渐退 worked example: 300 yuan checked, then 2,000 yuan reassessed (a rise): the exit pays
    on the 300 yuan, a top-up of 670 − 300/2 = 520 yuan × 2 = 1,040 yuan a month, as before the
    rise. A reassessment that lowered the income (or kept it) is not a rise: the latest counts.
    With no earlier income, the latest counts."""
    before, risen = Income(30_000, source="check"), Income(200_000, source="rise")
    paid_on = income_before_rise(before, risen)
    assert paid_on == before
    amount = household_entitlement(HouseholdBasis("top_up", 2, 2, paid_on), URBAN, FEN).amount_fen
    assert amount == 104_000
    assert household_entitlement(HouseholdBasis("top_up", 2, 2, risen), URBAN, FEN).amount_fen == 0
    assert income_before_rise(risen, before) == before
    assert income_before_rise(None, risen) == risen
    # Counted income, not the gross: a rise offset by rigid expenditure is no rise.
    offset = Income(40_000, rigid_expenditure_fen=10_000, source="offset")
    assert income_before_rise(before, offset) == offset


def test_a_region_that_pays_a_fraction_of_the_exit_amount() -> None:
    """渐退 at a region's 50 %: the 1,040-yuan top-up a household of two received before its rise
    becomes 520 yuan during the exit, the rule and the policy fact named; at 100 % (or with no
    fact, or outside an exit) it stays 1,040 yuan; a third of 1,040 yuan rounds once."""
    before = Income(30_000, source="check")
    exiting = HouseholdBasis("top_up", 2, 2, before, exiting=True)
    half = Sourced(50, "RegionPolicy.GradualExitRuleSet#9")
    (base,) = household_entitlement(exiting, URBAN, FEN, None, half).components
    assert base.amount_fen == 52_000 and "50%" in base.rule and half.source in base.sources
    full = Sourced(100, "policy:exit@1")
    assert household_entitlement(exiting, URBAN, FEN, None, full).amount_fen == 104_000
    assert household_entitlement(exiting, URBAN, FEN, None, None).amount_fen == 104_000
    active = HouseholdBasis("top_up", 2, 2, before)
    assert household_entitlement(active, URBAN, FEN, None, half).amount_fen == 104_000
    third = Sourced(33, "policy:exit@2")
    assert household_entitlement(exiting, URBAN, YUAN, None, third).amount_fen == 34_300
