"""The FastAPI application: ``create_app(settings)``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi_offline import FastAPIOffline

from api.http import deps, metrics, openapi, problems, responses
from api.http.deps import unique_json_keys
from api.http.limits import BodyLimit, BodyTooLarge, too_large
from api.http.logs import configure_logging
from api.http.routers import (
    audit,
    credentials,
    findings,
    grants,
    households,
    ledger,
    policy,
    registry,
    rolls,
    tekun,
    tlog,
)
from ledger.store.runtime import tune_gc
from ledger.store.settings import Settings
from ops.services.core import Services


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(json_lines=settings.log_json)
    tune_gc()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or Services(settings)
        app.state.services.follow()
        metrics.STARTS.inc()
        yield
        app.state.services.stop_following()
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
    app.state.principals = deps.Principals()
    problems.install(app)
    _middleware(app, settings)
    metrics.install(app)
    v1 = APIRouter(prefix="/api/v1", dependencies=[Depends(unique_json_keys)])
    for module in (
        policy,
        households,
        tekun,
        registry,
        audit,
        credentials,
        rolls,
        ledger,
        grants,
        findings,
    ):
        v1.include_router(module.router)

    @v1.get(
        "/health",
        tags=["meta"],
        response_model=None,
        responses=responses.answer(responses.Health, 200),
    )
    def health(request: Request) -> dict[str, Any]:
        """Unauthenticated: "degraded" while a view has events it could not apply, each named
        by view, log position and error type only (messages stay with ``doudi projections
        status``: health answers anyone), and how far the verifiable log's seal is behind."""
        found: Services = request.app.state.services
        failures = [
            {"view": f["view"], "position": f["position"], "error_type": f["error_type"]}
            for f in found.projections.failures()
        ]
        return {
            "status": "degraded" if failures else "ok",
            "log_position": found.log_position(),
            "projections": found.projections.positions(),
            "failures": failures,
            "seal": found.seal_lag().as_dict(),
        }

    v1.include_router(rolls.statistics_router)
    v1.include_router(tlog.router)
    app.include_router(v1)
    openapi.install(app)
    return app


def _is_file_upload(path: str) -> bool:
    """Routes whose body is a whole CSV file: bank statements and bank result files."""
    return path.startswith("/api/v1/ledger/statements/") or path.endswith("/bank-results")


def _middleware(app: FastAPI, settings: Settings) -> None:
    def limit_for(path: str) -> int:
        return settings.max_file_bytes if _is_file_upload(path) else settings.max_body_bytes

    # Inside ``metrics.Observed`` (added after), so a refused body is logged with its request id.
    app.add_middleware(BodyLimit, limit_for=limit_for)

    async def body_too_large(request: Request, error: Exception) -> Response:
        assert isinstance(error, BodyTooLarge)
        return too_large(error.limit, request.url.path)

    app.add_exception_handler(BodyTooLarge, body_too_large)
