"""Policy book of one region (SPEC §4): standards, tiers, 特困 rules, care standards, rounding,
subsidies, approval limits.

NOTE: the events below are a storage format. Renaming or moving them needs ``register_topic``.
Before the first release every event stays at version 1 and changes shape in place; from the
first release on, a change needs a ``class_version`` bump and an upcaster tested against a
frozen payload of the old version (see tests/upcasting). A kind's event is ``RegionPolicy.<event_name>``, its fields those of the kind's value class: a
change to a value class is a change to its event.

A policy kind is declared once, here: a frozen dataclass of its typed value (its fields are the
fields of its event and of the API's request body, less the decision's date and document), its
validation (``checked``), the name of its event on ``RegionPolicy`` and the field naming the
item it is about. ``KINDS`` lists them; the API, the policy book, the roll and the application
service take every kind from there.

Every fact is effective-dated (``effective_date`` = the first day it applies) and recorded at the
event's timestamp, so the policy book answers "as known at T, what was effective in month M".
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, ClassVar, Final, Generic, Self, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.access import valid_staff_id
from domain.dates import first_day, validate_month
from domain.decisions import decision_documents, decision_meta
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


# --- the kinds of policy fact ----------------------------------------------------------------


class PolicyValue:
    """What one kind of policy fact says, as a frozen dataclass (subclasses below)."""

    kind: ClassVar[str]  # its name in the policy book and the API ("standard")
    event_name: ClassVar[str]  # its event on ``RegionPolicy`` ("StandardSet")
    item_field: ClassVar[str | None] = None  # the field naming what it is about, if any

    def checked(self) -> Self:
        """The value with its fields validated and normalised; ``InvalidValue`` names the field."""
        return self

    def effective_date(self, given: str) -> str:
        """The first day the fact applies: the decision's date, unless the kind fixes it."""
        return given

    def item(self) -> str:
        return "" if self.item_field is None else str(getattr(self, self.item_field))

    def payload(self) -> dict[str, Any]:
        """The value's fields as its event and the policy book store them."""
        found: dict[str, Any] = asdict(self)  # type: ignore[call-overload]
        return found


@dataclass(frozen=True)
class Standard(PolicyValue):
    """A programme's published standard (低保标准), per month or per year."""

    kind = "standard"
    event_name = "StandardSet"
    item_field = "programme"
    programme: str
    amount_fen: int
    period: str = "month"

    def checked(self) -> Self:
        if self.period not in ("month", "year"):
            raise InvalidValue(
                "period must be 'month' or 'year'", field="period", rule="standard_period"
            )
        return replace(
            self,
            programme=_programme(self.programme),
            amount_fen=require_fen(self.amount_fen, "amount_fen", allow_zero=False),
        )

    def monthly_fen(self, unit: RoundingUnit, mode: RoundingMode) -> int:
        return monthly_standard_fen(self.amount_fen, self.period, unit, mode)


@dataclass(frozen=True)
class Tiers(PolicyValue):
    """A programme's amounts per tier (分档), by tier code."""

    kind = "tiers"
    event_name = "TiersSet"
    item_field = "programme"
    programme: str
    tiers: dict[str, int]

    def checked(self) -> Self:
        if not self.tiers:
            raise InvalidValue("tiers must name at least one tier", field="tiers", rule="non_empty")
        for code, amount in self.tiers.items():
            if not _TIER_CODE(code):
                raise InvalidValue(
                    "tier codes are 1–16 ASCII letters or digits", field="tiers", rule="tier_code"
                )
            require_fen(amount, f"tiers.{code}", allow_zero=False)
        return replace(
            self, programme=_programme(self.programme), tiers=dict(sorted(self.tiers.items()))
        )


@dataclass(frozen=True)
class TekunRule(PolicyValue):
    """特困 basic living: a multiple of the dibao standard, or an amount set outright."""

    kind = "tekun_rule"
    event_name = "TekunRuleSet"
    multiplier_percent: int
    explicit_amount_fen: int | None = None

    def checked(self) -> Self:
        multiplier = self.multiplier_percent
        if (
            isinstance(multiplier, bool)
            or not isinstance(multiplier, int)
            or multiplier < MIN_TEKUN_MULTIPLIER_PERCENT
        ):
            raise InvalidValue(
                "multiplier_percent must be a whole percent ≥ 130 (1.3 × dibao standard)",
                field="multiplier_percent",
                rule="tekun_multiplier_minimum",
            )
        if self.explicit_amount_fen is not None:
            require_fen(self.explicit_amount_fen, "explicit_amount_fen", allow_zero=False)
        return self


