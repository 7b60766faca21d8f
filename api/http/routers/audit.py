"""Audit trail: every event about a case, a person or a region's policy, with actor and document."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import Query

from api.http import paths, schemas
from api.http.deps import PrincipalDep, ReadServices
from api.http.openapi import QUERY
from api.http.paging import CursorQuery, Pager
from api.http.responses import Trail, answer
from api.http.routers.policy import AsOf, _as_of, _readable
from api.http.routing import Router
from domain.errors import NotFound
from domain.identity import validate_id_number
from domain.policy import policy_id
from ledger.accounts import parse_account
from projections.case_state.view import case_in_period
from projections.keyset import split

router = Router(prefix="/audit", tags=["audit"])
TrailLimit = Annotated[int, Query(ge=1, le=1000)]


def _trail(
    services: Any,
    principal: Any,
    kind: str,
    subject: str,
    known_at: str,
    limit: int,
    cursor: str | None,
    as_of: str | None,
) -> dict[str, Any]:
    """A page of a subject's events in log order (its key is the log position). The cursor is
    bound to the ``as_of`` asked: without one, each page is read as known at its own request
    (an event recorded since comes after the pages already read, never among them)."""
    pager = Pager(services, ["trail", kind, subject, as_of, principal.period], width=1)
    after = pager.after(cursor)
    rows = services.audit.for_subject(
        kind, subject, as_of=known_at, period=principal.period, limit=limit + 1,
        after=None if after is None else int(after[0]),
    )  # fmt: skip
    page, last = split(rows, limit, ("position",))
    return pager.page(limit, page, last)


@router.get(
    "/cases/{case_id}",
    summary="Every event of one case, in log order",
    response_model=None,
    responses=answer(Trail, 200),
)
def case_trail(
    case_id: UUID,
    services: ReadServices,
    principal: PrincipalDep,
    as_of: AsOf = None,
    limit: TrailLimit = 200,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    principal.require("read.audit")
    case = services.case_state.get(str(case_id))
    if case is None or principal.sees(case["region_code"]):
        services.require_applied(
            "audit_trail", str(case_id)
        )  # a trail a view failed on: 500, not 404 or partial
    if (
        case is None
        or not principal.sees(case["region_code"])
        or not case_in_period(case, principal.period)
    ):
        raise NotFound("no such case", field="case_id", rule="exists")
    known_at = _as_of(as_of, principal)
    trail = _trail(services, principal, "case", str(case_id), known_at, limit, cursor, as_of)
    return {"case_id": str(case_id), "as_of": known_at} | trail


@router.post(
    "/persons/search",
    summary="Every event naming one person (identity number in the body, not the URL)",
    response_model=None,
    openapi_extra={QUERY: True},
    responses=answer(Trail, 200),
)
def person_trail(
    body: schemas.PersonQuery,
    services: ReadServices,
    principal: PrincipalDep,
    as_of: AsOf = None,
    limit: TrailLimit = 200,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """A page may hold fewer than ``limit`` events: those outside the caller's scope are left
    out after the page is read (an event's region may be its case's)."""
    principal.require("read.audit")
    key = services.person_key(validate_id_number(body.id_number))
    known_at = _as_of(as_of, principal)
    trail = _trail(services, principal, "person", key, known_at, limit, cursor, as_of)
    regions: dict[str, str | None] = {}
    visible = []
    for row in trail["items"]:
        region = row["region_code"] or regions.setdefault(
            row["originator_id"], services.case_state.region_of(row["originator_id"])
        )
        if region is not None and principal.sees(region):
            visible.append(row)
    return {"as_of": known_at} | trail | {"items": visible}


@router.get(
    "/policy/{region_code}",
    summary="Every policy decision of a region",
    response_model=None,
    responses=answer(Trail, 200),
)
def policy_trail(
    region_code: paths.RegionCode,
    services: ReadServices,
    principal: PrincipalDep,
    as_of: AsOf = None,
    limit: TrailLimit = 200,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    principal.require("read.audit")
    _readable(region_code, principal)
    known_at = _as_of(as_of, principal)
    subject = str(policy_id(region_code))
    trail = _trail(services, principal, "policy", subject, known_at, limit, cursor, as_of)
    return {"region_code": region_code, "as_of": known_at} | trail


@router.get(
    "/accounts/{account}",
    summary="Every posting to one ledger account, with actor and document",
    response_model=None,
    responses=answer(Trail, 200),
)
def account_trail(
    account: paths.Account,
    services: ReadServices,
    principal: PrincipalDep,
    as_of: AsOf = None,
    limit: TrailLimit = 200,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    principal.require("read.audit")
    parsed = parse_account(account)
    if not principal.sees(parsed.region_code):
        raise NotFound("no such account", field="account", rule="exists")
    known_at = _as_of(as_of, principal)
    trail = _trail(services, principal, "account", parsed.code, known_at, limit, cursor, as_of)
    return {"account": parsed.code, "as_of": known_at} | trail


@router.get(
    "/recusal-review",
    summary="Decisions officials took on their relatives' cases before the relation was"
    " registered (近亲属备案), for review",
    response_model=None,
    responses=answer(Trail, 200),
)
def recusal_review(
    services: ReadServices, principal: PrincipalDep, as_of: AsOf = None
) -> dict[str, Any]:
    """Scoped as every read: the caller's regions, and a special auditor's period."""
    principal.require("read.audit")
    known_at = _as_of(as_of, principal)
    items = services.audit.recusal_review(principal.prefix, as_of=known_at, period=principal.period)
    return {"as_of": known_at, "items": items}
