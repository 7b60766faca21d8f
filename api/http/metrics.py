"""``GET /metrics`` in Prometheus' text format: requests by route and status with their latency,
how far each view and the seal are behind the log (events and seconds), command conflicts, and
the database pools' use. Labels carry route templates, never paths, ids or tokens, so a caller
cannot grow the series by sending odd paths."""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

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
from starlette.routing import compile_path

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
# Routes kept out of the OpenAPI document that are still counted by name.
OUTSIDE_SCHEMA = frozenset({"/metrics", "/docs", "/redoc", "/openapi.json"})
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# Set by `doudi serve --workers N` before the workers start: each process writes its counters
# there and a scrape of any worker sums them (prometheus-client's multiprocess mode).
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Routes:
    """The route template a request path matched (``/api/v1/households/{case_id}``), from the
    OpenAPI document's paths in the router's order, or ``unmatched``."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._compiled: list[tuple[re.Pattern[str], str]] | None = None

    def of(self, request: Request) -> str:
        if self._compiled is None:
            paths = self.app.openapi().get("paths", {})
            self._compiled = [(compile_path(path)[0], path) for path in paths]
        path = request.url.path
        for pattern, template in self._compiled:
            if pattern.match(path):
                return template
        route = getattr(request.scope.get("route"), "path", None)
        return route if route in OUTSIDE_SCHEMA else "unmatched"


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
    """The timing middleware and the unauthenticated ``/metrics`` route (no tenant data: route
    templates, counts and positions only)."""

    routes = Routes(app)

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = routes.of(request)
        method = request.method if request.method in METHODS else "other"
        LATENCY.labels(route, method).observe(time.perf_counter() - started)
        REQUESTS.labels(route, method, str(response.status_code)).inc()
        return response

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
