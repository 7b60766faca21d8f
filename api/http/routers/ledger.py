"""The fund ledger: post and reverse transactions, close periods, balances, statements."""

from typing import Annotated, Any

from fastapi import Header, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from api.http import paths, schemas
from api.http.commands import run
from api.http.deps import IdempotencyKey, PrincipalDep, ReadServices, ServicesDep
from api.http.known_at import AsKnownAt, AsOfPosition
from api.http.paging import CursorQuery, Pager
from api.http.responses import (
    Balances,
    CarryOver,
    PeriodClosed,
    Proposal,
    Reconciliation,
    Statement,
    StatementImported,
    Transaction,
    answer,
)
from api.http.routers.households import Limit
from api.http.routing import Router
from domain.errors import NotFound
from ledger.accounts import parse_account
from ops.services.known_at import reconciliation as known_reconciliation
from ops.services.known_at import resolve
from ops.services.ledger import (
    CarryOverYear,
    ClosePeriod,
    ConfirmCarryOver,
    ConfirmPosting,
    ImportStatement,
    PostTransaction,
    ReverseTransaction,
)

router = Router(prefix="/ledger", tags=["ledger"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The transaction's id is the client's idempotency key: required, not optional, on postings.
TransactionKey = Annotated[
    str,
    Header(alias="Idempotency-Key", min_length=1, max_length=200),
    schemas.TEXT_RULE,
    schemas.HEADER_UTF8,
]


@router.post(
    "/transactions",
    status_code=201,
    summary="Post a balanced journal transaction (the same key and body again: 200); above the"
    " region's confirmation threshold it is only proposed (202)",
    responses=answer(Transaction, 201, 200) | answer(Proposal, 202),
)
def post(
    request: Request,
    body: schemas.TransactionIn,
    services: ServicesDep,
    principal: PrincipalDep,
    key: TransactionKey,
) -> JSONResponse:
    command = PostTransaction(key=key, **body.model_dump(mode="json"))
    return run(request, services, principal, body, None, command)


@router.post(
    "/transactions/{key}/reverse",
    status_code=201,
    summary="Reverse a transaction (at most once; the same reversal again: 200); above the"
    " confirmation threshold it is only proposed (202)",
    responses=answer(Transaction, 201, 200) | answer(Proposal, 202),
)
def reverse(
    request: Request,
    key: paths.TransactionKey,
    body: schemas.ReversalIn,
    services: ServicesDep,
    principal: PrincipalDep,
    reversal_key: TransactionKey,
) -> JSONResponse:
    command = ReverseTransaction(key=key, reversal_key=reversal_key, **body.model_dump(mode="json"))
    return run(request, services, principal, body, None, command)


@router.post(
    "/transactions/{key}/confirm",
    status_code=201,
    summary="Confirm (复核) a posting or reversal proposed above the confirmation threshold: a"
    " second finance officer posts it (the proposer: 403; again: 200)",
    responses=answer(Transaction, 201, 200),
)
def confirm(
    request: Request,
    key: paths.TransactionKey,
    services: ServicesDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return run(request, services, principal, None, idempotency_key, ConfirmPosting(key=key))


@router.post(
    "/periods/{county_code}/{month}/close",
    status_code=201,
    summary="Close a month: no more postings in it",
    responses=answer(PeriodClosed, 201),
)
def close(
    request: Request,
    county_code: paths.CountyCode,
    month: paths.Month,
    body: schemas.PeriodCloseIn,
    services: ServicesDep,
    principal: PrincipalDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    from domain.dates import validate_month
    from domain.regions import validate_region_code

    validate_region_code(county_code, "county_code")
    validate_month(month)
    command = ClosePeriod(county_code=county_code, month=month, document_ref=body.document_ref)
    return run(request, services, principal, body, key, command)


@router.post(
    "/carry-over/{county_code}/{year}",
    status_code=201,
    summary="Year-end carry-over (结转): close the year, record its closing balances once; above"
    " the confirmation threshold it is only proposed (202)",
    responses=answer(CarryOver, 201) | answer(Proposal, 202),
)
def year_end(
    request: Request,
    county_code: paths.CountyCode,
    year: paths.Year,
    body: schemas.PeriodCloseIn,
    services: ServicesDep,
    principal: PrincipalDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """The service validates the county (also for the CLI); a year out of range is 422."""
    command = CarryOverYear(county_code=county_code, year=year, document_ref=body.document_ref)
    return run(request, services, principal, body, key, command)


@router.post(
    "/carry-over/{county_code}/{year}/confirm",
    status_code=201,
    summary="Confirm a year-end carry-over proposed above the confirmation threshold (a second"
    " finance officer; the proposer: 403; again: 200)",
    responses=answer(CarryOver, 201, 200)
    | {404: {"description": "No carry-over proposed for the year"}},
)
def confirm_year_end(
    request: Request,
    county_code: paths.CountyCode,
    year: paths.Year,
    services: ServicesDep,
    principal: PrincipalDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    command = ConfirmCarryOver(county_code=county_code, year=year)
    return run(request, services, principal, None, key, command)


@router.get(
    "/balances",
    summary="Balance of every account in scope; the trial balance is their sum",
    response_model=None,
    responses=answer(Balances, 200),
)
def balances(
    services: ReadServices,
    principal: PrincipalDep,
    region: Annotated[str | None, Query(pattern=r"^[0-9]{2,12}$")] = None,
    as_known_at: AsKnownAt = None,
    as_of_position: AsOfPosition = None,
) -> dict[str, Any]:
    principal.require("read.ledger")
    if region is not None:
        principal.require_filter(region)
    # A special auditor's balances are those at the end of the audit period (its closing
    # balances); as known at a time, never later than the period's end.
    until = principal.period[1] if principal.period else None
    known = resolve(services, principal, as_known_at, as_of_position)
    position = None if known is None else known.position
    items = services.ledger.balances(principal.prefix, region, until, position)
    found = {"items": items, "trial_balance_fen": sum(int(item["balance_fen"]) for item in items)}
    if known is not None:
        later = services.ledger.recorded_after(known.position, region or principal.prefix)
        found["known_at"] = known.as_dict() | {"recorded_after": later}
    return found


@router.get(
    "/accounts/{account}/statement",
    summary="An account's entries with running balance",
    response_model=None,
    responses=answer(Statement, 200),
)
def statement(
    account: paths.Account,
    services: ReadServices,
    principal: PrincipalDep,
    limit: Limit = 100,
    cursor: CursorQuery = None,
    as_known_at: AsKnownAt = None,
    as_of_position: AsOfPosition = None,
) -> dict[str, Any]:
    """In log order, each entry with the account's balance after it."""
    principal.require("read.ledger")
    parsed = parse_account(account)
    if not principal.sees(parsed.region_code):
        raise NotFound("no such account", field="account", rule="exists")
    known = resolve(services, principal, as_known_at, as_of_position)
    position = None if known is None else known.position
    pager = Pager(services, ["statement", parsed.code, principal.period, position], width=2)
    items, last = services.ledger.statement(
        parsed.code, limit, pager.after(cursor), principal.period, position
    )
    found = {"account": parsed.code} | pager.page(limit, items, last)
    if known is not None:
        later = services.ledger.recorded_after(known.position, principal.prefix, parsed.code)
        found["known_at"] = known.as_dict() | {"recorded_after": later}
    return found


@router.post(
    "/statements/{county_code}",
    status_code=201,
    summary="Import the county's bank statement (CSV)",
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}
    },
    responses=answer(StatementImported, 201, 200),
)
async def statement_import(
    request: Request,
    county_code: paths.CountyCode,
    services: ServicesDep,
    principal: PrincipalDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """The same file twice records nothing, with or without a key; a key also binds the file."""
    data = await request.body()
    command = ImportStatement(county_code=county_code, data=data)
    return await run_in_threadpool(run, request, services, principal, data, key, command)


@router.get(
    "/reconciliation/{county_code}/{month}",
    summary="Roll ↔ ledger ↔ bank statement, every mismatch itemised",
    response_model=None,
    responses={
        200: {
            "model": Reconciliation,
            "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def reconciliation(
    county_code: paths.CountyCode,
    month: paths.Month,
    services: ReadServices,
    principal: PrincipalDep,
    idle_days: Annotated[int, Query(ge=1, le=3650)] = 90,
    format: Annotated[str, Query(pattern="^(json|xlsx)$")] = "json",
    as_known_at: AsKnownAt = None,
    as_of_position: AsOfPosition = None,
) -> Any:
    """As known at a past time or log position, the report a replay of the log up to it gives
    (pools idle counted to that time's day), with the facts recorded since that it lacks."""
    from api.outputs.reconciliation import reconciliation_xlsx
    from domain.dates import validate_month

    principal.require("read.ledger")
    principal.require_region(county_code, "county_code")
    principal.require_period(validate_month(month), "month")
    known = resolve(services, principal, as_known_at, as_of_position)
    report = known_reconciliation(services, known, county_code, month, idle_days)
    if format == "xlsx":
        return Response(
            reconciliation_xlsx(report),
            media_type=XLSX,
            headers={
                "Content-Disposition": f'attachment; filename="reconciliation-{county_code}-{month}.xlsx"'
            },
        )
    return report
