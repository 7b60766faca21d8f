"""Request bodies. Types refuse what the domain would refuse anyway, with the field named:
fen are strict integers ≥ 0 (no floats, no strings), months are YYYY-MM with month 01–12,
dates are ISO dates, unknown fields are errors.

Every text a request carries — body fields, dict keys, list items, text query and path
parameters, stored headers — has a type below carrying ``TEXT_RULE`` (domain/text.py: no
control, bidirectional-formatting, zero-width or other invisible characters; NFC), so the rule
is written once (tests/api/test_input_rules.py tries it on every field of every operation). Digits in
every pattern are ASCII ``[0-9]`` (``\\d`` would accept full-width and Arabic-Indic digits).
Dates and months lie in 1990-01-01 … 2100-12-31 (domain/dates.py).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
)
from pydantic_core import PydanticCustomError

from domain import policy as kinds
from domain.dates import DATE_RANGE, FIRST_DATE, LAST_DATE
from domain.errors import InvalidValue
from domain.identity import validate_id_number
from domain.money import MAX_FEN
from domain.text import nfc, text_problem


def _text_rule(value: Any) -> Any:
    """The domain's text rule as a pydantic validator: the error's type is the rule's name."""
    if not isinstance(value, str):
        return value  # not text: the field's own type refuses it
    problem = text_problem(value)
    if problem is not None:
        raise PydanticCustomError(problem[0], "must not contain {what}", {"what": problem[1]})
    return nfc(value)


TEXT_RULE = BeforeValidator(_text_rule)


def _header_utf8(value: Any) -> Any:
    """A header value as its sender wrote it. ASGI hands header bytes over as Latin-1 (one
    character per byte) while paths and bodies are read as UTF-8; reading the header's bytes as
    UTF-8 makes a key mean the same in a header and in a path, and bytes that are not UTF-8 are
    refused rather than stored as other characters."""
    if not isinstance(value, str):
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise PydanticCustomError("header_utf8", "must be text encoded as UTF-8") from None


# Every header whose value is stored (Idempotency-Key): after this and before ``TEXT_RULE``.
# Pydantic runs before-validators last-listed first, so ``HEADER_UTF8`` goes after ``TEXT_RULE``.
HEADER_UTF8 = BeforeValidator(_header_utf8)


def _id_number_rule(value: str) -> str:
    """The domain's identity-number rule (domain/identity.py) on the field as the caller named
    it: the compact number, or the broken rule as the error's type."""
    try:
        return validate_id_number(value)
    except InvalidValue as refused:
        raise PydanticCustomError(refused.rule, "{detail}", {"detail": str(refused)}) from None


def _date_in_range(value: date) -> date:
    if not FIRST_DATE <= value <= LAST_DATE:
        raise PydanticCustomError("date_range", "must lie in {range}", {"range": DATE_RANGE})
    return value


def _day_text(value: str) -> str:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("date_format", "must be an ISO date YYYY-MM-DD") from None
    return _date_in_range(day).isoformat()


