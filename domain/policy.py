"""Policy book of one region (SPEC §4): standards, tiers, 特困 rules, care standards, rounding.

NOTE: the events below are a storage format. Renaming or moving them needs ``register_topic``;
changing their fields needs a ``class_version`` bump and an upcaster (see tests/upcasting).

Every fact is effective-dated (``effective_date`` = the first day it applies) and recorded at the
event's timestamp, so the policy book answers "as known at T, what was effective in month M".
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.decisions import decision_meta
from domain.errors import InvalidValue
from domain.money import RoundingMode, RoundingUnit, divide_rounded, require_fen
from domain.programmes import CareLevel, Programme
from domain.regions import validate_region_code

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
            if not code or len(code) > 16:
                raise InvalidValue(
                    "tier codes are 1–16 characters", field="tiers", rule="tier_code"
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
