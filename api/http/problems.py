"""The one place that maps errors to RFC 9457 problem+json responses."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.http.logs import log
from domain.errors import (
    DomainError,
    Forbidden,
    InsufficientFunds,
    IntegrityFailure,
    NotFound,
    ViewsBehind,
)
from domain.text import visible

PROBLEM = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    instance: str,
    errors: list[dict[str, Any]] | None = None,
    problem_type: str = "about:blank",
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": problem_type,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        **(extensions or {}),
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


# What a refusal of the HTTP layer (no route, no such method, no credential) is about, in the
# caller's terms: the field and rule of its ``errors[]``.
HTTP_ERRORS = {
    401: ("Authorization", "bearer_token"),
    404: ("path", "route_exists"),
    405: ("method", "method_allowed"),
}


def _validation_entry(error: Any) -> dict[str, Any]:
    """One pydantic/FastAPI error as ``errors[]`` names it. A body that is not JSON is the
    field ``body`` (FastAPI puts the character offset in the location; it goes in the detail)."""
    if error["type"] == "json_invalid":
        where = f" at character {error['loc'][-1]}" if len(error["loc"]) > 1 else ""
        why = (error.get("ctx") or {}).get("error", error["msg"])
        return {"field": "body", "rule": "json_invalid", "detail": f"not JSON: {why}{where}"}
    return {"field": _field(tuple(error["loc"])), "rule": error["type"], "detail": error["msg"]}


def _field(loc: tuple[Any, ...]) -> str:
    parts = [visible(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[-1] if loc else "")


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, error: DomainError) -> JSONResponse:
        if isinstance(error, Forbidden | NotFound):
            log.warning("refused", status=error.status, rule=error.rule, path=request.url.path)
        extensions: dict[str, Any] = {}
        if isinstance(error, IntegrityFailure):
            log.error("event_integrity", aggregate_id=error.aggregate_id, version=error.version)
            extensions = {"aggregate_id": error.aggregate_id}
        if isinstance(error, InsufficientFunds):
            extensions = {"funds": error.funds}
        if isinstance(error, ViewsBehind):
            extensions = {"requested_position": error.wanted, "reached_position": error.reached}
        response = problem(
            error.status,
            error.title,
            error.detail,
            instance=request.url.path,
            errors=[{"field": error.field, "rule": error.rule, "detail": error.detail}],
            problem_type=f"/problems/{error.rule}",
            extensions=extensions,
        )
        if isinstance(error, ViewsBehind):
            response.headers["Retry-After"] = "1"
            response.headers["Doudi-View-Position"] = str(error.reached)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [_validation_entry(e) for e in error.errors()]
        first = errors[0] if errors else {"field": "", "detail": "invalid request"}
        return problem(
            422,
            "Invalid request",
            f"{first['field']}: {first['detail']}",
            instance=request.url.path,
            errors=errors,
            problem_type="/problems/validation",
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400:  # FastAPI could not read the body (e.g. not UTF-8 JSON)
            return problem(
                422,
                "Invalid request",
                "body: the body could not be parsed",
                instance=request.url.path,
                errors=[{"field": "body", "rule": "json_invalid", "detail": str(error.detail)}],
                problem_type="/problems/validation",
            )
        field, rule = HTTP_ERRORS.get(error.status_code, ("request", f"http_{error.status_code}"))
        response = problem(
            error.status_code,
            str(error.detail),
            str(error.detail),
            instance=request.url.path,
            errors=[{"field": field, "rule": rule, "detail": str(error.detail)}],
        )
        for key, value in (error.headers or {}).items():
            response.headers[key] = value
        return response