def _timestamp_in_range(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("timestamp_format", "must be an ISO 8601 timestamp") from None
    if not FIRST_DATE <= moment.date() <= LAST_DATE:
        raise PydanticCustomError("date_range", "must lie in {range}", {"range": DATE_RANGE})
    return value


YEAR = r"(199[0-9]|20[0-9]{2}|2100)"
MONTH_PATTERN = rf"^{YEAR}-(0[1-9]|1[0-2])$"
TIMESTAMP_PATTERN = (
    rf"^{YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]{1,6})?Z$"
)
# Offsets and counts fit PostgreSQL's integer (and SQLite's): far past any real list.
MAX_OFFSET = 1_000_000_000

Day = Annotated[
    date,
    AfterValidator(_date_in_range),
    Field(description=f"ISO date YYYY-MM-DD in {DATE_RANGE}", examples=["2024-04-01"]),
]
# A date as a query parameter: text with the date's pattern (a control character is refused by
# the text rule, like every text), then checked as a date in range.
DayText = Annotated[
    str,
    Field(
        pattern=rf"^{YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
        description=f"ISO date YYYY-MM-DD in {DATE_RANGE}",
        examples=["2024-04-01"],
    ),
    TEXT_RULE,
    AfterValidator(_day_text),
]
Timestamp = Annotated[
    str,
    Field(max_length=40, description=f"ISO 8601 timestamp, its date in {DATE_RANGE}"),
    TEXT_RULE,
    AfterValidator(_timestamp_in_range),
]
# Money is integer fen (分) everywhere: 1 yuan = 100 fen, so 670.00 yuan is 67000.
Fen = Annotated[
    StrictInt,
    Field(ge=0, le=10**12, description="integer fen (分; 1 yuan = 100 fen), never a float",
          examples=[67_000]),
]  # fmt: skip
PositiveFen = Annotated[
    StrictInt,
    Field(gt=0, le=10**12, description="integer fen (分; 1 yuan = 100 fen) > 0",
          examples=[67_000]),
]  # fmt: skip
Month = Annotated[
    str,
    Field(
        pattern=MONTH_PATTERN,
        description="YYYY-MM, month 01–12, 1990-01 … 2100-12",
        examples=["2024-04"],
    ),
    TEXT_RULE,
]
RegionCode = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{6}([0-9]{3}|[0-9]{6})?$",
        description="GB/T 2260 code: 6 digits (county and above), 9 or 12 (township)",
    ),
    TEXT_RULE,
]
CountyCode = Annotated[str, Field(pattern=r"^[0-9]{6}$"), TEXT_RULE]
TownshipCode = Annotated[str, Field(pattern=r"^[0-9]{9}$"), TEXT_RULE]
Text = Annotated[str, Field(min_length=1, max_length=500), TEXT_RULE]
OptionalText = Annotated[str, Field(max_length=500), TEXT_RULE]
DocumentRef = Annotated[
    str, Field(min_length=1, max_length=200, description="decision document (文号)"), TEXT_RULE
]
PersonName = Annotated[str, Field(min_length=1, max_length=50), TEXT_RULE]
PayeeName = Annotated[str, Field(min_length=1, max_length=100), TEXT_RULE]
Relation = Annotated[str, Field(max_length=20), TEXT_RULE]
Address = Annotated[str, Field(max_length=200), TEXT_RULE]
IdNumber = Annotated[
    str,
    Field(
        min_length=15,
        max_length=24,
        description="resident identity number (GB 11643), 18 characters; spaces between groups "
        "(420582 19950101 0011) are dropped",
    ),
    TEXT_RULE,
    AfterValidator(_id_number_rule),
]
AccountNumber = Annotated[
    str, Field(min_length=8, max_length=40, description="bank account: 8–32 digits"), TEXT_RULE
]
TierCode = Annotated[
    str,
    Field(pattern=r"^[A-Za-z0-9]{1,16}$", description="1–16 ASCII letters or digits"),
    TEXT_RULE,
]
ShortText = Annotated[str, Field(min_length=1, max_length=100), TEXT_RULE]
Label = Annotated[str, Field(max_length=100), TEXT_RULE]
ProgrammeCode = Annotated[str, Field(min_length=1, max_length=40), TEXT_RULE]
DETAIL_TEXT_MAX_LENGTH = 500
DetailKey = Annotated[str, Field(min_length=1, max_length=100), TEXT_RULE]


