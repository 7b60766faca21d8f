"""特困 persons: approve, reassess care level, change mode, terminate, list, read."""

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api import schemas
from api.commands import run
from api.deps import IdempotencyKey, PrincipalDep, ServicesDep
from api.routers.households import add_case_reads

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


add_case_reads(router, "tekun", "特困 persons")


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
