"""Dependencies: the services, the authenticated principal, the Idempotency-Key header, and
the check every JSON body passes (no key twice in one object)."""

from __future__ import annotations

import email.message
import json
import time
from datetime import datetime
from typing import Annotated, Any

import structlog
from fastapi import Depends, Header, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.http.metrics import READ_WAITS, VIEWS_BEHIND
from api.http.schemas import HEADER_UTF8, TEXT_RULE
from domain.access import Principal
from domain.errors import InvalidValue, ViewsBehind
from domain.text import visible
from ops.services.core import Services, now_utc

bearer = HTTPBearer(auto_error=False)
# How long a process answers a bearer token from what it last read of its credential, never past
# the token's expiry: a request then authenticates without a database round trip, and a
# credential revoked is refused by every process within this many seconds.
PRINCIPAL_TTL_S = 5.0


class Principals:
    """Each bearer token's principal as last read (one per app), until ``PRINCIPAL_TTL_S`` has
    passed or the token expires, whichever is first; unknown tokens are never kept."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[float, datetime | None, Principal]] = {}
        self.clock = time.monotonic

    def get(self, token: str) -> Principal | None:
        kept = self._kept.get(token)
        if kept is None or kept[0] <= self.clock() or (kept[1] and kept[1] <= now_utc()):
            return None
        return kept[2]

    def keep(self, token: str, principal: Principal, expires: datetime | None) -> None:
        if len(self._kept) > 10_000:  # a bound, not a policy: tokens are few
            self._kept.clear()
        self._kept[token] = (self.clock() + PRINCIPAL_TTL_S, expires, principal)


# The dependencies that do no I/O are coroutines: FastAPI runs a plain function in a worker
# thread, a hop that costs more than the little they do.
async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_principal(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    principal = None
    if credentials:
        principals: Principals = request.app.state.principals
        principal = principals.get(credentials.credentials)
        if principal is None:  # a database read (perhaps a wait for the views): off the loop
            found = await run_in_threadpool(services.credential, credentials.credentials)
            if found is not None:
                principal, expires = found
                principals.keep(credentials.credentials, principal, expires)
    if principal is None:
        raise HTTPException(
            401,
            "missing, unknown, expired or revoked bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    structlog.contextvars.bind_contextvars(
        credential_id=principal.credential_id, role=str(principal.role)
    )
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def idempotency_key(
    header: Annotated[
        str | None,
        Header(alias="Idempotency-Key", min_length=1, max_length=200),
        TEXT_RULE,
        HEADER_UTF8,
    ] = None,
) -> str | None:
    return header


IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]


LOG_POSITION = "Doudi-Log-Position"
PositionHeader = Annotated[
    int | None,
    Header(
        alias=LOG_POSITION,
        ge=0,
        le=2**63 - 1,
        description="read your writes: the Doudi-Log-Position a command answered; the read"
        " waits (bounded, then 503) until the views have reached it. Without it the read"
        " answers at once from the views as they are (Doudi-View-Position says where)",
    ),
]


def _read(request: Request, services: Services, position: int, sealed: bool) -> None:
    """Wait (bounded) until the views have reached ``position``; the position they reflect
    goes back in ``Doudi-View-Position`` (``metrics.Observed``)."""
    began = time.monotonic()
    try:
        request.state.view_position = services.views_at(position, sealed=sealed)
    except ViewsBehind:
        VIEWS_BEHIND.inc()
        raise
    finally:
        READ_WAITS.observe(time.monotonic() - began)


async def _reading(request: Request, services: Services, position: int | None, sealed: bool) -> Services:  # fmt: skip
    """The views a read answers from: at once as they are (known in memory), or in a worker
    thread once they reached ``position``."""
    if position is None:
        request.state.view_position = services.views_at(None, sealed=sealed)
    else:
        await run_in_threadpool(_read, request, services, position, sealed)
    return services


async def read_services(
    request: Request, services: ServicesDep, position: PositionHeader = None
) -> Services:
    return await _reading(request, services, position, sealed=False)


async def sealed_read_services(
    request: Request, services: ServicesDep, position: PositionHeader = None
) -> Services:
    """For the verifiable log's reads: the seal, too, has reached the position."""
    return await _reading(request, services, position, sealed=True)


ReadServices = Annotated[Services, Depends(read_services)]
SealedReadServices = Annotated[Services, Depends(sealed_read_services)]


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """One JSON object, refused if it names a key twice."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise InvalidValue(
                f"body: the key {visible(key)!r} appears twice in one object",
                field="body",
                rule="json_duplicate_key",
            )
        found[key] = value
    return found


def _is_json(content_type: str | None) -> bool:
    """The content types FastAPI reads as JSON."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


async def unique_json_keys(request: Request) -> None:
    """Refuse a JSON body that names a key twice in one object (422 ``json_duplicate_key``):
    JSON leaves its meaning open and FastAPI would keep the last, so the request fingerprinted
    and decided would not be the one a reader of the body sees. A dependency of every route: it
    runs after FastAPI has read the body of a route that takes one (within the body limit) and
    refused one that is not JSON, and before the body is validated."""
    route = request.scope.get("route")
    if getattr(route, "body_field", None) is None or not _is_json(
        request.headers.get("content-type")
    ):
        return
    body = await request.body()
    if body:
        json.loads(body, object_pairs_hook=_unique_keys)
