"""特困 persons: apply, approve, reassess care level, change mode, terminate, list, read."""

from fastapi import Request
from fastapi.responses import JSONResponse

from api.http import schemas
from api.http.commands import add_decision_route, run
from api.http.deps import IdempotencyKey, PrincipalDep, ServicesDep
from api.http.responses import CaseSummary, TekunApplication, answer
from api.http.routers.households import add_case_reads
from api.http.routing import Router
from ops.services.cases import TEKUN_DECISIONS, ApplyTekun, ApproveTekun

router = Router(prefix="/tekun", tags=["tekun"])


@router.post(
    "/applications",
    status_code=201,
    summary="Record an application for 特困 support (申请); another person approves it",
    responses=answer(TekunApplication, 201),
)
def apply(
    request: Request,
    body: schemas.TekunApplyIn,
    services: ServicesDep,
    principal: PrincipalDep,
    key: IdempotencyKey,
) -> JSONResponse:
    return run(request, services, principal, body, key, ApplyTekun(**body.model_dump(mode="json")))


@router.post(
    "",
    status_code=201,
    summary="Approve support for an extremely poor person (特困供养) on their application (not"
    " by its applicant: 403)",
    responses=answer(CaseSummary, 201)
    | {404: {"description": "No such 特困 application within the caller's scope"}},
)
def approve(
    request: Request,
    body: schemas.TekunApproveIn,
    services: ServicesDep,
    principal: PrincipalDep,
    key: IdempotencyKey,
) -> JSONResponse:
    command = ApproveTekun(**body.model_dump(mode="json"))
    return run(request, services, principal, body, key, command)


add_case_reads(router, "tekun", "特困 persons")


for _action, _model in (
    ("care-level", schemas.CareLevelIn),
    ("mode", schemas.ModeIn),
    ("terminate", schemas.TerminateIn),
):
    add_decision_route(
        router, path_id="case_id", action=_action, model=_model, name="tekun", answers=CaseSummary,
        command=lambda case_id, body, made=TEKUN_DECISIONS[_action]: made(
            case_id=case_id, **body.model_dump(mode="json")),
    )  # fmt: skip
