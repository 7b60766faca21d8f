"""Household cases (低保 / 低保边缘): apply, decide, list, read, timeline."""

# No ``from __future__ import annotations`` here: decision routes are built in a loop and FastAPI
# must see each body model as a real type.
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.http import schemas
from api.http.commands import add_decision_route, run
from api.http.deps import IdempotencyKey, PrincipalDep, ReadServices, ServicesDep
from api.http.known_at import AsKnownAt, AsOfPosition
from api.http.paging import CursorQuery, Pager
from api.http.responses import Case, CasePage, CaseSummary, Timeline, answer
from api.http.routing import Router
from domain.errors import NotFound
from domain.household import CaseStatus
from domain.programmes import Programme
from ops.services.cases import HOUSEHOLD_DECISIONS, ApplyHousehold
from ops.services.known_at import case_known_at, resolve
from projections.case_state.view import case_in_period

router = Router(prefix="/households", tags=["households"])
Limit = Annotated[int, Query(ge=1, le=500)]


@router.post(
    "", status_code=201, summary="Record an application (申请)", responses=answer(CaseSummary, 201)
)
def apply(
    request: Request,
    body: schemas.HouseholdApplyIn,
    services: ServicesDep,
    principal: PrincipalDep,
    key: IdempotencyKey,
) -> JSONResponse:
    command = ApplyHousehold(**body.model_dump(mode="json"))
    return run(request, services, principal, body, key, command)


def visible_case(services: Any, principal: Any, case_id: UUID, kind: str) -> dict[str, Any]:
    principal.require("read.cases")
    case = services.case_state.get(str(case_id))
    if case is None or principal.sees(case["region_code"]):
        services.require_applied(
            "case_state", str(case_id)
        )  # a record the view failed on: 500, not 404
    if (
        case is None
        or case["kind"] != kind
        or not principal.sees(case["region_code"])
        or not case_in_period(case, principal.period)
    ):
        raise NotFound("no such case", field="case_id", rule="exists")
    return dict(case)


def add_case_reads(target: APIRouter, kind: str, noun: str) -> None:
    """List (paginated, filtered by region, status, programme), one case, and its timeline."""

    @target.get(
        "", summary=f"List {noun} in scope", response_model=None, responses=answer(CasePage, 200)
    )
    def list_cases(
        services: ReadServices,
        principal: PrincipalDep,
        region: Annotated[str | None, Query(pattern=r"^[0-9]{2,12}$")] = None,
        status: CaseStatus | None = None,
        programme: Programme | None = None,
        limit: Limit = 50,
        cursor: CursorQuery = None,
        as_known_at: AsKnownAt = None,
        as_of_position: AsOfPosition = None,
    ) -> dict[str, Any]:
        """By region, then application date, then case id; a page of an audit period may hold
        fewer than ``limit`` cases (those not in the asked status at the period's end)."""
        principal.require("read.cases")
        if region is not None:
            principal.require_filter(region)
        known = resolve(services, principal, as_known_at, as_of_position)
        position = None if known is None else known.position
        wanted = status.value if status else None
        pager = Pager(services, ["cases", kind, principal.prefix, principal.period, region, wanted,
                                 programme.value if programme else None, position], width=3)  # fmt: skip
        items, last = services.case_state.search(
            scope_prefix=principal.prefix, kind=kind, region_prefix=region, status=wanted,
            programme=programme.value if programme else None, limit=limit, after=pager.after(cursor),
            period=principal.period, known_at=position,
        )  # fmt: skip
        if principal.period is not None:  # each case as it stood at the period's end
            items = [services.case_as_of_period(item, principal.period, known) for item in items]
            items = [item for item in items if wanted is None or item["status"] == wanted]
        found = pager.page(limit, items, last)
        if known is not None:
            ids = [str(item["case_id"]) for item in items]
            later = services.audit.recorded_after(ids, known.position)
            found["known_at"] = known.as_dict() | {"recorded_after": later}
        return found

    @target.get(
        "/{case_id}",
        summary="One case as known now, or at a past time or log position",
        response_model=None,
        responses=answer(Case, 200),
    )
    def get_case(
        case_id: UUID,
        services: ReadServices,
        principal: PrincipalDep,
        as_known_at: AsKnownAt = None,
        as_of_position: AsOfPosition = None,
    ) -> dict[str, Any]:
        case = visible_case(services, principal, case_id, kind)
        known = resolve(services, principal, as_known_at, as_of_position)
        if known is None:
            return services.case_as_of_period(case, principal.period)
        day = principal.period[1] if principal.period else None
        then, later = case_known_at(services, str(case_id), known, day)
        if then is None or not principal.sees(then["region_code"]):
            raise NotFound("no such case as known then", field="case_id", rule="exists")
        return then | {"known_at": known.as_dict() | {"recorded_after": later}}

    @target.get(
        "/{case_id}/timeline",
        summary="Decisions in effective-date order",
        response_model=None,
        responses=answer(Timeline, 200),
    )
    def timeline(case_id: UUID, services: ReadServices, principal: PrincipalDep) -> dict[str, Any]:
        visible_case(services, principal, case_id, kind)
        items = [entry for entry in services.case_state.timeline(str(case_id))
                 if principal.in_period(entry["effective_date"])]  # fmt: skip
        return {"case_id": str(case_id), "items": items}


add_case_reads(router, "household", "household cases")


def _income(body: Any) -> dict[str, Any]:
    data = body.model_dump(mode="json")
    return {
        "income": body.as_income(),
        "effective_date": data["effective_date"],
        "document_ref": data["document_ref"],
        "decided_on": data["decided_on"],
        "document_date": data["document_date"],
    }


def _member(body: Any) -> dict[str, Any]:
    data = body.model_dump(mode="json")
    return {
        "member": data["member"],
        "effective_date": data["effective_date"],
        "document_ref": data["document_ref"],
        "decided_on": data["decided_on"],
        "document_date": data["document_date"],
    }


def _plain(body: Any) -> dict[str, Any]:
    return dict(body.model_dump(mode="json"))


DECISIONS: list[tuple[str, type[BaseModel], Any, str]] = [
    ("economic-checks", schemas.IncomeIn, _income, "Record an economic check (家庭经济状况核对)"),
    ("approve", schemas.ApproveIn, _plain, "Approve (审批)"),
    ("reject", schemas.ReasonIn, _plain, "Reject the application"),
    ("members", schemas.AddMemberIn, _member, "Add a member"),
    ("remove-member", schemas.RemoveMemberIn, _plain, "Remove a member"),
    ("income", schemas.IncomeIn, _income, "Reassess income"),
    ("tier", schemas.TierIn, _plain, "Change tier (分档)"),
    ("payee-account", schemas.PayeeAccountIn, _plain, "Change the payee account"),
    ("suspend", schemas.ReasonIn, _plain, "Suspend payment"),
    ("resume", schemas.PlainDecision, _plain, "Resume payment"),
    ("gradual-exit", schemas.GradualExitIn, _plain, "Start gradual exit (渐退)"),
    ("terminate", schemas.TerminateIn, _plain, "Terminate (停保)"),
    ("annual-review", schemas.AnnualReviewIn, _plain, "Record the annual review (年度复核)"),
]


for _action, _model, _shape, _summary in DECISIONS:
    add_decision_route(
        router, path_id="case_id", action=_action, model=_model, name="household", summary=_summary,
        answers=CaseSummary, command=lambda case_id, body, made=HOUSEHOLD_DECISIONS[_action], shape=_shape:
        made(case_id=case_id, **shape(body)),
    )  # fmt: skip
