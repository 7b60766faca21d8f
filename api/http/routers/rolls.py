"""Monthly payment rolls (发放名册): generate a draft, read it, approve it."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from api.http import schemas
from api.http.commands import run
from api.http.deps import IdempotencyKey, PrincipalDep, ReadServices, ServicesDep
from api.http.known_at import AsKnownAt, AsOfPosition
from api.http.paging import CursorQuery, Pager
from api.http.responses import (
    BankResults,
    Roll,
    RollLines,
    RollPage,
    RollSummary,
    Statistics,
    answer,
)
from api.http.routers.households import Limit
from api.http.routing import Router
from api.outputs import rolls as roll_outputs
from domain.errors import InvalidValue, NotFound
from domain.programmes import Programme
from ops.services.bank import ImportBankResults, SendBankFile
from ops.services.known_at import resolve
from ops.services.roll_commands import ApproveRoll, GenerateRoll

router = Router(prefix="/rolls", tags=["rolls"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.post(
    "",
    status_code=201,
    summary="Generate (or regenerate) the draft roll of a county × month",
    responses=answer(RollSummary, 201),
)
def generate(
    request: Request,
    body: schemas.RollGenerateIn,
    services: ServicesDep,
    principal: PrincipalDep,
    key: IdempotencyKey,
) -> JSONResponse:
    command = GenerateRoll(county_code=body.county_code, month=body.month, group=body.group)
    return run(request, services, principal, body, key, command)


@router.get("", summary="Rolls in scope", response_model=None, responses=answer(RollPage, 200))
def list_rolls(
    services: ReadServices,
    principal: PrincipalDep,
    county: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
    month: Annotated[str | None, Query(pattern=schemas.MONTH_PATTERN)] = None,
    limit: Limit = 50,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """Latest month first, then by county, group and roll id."""
    principal.require("read.rolls")
    if county is not None:
        principal.require_filter(county, "county")
    pager = Pager(services, ["rolls", principal.prefix, principal.period, county, month], width=4)
    items, last = services.rolls.search(
        scope_prefix=principal.prefix, county=county, month=month, limit=limit,
        after=pager.after(cursor), period=principal.period,
    )  # fmt: skip
    return pager.page(limit, items, last)


def _visible(services: Any, principal: Any, roll_id: UUID) -> dict[str, Any]:
    principal.require("read.rolls")
    roll = services.rolls.get(str(roll_id))
    if roll is None or principal.sees(roll["county_code"]):
        # a roll or a chunk of its lines the view failed on: 500, not 404 or missing lines
        services.require_applied("rolls", str(roll_id), *services.rolls.chunk_ids(str(roll_id)))
    if (
        roll is None
        or not principal.sees(roll["county_code"])
        or not principal.in_period(roll["month"])
    ):
        raise NotFound("no such roll", field="roll_id", rule="exists")
    return dict(roll)


@router.get(
    "/{roll_id}",
    summary="Roll summary: status, totals per programme and township",
    response_model=None,
    responses=answer(Roll, 200),
)
def get_roll(roll_id: UUID, services: ReadServices, principal: PrincipalDep) -> dict[str, Any]:
    return _visible(services, principal, roll_id)


@router.get(
    "/{roll_id}/lines",
    summary="Lines of the roll's current generation, with components",
    response_model=None,
    responses=answer(RollLines, 200),
)
def lines(
    roll_id: UUID,
    services: ReadServices,
    principal: PrincipalDep,
    limit: Limit = 100,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """In line order; ``total`` is the roll's line count (its header's, not counted here)."""
    roll = _visible(services, principal, roll_id)
    # The roll's generation is part of the query: a cursor of a draft since generated again
    # does not continue into the new generation's lines.
    pager = Pager(services, ["roll-lines", str(roll_id), roll["generation"]], width=1)
    after = pager.after(cursor)
    items, last = services.rolls.lines(
        str(roll_id), limit=limit, after=None if after is None else int(after[0])
    )
    found = {"roll_id": str(roll_id), "total": roll["line_count"]}
    return found | pager.page(limit, items, None if last is None else [last])


@router.post(
    "/{roll_id}/approve",
    summary="Approve (finance officer of the roll's county only)",
    responses=answer(RollSummary, 200),
)
def approve(
    request: Request,
    roll_id: UUID,
    services: ServicesDep,
    principal: PrincipalDep,
    key: IdempotencyKey,
) -> JSONResponse:
    return run(request, services, principal, None, key, ApproveRoll(roll_id=str(roll_id)))


@router.post(
    "/{roll_id}/bank-file",
    summary="The bank payment file (CSV, UTF-8 or GBK); marks the roll sent",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def bank_file(
    roll_id: UUID,
    services: ServicesDep,
    principal: PrincipalDep,
    encoding: Annotated[str, Query(pattern="^(utf-8|gbk)$")] = "utf-8",
) -> Response:
    served = services.execute(
        principal, None, "", SendBankFile(roll_id=str(roll_id), encoding=encoding)
    )
    data: bytes = served.response["file"]
    return Response(
        data,
        media_type=f"text/csv; charset={encoding}",
        headers={"Content-Disposition": f'attachment; filename="roll-{roll_id}.csv"'},
    )


@router.post(
    "/{roll_id}/bank-results",
    summary="Import the bank's result file (CSV: reference, amount_fen, status, reason)",
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}
    },
    responses=answer(BankResults, 200),
)
async def bank_results(
    request: Request,
    roll_id: UUID,
    services: ServicesDep,
    principal: PrincipalDep,
    key: IdempotencyKey,
) -> JSONResponse:
    data = await request.body()
    # The import reads the roll and writes events: off the event loop.
    command = ImportBankResults(roll_id=str(roll_id), data=data)
    return await run_in_threadpool(run, request, services, principal, data, key, command)


@router.get(
    "/{roll_id}/xlsx",
    summary="The roll for officers as XLSX: totals per programme and township, lines",
    response_class=Response,
    responses={200: {"content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}},
)
def roll_xlsx(roll_id: UUID, services: ReadServices, principal: PrincipalDep) -> Response:
    roll = _visible(services, principal, roll_id)
    return Response(
        roll_outputs.roll_xlsx(services, roll),
        media_type=XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="roll-{roll["county_code"]}-{roll["month"]}.xlsx"'
        },
    )


@router.get(
    "/{roll_id}/disclosure",
    summary="Public-disclosure version (公示): masked names, no id or account",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def disclosure(roll_id: UUID, services: ReadServices, principal: PrincipalDep) -> Response:
    roll = _visible(services, principal, roll_id)
    return Response(
        roll_outputs.disclosure_csv(services, roll), media_type="text/csv; charset=utf-8"
    )


statistics_router = Router(prefix="/statistics", tags=["statistics"])


@statistics_router.get(
    "",
    summary="Households, persons, person-times, amount, average level, additions, removals",
    response_model=None,
    responses=answer(Statistics, 200),
)
def statistics(
    services: ReadServices, principal: PrincipalDep,
    first: Annotated[str, Query(alias="from", pattern=schemas.MONTH_PATTERN)],
    last: Annotated[str, Query(alias="to", pattern=schemas.MONTH_PATTERN)],
    level: Annotated[str, Query(pattern="^(county|city|province)$")] = "county",
    period: Annotated[str, Query(pattern="^(month|quarter|year)$")] = "month",
    programme: Programme | None = None,
    as_known_at: AsKnownAt = None,
    as_of_position: AsOfPosition = None,
) -> dict[str, Any]:  # fmt: skip
    principal.require("read.rolls")
    if first > last:
        raise InvalidValue("from must not be after to", field="from", rule="range_order")
    first, last = principal.clip_months(first, last)
    known = resolve(services, principal, as_known_at, as_of_position)
    items = services.statistics.report(
        scope_prefix=principal.prefix,
        level=level,
        period=period,
        first=first,
        last=last,
        programme=programme.value if programme else None,
        known_at=None if known is None else known.position,
    )
    found = {"level": level, "period": period, "from": first, "to": last, "items": items}
    if known is not None:
        later = services.statistics.approved_after(known.position, principal.prefix, first, last)
        found["known_at"] = known.as_dict() | {"recorded_after": later}
    return found
