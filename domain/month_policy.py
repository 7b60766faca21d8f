"""A county's policy for one month as known at a time, and what a case's basis is owed under it
(SPEC §4–5): the entitlement and the subsidies paid on top, as components naming their sources.

``MonthRules`` takes the typed facts in force (``domain.policy.InForce``) from a ``PolicyFacts``
the application gives — the policy book read as known at the roll's time — and keeps each one
it reads. ``entitlement_for`` and ``subsidies_for`` are the rules that decide which standard,
tier, care standard and subsidy apply to a basis; the engine (``domain.entitlement``,
``domain.subsidies``) works out the amounts.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from domain import policy as kinds
from domain.basis import MonthBasis
from domain.dates import first_day
from domain.entitlement import (
    CareStandard,
    Component,
    Entitlement,
    HouseholdBasis,
    Rounding,
    Sourced,
    TekunBasis,
    household_entitlement,
    tekun_entitlement,
)
from domain.errors import InvalidValue
from domain.lines import BASIS, INCOME
from domain.money import RoundingMode, RoundingUnit
from domain.programmes import standard_programme
from domain.subsidies import (
    ElectricitySubsidy,
    OneTimeSubsidy,
    PriceIndex,
    PriceLinkage,
    electricity_subsidy,
    one_time_subsidies,
    price_linked_subsidy,
)

V = TypeVar("V", bound=kinds.PolicyValue)


class PolicyFacts(Protocol):
    """Where a month's policy facts come from: the policy book of a county on the month's first
    day, as known at a time (the most specific region's fact wins)."""

    def find(self, kind: type[V], item: str) -> kinds.InForce[V] | None:
        """The fact of ``kind`` about ``item`` ('' if the kind has none) in force, if any."""
        ...

    def every(self, kind: type[V]) -> list[kinds.InForce[V]]:
        """Every fact of ``kind`` recorded for the county itself, by item, then effective date."""
        ...


class MonthRules:
    """The policy in force for a county in one month, read through ``facts`` on first use and
    kept: the rounding rule, standards per programme, tiers, the 特困 rules and the subsidies."""

    def __init__(self, county_code: str, month: str, as_of: str, facts: PolicyFacts) -> None:
        self.county, self.month, self.as_of, self.facts = county_code, month, as_of, facts
        self.day = first_day(month)
        self._found: dict[tuple[type[kinds.PolicyValue], str], Any] = {}
        self._standards: dict[str, Sourced] = {}
        self._tiers: dict[str, dict[str, Sourced]] = {}
        self._subsidies_read = False
        self._price: tuple[PriceIndex | None, PriceLinkage | None] = (None, None)
        self._electricity: ElectricitySubsidy | None = None
        self._one_time: list[OneTimeSubsidy] = []
        rule = self.fact(kinds.RoundingRule, "")
        self.rounding = (
            Rounding(RoundingUnit(rule.value.unit), RoundingMode(rule.value.mode), rule.source)
            if rule is not None
            else Rounding()
        )

    def fact(self, kind: type[V], item: str) -> kinds.InForce[V] | None:
        """The fact of ``kind`` about ``item`` in force this month, looked up once."""
        key = (kind, item)
        if key not in self._found:
            self._found[key] = self.facts.find(kind, item)
        found: kinds.InForce[V] | None = self._found[key]
        return found

    def standard(self, programme: str) -> Sourced:
        """The programme's standard per month (an annual one divided under the rounding rule)."""
        found = self._standards.get(programme)
        if found is None:
            fact = self.fact(kinds.Standard, programme)
            if fact is None:
                raise InvalidValue(
                    f"no {programme} standard in force for {self.county} in {self.month}"
                    f" as known at {self.as_of}",
                    field="month",
                    rule="standard_in_force",
                )
            amount = fact.value.monthly_fen(self.rounding.unit, self.rounding.mode)
            found = self._standards[programme] = Sourced(amount, fact.source)
        return found

    def tiers(self, programme: str) -> dict[str, Sourced]:
        found = self._tiers.get(programme)
        if found is None:
            fact = self.fact(kinds.Tiers, programme)
            found = self._tiers[programme] = (
                {}
                if fact is None
                else {
                    code: Sourced(amount, fact.source) for code, amount in fact.value.tiers.items()
                }
            )
        return found

    def gradual_exit_percent(self) -> Sourced | None:
        """The percent a household in a gradual exit keeps (渐退), if the region sets one."""
        fact = self.fact(kinds.GradualExitRule, "")
        return None if fact is None else Sourced(fact.value.pay_percent, fact.source)

    def tekun_multiplier(self) -> Sourced | None:
        """The 特困 rule's multiple of the dibao standard, in percent."""
        fact = self.fact(kinds.TekunRule, "")
        return None if fact is None else Sourced(fact.value.multiplier_percent, fact.source)

    def tekun_explicit(self) -> Sourced | None:
        """The 特困 amount the rule sets outright, if it does."""
        fact = self.fact(kinds.TekunRule, "")
        if fact is None or fact.value.explicit_amount_fen is None:
            return None
        return Sourced(fact.value.explicit_amount_fen, fact.source)

    def minimum_wage(self) -> Sourced | None:
        fact = self.fact(kinds.MinimumWage, "")
        return None if fact is None else Sourced(fact.value.amount_fen, fact.source)

    def care(self, level: str) -> CareStandard:
        fact = self.fact(kinds.CareStandard, level)
        if fact is None:
            return CareStandard(0, None, "none")
        value = fact.value
        return CareStandard(value.amount_fen, value.percent_of_minimum_wage, fact.source)

    # The subsidies' policy, read on first use and kept (written out, not ``cached_property``,
    # so that a compiled class keeps it too).
    @property
    def price(self) -> tuple[PriceIndex | None, PriceLinkage | None]:
        self._read_subsidies()
        return self._price

    @property
    def electricity(self) -> ElectricitySubsidy | None:
        self._read_subsidies()
        return self._electricity

    @property
    def one_time(self) -> list[OneTimeSubsidy]:
        self._read_subsidies()
        return self._one_time

    def _read_subsidies(self) -> None:
        if self._subsidies_read:
            return
        index = self.fact(kinds.PriceIndex, self.month)
        linkage = self.fact(kinds.PriceLinkage, "")
        self._price = (
            None if index is None else PriceIndex(
                self.month, index.value.cpi_yoy_permille, index.value.food_cpi_yoy_permille,
                index.source,
            ),
            None if linkage is None else PriceLinkage(
                linkage.value.cpi_threshold_permille, linkage.value.food_threshold_permille,
                linkage.value.minimum_fen, tuple(linkage.value.programmes), linkage.source,
            ),
        )  # fmt: skip
        power = self.fact(kinds.ElectricitySubsidy, "")
        self._electricity = None if power is None else ElectricitySubsidy(
            power.value.amount_fen_per_quarter, power.value.pay_month_of_quarter,
            tuple(power.value.programmes), power.source,
        )  # fmt: skip
        self._one_time = []
        for fact in one_time_in_force(self.facts.every(kinds.OneTimeSubsidy), self.day):
            one = fact.value
            self._one_time.append(OneTimeSubsidy(
                one.name, one.amount_fen, one.per, one.pay_month, tuple(one.programmes), fact.source
            ))  # fmt: skip
        self._subsidies_read = True


def one_time_in_force(
    facts: list[kinds.InForce[kinds.OneTimeSubsidy]], day: str
) -> list[kinds.InForce[kinds.OneTimeSubsidy]]:
    """Of the one-time subsidies recorded (in effective-date order), the latest of each name
    that is in force on ``day``."""
    latest: dict[str, kinds.InForce[kinds.OneTimeSubsidy]] = {}
    for fact in facts:
        if fact.effective_date <= day:
            latest[fact.value.name] = fact
    return list(latest.values())


def own_sources(sources: tuple[str, ...], income: str, basis: str) -> list[str]:
    """A component's sources with the placeholders for a case's own references
    (``domain.lines.INCOME``, ``BASIS``) replaced by the case's: its income fact, its basis's
    latest fact."""
    return [income if ref == INCOME else basis if ref == BASIS else ref for ref in sources]


def entitlement_for(basis: MonthBasis, region_code: str, rules: MonthRules) -> Entitlement:
    """A basis's entitlement for the month: 特困 support (a multiple of the dibao standard of
    the case's region, plus care), or a household's top-up or tier amount."""
    if basis.kind == "tekun":
        multiplier = rules.tekun_multiplier()
        if multiplier is None:
            raise InvalidValue(
                f"no 特困 rule in force for {rules.county} in {rules.month}",
                field="month",
                rule="tekun_rule_in_force",
            )
        return tekun_entitlement(
            TekunBasis(basis.care_level, basis.mode == "centralized", ",".join(basis.sources[-1:])),
            rules.standard(standard_programme(basis.kind, basis.programme, region_code)),
            multiplier, rules.tekun_explicit(), rules.care(basis.care_level),
            rules.minimum_wage(), rules.rounding,
        )  # fmt: skip
    household = HouseholdBasis(
        basis.method, max(basis.household_members, 1), basis.covered_members, basis.income,
        basis.tier_code, True, ",".join(basis.sources[-1:]), basis.status == "gradual_exit",
    )  # fmt: skip
    return household_entitlement_for(household, basis.programme, rules)


def household_entitlement_for(
    household: HouseholdBasis, programme: str, rules: MonthRules
) -> Entitlement:
    """A household case's top-up or tier amount for the month under the programme's rules."""
    return household_entitlement(
        household, rules.standard(programme), rules.rounding, rules.tiers(programme),
        rules.gradual_exit_percent() if household.exiting else None,
    )  # fmt: skip


def subsidies_for(basis: MonthBasis, region_code: str, rules: MonthRules) -> list[Component]:
    """The subsidies a basis is paid on top this month (``programme_subsidies``)."""
    return programme_subsidies(
        basis.kind, basis.programme, basis.covered_members, region_code, rules
    )


def programme_subsidies(
    kind: str, programme: str, covered: int, region_code: str, rules: MonthRules
) -> list[Component]:
    """The subsidies a case of ``kind`` in ``programme`` with ``covered`` members is paid on
    top this month, those with an amount: the price-linked one reckoned on the standard of
    ``standard_programme``, electricity, one-time ones."""
    found: list[Component | None] = []
    index, linkage = rules.price
    if index is not None and linkage is not None:
        standard = rules.standard(standard_programme(kind, programme, region_code))
        found.append(
            price_linked_subsidy(
                programme, covered, standard.amount_fen, standard.source, index, linkage
            )
        )
    found.append(electricity_subsidy(rules.month, programme, rules.electricity))
    found += one_time_subsidies(rules.month, programme, covered, rules.one_time)
    return [c for c in found if c is not None and c.amount_fen > 0]
