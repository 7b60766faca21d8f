"""Worked examples of what a basis is owed under a month's policy (domain/month_policy.py): the
policy facts in force are written out as the policy book would hold them, and the components
worked out to the fen."""

from __future__ import annotations

from typing import Any

import pytest

from domain import policy as kinds
from domain.basis import MonthBasis
from domain.entitlement import Income
from domain.errors import InvalidValue
from domain.lines import BASIS, INCOME
from domain.month_policy import (
    MonthRules,
    entitlement_for,
    one_time_in_force,
    own_sources,
    subsidies_for,
)
from domain.programmes import standard_programme

RURAL_TOWNSHIP = "420582101000"  # digits 7–9 ≥ 100: a town (rural)
URBAN_STREET = "420582001000"  # digits 7–9 < 100: a sub-district (urban)


def in_force(value: kinds.PolicyValue, position: int) -> kinds.InForce[Any]:
    source = f"RegionPolicy.{value.event_name}#{position}"
    return kinds.InForce(value, source, "2024-01-01", "2024-01-01T00:00:00.000000Z")


class Book:
    """A policy book of one county as a dict: (kind, item) → the fact in force."""

    def __init__(self, *facts: kinds.InForce[Any]) -> None:
        self.facts = {(type(f.value), f.value.item()): f for f in facts}
        self.asked: list[tuple[str, str]] = []

    def find(self, kind: type[Any], item: str) -> Any:
        self.asked.append((kind.kind, item))
        return self.facts.get((kind, item))

    def every(self, kind: type[Any]) -> list[Any]:
        return [f for (k, _item), f in self.facts.items() if k is kind]


BOOK = Book(
    in_force(kinds.RoundingRule(unit="yuan", mode="half_up"), 1),
    in_force(kinds.Standard(programme="dibao_urban", amount_fen=67_000), 2),
    in_force(kinds.Standard(programme="dibao_rural", amount_fen=605_000, period="year"), 3),
    in_force(kinds.TekunRule(multiplier_percent=130), 4),
    in_force(kinds.CareStandard(level="full_self_care", percent_of_minimum_wage=10), 5),
    in_force(kinds.MinimumWage(amount_fen=180_000), 6),
    in_force(kinds.PriceIndex(month="2024-02", cpi_yoy_permille=40, food_cpi_yoy_permille=20), 7),
    in_force(kinds.PriceLinkage(programmes=["dibao_urban", "tekun_dispersed"]), 8),
)


def test_tekun_support_and_its_price_subsidy_are_reckoned_on_the_regions_dibao_standard() -> None:
    """Case file: a 特困 person, dispersed, full self-care, living in a rural town; February 2024.
    The rural standard is published per year: 605,000 fen ÷ 12 = 50,416.67, rounded to the yuan
    (the county's rule) = 50,400 fen a month. Basic support: 130 % × 50,400 = 65,520, to the
    yuan = 65,500 fen. Care: 10 % of the minimum wage 180,000 = 18,000 fen. CPI is up 4.0 %
    (≥ the 3.5 % threshold): the price subsidy is 50,400 × 4.0 % = 2,016, to the yuan = 2,000
    fen for the one covered person — on the rural dibao standard, not on a 特困 one."""
    rules = MonthRules("420582", "2024-02", "2024-03-01T00:00:00Z", BOOK)
    person = MonthBasis(
        "tekun", "tekun_dispersed", "approved", members={"p": True}, care_level="full_self_care",
        mode="dispersed", sources=["TekunPerson.Approved#40"],
    )  # fmt: skip
    assert standard_programme("tekun", "tekun_dispersed", RURAL_TOWNSHIP) == "dibao_rural"
    owed = entitlement_for(person, RURAL_TOWNSHIP, rules).components
    assert [(c.code, c.amount_fen, c.sources) for c in owed] == [
        ("base", 65_500, ("RegionPolicy.StandardSet#3", "RegionPolicy.TekunRuleSet#4",
                          "TekunPerson.Approved#40")),
        ("care", 18_000, ("RegionPolicy.CareStandardSet#5", "RegionPolicy.MinimumWageSet#6",
                          "TekunPerson.Approved#40")),
    ]  # fmt: skip
    (price,) = subsidies_for(person, RURAL_TOWNSHIP, rules)
    assert (price.code, price.amount_fen) == ("price_subsidy", 2_000)
    assert price.sources[2] == "RegionPolicy.StandardSet#3"


