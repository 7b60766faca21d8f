"""The verifiable log: the signed checkpoint and proofs against it (SPEC §8, ``ledger/proof``)."""

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.http import schemas
from api.http.deps import PrincipalDep, SealedReadServices, ServicesDep
from api.http.responses import Page, answer
from api.http.routing import Router
from domain.errors import InvalidValue, NotFound
from ops.services.core import Services
from ops.services.export import package_zip
from projections.case_state.view import case_in_period
from projections.tlog.proofs import consistency_proof, inclusion_proof

router = Router(prefix="/audit", tags=["audit"])
Base64Hash = Field(description="a SHA-256 hash, base64", min_length=44, max_length=44)


class InclusionProof(BaseModel):
    """RFC 9162 inclusion proof of one event: the hashes from its leaf's sibling upwards."""

    model_config = ConfigDict(extra="allow")
    position: int = Field(ge=1, description="the event's log position (notification id)")
    leaf_index: int = Field(ge=0)
    tree_size: int = Field(ge=1)
    leaf_hash: str = Base64Hash
    root_hash: str = Base64Hash
    proof: list[str]


class ConsistencyProof(BaseModel):
    """RFC 9162 consistency proof: the tree of ``to`` leaves extends the tree of ``from``."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    from_: int = Field(ge=1, alias="from")
    to: int = Field(ge=1)
    from_root_hash: str = Base64Hash
    to_root_hash: str = Base64Hash
    proof: list[str]


@router.get(
    "/checkpoint",
    summary="The latest checkpoint: a C2SP tlog-checkpoint signed note (text/plain), kept in"
    " the history of issued checkpoints",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def checkpoint(services: SealedReadServices, principal: PrincipalDep) -> Response:
    principal.require("read.audit")
    note = services.issue_checkpoint()
    return Response(note, media_type="text/plain; charset=utf-8")


class IssuedCheckpoint(BaseModel):
    """A checkpoint the service has issued (served): its tree size, root and signing key."""

    model_config = ConfigDict(extra="allow")
    tree_size: int = Field(ge=0)
    root_hash: str = Base64Hash
    key: str = Field(description="the signing key's name and id, as its verifier key begins")
    issued_at: str = Field(description="when it was first issued (UTC)")


class IssuedCheckpoints(Page):
    items: list[IssuedCheckpoint]  # type: ignore[assignment]


@router.get(
    "/checkpoints",
    summary="The checkpoints issued so far, smallest tree first (fetch one's signed note by size)",
    responses=answer(IssuedCheckpoints, 200),
)
def issued_checkpoints(
    services: ServicesDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=schemas.MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    principal.require("read.audit")
    return services.issued.page(limit, offset)


@router.get(
    "/checkpoints/{tree_size}",
    summary="A checkpoint issued at this tree size: its C2SP signed note (text/plain)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, 404: {"description": "None was issued"}},
)
def issued_checkpoint(
    services: ServicesDep,
    principal: PrincipalDep,
    tree_size: Annotated[int, Path(ge=0, le=2**63 - 1)],
) -> Response:
    principal.require("read.audit")
    note = services.issued.note(tree_size)
    if note is None:
        raise NotFound("no checkpoint was issued at this tree size", field="tree_size",
                       rule="issued")  # fmt: skip
    return Response(note, media_type="text/plain; charset=utf-8")


@router.get(
    "/proofs/inclusion",
    summary="Inclusion proof of an event, by log position or by case and version",
    responses={
        200: {"model": InclusionProof, "description": "Successful Response"},
        404: {"description": "No such event of a case within the caller's scope and period"},
    },
)
def inclusion(
    services: SealedReadServices,
    principal: PrincipalDep,
    position: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    case_id: UUID | None = None,
    version: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    tree_size: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> dict[str, Any]:
    principal.require("read.audit")
    if (position is None) == (case_id is None) or (case_id is None) != (version is None):
        raise InvalidValue(
            "give either position, or case_id and version",
            field="position",
            rule="position_or_case_version",
        )
    if case_id is not None and version is not None:
        case = services.case_state.get(str(case_id))
        found = services.tree_reader.position_of(case_id, version)
        if (
            case is None
            or not principal.sees(case["region_code"])
            or not case_in_period(case, principal.period)
            or found is None
        ):
            raise NotFound("no such event of a case", field="case_id", rule="exists")
        position = found
    assert position is not None  # one of the two was given
    return _sealed_first(services, lambda: inclusion_proof(services.tlog, position, tree_size))


@router.get(
    "/proofs/consistency",
    summary="Consistency proof between two tree sizes",
    responses={200: {"model": ConsistencyProof, "description": "Successful Response"}},
)
def consistency(
    services: ServicesDep,
    principal: PrincipalDep,
    first: Annotated[int, Query(alias="from", ge=1, le=2**63 - 1)],
    second: Annotated[int | None, Query(alias="to", ge=1, le=2**63 - 1)] = None,
) -> dict[str, Any]:
    principal.require("read.audit")
    return _sealed_first(services, lambda: consistency_proof(services.tlog, first, second))


def _sealed_first(services: Services, answer: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A proof answered from the seal as it stands, without bringing the views up to the log
    first (a proof reads no view); if it asks for what the seal has not reached yet (an event
    or a tree size recorded since), the log is sealed and it is answered again."""
    try:
        return answer()
    except (NotFound, InvalidValue):
        if not services.keep_sealed():
            raise
    return answer()


@router.get(
    "/export",
    summary="The special-audit package of the caller's scope and period (a zip; check it offline)",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
def export(
    services: SealedReadServices,
    principal: PrincipalDep,
    first: Annotated[str, Query(alias="from", pattern=r"^[0-9]{4}-[0-9]{2}$", max_length=7)],
    last: Annotated[str, Query(alias="to", pattern=r"^[0-9]{4}-[0-9]{2}$", max_length=7)],
) -> Response:
    data = package_zip(services, principal, first, last)
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="audit-{first}-{last}.zip"'},
    )
