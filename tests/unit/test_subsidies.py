"""Subsidies on top of the base benefit, worked to the fen (SPEC §4)."""

from __future__ import annotations

from domain.subsidies import (
    ElectricitySubsidy,
    OneTimeSubsidy,
    PriceIndex,
    PriceLinkage,
    electricity_subsidy,
    one_time_subsidies,
    price_linked_subsidy,
    triggering_index_permille,
)

NORMAL = PriceLinkage(35, 60, None, ("dibao_urban", "tekun_dispersed"), "linkage@1")
LOWERED = PriceLinkage(30, 60, 1_000, ("dibao_urban",), "linkage@2")  # Sep 2022 – Mar 2023


def test_price_linkage_triggers_on_either_index_and_takes_the_higher() -> None:
    """CPI 3.6 % triggers; food 6.5 % with CPI 2.0 % triggers on food; both: the higher."""
    assert triggering_index_permille(PriceIndex("2024-01", 36, 20, "idx"), NORMAL) == 36
    assert triggering_index_permille(PriceIndex("2024-01", 20, 65, "idx"), NORMAL) == 65
    assert triggering_index_permille(PriceIndex("2024-01", 40, 70, "idx"), NORMAL) == 70
    assert triggering_index_permille(PriceIndex("2024-01", 34, 59, "idx"), NORMAL) is None


def test_price_subsidy_is_standard_times_index_rounded_to_the_yuan() -> None:
    """670 yuan × 3.5 % = 23.45 yuan → 23 yuan per person; a household of 3 gets 69 yuan."""
    component = price_linked_subsidy(
        "dibao_urban", 3, 67_000, "std@5", PriceIndex("2024-01", 35, 10, "idx@9"), NORMAL
    )
    assert component is not None and component.amount_fen == 6_900
    assert component.sources == ("idx@9", "linkage@1", "std@5")
    # 670 × 3.7 % = 24.79 → 25 yuan
    assert (
        price_linked_subsidy(
            "dibao_urban", 1, 67_000, "s", PriceIndex("2024-01", 37, 0, "i"), NORMAL
        ).amount_fen
        == 2_500
    )


def test_lowered_threshold_and_regional_minimum() -> None:
    """Under the lowered 3.0 % threshold, 3.1 % triggers: 670 × 3.1 % = 20.77 → 21 yuan, but the
    regional minimum of 10 yuan does not bite; with a 420-yuan standard and 2.0 % food… no trigger."""
    index = PriceIndex("2022-10", 31, 0, "i")
    assert price_linked_subsidy("dibao_urban", 1, 67_000, "s", index, NORMAL) is None
    assert price_linked_subsidy("dibao_urban", 1, 67_000, "s", index, LOWERED).amount_fen == 2_100
    small = price_linked_subsidy(
        "dibao_urban", 1, 20_000, "s", index, LOWERED
    )  # 200 × 3.1 % = 6.2 → 6 < 10
    assert small is not None and small.amount_fen == 1_000
    assert price_linked_subsidy("marginal", 1, 67_000, "s", index, LOWERED) is None


def test_electricity_paid_once_a_quarter_in_the_chosen_month() -> None:
    rule = ElectricitySubsidy(3_000, 3, ("dibao_urban", "dibao_rural"), "elec@1")
    paid = [
        m
        for m in (f"2024-{n:02d}" for n in range(1, 13))
        if electricity_subsidy(m, "dibao_rural", rule)
    ]
    assert paid == ["2024-03", "2024-06", "2024-09", "2024-12"]
    assert electricity_subsidy("2024-03", "marginal", rule) is None


def test_one_time_subsidy_per_person_or_household() -> None:
    rules = [
        OneTimeSubsidy("春节", 20_000, "household", "2024-02", ("dibao_urban",), "ot@1"),
        OneTimeSubsidy("物价", 5_000, "person", "2024-02", ("dibao_urban",), "ot@2"),
    ]
    components = one_time_subsidies("2024-02", "dibao_urban", 3, rules)
    assert [c.amount_fen for c in components] == [20_000, 15_000]
    assert one_time_subsidies("2024-03", "dibao_urban", 3, rules) == []
