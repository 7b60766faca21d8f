"""One way to run a command from a route: fingerprint the request, execute once, answer."""

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

Body = BaseModel | bytes | None


def request_fingerprint(request: Request, body: Body) -> str:
    """What an Idempotency-Key is bound to: method, path, query and body."""
    content: Any
    if isinstance(body, bytes):
        content = hashlib.sha256(body).hexdigest()
    else:
        content = body.model_dump(mode="json") if body is not None else None
    canonical = json.dumps(
        {
            "method": request.method,
            "path": request.url.path,
            "query": str(request.url.query),
            "body": content,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def run(
    request: Request, services: Services, principal: Principal, body: Body, key: str | None,
    decide: Callable[[], Outcome], retries: int = 0,
) -> JSONResponse:  # fmt: skip
    served = services.execute(principal, key, request_fingerprint(request, body), decide, retries)
    headers = {"Idempotency-Replayed": "true"} if served.replayed else {}
    if served.positions:
        headers["Doudi-Log-Position"] = str(max(served.positions))
    return JSONResponse(served.response, status_code=served.status_code, headers=headers)
