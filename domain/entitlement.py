"""The entitlement engine: what one case is owed for one month, and why (SPEC §4–5).

Pure functions over plain values; no I/O. The caller gathers, *as known at time T*, the case's
basis for the month and the policy in force, each with the reference of the event that set it;
the engine returns the amount as components, each naming its rule and its sources, with the
rounding rule stated. Arithmetic is exact in integers: a gap of standard minus per-capita income
times covered members is computed as one fraction and rounded once.

A case's income and basis and the engine's result are records (``NamedTuple``: immutable, and
built for every distinct case a roll meets); the policy values are frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, NamedTuple

from domain.dates import add_months
from domain.errors import InvalidValue
from domain.money import RoundingMode, RoundingUnit, divide_rounded

PERCENT: Final = 100


@dataclass(frozen=True, slots=True)
class Rounding:
    unit: RoundingUnit = RoundingUnit.FEN
    mode: RoundingMode = RoundingMode.HALF_UP
    source: str = "default"

    def divide(self, numerator_fen: int, denominator: int) -> int:
        return divide_rounded(numerator_fen, denominator, self.unit, self.mode)

    def describe(self) -> str:
        return f"rounded to the {self.unit} ({self.mode})"


@dataclass(frozen=True, slots=True)
class Sourced:
    """A policy value with the reference of the event that set it (e.g. 'policy:<id>@<version>')."""

    amount_fen: int
    source: str


class Income(NamedTuple):
    """Monthly household income as checked, and what the rules count out of it."""

    household_income_fen: int
    excluded_income_fen: int = 0  # e.g. basic pension 基础养老金 in the transition period
    rigid_expenditure_fen: int = 0  # 刚性支出
    employment_cost_fen: int = 0  # 就业成本, deducted up to one standard
    source: str = ""


PayMethod = Literal["top_up", "tier"]  # 补差 (standard minus counted income) or by tier
CareLevel = Literal["full_self_care", "partial", "none"]  # 特困 self-care assessment


class HouseholdBasis(NamedTuple):
    """A household case as it stood for the month."""

    method: PayMethod
    household_members: int
    covered_members: int
    income: Income
    tier_code: str | None = None
    paying: bool = True  # active, or within a gradual exit (see ``gradual_exit_pays``)
    source: str = ""
    exiting: bool = False  # within a gradual exit: the region's exit percent applies


class TekunBasis(NamedTuple):
    care_level: CareLevel
    centralized: bool
    source: str = ""


@dataclass(frozen=True, slots=True)
class CareStandard:
    amount_fen: int | None
    percent_of_minimum_wage: int | None
    source: str


class Component(NamedTuple):
    code: str  # base, care, …
    amount_fen: int
    rule: str
    sources: tuple[str, ...]


class Entitlement(NamedTuple):
    components: tuple[Component, ...] = ()
    rounding: str = ""

    @property
    def amount_fen(self) -> int:
        return sum(component.amount_fen for component in self.components)


def counted_income_fen(income: Income, standard_fen: int) -> int:
    """Income the rules count: excluded items out, rigid expenditure and employment costs
    (the latter capped at one standard) deducted, never below zero."""
    return counted_fen(
        income.household_income_fen,
        income.excluded_income_fen,
        income.rigid_expenditure_fen,
        income.employment_cost_fen,
        standard_fen,
    )


def counted_fen(
    household_income_fen: int,
    excluded_income_fen: int,
    rigid_expenditure_fen: int,
    employment_cost_fen: int,
    standard_fen: int,
) -> int:
    """``counted_income_fen`` of an income's figures (for callers holding them as numbers)."""
    employment = min(employment_cost_fen, standard_fen)
    counted = household_income_fen - excluded_income_fen - rigid_expenditure_fen - employment
    return max(0, counted)


def household_entitlement(
    basis: HouseholdBasis,
    standard: Sourced,
    rounding: Rounding,
    tiers: dict[str, Sourced] | None = None,
    exit_percent: Sourced | None = None,
) -> Entitlement:
    """低保 / 单人保 benefit for one month: top-up (补差) or tier (分档), for the covered members;
    within a gradual exit, the region's percent of it (``gradual_exit_share``)."""
    found = _household_entitlement(basis, standard, rounding, tiers)
    if not basis.exiting or exit_percent is None or not found.components:
        return found
    return Entitlement(
        tuple(gradual_exit_share(c, exit_percent, rounding) for c in found.components),
        found.rounding,
    )


def gradual_exit_share(component: Component, percent: Sourced, rounding: Rounding) -> Component:
    """渐退 where a region pays a fraction: ``percent`` (a whole percent, the region's
    ``GradualExitRule``) of the amount, rounded once under the region's rule, naming the rule."""
    if percent.amount_fen == PERCENT:
        return component
    amount = rounding.divide(component.amount_fen * percent.amount_fen, PERCENT)
    rule = f"{component.rule}; gradual exit (渐退): {percent.amount_fen}% of it"
    return Component(component.code, amount, rule, (*component.sources, percent.source))


