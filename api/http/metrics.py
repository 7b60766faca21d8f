"""``GET /metrics`` in Prometheus' text format: requests by route and status with their latency,
how far each view and the seal are behind the log (events and seconds), command conflicts, and
the database pools' use. Labels carry route templates, never paths, ids or tokens, so a caller
cannot grow the series by sending odd paths."""

from __future__ import annotations

import math
import os
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.http.logs import log
from ops.services.core import Services

REQUESTS = Counter(
    "doudi_http_requests", "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)  # fmt: skip
LATENCY = Histogram(
    "doudi_http_request_duration_seconds", "Time to answer an HTTP request, by route template.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10),
)  # fmt: skip
STARTS = Counter("doudi_api_starts", "API processes started (each worker once; restarts add).")
# Reads that sent Doudi-Log-Position: how long they waited for the views (0 when already there),
# and those answered 503 because the views did not reach it in time.
READ_WAITS = Histogram(
    "doudi_read_position_wait_seconds",
    "Time a read naming Doudi-Log-Position waited for the views to reach it.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)
VIEWS_BEHIND = Counter(
    "doudi_read_views_behind", "Reads answered 503: the views did not reach their position in time."
)
# The header every read answers: the log position its views reflect (``deps.read_services``
# puts it in the request's state).
VIEW_POSITION = "Doudi-View-Position"
# Routes kept out of the OpenAPI document that are still counted by name.
OUTSIDE_SCHEMA = frozenset({"/metrics", "/docs", "/redoc", "/openapi.json"})
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# Set by `doudi serve --workers N` before the workers start: each process writes its counters
# there and a scrape of any worker sums them (prometheus-client's multiprocess mode).
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Routes:
    """The route template a request matched (``/api/v1/households/{case_id}``): the route the
    router put in the scope, else the first OpenAPI path whose pattern matches, else
    ``unmatched``."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._compiled: list[tuple[re.Pattern[str], str]] | None = None
        self._templates: frozenset[str] = frozenset()

    def of(self, scope: Scope) -> str:
        if self._compiled is None:
            paths = self.app.openapi().get("paths", {})
            self._compiled = [(compile_path(path)[0], path) for path in paths]
            self._templates = frozenset(paths) | OUTSIDE_SCHEMA
        route = getattr(scope.get("route"), "path", None)
        if route in self._templates:
            return str(route)
        path = scope.get("path", "")
        for pattern, template in self._compiled:
            if pattern.match(path):
                return template
        return "unmatched"


class Observed:
    """Pure ASGI middleware around every request: binds its request id (the caller's
    ``X-Request-ID`` or a new one) to the logs and answers it, logs the request with its status,
    and counts and times it by route template. Pure ASGI rather than ``@app.middleware``: that
    form runs each request through an extra task and stream."""

    def __init__(self, app: ASGIApp, routes: Routes) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = Headers(scope=scope).get("x-request-id")
        request_id = given or uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            request_id=request_id, method=scope["method"], path=scope["path"]
        )
        status = 500

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                position = scope.get("state", {}).get("view_position")
                if position is not None:  # a read: the log position its views reflect
                    headers[VIEW_POSITION] = str(position)
            await send(message)

        try:
            await self.app(scope, receive, answer)
        finally:
            route = self.routes.of(scope)
            method = scope["method"] if scope["method"] in METHODS else "other"
            LATENCY.labels(route, method).observe(time.perf_counter() - started)
            REQUESTS.labels(route, method, str(status)).inc()
            log.info("request", status=status)


class Followers(Collector):
    """Read at scrape time, from the database every worker shares: each view's and the seal's
    distance from the log's head, and the pools of this process."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[GaugeMetricFamily]:
        services = self.services
        events = GaugeMetricFamily(
            "doudi_projection_lag_events", "Log positions a view has still to apply.",
            labels=["view"],
        )  # fmt: skip
        seconds = GaugeMetricFamily(
            "doudi_projection_lag_seconds",
            "Age of the oldest log event a view has still to apply (0 when caught up).",
            labels=["view"],
        )
        positions = dict(services.projections.positions())
        with services.db.transaction() as cur:
            positions[services.tlog.name] = services.sealing.position(cur)
        lags: dict[int, Any] = {}
        for view, position in sorted(positions.items()):
            if position not in lags:
                lags[position] = services.lag_behind(position)
            lag = lags[position]
            events.add_metric([view], lag.events)
            seconds.add_metric([view], math.nan if lag.seconds is None else lag.seconds)
        yield events
        yield seconds
        pools = GaugeMetricFamily(
            "doudi_db_pool_connections",
            "This process's PostgreSQL pool connections, by pool and state.",
            labels=["pool", "state"],
        )
        for name, stats in services.pool_stats().items():
            pools.add_metric([name, "open"], stats.get("pool_size", 0))
            pools.add_metric([name, "idle"], stats.get("pool_available", 0))
            pools.add_metric([name, "waiting"], stats.get("requests_waiting", 0))
        yield pools


def install(app: FastAPI) -> None:
    """The request middleware (outermost: it times everything inside) and the unauthenticated
    ``/metrics`` route (no tenant data: route templates, counts and positions only)."""

    app.add_middleware(Observed, routes=Routes(app))

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        return Response(exposition(request.app.state.services), media_type=CONTENT_TYPE_LATEST)


def exposition(services: Services) -> bytes:
    """This process's (or, under several workers, every worker's) counters, then the lag read
    from the database."""
    if os.environ.get(MULTIPROCESS_ENV):
        shared = CollectorRegistry()
        MultiProcessCollector(shared)  # type: ignore[no-untyped-call]
        counted = generate_latest(shared)
    else:
        counted = generate_latest(REGISTRY)
    read = CollectorRegistry(auto_describe=False)
    read.register(Followers(services))
    return counted + generate_latest(read)
