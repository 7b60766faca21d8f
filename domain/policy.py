"""Policy book of one region (SPEC §4): standards, tiers, 特困 rules, care standards, rounding.

NOTE: the events below are a storage format. Renaming or moving them needs ``register_topic``;
changing their fields needs a ``class_version`` bump and an upcaster (see tests/upcasting).

Every fact is effective-dated (``effective_date`` = the first day it applies) and recorded at the
event's timestamp, so the policy book answers "as known at T, what was effective in month M".
"""

from __future__ import annotations

import re
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.dates import first_day, validate_month
from domain.decisions import decision_meta
from domain.errors import InvalidValue
from domain.money import RoundingMode, RoundingUnit, divide_rounded, require_fen
from domain.programmes import CareLevel, Programme
from domain.regions import validate_region_code

# A tier code is ASCII letters and digits, as every code (no full-width or Arabic-Indic look-alikes).
_TIER_CODE = re.compile(r"[A-Za-z0-9]{1,16}").fullmatch
MIN_TEKUN_MULTIPLIER_PERCENT = 130  # 特困 basic living allowance ≥ 1.3 × dibao standard.


def policy_id(region_code: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"doudi:policy:{region_code}")


def monthly_standard_fen(
    amount_fen: int, period: str, unit: RoundingUnit, mode: RoundingMode
) -> int:
    """A published standard per month: annual figures are divided by 12 under the region's rule."""
    return amount_fen if period == "month" else divide_rounded(amount_fen, 12, unit, mode)


def _programme(value: str, field: str = "programme") -> str:
    try:
        return Programme(value).value
    except ValueError:
        raise InvalidValue(
            f"{field} must be one of {[p.value for p in Programme]}",
            field=field,
            rule="known_programme",
        ) from None