@dataclass(frozen=True)
class CareStandard(PolicyValue):
    """特困 care per care level: an amount, or a percent of the minimum wage."""

    kind = "care_standard"
    event_name = "CareStandardSet"
    item_field = "level"
    level: str
    amount_fen: int | None = None
    percent_of_minimum_wage: int | None = None

    def checked(self) -> Self:
        try:
            level = CareLevel(self.level).value
        except ValueError:
            raise InvalidValue(
                f"level must be one of {[c.value for c in CareLevel]}",
                field="level",
                rule="care_level",
            ) from None
        amount, percent = self.amount_fen, self.percent_of_minimum_wage
        if (amount is None) == (percent is None):
            raise InvalidValue(
                "give exactly one of amount_fen or percent_of_minimum_wage",
                field="amount_fen",
                rule="one_of",
            )
        if amount is not None:
            require_fen(amount, "amount_fen")
        if percent is not None and not (isinstance(percent, int) and 0 <= percent <= 100):
            raise InvalidValue(
                "percent_of_minimum_wage must be a whole percent 0–100",
                field="percent_of_minimum_wage",
                rule="percent_range",
            )
        return replace(self, level=level)


@dataclass(frozen=True)
class MinimumWage(PolicyValue):
    """The monthly minimum wage (最低工资), which care standards may be a percent of."""

    kind = "minimum_wage"
    event_name = "MinimumWageSet"
    amount_fen: int

    def checked(self) -> Self:
        require_fen(self.amount_fen, "amount_fen", allow_zero=False)
        return self


@dataclass(frozen=True)
class GradualExitRule(PolicyValue):
    """渐退: the percent of its amount before the income rose that a household keeps receiving
    during a gradual exit, where the region pays a fraction of it (without this fact: all of
    it, 100 %)."""

    kind = "gradual_exit_rule"
    event_name = "GradualExitRuleSet"
    pay_percent: int

    def checked(self) -> Self:
        percent = self.pay_percent
        if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 100:
            raise InvalidValue(
                "pay_percent is a whole percent 1–100", field="pay_percent", rule="percent_range"
            )
        return self


@dataclass(frozen=True)
class RoundingRule(PolicyValue):
    """How the region rounds what it divides (annual standards, per-capita gaps)."""

    kind = "rounding"
    event_name = "RoundingRuleSet"
    unit: str
    mode: str = RoundingMode.HALF_UP.value

    def checked(self) -> Self:
        try:
            return replace(
                self, unit=RoundingUnit(self.unit).value, mode=RoundingMode(self.mode).value
            )
        except ValueError:
            raise InvalidValue(
                "unit must be fen|yuan and mode half_up|up|down", field="unit", rule="rounding_rule"
            ) from None


@dataclass(frozen=True)
class PriceIndex(PolicyValue):
    """Monthly CPI and food-CPI year on year, in tenths of a percent (3.5 % → 35); in force
    for its own month."""

    kind = "price_index"
    event_name = "PriceIndexRecorded"
    item_field = "month"
    month: str
    cpi_yoy_permille: int
    food_cpi_yoy_permille: int

    def checked(self) -> Self:
        _whole(self.cpi_yoy_permille, "cpi_yoy_permille", -500, 1000)
        _whole(self.food_cpi_yoy_permille, "food_cpi_yoy_permille", -500, 1000)
        return replace(self, month=validate_month(self.month))

    def effective_date(self, given: str) -> str:
        return first_day(self.month)


@dataclass(frozen=True)
class PriceLinkage(PolicyValue):
    """物价上涨挂钩联动: thresholds that trigger the subsidy, its minimum, and who is covered."""

    kind = "price_linkage"
    event_name = "PriceLinkageSet"
    programmes: list[str]
    cpi_threshold_permille: int = 35
    food_threshold_permille: int = 60
    minimum_fen: int | None = None

    def checked(self) -> Self:
        _whole(self.cpi_threshold_permille, "cpi_threshold_permille", 1, 1000)
        _whole(self.food_threshold_permille, "food_threshold_permille", 1, 1000)
        if self.minimum_fen is not None:
            require_fen(self.minimum_fen, "minimum_fen")
        return replace(self, programmes=_programmes(self.programmes))


@dataclass(frozen=True)
class ElectricitySubsidy(PolicyValue):
    """电价补贴: an amount per household per quarter, paid in the chosen month of each quarter."""

    kind = "electricity"
    event_name = "ElectricitySubsidySet"
    amount_fen_per_quarter: int
    pay_month_of_quarter: int
    programmes: list[str]

    def checked(self) -> Self:
        require_fen(self.amount_fen_per_quarter, "amount_fen_per_quarter", allow_zero=False)
        _whole(self.pay_month_of_quarter, "pay_month_of_quarter", 1, 3)
        return replace(self, programmes=_programmes(self.programmes))


