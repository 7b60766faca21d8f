"""Request bodies. Types refuse what the domain would refuse anyway, with the field named:
fen are strict integers ≥ 0 (no floats, no strings), months are YYYY-MM with month 01–12,
dates are ISO dates, unknown fields are errors."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from domain.money import MAX_FEN

Fen = Annotated[StrictInt, Field(ge=0, le=10**12, description="integer fen (分), never a float")]
PositiveFen = Annotated[StrictInt, Field(gt=0, le=10**12, description="integer fen (分) > 0")]
Month = Annotated[
    str,
    Field(
        pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM, month 01–12", examples=["2024-04"]
    ),
]
RegionCode = Annotated[
    str,
    Field(
        pattern=r"^\d{6}(\d{3}|\d{6})?$",
        description="6-digit GB/T 2260 code or 12-digit township code",
    ),
]
Text = Annotated[str, Field(min_length=1, max_length=500)]
DocumentRef = Annotated[
    str, Field(min_length=1, max_length=200, description="decision document (文号)")
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Decision(Body):
    effective_date: date
    document_ref: DocumentRef


class StandardIn(Decision):
    programme: str
    amount_fen: PositiveFen
    period: Literal["month", "year"] = "month"


class TiersIn(Decision):
    programme: str
    tiers: dict[Annotated[str, Field(min_length=1, max_length=16)], PositiveFen]


class TekunRuleIn(Decision):
    multiplier_percent: StrictInt = Field(ge=130, le=1000, description="130 = 1.3 × dibao standard")
    explicit_amount_fen: PositiveFen | None = None


class CareStandardIn(Decision):
    level: Literal["full_self_care", "partial", "none"]
    amount_fen: Fen | None = None
    percent_of_minimum_wage: StrictInt | None = Field(default=None, ge=0, le=100)


class MinimumWageIn(Decision):
    amount_fen: PositiveFen


class RoundingIn(Decision):
    unit: Literal["fen", "yuan"]
    mode: Literal["half_up", "up", "down"] = "half_up"


Permille = Annotated[StrictInt, Field(description="tenths of a percent: 3.5 % → 35")]
Programmes = Annotated[list[str], Field(min_length=1, max_length=10)]


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
    name: Annotated[str, Field(min_length=1, max_length=50)]
    amount_fen: PositiveFen
    per: Literal["person", "household"]
    pay_month: Month
    programmes: Programmes


class MemberIn(Body):
    id_number: Annotated[str, Field(min_length=15, max_length=18)]
    name: Annotated[str, Field(min_length=1, max_length=50)]
    relation: Annotated[str, Field(max_length=20)] = "member"


class HouseholdApplyIn(Decision):
    region_code: RegionCode
    programme: Literal["dibao_urban", "dibao_rural", "marginal"]
    members: Annotated[list[MemberIn], Field(min_length=1, max_length=30)]
    address: Annotated[str, Field(max_length=200)] = ""


class IncomeIn(Decision):
    household_income_fen: Fen
    excluded_income_fen: Fen = 0
    rigid_expenditure_fen: Fen = 0
    employment_cost_fen: Fen = 0
    assets_fen: Fen = 0
    deposits_fen: Fen = 0
    data_matches: Annotated[list[Annotated[str, Field(max_length=200)]], Field(max_length=50)] = []

    def as_income(self) -> dict[str, Any]:
        return self.model_dump(exclude={"effective_date", "document_ref"})


class ApproveIn(Decision):
    method: Literal["top_up", "tier"]
    tier_code: Annotated[str, Field(min_length=1, max_length=16)] | None = None
    start_month: Month
    payee_account: Annotated[str, Field(min_length=8, max_length=40)]
    payee_name: Annotated[str, Field(min_length=1, max_length=100)]
    single_person_id_number: str | None = None
    annual_review_due: date | None = None
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
    id_number: Annotated[str, Field(min_length=15, max_length=18)]
    reason: Text


class AddMemberIn(Decision):
    member: MemberIn


class TierIn(Decision):
    tier_code: Annotated[str, Field(min_length=1, max_length=16)]


class PayeeAccountIn(Decision):
    account_number: Annotated[str, Field(min_length=8, max_length=40)]
    account_name: Annotated[str, Field(min_length=1, max_length=100)]


class PlainDecision(Decision):
    pass


class GradualExitIn(Decision):
    months: StrictInt = Field(default=6, ge=1, le=12)


class AnnualReviewIn(Decision):
    outcome: Text
    next_due: date


class InstitutionIn(Body):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    account_number: Annotated[str, Field(min_length=8, max_length=40)]


class TekunApproveIn(Decision):
    region_code: RegionCode
    id_number: Annotated[str, Field(min_length=15, max_length=18)]
    name: Annotated[str, Field(min_length=1, max_length=50)]
    mode: Literal["centralized", "dispersed"]
    care_level: Literal["full_self_care", "partial", "none"]
    institution: InstitutionIn | None = None
    payee_account: Annotated[str, Field(min_length=8, max_length=40)] | None = None
    payee_name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    start_month: Month


class CareLevelIn(Decision):
    care_level: Literal["full_self_care", "partial", "none"]


class ModeIn(Decision):
    mode: Literal["centralized", "dispersed"]
    institution: InstitutionIn | None = None
    payee_account: Annotated[str, Field(min_length=8, max_length=40)] | None = None
    payee_name: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class RegistryIn(Body):
    kind: Literal["death", "vehicle", "property", "business", "cadre_relative"]
    source: Annotated[str, Field(min_length=1, max_length=100)]
    source_ref: Annotated[str, Field(min_length=1, max_length=100)]
    id_number: Annotated[str, Field(min_length=15, max_length=18)]
    region_code: RegionCode
    effective_date: date
    # Integers within ±MAX_FEN: the event store's JSON decodes exactly only within 64 bits.
    details: dict[
        str, str | Annotated[StrictInt, Field(ge=-MAX_FEN, le=MAX_FEN)] | bool | None
    ] = {}


class PersonQuery(Body):
    id_number: Annotated[str, Field(min_length=15, max_length=18)]


class CredentialIn(Body):
    role: Literal[
        "case_worker", "approver", "finance_officer", "auditor", "special_auditor", "admin"
    ]
    region_scope: Annotated[
        str,
        Field(pattern=r"^\d{6}(\d{3})?$", description="county, city, province or 9-digit township"),
    ]
    label: Annotated[str, Field(max_length=100)] = ""
    expires_at: str | None = None
    period_from: date | None = None
    period_to: date | None = None


class RollGenerateIn(Body):
    county_code: Annotated[str, Field(pattern=r"^\d{6}$")]
    month: Month
    group: Literal["all", "dibao", "marginal", "tekun"] = "all"


class LedgerLineIn(Body):
    account: Annotated[str, Field(min_length=5, max_length=80, examples=["pool:420582:dibao"])]
    debit_fen: Fen = 0
    credit_fen: Fen = 0
    source: Annotated[
        str, Field(max_length=40, description="funding source the money came from")
    ] = ""


class TransactionIn(Body):
    code: Literal["raise", "allocate", "reserve_roll", "disburse", "release", "return", "advance", "grant",
                  "reimburse", "carry_over", "recover"]  # fmt: skip
    posting_date: date
    lines: Annotated[list[LedgerLineIn], Field(min_length=2, max_length=1000)]
    description: Annotated[str, Field(max_length=500)] = ""
    document_ref: DocumentRef


class ReversalIn(Body):
    posting_date: date
    document_ref: DocumentRef


class PeriodCloseIn(Body):
    document_ref: DocumentRef


class ApprovalLimitsIn(Decision):
    township_limit_fen: PositiveFen
    committee_limit_fen: PositiveFen


class GrantRequestIn(Decision):
    region_code: RegionCode
    occurred_in: RegionCode
    id_number: Annotated[str, Field(min_length=15, max_length=18)]
    name: Annotated[str, Field(min_length=1, max_length=50)]
    grant_type: Literal["urgent", "expenditure"]
    amount_fen: PositiveFen
    reason: Text


class GrantApproveIn(Decision):
    """The approval level is the approver's credential's (township or county), or the committee
    (一事一议) when a county-level approver records the committee's decision document."""

    paying_township: Annotated[str, Field(pattern=r"^\d{9}$")]
    committee_document_ref: DocumentRef | None = None


class GrantPayIn(Body):
    posting_date: date


class SupplementIn(Decision):
    note: Text
