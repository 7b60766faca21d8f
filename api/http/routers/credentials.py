"""Credentials: an admin issues bearer tokens within its own scope (the token is shown once),
never for its own person (staff id)."""

from fastapi import Request
from fastapi.responses import JSONResponse

from api.http import schemas
from api.http.commands import run
from api.http.deps import IdempotencyKey, PrincipalDep, ServicesDep
from api.http.responses import CredentialIssued, answer
from api.http.routing import Router
from ops.services.access import IssueCredential

router = Router(prefix="/credentials", tags=["credentials"])


@router.post("", status_code=201, responses=answer(CredentialIssued, 201))
def issue(
    request: Request,
    body: schemas.CredentialIn,
    services: ServicesDep,
    principal: PrincipalDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """A retry with the same Idempotency-Key returns the same credential and token (kept sealed
    under the deployment secret in the idempotency record), not a second credential."""
    command = IssueCredential(**body.model_dump(mode="json"))
    return run(request, services, principal, body, key, command)
