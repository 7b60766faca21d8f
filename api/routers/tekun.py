"""特困 persons: approve, reassess care level, change mode, terminate, list, read."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api import schemas
from api.commands import run
from api.deps import IdempotencyKey, PrincipalDep, ReadServices, ServicesDep
from api.routers.households import Limit, Offset, visible_case

router = APIRouter(prefix="/tekun", tags=["tekun"])


@router.post("", status_code=201, summary="Approve support for an extremely poor person (特困供养)")
def approve(
    request: Request,
    body: schemas.TekunApproveIn,
    services: ServicesDep,
    principal: PrincipalDep,
    key: IdempotencyKey,
) -> JSONResponse:
    fields = body.model_dump(mode="json")
    return run(
        request, services, principal, body, key, lambda: services.approve_tekun(principal, fields)
    )


@router.get("", summary="List 特困 persons in scope")
def list_persons(
    services: ReadServices,
    principal: PrincipalDep,
    region: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None,
    status: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    principal.require("read.cases")
    if region is not None:
        principal.require_filter(region)
    total, items = services.case_state.search(
        scope_prefix=principal.prefix,
        kind="tekun",
        region_prefix=region,
        status=status,
        programme=None,
        limit=limit,
        offset=offset,
    )
    return {"total": total, "limit": limit, "offset": offset, "items": items}


@router.get("/{case_id}")
def get_person(case_id: UUID, services: ReadServices, principal: PrincipalDep) -> dict[str, Any]:
    return visible_case(services, principal, case_id, "tekun")


@router.get("/{case_id}/timeline")
def timeline(case_id: UUID, services: ReadServices, principal: PrincipalDep) -> dict[str, Any]:
    visible_case(services, principal, case_id, "tekun")
    return {"case_id": str(case_id), "items": services.case_state.timeline(str(case_id))}


def _decision_route(action: str, model: type[BaseModel]) -> Any:
    def route(
        request: Request,
        case_id: UUID,
        body: Any,
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
            lambda: services.decide_tekun(principal, str(case_id), action, fields),
        )

    route.__annotations__["body"] = model
    route.__name__ = f"tekun_{action.replace('-', '_')}"
    return route


for _action, _model in (
    ("care-level", schemas.CareLevelIn),
    ("mode", schemas.ModeIn),
    ("terminate", schemas.TerminateIn),
):
    router.add_api_route(
        f"/{{case_id}}/{_action}", _decision_route(_action, _model), methods=["POST"]
    )
