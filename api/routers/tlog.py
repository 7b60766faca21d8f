"""The verifiable log: the signed checkpoint and proofs against it (SPEC §8, ``ops/tlog``)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from api.deps import PrincipalDep, ReadServices
from ops.tlog.audit import consistency_proof, inclusion_proof, signed_checkpoint

router = APIRouter(prefix="/audit", tags=["audit"])
# Sizes and positions are 63-bit in the database.
Count = Annotated[int, Query(ge=1, le=2**63 - 1)]


@router.get(
    "/checkpoint",
    summary="The latest checkpoint: a C2SP tlog-checkpoint signed note (text/plain)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def checkpoint(services: ReadServices, principal: PrincipalDep) -> Response:
    principal.require("read.audit")
    note = signed_checkpoint(services.tlog, services.settings.log_origin, services.log_key)
    return Response(note, media_type="text/plain; charset=utf-8")


@router.get("/proofs/inclusion", summary="Inclusion proof of the event at a log position")
def inclusion(
    services: ReadServices,
    principal: PrincipalDep,
    position: Count,
    tree_size: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> dict[str, Any]:
    principal.require("read.audit")
    return inclusion_proof(services.tlog, position, tree_size)


@router.get("/proofs/consistency", summary="Consistency proof between two tree sizes")
def consistency(
    services: ReadServices,
    principal: PrincipalDep,
    first: Annotated[int, Query(alias="from", ge=1, le=2**63 - 1)],
    second: Annotated[int | None, Query(alias="to", ge=1, le=2**63 - 1)] = None,
) -> dict[str, Any]:
    principal.require("read.audit")
    return consistency_proof(services.tlog, first, second)
