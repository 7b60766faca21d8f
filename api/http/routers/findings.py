"""Misuse findings (SPEC §8): list and read them with their evidence; auditors explain or
confirm them."""

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Query

from api.http import schemas
from api.http.commands import add_decision_route
from api.http.deps import PrincipalDep, ReadServices
from api.http.paging import CursorQuery
from api.http.responses import Finding, FindingPage, FindingReviewed, answer
from api.http.routers.households import Limit
from api.http.routing import Router
from domain.findings import Rule
from ops.services.findings import ReviewFinding, search_findings, visible_finding

router = Router(prefix="/findings", tags=["findings"])
RuleName = Literal[tuple(rule.value for rule in Rule)]  # type: ignore[valid-type]


@router.get(
    "",
    summary="Findings in scope, by rule, region, status and period, with the money involved",
    response_model=None,
    responses=answer(FindingPage, 200),
)
def list_findings(
    services: ReadServices,
    principal: PrincipalDep,
    rule: Annotated[RuleName | None, Query()] = None,
    region: Annotated[schemas.RegionCode | None, Query()] = None,
    status: Annotated[Literal["open", "explained", "confirmed"] | None, Query()] = None,
    date_from: Annotated[schemas.DayText | None, Query(alias="from")] = None,
    date_to: Annotated[schemas.DayText | None, Query(alias="to")] = None,
    limit: Limit = 50,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """By region, then when found; ``total``, ``amount_fen`` and ``by_rule`` count every
    finding matching the filters, on every page."""
    return search_findings(
        services, principal, rule=rule, region=region, status=status,
        first=date_from, last=date_to, limit=limit, cursor=cursor,
    )  # fmt: skip


@router.get("/{finding_id}", response_model=None, responses=answer(Finding, 200))
def get_finding(
    finding_id: UUID, services: ReadServices, principal: PrincipalDep
) -> dict[str, Any]:
    return visible_finding(services, principal, str(finding_id))


add_decision_route(
    router, path_id="finding_id", action="explain", model=schemas.ExplainIn, name="finding",
    summary="An auditor records the explanation that clears an open finding",
    answers=FindingReviewed,
    command=lambda finding_id, body: ReviewFinding(
        finding_id=finding_id, step="explained", **body.model_dump(mode="json")
    ),
)  # fmt: skip
add_decision_route(
    router, path_id="finding_id", action="confirm", model=schemas.ConfirmIn, name="finding",
    summary="An auditor confirms an open finding: recovery (追回) or referral (移送)",
    answers=FindingReviewed,
    command=lambda finding_id, body: ReviewFinding(
        finding_id=finding_id, step="confirmed", **body.model_dump(mode="json")
    ),
)  # fmt: skip
