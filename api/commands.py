"""One way to run a command from a route: hash the request, execute once, answer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from domain.access import Principal
from ops.services import Outcome, Services


def request_fingerprint(request: Request, body: BaseModel | None) -> str:
    canonical = json.dumps(
        {
            "method": request.method,
            "path": request.url.path,
            "body": body.model_dump(mode="json") if body is not None else None,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def run(
    request: Request,
    services: Services,
    principal: Principal,
    body: BaseModel | None,
    key: str | None,
    decide: Callable[[], Outcome],
) -> JSONResponse:
    served = services.execute(principal, key, request_fingerprint(request, body), decide)
    headers = {"Idempotency-Replayed": "true"} if served.replayed else {}
    if served.positions:
        headers["Doudi-Log-Position"] = str(max(served.positions))
    return JSONResponse(served.response, status_code=served.status_code, headers=headers)


def fields(body: BaseModel, **extra: Any) -> dict[str, Any]:
    """A request body as keyword arguments for a domain method."""
    return {**body.model_dump(mode="python"), **extra}