@dataclass(frozen=True)
class OneTimeSubsidy(PolicyValue):
    """一次性生活补贴: an amount per person or per household, paid in one named month."""

    kind = "one_time"
    event_name = "OneTimeSubsidySet"
    item_field = "name"
    name: str
    amount_fen: int
    per: str
    pay_month: str
    programmes: list[str]

    def checked(self) -> Self:
        if not isinstance(self.name, str) or not 0 < len(self.name.strip()) <= 50:
            raise InvalidValue("name is 1–50 characters", field="name", rule="text_required")
        if self.per not in ("person", "household"):
            raise InvalidValue(
                "per must be 'person' or 'household'", field="per", rule="subsidy_unit"
            )
        return replace(
            self,
            name=self.name.strip(),
            amount_fen=require_fen(self.amount_fen, "amount_fen", allow_zero=False),
            pay_month=validate_month(self.pay_month, "pay_month"),
            programmes=_programmes(self.programmes),
        )


@dataclass(frozen=True)
class ApprovalLimits(PolicyValue):
    """临时救助 approval levels: a township approves up to its limit, the county above it, and a
    committee (一事一议) from the second limit up (seeds: 500 yuan in Laibin, 3,000 elsewhere)."""

    kind = "approval_limits"
    event_name = "ApprovalLimitsSet"
    township_limit_fen: int
    committee_limit_fen: int

    def checked(self) -> Self:
        require_fen(self.township_limit_fen, "township_limit_fen", allow_zero=False)
        committee = require_fen(self.committee_limit_fen, "committee_limit_fen", allow_zero=False)
        if committee <= self.township_limit_fen:
            raise InvalidValue(
                "the committee limit is above the township limit",
                field="committee_limit_fen",
                rule="limits_ordered",
            )
        return self


# Without a recorded ``ledger_confirmation`` fact, a posting above 5,000,000 yuan (500万元) needs
# a second finance officer's confirmation.
DEFAULT_CONFIRMATION_THRESHOLD_FEN: Final = 500_000_000


@dataclass(frozen=True)
class LedgerConfirmation(PolicyValue):
    """Two-phase postings (大额资金双人复核): a client's posting, reversal or year-end carry-over
    moving more than ``threshold_fen`` is only proposed, and takes effect when a second finance
    officer (another person) confirms it (default ``DEFAULT_CONFIRMATION_THRESHOLD_FEN``)."""

    kind = "ledger_confirmation"
    event_name = "LedgerConfirmationSet"
    threshold_fen: int

    def checked(self) -> Self:
        require_fen(self.threshold_fen, "threshold_fen", allow_zero=False)
        return self


@dataclass(frozen=True)
class RollDeputy(PolicyValue):
    """Where a county has a single finance officer, the person (staff id) who may take its rolls'
    second step (approval) in that officer's stead: named here, never assumed; each approval by
    the deputy names this fact."""

    kind = "roll_deputy"
    event_name = "RollDeputySet"
    staff_id: str

    def checked(self) -> Self:
        return replace(self, staff_id=valid_staff_id(self.staff_id))


@dataclass(frozen=True)
class MisuseThresholds(PolicyValue):
    """The thresholds of the misuse checks (SPEC §8) in a region: the window within which
    temporary grants to one person count together (split under a limit, or repeated), how many
    grants in it are "repeated", how many days before its recording a decision may take
    effect before it counts as back-dated, and the day of its month by which a month's roll
    is sent to the bank; how many days money allocated to a county's pool may stay unspent
    (滞留), and what share (percent) of the full standard × covered members a household may be
    paid for one month (above it, the amount is above what the standard allows; a region paying
    subsidies on top of the benefit in some months raises it from their date).
    ``DEFAULT_THRESHOLDS`` applies where none is set."""

    kind = "misuse_thresholds"
    event_name = "MisuseThresholdsSet"
    grant_window_days: int
    repeat_grant_count: int
    backdate_days: int
    payment_deadline_day: int
    idle_days: int = 90
    above_standard_percent: int = 100

    def checked(self) -> Self:
        _whole(self.grant_window_days, "grant_window_days", 1, 3660)
        _whole(self.repeat_grant_count, "repeat_grant_count", 2, 100)
        _whole(self.backdate_days, "backdate_days", 1, 3660)
        _whole(self.payment_deadline_day, "payment_deadline_day", 1, 28)
        _whole(self.idle_days, "idle_days", 1, 3660)
        _whole(self.above_standard_percent, "above_standard_percent", 100, 1000)
        return self


