"""Policy book (SPEC §4): record effective-dated facts; ask which applies, as known at a time."""

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import JSONResponse

from api.http import paths, schemas
from api.http.commands import run
from api.http.deps import IdempotencyKey, PrincipalDep, ReadServices, ServicesDep
from api.http.responses import Facts, PolicyRecorded, Standard, answer
from api.http.routing import Router
from domain import policy as kinds
from domain.dates import first_day
from domain.errors import Forbidden, NotFound
from domain.money import RoundingMode, RoundingUnit
from domain.policy import KINDS, RoundingRule, policy_kind
from domain.programmes import Programme
from domain.regions import validate_region_code
from ops.services.core import now_utc
from ops.services.policy import SetPolicy
from projections.policy_book.view import typed
from projections.runner import utc_text

router = Router(prefix="/policy", tags=["policy"])
RegionPath = Annotated[str, "region"]
DEFAULT_ROUNDING = RoundingRule(unit=RoundingUnit.FEN.value, mode=RoundingMode.HALF_UP.value)


def _fact_route(kind: str, model: type[schemas.Body]) -> Any:
    def route(
        request: Request,
        region_code: paths.RegionCode,
        body: Any,
        services: ServicesDep,
        principal: PrincipalDep,
        key: IdempotencyKey,
    ) -> JSONResponse:
        validate_region_code(region_code)
        command = SetPolicy(region_code=region_code, kind=kind, fields=body.model_dump(mode="json"))
        return run(request, services, principal, body, key, command)

    route.__annotations__["body"] = model
    route.__name__ = f"set_{kind}"
    return route


for (
    _kind,
    _value_type,
) in KINDS.items():  # every kind the domain declares (a body missing fails here)
    _path, _model = schemas.POLICY_BODIES[_value_type]
    router.add_api_route(
        f"/{{region_code}}/{_path}",
        _fact_route(_kind, _model),
        methods=["POST"],
        status_code=201,
        responses=answer(PolicyRecorded, 201),
    )


def _as_of(value: str | None, principal: Any) -> str:
    """'As known at' time as stored text; a special auditor never sees past the end of the audit period."""
    moment = utc_text(now_utc()) if value is None else value
    if principal.period_to:
        moment = min(moment, f"{principal.period_to}T23:59:59.999999Z")
    return moment


def _readable(region_code: str, principal: Any) -> None:
    validate_region_code(region_code)
    principal.require("read.policy")
    if not principal.sees_policy_of(region_code):
        raise Forbidden(
            "the region is outside this credential's scope",
            field="region_code",
            rule="region_scope",
        )


AsOf = Annotated[
    str | None,
    Query(
        pattern=schemas.TIMESTAMP_PATTERN,
        description="UTC time, e.g. 2024-05-01T00:00:00Z, in 1990 … 2100",
    ),
]


@router.get(
    "/{region_code}/standard",
    summary="The standard in force for a month, as known at a time",
    response_model=None,
    responses={
        **answer(Standard, 200),
        404: {"description": "No standard of the programme in force in that month"},
    },
)
def applicable_standard(
    region_code: paths.RegionCode,
    services: ReadServices,
    principal: PrincipalDep,
    programme: Programme,
    month: Annotated[str, Query(pattern=schemas.MONTH_PATTERN)],
    as_of: AsOf = None,
) -> dict[str, Any]:
    _readable(region_code, principal)
    principal.require_period(month, "month")
    known_at = _as_of(as_of, principal)
    on_date = first_day(month)
    fact = services.policy.applicable(
        region_code, kinds.Standard.kind, programme.value, on_date, known_at
    )
    if fact is None:
        raise NotFound(
            f"no {programme.value} standard in force for {region_code} in {month} as known at {known_at}",
            field="month",
            rule="standard_exists",
        )
    rounding_fact = services.policy.applicable(
        region_code, RoundingRule.kind, "", on_date, known_at
    )
    rounding = typed(RoundingRule, rounding_fact).value if rounding_fact else DEFAULT_ROUNDING
    standard = typed(kinds.Standard, fact).value
    monthly = standard.monthly_fen(RoundingUnit(rounding.unit), RoundingMode(rounding.mode))
    return {
        "region_code": region_code,
        "programme": programme.value,
        "month": month,
        "as_of": known_at,
        "standard_fen_per_month": monthly,
        "published_amount_fen": standard.amount_fen,
        "published_period": standard.period,
        "rounding": rounding.payload(),
        "set_by": fact,
        "rounding_set_by": rounding_fact,
    }


@router.get(
    "/{region_code}/facts",
    summary="Every policy fact of a region recorded by a time",
    response_model=None,
    responses=answer(Facts, 200),
)
def facts(
    region_code: paths.RegionCode,
    services: ReadServices,
    principal: PrincipalDep,
    kind: Annotated[str | None, Query(max_length=40), schemas.TEXT_RULE] = None,
    as_of: AsOf = None,
) -> dict[str, Any]:
    _readable(region_code, principal)
    if kind is not None:
        policy_kind(kind)  # refuses an unknown kind, naming the known ones
    known_at = _as_of(as_of, principal)
    return {
        "region_code": region_code,
        "as_of": known_at,
        "items": [fact for fact in services.policy.facts(region_code, kind, known_at)
                  if principal.in_period(fact["effective_date"])],
    }  # fmt: skip
