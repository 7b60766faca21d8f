"""The FastAPI application: ``create_app(settings)``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi_offline import FastAPIOffline

from api import problems
from api.routers import (
    audit,
    credentials,
    grants,
    households,
    ledger,
    policy,
    registry,
    rolls,
    tekun,
    tlog,
)
from ops.logging import configure_logging, log
from ops.runtime import tune_gc
from ops.services import Services
from ops.settings import Settings


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(json_lines=settings.log_json)
    tune_gc()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or Services(settings)
        app.state.services.fresh()
        yield
        if owned:
            app.state.services.close()

    app = FastAPIOffline(
        title="doudi",
        version="0.1.0",
        lifespan=lifespan,
        description="Event-sourced social-assistance payments and fund ledger (兜底).",
    )
    if services is not None:
        app.state.services = services
    problems.install(app)
    _middleware(app, settings)
    v1 = APIRouter(prefix="/api/v1")
    for module in (policy, households, tekun, registry, audit, credentials, rolls, ledger, grants):
        v1.include_router(module.router)

    @v1.get("/health", tags=["meta"])
    def health(request: Request) -> dict[str, Any]:
        found: Services = request.app.state.services
        return {
            "status": "ok",
            "log_position": found.log_position(),
            "projections": found.projections.positions(),
        }

    v1.include_router(rolls.statistics_router)
    v1.include_router(tlog.router)
    app.include_router(v1)
    return app


def _is_file_upload(path: str) -> bool:
    """Routes whose body is a whole CSV file: bank statements and bank result files."""
    return path.startswith("/api/v1/ledger/statements/") or path.endswith("/bank-results")


def _middleware(app: FastAPI, settings: Settings) -> None:
    @app.middleware("http")
    async def request_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            request_id=request_id, method=request.method, path=request.url.path
        )
        length = request.headers.get("content-length")
        limit = (
            settings.max_file_bytes
            if _is_file_upload(request.url.path)
            else settings.max_body_bytes
        )
        if length is not None and (not length.isdigit() or int(length) > limit):
            response: Response = problems.problem(
                413,
                "Request body too large",
                f"the body must be at most {limit} bytes",
                instance=request.url.path,
                errors=[
                    {"field": "body", "rule": "max_body_bytes", "detail": f"at most {limit} bytes"}
                ],
            )
        else:
            response = await call_next(request)
        response.headers["X-Request-ID"] = request_id
        log.info("request", status=response.status_code)
        return response