# Defaults: grants within 90 days count together, 3 of them are repeated, a decision effective
# more than 90 days before it was recorded is back-dated, a month's roll goes to the bank by
# the 10th of that month (按月发放), an allocation still unspent 90 days after it arrived is
# idle, and no household is paid more for a month than its full standard × covered members.
DEFAULT_THRESHOLDS: Final = MisuseThresholds(
    grant_window_days=90,
    repeat_grant_count=3,
    backdate_days=90,
    payment_deadline_day=10,
    idle_days=90,
    above_standard_percent=100,
)


KINDS: Final[dict[str, type[PolicyValue]]] = {
    value.kind: value
    for value in (
        Standard,
        Tiers,
        TekunRule,
        CareStandard,
        MinimumWage,
        RoundingRule,
        PriceIndex,
        PriceLinkage,
        ElectricitySubsidy,
        OneTimeSubsidy,
        ApprovalLimits,
        LedgerConfirmation,
        RollDeputy,
        MisuseThresholds,
        GradualExitRule,
    )
}


def policy_kind(kind: str) -> type[PolicyValue]:
    """The value class of a kind's name, or ``InvalidValue`` naming the known ones."""
    found = KINDS.get(kind)
    if found is None:
        raise InvalidValue(f"kind must be one of {list(KINDS)}", field="kind", rule="policy_kind")
    return found


V = TypeVar("V", bound=PolicyValue)


@dataclass(frozen=True)
class InForce(Generic[V]):
    """A policy fact as the policy book holds it: its typed value, the reference of the event
    that recorded it ('RegionPolicy.StandardSet#12'), when it applies from and when it was
    recorded."""

    value: V
    source: str
    effective_date: str
    recorded_at: str


def stored_value(kind: type[V], payload: dict[str, Any]) -> V:
    """A fact's typed value from its stored payload (checked when it was recorded)."""
    return kind(**payload)


# --- the aggregate ---------------------------------------------------------------------------


class RegionPolicy(Aggregate):
    """One region's policy book; its id is derived from the region code."""

    class FactRecorded(Aggregate.Event):
        """A policy fact: the fields of its kind's value (``value_type``), the effective date,
        the actor and the decision document. Each kind's event subclasses it (``KINDS``)."""

        value_type: ClassVar[type[PolicyValue]]
        effective_date: str
        actor: str
        document_ref: str
        decided_on: str | None  # the day the decision was taken, if given (``decision_documents``)
        document_date: str | None  # its document's date, if given

        def value(self) -> PolicyValue:
            """The fact's typed value."""
            return self.value_type(
                **{field.name: getattr(self, field.name) for field in fields(self.value_type)}  # type: ignore[arg-type]
            )

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, RegionPolicy)
            aggregate.fact_count += 1

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

    def record(self, kind: str, request: dict[str, Any], *, actor: str) -> PolicyValue:
        """Validate a fact of ``kind`` (its value's fields, ``effective_date`` unless the kind
        fixes it, ``document_ref``, optionally ``decided_on`` and ``document_date``), then
        record exactly one event of it."""
        value_type = policy_kind(kind)
        given = dict(request)
        effective_date = given.pop("effective_date", "")
        document_ref = given.pop("document_ref", "")
        dates = decision_documents(given.pop("decided_on", None), given.pop("document_date", None))
        value = value_type(**given).checked()
        self.trigger_event(
            fact_event(value_type),
            **value.payload(),
            **decision_meta(value.effective_date(effective_date), actor, document_ref),
            **dates,
        )
        return value


def fact_event(value_type: type[PolicyValue]) -> type[RegionPolicy.FactRecorded]:
    """The event that records facts of a kind (``RegionPolicy.<event_name>``)."""
    found: type[RegionPolicy.FactRecorded] = getattr(RegionPolicy, value_type.event_name)
    return found


def _define_fact_event(value_type: type[PolicyValue]) -> None:
    """Define ``RegionPolicy.<event_name>`` with the value's fields (a storage format: its
    topic is the module and that qualified name)."""
    annotations = {field.name: field.type for field in fields(value_type)}  # type: ignore[arg-type]
    name = value_type.event_name
    defined = type(
        name,
        (RegionPolicy.FactRecorded,),
        {
            "__annotations__": annotations,
            "__module__": __name__,
            "__qualname__": f"RegionPolicy.{name}",
            "value_type": value_type,
        },
    )
    setattr(RegionPolicy, name, defined)


for _value_type in KINDS.values():
    _define_fact_event(_value_type)


def _programme(value: str, field: str = "programme") -> str:
    try:
        return Programme(value).value
    except ValueError:
        raise InvalidValue(
            f"{field} must be one of {[p.value for p in Programme]}",
            field=field,
            rule="known_programme",
        ) from None


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
