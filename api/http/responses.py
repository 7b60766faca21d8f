"""Response bodies as the OpenAPI document declares them.

They document what each route answers (``responses=`` in the routers); they are not used to
filter or re-validate what a route returns. The schemathesis run in the test suite checks every
answer against them. Each object allows more fields than it names: a client may rely on the
named ones, typed as written here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


Row = dict[str, Any]
# Money in an answer: integer fen (分), 1 yuan = 100 fen (a recovery or a debit may be negative).
Fen = Annotated[int, Field(description="integer fen (分; 1 yuan = 100 fen)", examples=[104_000])]
Count = Field(ge=0)


class ProblemError(BaseModel):
    """One broken rule: which input (in the caller's terms), which rule, and why."""

    field: str | None
    rule: str
    detail: str


class FundShortfall(BaseModel):
    """A pool or reserve that does not hold what a request needs of it (rule
    ``insufficient_funds``). Money is integer fen (1 yuan = 100 fen)."""

    account: str = Field(description="the account short of money", examples=["pool:420582:tekun"])
    programme_group: str = Field(examples=["tekun"])
    holds_fen: int = Field(description="what it holds, in fen", examples=[0])
    needs_fen: int = Field(description="what the request needs of it, in fen", examples=[127_000])
    short_fen: int = Field(description="needs_fen − holds_fen, in fen", examples=[127_000])
    holds_fen_by_source: dict[str, int] = Field(
        description="what it holds per funding source (central, provincial, city, county;"
        " '' for money of no recorded source), in fen",
        examples=[{"central": 0}],
    )


class Problem(BaseModel):
    """RFC 9457 problem details, as every 4xx (and 5xx) is answered."""

    type: str = Field(description="a URI reference naming the problem, e.g. /problems/exists")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    instance: str = Field(description="the request path")
    errors: list[ProblemError] = Field(
        default=[], description="every broken rule (absent when there is none to name)"
    )
    funds: list[FundShortfall] | None = Field(
        default=None, description="with rule insufficient_funds: each account short of money"
    )


class Page(Out):
    """A page of the one list still paged by offset (the issued checkpoints, a short list)."""

    total: int = Count
    limit: int = Field(ge=1)
    offset: int = Count
    items: list[Row]


class KeysetPage(Out):
    """One page of a list, in the list's documented order (keyset pagination)."""

    limit: int = Field(ge=1)
    items: list[Row]
    next: str | None = Field(
        description="send as `cursor` for the page after this one; null on the last page"
    )


class KnownAt(Out):
    """The log position a known-at read reflects, and the events recorded after it."""

    position: int = Count
    as_known_at: str | None
    recorded_after: list[Row] = Field(default=[], description="events recorded since")


class CaseSummary(Out):
    case_id: UUID
    status: str
    version: int = Field(ge=1)
    region_code: str
    programme: str


class CaseRow(Out):
    case_id: UUID
    kind: Literal["household", "tekun"]
    region_code: str
    county_code: str
    programme: str
    status: str
    version: int = Field(ge=1)


class CasePage(KeysetPage):
    items: list[CaseRow]  # type: ignore[assignment]
    known_at: KnownAt | None = None


class Case(CaseRow):
    members: list[Row] = []
    known_at: KnownAt | None = None


class Timeline(Out):
    case_id: UUID
    items: list[Row]


class Trail(Out):
    """A page of a subject's events in log order (the recusal review: all of them)."""

    as_of: str
    items: list[Row]
    limit: int | None = Field(default=None, ge=1)
    next: str | None = Field(
        default=None, description="send as `cursor` for the page after this one; null on the last"
    )


class PolicyRecorded(Out):
    region_code: str
    kind: str
    policy_version: int = Field(ge=1)


class Standard(Out):
    region_code: str
    programme: str
    month: str
    as_of: str
    standard_fen_per_month: Fen
    published_amount_fen: Fen
    published_period: Literal["month", "year"]
    rounding: dict[str, str]
    set_by: Row
    rounding_set_by: Row | None


class Facts(Out):
    region_code: str
    as_of: str
    items: list[Row]


class RegistryRecorded(Out):
    record_id: UUID
    created: bool


class CredentialIssued(Out):
    credential_id: UUID
    token: str
    role: str
    region_scope: str
    staff_id: str | None = None


class RollSummary(Out):
    roll_id: UUID
    county_code: str
    month: str
    status: str
    generation: int = Count
    line_count: int = Count
    total_fen: Fen


class BankResults(RollSummary):
    imported: bool
    lines: int = Count
    failed: int = Count


class Roll(RollSummary):
    """A roll as listed and read: its summary's fields and more (totals per programme, …)."""


class RollPage(KeysetPage):
    items: list[Roll]  # type: ignore[assignment]


class RollLines(KeysetPage):
    roll_id: UUID
    total: int = Field(ge=0, description="the roll's line count")


class Statistics(Out):
    level: Literal["county", "city", "province"]
    period: Literal["month", "quarter", "year"]
    from_: str = Field(alias="from")
    to: str
    items: list[Row]
    known_at: KnownAt | None = None


class GrantSummary(Out):
    grant_id: UUID
    status: str
    amount_fen: Fen
    level: str | None
    paying_township: str | None
    version: int = Field(ge=1)


class Grant(Out):
    grant_id: UUID
    region_code: str
    occurred_in: str
    grant_type: str
    amount_fen: Fen
    status: str


class GrantPage(KeysetPage):
    items: list[Grant]  # type: ignore[assignment]


class Finding(Out):
    """A misuse finding: its rule, region, status, the money involved and its evidence."""

    finding_id: UUID
    rule: str
    severity: str
    region_code: str
    status: Literal["open", "explained", "confirmed"]
    amount_fen: Fen
    dated: str
    evidence: dict[str, Any]
    detected_position: int = Count
    detected_at: str


class FindingPage(KeysetPage):
    items: list[Finding]  # type: ignore[assignment]
    total: int = Field(ge=0, description="findings matching the filters, on every page")
    amount_fen: Fen
    by_rule: dict[str, dict[str, int]]


class FindingReviewed(Out):
    finding_id: UUID
    status: str
    version: int = Field(ge=1)


class RecordDismissed(Out):
    record_id: UUID
    dismissed: bool


class Transaction(Out):
    key: str
    transaction_id: UUID
    code: str
    posting_date: str
    reversed_by: str | None
    total_fen: Fen
    prepared_by: str | None = None
    confirmed_by: str | None = None


class TekunApplication(Out):
    application_id: UUID
    region_code: str


class Proposal(Out):
    """A posting above the confirmation threshold, waiting for a second finance officer."""

    key: str
    status: str
    kind: str
    total_fen: Fen
    threshold_fen: Annotated[
        int,
        Field(
            description="the confirmation threshold it is above, in integer fen (分; 1 yuan ="
            " 100 fen)",
            examples=[500_000_000],
        ),
    ]
    threshold_set_by: str
    proposed_by: str
    confirmed_by: str | None


class PeriodClosed(Out):
    county_code: str
    month: str
    closed: bool


class CarriedBalance(Out):
    account: str
    source: str
    amount_fen: Fen


class CarryOver(Out):
    county_code: str
    year: int
    carried_fen: Fen
    balances: list[CarriedBalance]
    periods_closed: list[str]
    prepared_by: str | None = None
    confirmed_by: str | None = None


class Balance(Out):
    account: str
    kind: str
    region_code: str
    debit_fen: Fen
    credit_fen: Fen
    balance_fen: Fen


class Balances(Out):
    items: list[Balance]
    trial_balance_fen: Fen
    known_at: KnownAt | None = None


class Statement(KeysetPage):
    account: str
    known_at: KnownAt | None = None


class StatementImported(Out):
    statement_id: UUID
    lines: int = Count
    imported: bool


class Reconciliation(Out):
    county_code: str
    month: str
    accounts: list[Row]
    known_at: KnownAt | None = None


class ViewFailure(Out):
    """An event a view could not apply (the message stays with ``doudi projections status``)."""

    view: str
    position: int = Count
    error_type: str


class SealLag(Out):
    """How far the verifiable log's seal is behind the log's head."""

    position: int = Field(ge=0, description="the log position sealed through")
    events_behind: int = Field(ge=0, description="log positions after it, up to the head")
    seconds_behind: float | None = Field(
        ge=0, description="how long the oldest unsealed event has waited (null: unreadable)"
    )


class Health(Out):
    status: Literal["ok", "degraded"] = Field(
        description='"degraded" while a view has events it could not apply'
    )
    log_position: int = Count
    projections: dict[str, Any]
    failures: list[ViewFailure]
    seal: SealLag


def answer(model: type[BaseModel], *statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route answering ``model`` with each of ``statuses``."""
    descriptions = {200: "Successful Response", 201: "Recorded",
                    202: "Proposed: waits for a second finance officer's confirmation"}  # fmt: skip
    return {status: {"model": model, "description": descriptions[status]} for status in statuses}