def _detail_value(value: Any) -> Any:
    """A registry detail's value: text (the text rule, at most 500 characters), an integer
    within ±MAX_FEN (the event store's JSON decodes exactly only within 64 bits), a boolean or
    null. One validator, so that a refused value is one error naming ``details.<key>`` and the
    rule it broke (a union type would report one error per member)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value > MAX_FEN:
            raise PydanticCustomError("less_than_equal", "must be at most {le}", {"le": MAX_FEN})
        if value < -MAX_FEN:
            raise PydanticCustomError(
                "greater_than_equal", "must be at least {ge}", {"ge": -MAX_FEN}
            )
        return value
    if isinstance(value, str):
        value = _text_rule(value).strip()
        if len(value) > DETAIL_TEXT_MAX_LENGTH:
            raise PydanticCustomError(
                "string_too_long",
                "must have at most {max} characters",
                {"max": DETAIL_TEXT_MAX_LENGTH},
            )
        return value
    raise PydanticCustomError("detail_value_type", "must be text, an integer, true, false or null")


DetailValue = Annotated[
    Any,
    PlainValidator(
        _detail_value,
        json_schema_input_type=Annotated[str, Field(max_length=DETAIL_TEXT_MAX_LENGTH)]
        | Annotated[int, Field(ge=-MAX_FEN, le=MAX_FEN)]
        | bool
        | None,
    ),
]
DataMatch = Annotated[str, Field(max_length=200), TEXT_RULE]
# Text in a query, a path or a stored header (Idempotency-Key, transaction keys).
KeyText = Annotated[str, Field(min_length=1, max_length=200), TEXT_RULE]
# A text path parameter: the domain checks its form (region codes, accounts, months).
PathText = Annotated[str, TEXT_RULE]
RegistryKind = Literal["death", "vehicle", "property", "business", "cadre_relative"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Decision(Body):
    """A decision: its effective date and document, and — when it is recorded after it was
    taken (补录) — the day it was taken and its document's date."""

    effective_date: Day
    document_ref: DocumentRef
    decided_on: Day | None = Field(
        default=None,
        description="the day the decision was taken, if not the day it is recorded: never later"
        " than that day, nor more than 366 days before it",
        examples=["2024-03-12"],
    )
    document_date: Day | None = Field(
        default=None,
        description="the date of the decision's document (文号), within the same bounds",
        examples=["2024-03-14"],
    )


class StandardIn(Decision):
    programme: ProgrammeCode
    amount_fen: PositiveFen
    period: Literal["month", "year"] = "month"


class TiersIn(Decision):
    programme: ProgrammeCode
    tiers: dict[TierCode, PositiveFen]


class TekunRuleIn(Decision):
    multiplier_percent: StrictInt = Field(
        ge=130, le=1000, examples=[130],
        description="percent of the dibao standard (%): 130 = 1.3 × the standard",
    )  # fmt: skip
    explicit_amount_fen: PositiveFen | None = None


class CareStandardIn(Decision):
    level: Literal["full_self_care", "partial", "none"]
    amount_fen: Fen | None = None
    percent_of_minimum_wage: StrictInt | None = Field(
        default=None, ge=0, le=100, examples=[15],
        description="percent of the minimum wage (%), 0–100: 15 = 15 %; or give amount_fen",
    )  # fmt: skip


class MinimumWageIn(Decision):
    amount_fen: PositiveFen


class GradualExitRuleIn(Decision):
    pay_percent: StrictInt = Field(
        ge=1, le=100, examples=[50],
        description="percent (%) of the amount paid before the income rose that a household"
        " keeps during a gradual exit (渐退), 1–100: 50 = half; without this fact, 100",
    )  # fmt: skip


class RoundingIn(Decision):
    unit: Literal["fen", "yuan"]
    mode: Literal["half_up", "up", "down"] = "half_up"


Permille = Annotated[
    StrictInt,
    Field(description="permille (‰, tenths of a percent): 3.5 % → 35", examples=[35]),
]
Programmes = Annotated[list[ProgrammeCode], Field(min_length=1, max_length=10)]


class PriceIndexIn(Body):
    month: Month
    cpi_yoy_permille: Permille = Field(ge=-500, le=1000)
    food_cpi_yoy_permille: Permille = Field(ge=-500, le=1000)
    document_ref: DocumentRef


class PriceLinkageIn(Decision):
    cpi_threshold_permille: Permille = Field(default=35, ge=1, le=1000)
    food_threshold_permille: Permille = Field(default=60, ge=1, le=1000)
    minimum_fen: Fen | None = None
    programmes: Programmes


class ElectricityIn(Decision):
    amount_fen_per_quarter: PositiveFen
    pay_month_of_quarter: StrictInt = Field(ge=1, le=3)
    programmes: Programmes


class OneTimeIn(Decision):
    name: PersonName
    amount_fen: PositiveFen
    per: Literal["person", "household"]
    pay_month: Month
    programmes: Programmes


class MemberIn(Body):
    id_number: IdNumber
    name: PersonName
    relation: Relation = "member"


class HouseholdApplyIn(Decision):
    region_code: RegionCode
    programme: Literal["dibao_urban", "dibao_rural", "marginal"]
    members: Annotated[list[MemberIn], Field(min_length=1, max_length=30)]
    address: Address = ""