def test_a_household_top_up_is_reckoned_on_its_own_programme() -> None:
    """Case file: an urban dibao household of 3, all covered, income 90,000 fen a month, in a
    sub-district. Top-up: (67,000 × 3 − 90,000) × 3 / 3 = 111,000 fen. Price subsidy: 67,000 ×
    4.0 % = 2,680, to the yuan = 2,700 fen × 3 covered = 8,100 fen."""
    rules = MonthRules("420582", "2024-02", "2024-03-01T00:00:00Z", BOOK)
    household = MonthBasis(
        "household", "dibao_urban", "approved", "top_up", None, {"a": True, "b": True, "c": True},
        Income(90_000, source="HouseholdCase.EconomicCheckRecorded#7"),
        sources=["HouseholdCase.Approved#8"],
    )  # fmt: skip
    (base,) = entitlement_for(household, URBAN_STREET, rules).components
    assert base.amount_fen == 111_000
    (price,) = subsidies_for(household, URBAN_STREET, rules)
    assert price.amount_fen == 8_100


def test_a_month_without_a_tekun_rule_refuses_tekun_support() -> None:
    """Case file: no 特困 rule in force in the county: a 特困 basis is refused, naming the rule,
    rather than paid nothing."""
    rules = MonthRules("420582", "2024-02", "2024-03-01T00:00:00Z", Book())
    with pytest.raises(InvalidValue) as refused:
        entitlement_for(MonthBasis("tekun", "tekun_dispersed"), RURAL_TOWNSHIP, rules)
    assert refused.value.rule == "tekun_rule_in_force"


def test_each_fact_is_looked_up_once_a_month() -> None:
    """Case file: the standard is asked for twice; the policy book is read once."""
    book = Book(*BOOK.facts.values())
    rules = MonthRules("420582", "2024-02", "2024-03-01T00:00:00Z", book)
    assert rules.standard("dibao_urban") == rules.standard("dibao_urban")
    assert book.asked.count(("standard", "dibao_urban")) == 1


def test_the_latest_one_time_subsidy_of_each_name_in_force_applies() -> None:
    """Case file: 春节慰问 set at 10,000 fen from 1 January, raised to 20,000 fen from 1 March;
    a 中秋 subsidy from 1 September. On 1 February only the first 春节慰问 is in force."""

    def one(name: str, amount_fen: int, effective: str) -> kinds.InForce[kinds.OneTimeSubsidy]:
        value = kinds.OneTimeSubsidy(name, amount_fen, "household", "2024-02", ["dibao_urban"])
        return kinds.InForce(value, f"RegionPolicy.OneTimeSubsidySet#{amount_fen}", effective, "")

    facts = [one("春节慰问", 10_000, "2024-01-01"), one("春节慰问", 20_000, "2024-03-01"),
             one("中秋", 5_000, "2024-09-01")]  # fmt: skip
    assert [f.value.amount_fen for f in one_time_in_force(facts, "2024-02-01")] == [10_000]


def test_own_sources_fill_the_placeholders() -> None:
    """Case file: a cached component names the standard, the income placeholder and the basis
    placeholder; a case reads its own income fact and latest basis fact in their place."""
    assert own_sources(("RegionPolicy.StandardSet#2", INCOME, BASIS), "Check#7", "Approved#8") == [
        "RegionPolicy.StandardSet#2",
        "Check#7",
        "Approved#8",
    ]
