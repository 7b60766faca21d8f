"""Subsidies paid on top of the base benefit (SPEC §4), as pure functions returning components.

- Price-linked temporary subsidy (价格临时补贴, 物价上涨挂钩联动): triggered in a month when CPI
  year on year reaches its threshold or food CPI reaches its own (thresholds are policy data);
  per covered person = monthly standard × the triggering index (the higher if both trigger),
  rounded to the yuan, at least the regional minimum. No trigger, nothing.
- Electricity subsidy (电价补贴): an amount per household per quarter, in the chosen month.
- One-time subsidy (一次性生活补贴): per person or per household, in the named month.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from domain.entitlement import Component
from domain.money import RoundingMode, RoundingUnit, divide_rounded

PERMILLE: Final = 1000


@dataclass(frozen=True, slots=True)
class PriceIndex:
    month: str
    cpi_yoy_permille: int
    food_cpi_yoy_permille: int
    source: str


@dataclass(frozen=True, slots=True)
class PriceLinkage:
    cpi_threshold_permille: int
    food_threshold_permille: int
    minimum_fen: int | None
    programmes: tuple[str, ...]
    source: str


@dataclass(frozen=True, slots=True)
class ElectricitySubsidy:
    amount_fen_per_quarter: int
    pay_month_of_quarter: int
    programmes: tuple[str, ...]
    source: str


@dataclass(frozen=True, slots=True)
class OneTimeSubsidy:
    name: str
    amount_fen: int
    per: str  # person | household
    pay_month: str
    programmes: tuple[str, ...]
    source: str


def triggering_index_permille(index: PriceIndex, rule: PriceLinkage) -> int | None:
    """The index that triggers the mechanism this month (the higher if both do), or None."""
    triggered = [
        value
        for value, threshold in (
            (index.cpi_yoy_permille, rule.cpi_threshold_permille),
            (index.food_cpi_yoy_permille, rule.food_threshold_permille),
        )
        if value >= threshold
    ]
    return max(triggered) if triggered else None


def price_linked_subsidy(
    programme: str, covered_persons: int, standard_fen: int, standard_source: str,
    index: PriceIndex | None, rule: PriceLinkage | None,
) -> Component | None:  # fmt: skip
    if index is None or rule is None or programme not in rule.programmes or covered_persons <= 0:
        return None
    trigger = triggering_index_permille(index, rule)
    if trigger is None:
        return None
    per_person = divide_rounded(
        standard_fen * trigger, PERMILLE, RoundingUnit.YUAN, RoundingMode.HALF_UP
    )
    if rule.minimum_fen is not None and per_person < rule.minimum_fen:
        per_person = rule.minimum_fen
    return Component(
        "price_subsidy", per_person * covered_persons,
        f"price linkage {index.month}: {standard_fen} fen × {trigger / 10:.1f}% rounded to the yuan"
        f"{f' (minimum {rule.minimum_fen})' if rule.minimum_fen else ''} = {per_person} fen"
        f" × {covered_persons} covered",
        (index.source, rule.source, standard_source),
    )  # fmt: skip


def electricity_subsidy(
    month: str, programme: str, rule: ElectricitySubsidy | None
) -> Component | None:
    if rule is None or programme not in rule.programmes:
        return None
    month_of_quarter = (int(month[5:7]) - 1) % 3 + 1
    if month_of_quarter != rule.pay_month_of_quarter:
        return None
    return Component(
        "electricity", rule.amount_fen_per_quarter,
        f"electricity subsidy for quarter {(int(month[5:7]) - 1) // 3 + 1}: {rule.amount_fen_per_quarter} fen per household",
        (rule.source,),
    )  # fmt: skip


def one_time_subsidies(
    month: str, programme: str, covered_persons: int, rules: list[OneTimeSubsidy]
) -> list[Component]:
    found = []
    for rule in rules:
        if rule.pay_month != month or programme not in rule.programmes or covered_persons <= 0:
            continue
        count = covered_persons if rule.per == "person" else 1
        found.append(Component(
            "one_time", rule.amount_fen * count,
            f"one-time subsidy {rule.name}: {rule.amount_fen} fen per {rule.per} × {count}",
            (rule.source,),
        ))  # fmt: skip
    return found
