"""Dependencies: the services, the authenticated principal, the Idempotency-Key header."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.schemas import HEADER_UTF8, TEXT_RULE
from domain.access import Principal
from ops.services import Services

bearer = HTTPBearer(auto_error=False)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_principal(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    principal = services.authenticate(credentials.credentials) if credentials else None
    if principal is None:
        raise HTTPException(
            401,
            "missing, unknown, expired or revoked bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    import structlog

    structlog.contextvars.bind_contextvars(
        credential_id=principal.credential_id, role=str(principal.role)
    )
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def idempotency_key(
    key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", min_length=1, max_length=200),
        TEXT_RULE,
        HEADER_UTF8,
    ] = None,
) -> str | None:
    return key


IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]


def fresh_services(services: ServicesDep) -> Services:
    """Services whose views have caught up with the log: reads see every write before them."""
    return services.fresh()


ReadServices = Annotated[Services, Depends(fresh_services)]