def _household_entitlement(
    basis: HouseholdBasis,
    standard: Sourced,
    rounding: Rounding,
    tiers: dict[str, Sourced] | None,
) -> Entitlement:
    if basis.household_members < 1 or not 0 <= basis.covered_members <= basis.household_members:
        raise InvalidValue(
            "covered members must be between 0 and the household size",
            field="covered_members",
            rule="covered_within_household",
        )
    if not basis.paying or basis.covered_members == 0:
        return Entitlement((), rounding.describe())
    if basis.method == "tier":
        tier = (tiers or {}).get(basis.tier_code or "")
        if tier is None:
            raise InvalidValue(
                f"no amount for tier {basis.tier_code!r} in force",
                field="month",  # the month's policy lacks it (the caller asks for a month)
                rule="tier_in_force",
            )
        component = Component(
            "base", tier.amount_fen * basis.covered_members,
            f"tier {basis.tier_code}: {tier.amount_fen} fen × {basis.covered_members} covered",
            (tier.source, basis.source),
        )  # fmt: skip
        return Entitlement((component,), rounding.describe())
    counted = counted_income_fen(basis.income, standard.amount_fen)
    # (standard − counted / n) × covered = (standard × n − counted) × covered / n, rounded once.
    gap_total = max(0, standard.amount_fen * basis.household_members - counted)
    amount = rounding.divide(gap_total * basis.covered_members, basis.household_members)
    described = rounding.describe()
    rule = (
        f"top-up: max(0, {standard.amount_fen} − {counted}/{basis.household_members}) fen"
        f" × {basis.covered_members} covered, {described}"
    )
    return Entitlement(
        (Component("base", amount, rule, (standard.source, basis.income.source, basis.source)),),
        described,
    )


def tekun_entitlement(
    basis: TekunBasis,
    dibao_standard: Sourced,
    multiplier_percent: Sourced,
    explicit_amount: Sourced | None,
    care: CareStandard,
    minimum_wage: Sourced | None,
    rounding: Rounding,
) -> Entitlement:
    """特困 basic living allowance = max(multiplier × dibao standard, explicit amount), plus the
    care allowance for the person's self-care level (an amount or % of the minimum wage)."""
    by_multiplier = rounding.divide(
        dibao_standard.amount_fen * multiplier_percent.amount_fen, PERCENT
    )
    basic = by_multiplier
    rule = f"basic: {multiplier_percent.amount_fen}% × {dibao_standard.amount_fen} fen, {rounding.describe()}"
    sources = [dibao_standard.source, multiplier_percent.source]
    if explicit_amount is not None and explicit_amount.amount_fen > by_multiplier:
        basic = explicit_amount.amount_fen
        rule = f"basic: explicit {explicit_amount.amount_fen} fen (above {by_multiplier} by multiplier)"
        sources.append(explicit_amount.source)
    components = [Component("base", basic, rule, (*sources, basis.source))]
    care_sources: tuple[str, ...]
    if care.amount_fen is not None:
        care_fen, care_rule, care_sources = (
            care.amount_fen,
            f"care ({basis.care_level}): set amount",
            (care.source,),
        )
    else:
        if minimum_wage is None or care.percent_of_minimum_wage is None:
            raise InvalidValue(
                "care standard in % needs a minimum wage in force",
                field="month",  # the month's policy lacks it (the caller asks for a month)
                rule="minimum_wage_in_force",
            )
        care_fen = rounding.divide(minimum_wage.amount_fen * care.percent_of_minimum_wage, PERCENT)
        care_rule = (
            f"care ({basis.care_level}): {care.percent_of_minimum_wage}% × minimum wage "
            f"{minimum_wage.amount_fen} fen, {rounding.describe()}"
        )
        care_sources = (care.source, minimum_wage.source)
    if care_fen > 0:
        components.append(Component("care", care_fen, care_rule, (*care_sources, basis.source)))
    return Entitlement(tuple(components), rounding.describe())


def gradual_exit_pays(exit_start_month: str, months: int, month: str) -> bool:
    """渐退: a case in gradual exit keeps being paid for ``months`` months from the month the exit
    takes effect, then stops."""
    return exit_start_month <= month < add_months(exit_start_month, months)


def gradual_exit_ended(exit_start_month: str, months: int, day: str) -> bool:
    """Whether a gradual exit taking effect in ``exit_start_month`` for ``months`` months is over
    on ``day``: from the first day after its last month the case has left the programme
    (渐退帮扶期结束后…按规定退出) without another decision."""
    return day >= add_months(exit_start_month, months) + "-01"


def income_before_rise(previous: Income | None, latest: Income) -> Income:
    """渐退: the income a gradual exit pays on, so that the household keeps receiving what it
    received before its income rose. When the latest reassessment raised the income the rules
    count (before the employment cap), that is the income before it; a rise left unrecorded
    leaves the latest income, which is then still the one before the rise."""
    if previous is None or _uncapped(latest) <= _uncapped(previous):
        return latest
    return previous


def _uncapped(income: Income) -> int:
    return (
        income.household_income_fen
        - income.excluded_income_fen
        - income.rigid_expenditure_fen
        - income.employment_cost_fen
    )
