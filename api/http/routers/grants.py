"""Temporary assistance (临时救助): request, approve at a level, pay from the township reserve."""

from typing import Any
from uuid import UUID

from fastapi import Request
from fastapi.responses import JSONResponse

from api.http import schemas
from api.http.commands import add_decision_route, run
from api.http.deps import IdempotencyKey, PrincipalDep, ReadServices, ServicesDep
from api.http.paging import CursorQuery, Pager
from api.http.responses import Grant, GrantPage, GrantSummary, answer
from api.http.routers.households import Limit
from api.http.routing import Router
from domain.errors import NotFound
from ops.services.grants import ApproveGrant, PayGrant, RecordSupplement, RequestGrant
from projections.grants.view import grant_as_of

router = Router(prefix="/temporary-grants", tags=["temporary assistance"])


@router.post(
    "",
    status_code=201,
    summary="Request a grant (the place of occurrence may be outside the hukou region)",
    responses=answer(GrantSummary, 201),
)
def request(
    request: Request,
    body: schemas.GrantRequestIn,
    services: ServicesDep,
    principal: PrincipalDep,
    key: IdempotencyKey,
) -> JSONResponse:
    command = RequestGrant(**body.model_dump(mode="json"))
    return run(request, services, principal, body, key, command)


add_decision_route(
    router,
    path_id="grant_id",
    action="approve",
    model=schemas.GrantApproveIn,
    name="grant",
    summary="Approve at the approver's level (township or county credential, or committee with "
    "its document); refused if that level's limit is below the amount",
    answers=GrantSummary,
    command=lambda grant_id, body: ApproveGrant(grant_id=grant_id, **body.model_dump(mode="json")),
)
add_decision_route(
    router,
    path_id="grant_id",
    action="pay",
    model=schemas.GrantPayIn,
    name="grant",
    summary="Pay from the township reserve fund (备用金)",
    answers=GrantSummary,
    command=lambda grant_id, body: PayGrant(grant_id=grant_id, **body.model_dump(mode="json")),
)
add_decision_route(
    router, path_id="grant_id", action="supplements", model=schemas.SupplementIn, name="grant",
    summary="Record supplementary documentation (事后补充说明)", answers=GrantSummary,
    command=lambda grant_id, body: RecordSupplement(grant_id=grant_id, **body.model_dump(mode="json")),
)  # fmt: skip


@router.get(
    "",
    summary="Grants in scope (by hukou region or place of occurrence)",
    response_model=None,
    responses=answer(GrantPage, 200),
)
def list_grants(
    services: ReadServices,
    principal: PrincipalDep,
    limit: Limit = 50,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """By request date, then grant id."""
    principal.require("read.cases")
    pager = Pager(services, ["grants", principal.prefix, principal.period], width=2)
    items, last = services.grants.search(
        principal.prefix, limit, pager.after(cursor), principal.period
    )
    if principal.period is not None:  # each grant as it stood at the period's end
        items = [grant_as_of(item, principal.period[1]) for item in items]
    return pager.page(limit, items, last)


@router.get("/{grant_id}", response_model=None, responses=answer(Grant, 200))
def get_grant(grant_id: UUID, services: ReadServices, principal: PrincipalDep) -> dict[str, Any]:
    principal.require("read.cases")
    grant = services.grants.get(str(grant_id))
    if (
        grant is None
        or principal.sees(grant["region_code"])
        or principal.sees(grant["occurred_in"])
    ):
        services.require_applied(
            "grants", str(grant_id)
        )  # a record the view failed on: 500, not 404
    if (
        grant is None
        or not (principal.sees(grant["region_code"]) or principal.sees(grant["occurred_in"]))
        or not principal.in_period(grant["requested_on"])
    ):
        raise NotFound("no such grant", field="grant_id", rule="exists")
    return grant_as_of(grant, principal.period[1]) if principal.period else dict(grant)
