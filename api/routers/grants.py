"""Temporary assistance (临时救助): request, approve at a level, pay from the township reserve."""

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api import schemas
from api.commands import run
from api.deps import IdempotencyKey, PrincipalDep, ReadServices, ServicesDep
from api.routers.households import Limit, Offset
from domain.errors import NotFound
from ops.grants import approve_grant, pay_grant, record_supplement, request_grant

router = APIRouter(prefix="/temporary-grants", tags=["temporary assistance"])


@router.post(
    "",
    status_code=201,
    summary="Request a grant (the place of occurrence may be outside the hukou region)",
)
def request(
    request: Request,
    body: schemas.GrantRequestIn,
    services: ServicesDep,
    principal: PrincipalDep,
    key: IdempotencyKey,
) -> JSONResponse:
    fields = body.model_dump(mode="json")
    return run(
        request, services, principal, body, key, lambda: request_grant(services, principal, fields)
    )


@router.post(
    "/{grant_id}/approve", summary="Approve at a level (refused if too low for the amount)"
)
def approve(
    request: Request,
    grant_id: UUID,
    body: schemas.GrantApproveIn,
    services: ServicesDep,
    principal: PrincipalDep,
    key: IdempotencyKey,
) -> JSONResponse:
    fields = body.model_dump(mode="json")
    return run(
        request,
        services,
        principal,
        body,
        key,
        lambda: approve_grant(services, principal, str(grant_id), fields),
    )


@router.post("/{grant_id}/pay", summary="Pay from the township reserve fund (备用金)")
def pay(
    request: Request,
    grant_id: UUID,
    body: schemas.GrantPayIn,
    services: ServicesDep,
    principal: PrincipalDep,
    key: IdempotencyKey,
) -> JSONResponse:
    day = body.model_dump(mode="json")["posting_date"]
    return run(
        request,
        services,
        principal,
        body,
        key,
        lambda: pay_grant(services, principal, str(grant_id), day),
        retries=5,
    )


@router.post("/{grant_id}/supplements", summary="Record supplementary documentation (事后补充说明)")
def supplement(
    request: Request,
    grant_id: UUID,
    body: schemas.SupplementIn,
    services: ServicesDep,
    principal: PrincipalDep,
    key: IdempotencyKey,
) -> JSONResponse:
    fields = body.model_dump(mode="json")
    return run(
        request,
        services,
        principal,
        body,
        key,
        lambda: record_supplement(services, principal, str(grant_id), fields),
    )


@router.get("", summary="Grants in scope (by hukou region or place of occurrence)")
def list_grants(
    services: ReadServices, principal: PrincipalDep, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    principal.require("read.cases")
    total, items = services.grants.search(principal.prefix, limit, offset)
    return {"total": total, "limit": limit, "offset": offset, "items": items}


@router.get("/{grant_id}")
def get_grant(grant_id: UUID, services: ReadServices, principal: PrincipalDep) -> dict[str, Any]:
    principal.require("read.cases")
    grant = services.grants.get(str(grant_id))
    if grant is None or not (
        principal.sees(grant["region_code"]) or principal.sees(grant["occurred_in"])
    ):
        raise NotFound("no such grant", field="grant_id", rule="exists")
    return dict(grant)
