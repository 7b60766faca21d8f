"""Credentials: an admin issues bearer tokens within its own scope (the token is shown once)."""

from typing import Any

from fastapi import APIRouter

from api import schemas
from api.deps import PrincipalDep, ServicesDep

router = APIRouter(prefix="/credentials", tags=["credentials"])


@router.post("", status_code=201)
def issue(
    body: schemas.CredentialIn, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    principal.require("credential.issue")
    principal.require_region(body.region_scope, "region_scope")
    data = body.model_dump(mode="json")
    credential_id, token = services.issue_credential(principal.credential_id, **data)
    return {
        "credential_id": credential_id,
        "token": token,
        "role": body.role,
        "region_scope": body.region_scope,
    }
