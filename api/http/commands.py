"""One way to run a command from a route: fingerprint the request, execute once, answer."""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.http.responses import answer
from domain.access import Principal
from ops.services.core import Command, Services

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
    command: Command,
) -> JSONResponse:  # fmt: skip
    served = services.execute(principal, key, request_fingerprint(request, body), command)
    headers = {"Idempotency-Replayed": "true"} if served.replayed else {}
    if served.positions:
        headers["Doudi-Log-Position"] = str(max(served.positions))
    return JSONResponse(served.response, status_code=served.status_code, headers=headers)


def add_decision_route(
    router: Any, *, path_id: str, action: str, model: type[BaseModel], name: str,
    command: Callable[[str, Any], Command], summary: str | None = None,
    answers: type[BaseModel] | None = None,
) -> None:  # fmt: skip
    """Register ``POST /{path_id}/{action}``: validate ``model``, run the command that
    ``command`` builds from the record's id and the body.

    One factory for every decision route (households, 特困 persons, grants), so each is
    idempotent, fingerprinted and answered the same way; ``answers`` is the response body's model.
    """
    from fastapi import Request as RequestType

    from api.http.deps import IdempotencyKey, PrincipalDep, ServicesDep

    def route(**values: Any) -> JSONResponse:
        body = values["body"]
        return run(values["request"], values["services"], values["principal"], body, values["key"],
                   command(str(values[path_id]), body))  # fmt: skip

    keyword = inspect.Parameter.KEYWORD_ONLY
    route.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        inspect.Parameter("request", keyword, annotation=RequestType),
        inspect.Parameter(path_id, keyword, annotation=UUID),
        inspect.Parameter("body", keyword, annotation=model),
        inspect.Parameter("services", keyword, annotation=ServicesDep),
        inspect.Parameter("principal", keyword, annotation=PrincipalDep),
        inspect.Parameter("key", keyword, annotation=IdempotencyKey),
    ], return_annotation=JSONResponse)  # fmt: skip
    route.__name__ = f"{name}_{action.replace('-', '_')}"
    router.add_api_route(f"/{{{path_id}}}/{action}", route, methods=["POST"], summary=summary,
                         responses=answer(answers, 200) if answers else None)  # fmt: skip