class IncomeIn(Decision):
    household_income_fen: Fen
    excluded_income_fen: Fen = 0
    rigid_expenditure_fen: Fen = 0
    employment_cost_fen: Fen = 0
    assets_fen: Fen = 0
    deposits_fen: Fen = 0
    data_matches: Annotated[list[DataMatch], Field(max_length=50)] = []

    def as_income(self) -> dict[str, Any]:
        return self.model_dump(exclude={"effective_date", "document_ref"})


class ApproveIn(Decision):
    method: Literal["top_up", "tier"]
    tier_code: TierCode | None = None
    start_month: Month
    payee_account: AccountNumber
    payee_name: PayeeName
    single_person_id_number: IdNumber | None = None
    annual_review_due: Day | None = None
    programme: Literal["dibao_urban", "dibao_rural", "marginal"] | None = None


class ReasonIn(Decision):
    reason: Text


class TerminateIn(Decision):
    reason: Literal[
        "income_above_standard",
        "death",
        "moved",
        "fraud",
        "voluntary",
        "no_longer_eligible",
        "gradual_exit_ended",
        "other",
    ]


class RemoveMemberIn(Decision):
    id_number: IdNumber
    reason: Text


class AddMemberIn(Decision):
    member: MemberIn


class TierIn(Decision):
    tier_code: TierCode


class PayeeAccountIn(Decision):
    account_number: AccountNumber
    account_name: PayeeName


class PlainDecision(Decision):
    pass


class GradualExitIn(Decision):
    months: StrictInt = Field(default=6, ge=1, le=12)


class AnnualReviewIn(Decision):
    outcome: Text
    next_due: Day
    eligible: StrictBool | None = Field(
        default=None,
        description="During a gradual exit (渐退): true when the review found the household"
        " eligible again, so the case is active again instead of leaving when the exit ends.",
    )


class InstitutionIn(Body):
    name: ShortText
    account_number: AccountNumber


class TekunApplyIn(Decision):
    region_code: RegionCode
    id_number: IdNumber
    name: PersonName


class TekunApproveIn(Decision):
    application_id: UUID
    region_code: RegionCode
    id_number: IdNumber
    name: PersonName
    mode: Literal["centralized", "dispersed"]
    care_level: Literal["full_self_care", "partial", "none"]
    institution: InstitutionIn | None = None
    payee_account: AccountNumber | None = None
    payee_name: PayeeName | None = None
    start_month: Month


class CareLevelIn(Decision):
    care_level: Literal["full_self_care", "partial", "none"]


class ModeIn(Decision):
    mode: Literal["centralized", "dispersed"]
    institution: InstitutionIn | None = None
    payee_account: AccountNumber | None = None
    payee_name: PayeeName | None = None


class RegistryIn(Body):
    kind: RegistryKind
    source: ShortText
    source_ref: ShortText
    id_number: IdNumber
    region_code: RegionCode
    effective_date: Day
    details: Annotated[dict[DetailKey, DetailValue], Field(max_length=50)] = {}


class DismissIn(Body):
    note: Text
    document_ref: DocumentRef


class ExplainIn(Body):
    note: Text
    document_ref: DocumentRef


class ConfirmIn(Body):
    outcome: Literal["recovery", "referral"]
    note: Text
    document_ref: DocumentRef


class PersonQuery(Body):
    id_number: IdNumber


class CredentialIn(Body):
    role: Literal[
        "case_worker", "approver", "finance_officer", "auditor", "special_auditor", "admin"
    ]
    region_scope: Annotated[
        str,
        Field(
            pattern=r"^[0-9]{6}([0-9]{3})?$",
            description="county, city, province or 9-digit township",
        ),
        TEXT_RULE,
    ]
    label: Label = ""
    expires_at: Timestamp | None = None
    period_from: Day | None = None
    period_to: Day | None = None
    staff_id: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=64,
            description="the holder's staff id (one person across credentials: ASCII letters, "
            "digits, '-', '_', '.'); required for case_worker, approver, finance_officer and admin",
        ),
        TEXT_RULE,
    ] = None


class RollGenerateIn(Body):
    county_code: CountyCode
    month: Month
    group: Literal["all", "dibao", "marginal", "tekun"] = "all"