class RegionPolicy(Aggregate):
    """One region's policy book; its id is derived from the region code."""

    @staticmethod
    def create_id(region_code: str) -> UUID:
        return policy_id(region_code)

    @event("Opened")
    def __init__(self, region_code: str) -> None:
        self.region_code = region_code
        self.fact_count = 0

    @classmethod
    def open(cls, region_code: str) -> RegionPolicy:
        validate_region_code(region_code)
        if len(region_code) != 6:
            raise InvalidValue(
                "policy is set per 6-digit division code",
                field="region_code",
                rule="division_level",
            )
        return cls(region_code=region_code)

    # Decide: each command validates, then records exactly one fact.

    def set_standard(
        self,
        *,
        programme: str,
        amount_fen: int,
        period: str,
        effective_date: str,
        actor: str,
        document_ref: str,
    ) -> None:
        if period not in ("month", "year"):
            raise InvalidValue(
                "period must be 'month' or 'year'", field="period", rule="standard_period"
            )
        self._standard_set(
            programme=_programme(programme),
            amount_fen=require_fen(amount_fen, "amount_fen", allow_zero=False),
            period=period,
            **decision_meta(effective_date, actor, document_ref),
        )

    def set_tiers(
        self,
        *,
        programme: str,
        tiers: dict[str, int],
        effective_date: str,
        actor: str,
        document_ref: str,
    ) -> None:
        if not tiers:
            raise InvalidValue("tiers must name at least one tier", field="tiers", rule="non_empty")
        for code, amount in tiers.items():
            if not _TIER_CODE(code):
                raise InvalidValue(
                    "tier codes are 1–16 ASCII letters or digits", field="tiers", rule="tier_code"
                )
            require_fen(amount, f"tiers.{code}", allow_zero=False)
        self._tiers_set(
            programme=_programme(programme),
            tiers=dict(sorted(tiers.items())),
            **decision_meta(effective_date, actor, document_ref),
        )

    def set_tekun_rule(
        self,
        *,
        multiplier_percent: int,
        explicit_amount_fen: int | None,
        effective_date: str,
        actor: str,
        document_ref: str,
    ) -> None:
        if (
            isinstance(multiplier_percent, bool)
            or not isinstance(multiplier_percent, int)
            or multiplier_percent < MIN_TEKUN_MULTIPLIER_PERCENT
        ):
            raise InvalidValue(
                "multiplier_percent must be a whole percent ≥ 130 (1.3 × dibao standard)",
                field="multiplier_percent",
                rule="tekun_multiplier_minimum",
            )
        if explicit_amount_fen is not None:
            require_fen(explicit_amount_fen, "explicit_amount_fen", allow_zero=False)
        self._tekun_rule_set(
            multiplier_percent=multiplier_percent,
            explicit_amount_fen=explicit_amount_fen,
            **decision_meta(effective_date, actor, document_ref),
        )

    def set_care_standard(
        self,
        *,
        level: str,
        amount_fen: int | None,
        percent_of_minimum_wage: int | None,
        effective_date: str,
        actor: str,
        document_ref: str,
    ) -> None:
        try:
            level = CareLevel(level).value
        except ValueError:
            raise InvalidValue(
                f"level must be one of {[c.value for c in CareLevel]}",
                field="level",
                rule="care_level",
            ) from None
        if (amount_fen is None) == (percent_of_minimum_wage is None):
            raise InvalidValue(
                "give exactly one of amount_fen or percent_of_minimum_wage",
                field="amount_fen",
                rule="one_of",
            )
        if amount_fen is not None:
            require_fen(amount_fen, "amount_fen")
        if percent_of_minimum_wage is not None and not (
            isinstance(percent_of_minimum_wage, int) and 0 <= percent_of_minimum_wage <= 100
        ):
            raise InvalidValue(
                "percent_of_minimum_wage must be a whole percent 0–100",
                field="percent_of_minimum_wage",
                rule="percent_range",
            )
        self._care_standard_set(
            level=level,
            amount_fen=amount_fen,
            percent_of_minimum_wage=percent_of_minimum_wage,
            **decision_meta(effective_date, actor, document_ref),
        )

    def set_minimum_wage(
        self, *, amount_fen: int, effective_date: str, actor: str, document_ref: str
    ) -> None:
        self._minimum_wage_set(
            amount_fen=require_fen(amount_fen, "amount_fen", allow_zero=False),
            **decision_meta(effective_date, actor, document_ref),
        )

    def set_rounding(
        self, *, unit: str, mode: str, effective_date: str, actor: str, document_ref: str
    ) -> None:
        try:
            unit, mode = RoundingUnit(unit).value, RoundingMode(mode).value
        except ValueError:
            raise InvalidValue(
                "unit must be fen|yuan and mode half_up|up|down", field="unit", rule="rounding_rule"
            ) from None
        self._rounding_set(
            unit=unit, mode=mode, **decision_meta(effective_date, actor, document_ref)
        )

    # Subsidies paid on top (SPEC §4): price linkage, electricity, one-time.

    def record_price_index(
        self,
        *,
        month: str,
        cpi_yoy_permille: int,
        food_cpi_yoy_permille: int,
        actor: str,
        document_ref: str,
    ) -> None:
        """Monthly CPI and food-CPI year on year, in tenths of a percent (3.5 % → 35)."""
        for field, value in (
            ("cpi_yoy_permille", cpi_yoy_permille),
            ("food_cpi_yoy_permille", food_cpi_yoy_permille),
        ):
            _whole(value, field, -500, 1000)
        month = validate_month(month)
        self._price_index_recorded(
            month=month,
            cpi_yoy_permille=cpi_yoy_permille,
            food_cpi_yoy_permille=food_cpi_yoy_permille,
            **decision_meta(first_day(month), actor, document_ref),
        )

    def set_price_linkage(
        self,
        *,
        cpi_threshold_permille: int,
        food_threshold_permille: int,
        minimum_fen: int | None,
        programmes: list[str],
        effective_date: str,
        actor: str,
        document_ref: str,
    ) -> None:
        """物价上涨挂钩联动: thresholds that trigger the subsidy, its minimum, and who is covered."""
        _whole(cpi_threshold_permille, "cpi_threshold_permille", 1, 1000)
        _whole(food_threshold_permille, "food_threshold_permille", 1, 1000)
        if minimum_fen is not None:
            require_fen(minimum_fen, "minimum_fen")
        self._price_linkage_set(
            cpi_threshold_permille=cpi_threshold_permille,
            food_threshold_permille=food_threshold_permille,
            minimum_fen=minimum_fen,
            programmes=_programmes(programmes),
            **decision_meta(effective_date, actor, document_ref),
        )

    def set_electricity_subsidy(
        self,
        *,
        amount_fen_per_quarter: int,
        pay_month_of_quarter: int,
        programmes: list[str],
        effective_date: str,
        actor: str,
        document_ref: str,
    ) -> None:
        """电价补贴: an amount per household per quarter, paid in the chosen month of each quarter."""
        require_fen(amount_fen_per_quarter, "amount_fen_per_quarter", allow_zero=False)
        _whole(pay_month_of_quarter, "pay_month_of_quarter", 1, 3)
        self._electricity_subsidy_set(
            amount_fen_per_quarter=amount_fen_per_quarter,
            pay_month_of_quarter=pay_month_of_quarter,
            programmes=_programmes(programmes),
            **decision_meta(effective_date, actor, document_ref),
        )

    def set_one_time_subsidy(
        self,
        *,
        name: str,
        amount_fen: int,
        per: str,
        pay_month: str,
        programmes: list[str],
        effective_date: str,
        actor: str,
        document_ref: str,
    ) -> None:
        """一次性生活补贴: an amount per person or per household, paid in one named month."""
        if not isinstance(name, str) or not 0 < len(name.strip()) <= 50:
            raise InvalidValue("name is 1–50 characters", field="name", rule="text_required")
        if per not in ("person", "household"):
            raise InvalidValue(
                "per must be 'person' or 'household'", field="per", rule="subsidy_unit"
            )
        self._one_time_subsidy_set(
            name=name.strip(),
            amount_fen=require_fen(amount_fen, "amount_fen", allow_zero=False),
            per=per,
            pay_month=validate_month(pay_month, "pay_month"),
            programmes=_programmes(programmes),
            **decision_meta(effective_date, actor, document_ref),
        )

    def set_approval_limits(
        self,
        *,
        township_limit_fen: int,
        committee_limit_fen: int,
        effective_date: str,
        actor: str,
        document_ref: str,
    ) -> None:
        """临时救助 approval levels: a township approves up to its limit, the county above it, and a
        committee (一事一议) from the second limit up (seeds: 500 yuan in Laibin, 3,000 elsewhere)."""
        require_fen(township_limit_fen, "township_limit_fen", allow_zero=False)
        if (
            require_fen(committee_limit_fen, "committee_limit_fen", allow_zero=False)
            <= township_limit_fen
        ):
            raise InvalidValue(
                "the committee limit is above the township limit",
                field="committee_limit_fen",
                rule="limits_ordered",
            )
        self._approval_limits_set(
            township_limit_fen=township_limit_fen,
            committee_limit_fen=committee_limit_fen,
            **decision_meta(effective_date, actor, document_ref),
        )

    # Fold: the facts themselves live in the policy projection; the aggregate only counts them.

    @event("StandardSet")
    def _standard_set(
        self,
        programme: str,
        amount_fen: int,
        period: str,
        effective_date: str,
        actor: str,
        document_ref: str,
    ) -> None:
        self.fact_count += 1

    @event("TiersSet")
    def _tiers_set(
        self,
        programme: str,
        tiers: dict[str, int],
        effective_date: str,
        actor: str,
        document_ref: str,
    ) -> None:
        self.fact_count += 1

    @event("TekunRuleSet")
    def _tekun_rule_set(
        self,
        multiplier_percent: int,
        explicit_amount_fen: int | None,
        effective_date: str,
        actor: str,
        document_ref: str,
    ) -> None:
        self.fact_count += 1

    @event("CareStandardSet")
    def _care_standard_set(
        self,
        level: str,
        amount_fen: int | None,
        percent_of_minimum_wage: int | None,
        effective_date: str,
        actor: str,
        document_ref: str,
    ) -> None:
        self.fact_count += 1

    @event("MinimumWageSet")
    def _minimum_wage_set(
        self, amount_fen: int, effective_date: str, actor: str, document_ref: str
    ) -> None:
        self.fact_count += 1

    @event("RoundingRuleSet")
    def _rounding_set(
        self, unit: str, mode: str, effective_date: str, actor: str, document_ref: str
    ) -> None:
        self.fact_count += 1

    @event("PriceIndexRecorded")
    def _price_index_recorded(
        self,
        month: str,
        cpi_yoy_permille: int,
        food_cpi_yoy_permille: int,
        effective_date: str,
        actor: str,
        document_ref: str,
    ) -> None:
        self.fact_count += 1

    @event("PriceLinkageSet")
    def _price_linkage_set(
        self,
        cpi_threshold_permille: int,
        food_threshold_permille: int,
        minimum_fen: int | None,
        programmes: list[str],
        effective_date: str,
        actor: str,
        document_ref: str,
    ) -> None:
        self.fact_count += 1

    @event("ElectricitySubsidySet")
    def _electricity_subsidy_set(
        self,
        amount_fen_per_quarter: int,
        pay_month_of_quarter: int,
        programmes: list[str],
        effective_date: str,
        actor: str,
        document_ref: str,
    ) -> None:
        self.fact_count += 1

    @event("OneTimeSubsidySet")
    def _one_time_subsidy_set(
        self,
        name: str,
        amount_fen: int,
        per: str,
        pay_month: str,
        programmes: list[str],
        effective_date: str,
        actor: str,
        document_ref: str,
    ) -> None:
        self.fact_count += 1

    @event("ApprovalLimitsSet")
    def _approval_limits_set(
        self,
        township_limit_fen: int,
        committee_limit_fen: int,
        effective_date: str,
        actor: str,
        document_ref: str,
    ) -> None:
        self.fact_count += 1


def _whole(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidValue(
            f"{field} must be a whole number {low}–{high}", field=field, rule="whole_in_range"
        )
    return value


def _programmes(values: list[str]) -> list[str]:
    if not isinstance(values, list) or not values:
        raise InvalidValue(
            "programmes lists at least one programme", field="programmes", rule="non_empty"
        )
    return sorted({_programme(value, "programmes") for value in values})
