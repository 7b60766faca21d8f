"""Records fed by data exchange: deaths, registrations, relatives of cadres (近亲属备案)."""

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import JSONResponse

from api.http import schemas
from api.http.commands import add_decision_route, run
from api.http.deps import IdempotencyKey, PrincipalDep, ReadServices, ServicesDep
from api.http.paging import CursorQuery, Pager
from api.http.responses import KeysetPage, RecordDismissed, RegistryRecorded, answer
from api.http.routers.households import Limit
from api.http.routing import Router
from ops.services.access import RecordRegistryEntry
from ops.services.findings import DismissRecord

router = Router(prefix="/registry", tags=["registry"])


@router.post(
    "/records",
    status_code=201,
    summary="Record one data-exchange record (re-sending it records nothing)",
    responses=answer(RegistryRecorded, 201, 200),
)
def record(
    request: Request,
    body: schemas.RegistryIn,
    services: ServicesDep,
    principal: PrincipalDep,
    key: IdempotencyKey,
) -> JSONResponse:
    command = RecordRegistryEntry(**body.model_dump(mode="json"))
    return run(request, services, principal, body, key, command)


@router.get("/records", response_model=None, responses=answer(KeysetPage, 200))
def records(
    services: ReadServices,
    principal: PrincipalDep,
    # a kind a record can have (422 otherwise): free text never reaches the database
    kind: Annotated[schemas.RegistryKind | None, Query()] = None,
    limit: Limit = 50,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """By region, then log position."""
    principal.require("read.registry")
    pager = Pager(services, ["records", principal.prefix, principal.period, kind], width=2)
    items, last = services.registry.search(
        scope_prefix=principal.prefix,
        kind=kind,
        limit=limit,
        after=pager.after(cursor),
        period=principal.period,
    )
    return pager.page(limit, items, last)


record_router = Router(prefix="/records")
add_decision_route(
    record_router, path_id="record_id", action="dismiss", model=schemas.DismissIn, name="record",
    summary="An officer dismisses a record (a death record then holds no payment from the next roll)",
    answers=RecordDismissed,
    command=lambda record_id, body: DismissRecord(record_id=record_id, **body.model_dump(mode="json")),
)  # fmt: skip
router.include_router(record_router)