class LedgerLineIn(Body):
    account: Annotated[
        str,
        Field(
            min_length=5,
            max_length=80,
            examples=["pool:420582:dibao"],
            description="kind:region:qualifier of the chart (ledger/accounts.py CHART)",
        ),
        TEXT_RULE,
    ]
    debit_fen: Fen = 0
    credit_fen: Fen = 0
    source: Annotated[
        str,
        Field(
            max_length=40,
            description="funding source the money came from: central, provincial, city or county"
            " (a source account's line: its own level); each source balances within the"
            " transaction",
        ),
        TEXT_RULE,
    ] = ""


class TransactionIn(Body):
    code: Literal["raise", "allocate", "reserve_roll", "disburse", "release", "return", "advance", "grant",
                  "reimburse", "carry_over", "recover"]  # fmt: skip
    posting_date: Day
    lines: Annotated[list[LedgerLineIn], Field(min_length=2, max_length=1000)]
    description: OptionalText = ""
    document_ref: DocumentRef


class ReversalIn(Body):
    posting_date: Day
    document_ref: DocumentRef


class PeriodCloseIn(Body):
    document_ref: DocumentRef


class ApprovalLimitsIn(Decision):
    township_limit_fen: PositiveFen
    committee_limit_fen: PositiveFen


class LedgerConfirmationIn(Decision):
    threshold_fen: PositiveFen


class RollDeputyIn(Decision):
    staff_id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=64,
            description="the deputy's staff id (ASCII letters, digits, '-', '_', '.')",
        ),
        TEXT_RULE,
    ]


class MisuseThresholdsIn(Decision):
    grant_window_days: StrictInt = Field(ge=1, le=3660, description="days grants count together")
    repeat_grant_count: StrictInt = Field(
        ge=2, le=100, description="grants in the window that are repeated"
    )
    backdate_days: StrictInt = Field(
        ge=1, le=3660, description="days before recording that count as back-dated"
    )
    payment_deadline_day: StrictInt = Field(
        ge=1, le=28, description="the day of its month by which a month's roll is sent"
    )
    idle_days: StrictInt = Field(
        default=90, ge=1, le=3660, description="days allocated money may stay unspent (滞留)"
    )
    above_standard_percent: StrictInt = Field(
        default=100, ge=100, le=1000,
        description="percent of the full standard × covered members a month may pay",
        examples=[100],
    )  # fmt: skip


# Each policy kind's request body and its path under /policy/{region_code}/; the body's fields
# are those of the kind's value (``domain.policy.KINDS``) with the decision's date and document.
POLICY_BODIES: dict[type[kinds.PolicyValue], tuple[str, type[Body]]] = {
    kinds.Standard: ("standards", StandardIn),
    kinds.Tiers: ("tiers", TiersIn),
    kinds.TekunRule: ("tekun-rules", TekunRuleIn),
    kinds.CareStandard: ("care-standards", CareStandardIn),
    kinds.MinimumWage: ("minimum-wage", MinimumWageIn),
    kinds.RoundingRule: ("rounding", RoundingIn),
    kinds.PriceIndex: ("price-indices", PriceIndexIn),
    kinds.PriceLinkage: ("price-linkage", PriceLinkageIn),
    kinds.ElectricitySubsidy: ("electricity-subsidies", ElectricityIn),
    kinds.OneTimeSubsidy: ("one-time-subsidies", OneTimeIn),
    kinds.ApprovalLimits: ("approval-limits", ApprovalLimitsIn),
    kinds.LedgerConfirmation: ("ledger-confirmation", LedgerConfirmationIn),
    kinds.RollDeputy: ("roll-deputies", RollDeputyIn),
    kinds.MisuseThresholds: ("misuse-thresholds", MisuseThresholdsIn),
    kinds.GradualExitRule: ("gradual-exit-rules", GradualExitRuleIn),
}


class GrantRequestIn(Decision):
    region_code: RegionCode
    occurred_in: RegionCode
    id_number: IdNumber
    name: PersonName
    grant_type: Literal["urgent", "expenditure"]
    amount_fen: PositiveFen
    reason: Text


class GrantApproveIn(Decision):
    """The approval level is the approver's credential's (township or county), or the committee
    (一事一议) when a county-level approver records the committee's decision document."""

    paying_township: TownshipCode
    committee_document_ref: DocumentRef | None = None


class GrantPayIn(Body):
    posting_date: Day


class SupplementIn(Decision):
    note: Text
