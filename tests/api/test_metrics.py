"""``/metrics``: requests counted by route template (never by path or id), the views' lag in
events and seconds, command conflicts, and the PostgreSQL pools. Both backends."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from domain.errors import Conflict
from ops.services.core import Outcome, Services
from ops.services.policy import SetPolicy
from tests.api.test_households_api import apply

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient) -> tuple[str, Samples]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return answer.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_by_route_template_not_by_path(
    client: TestClient, token: Callable[..., dict[str, str]]
) -> None:
    headers = token("admin")
    missing = str(uuid4())
    route = "/api/v1/households/{case_id}"
    _text, before = scrape(client)
    assert client.get(f"/api/v1/households/{missing}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/households/{uuid4()}", headers=headers).status_code == 404
    assert client.get("/no/such/route/" + "x" * 50).status_code == 404
    text, after = scrape(client)
    counted = "doudi_http_requests_total"
    labels = {"route": route, "method": "GET", "status": "404"}
    assert value(after, counted, **labels) - value(before, counted, **labels) == 2
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert value(after, counted, **unmatched) - value(before, counted, **unmatched) == 1
    timed = "doudi_http_request_duration_seconds_count"
    assert (
        value(after, timed, route=route, method="GET")
        - value(before, timed, route=route, method="GET")
        == 2
    )
    assert missing not in text and "xxxxx" not in text
    assert headers["Authorization"].removeprefix("Bearer ") not in text


def test_every_answer_names_its_request_id_and_is_logged_with_it(
    client: TestClient, token: Callable[..., dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """The caller's ``X-Request-ID`` comes back and tags the request's log line; without one a
    new id is made; an error answer carries it too."""
    headers = token("admin")
    given = client.get("/api/v1/health", headers={"X-Request-ID": "trace-42"})
    assert given.headers["X-Request-ID"] == "trace-42"
    made = client.get(f"/api/v1/households/{uuid4()}", headers=headers)
    assert made.status_code == 404 and len(made.headers["X-Request-ID"]) == 32
    assert made.headers["X-Request-ID"] != client.get("/api/v1/health").headers["X-Request-ID"]
    logged = capsys.readouterr().out + capsys.readouterr().err
    assert '"request_id": "trace-42"' in logged and '"status": 404' in logged


def test_lag_in_events_and_seconds_per_view(
    client: TestClient, services: Services, token: Callable[..., dict[str, str]]
) -> None:
    apply(client, token("case_worker"))
    services.fresh()
    _text, caught_up = scrape(client)
    assert value(caught_up, "doudi_projection_lag_events", view="case_state") == 0
    assert value(caught_up, "doudi_projection_lag_seconds", view="case_state") == 0
    # A write the views have not applied yet: the follower stopped, as a worker that is down.
    services.stop_following()
    services.issue_credential("test", role="admin", region_scope="420582", staff_id="m1")
    behind_events = services.log_position() - services.projections.positions()["access"]
    assert behind_events > 0
    _text, behind = scrape(client)
    assert value(behind, "doudi_projection_lag_events", view="access") == behind_events
    seconds = value(behind, "doudi_projection_lag_seconds", view="access")
    assert not math.isnan(seconds) and 0 <= seconds < 600
    assert value(behind, "doudi_projection_lag_events", view="tlog") >= behind_events


def test_conflicts_counted_by_command(services: Services, client: TestClient) -> None:
    """A decision that keeps losing its version race: each loss and the final 409 are counted."""
    from domain.access import Principal
    from domain.policy import RegionPolicy, policy_id

    admin = Principal("admin-credential", "admin", "420582", staff_id="a1")
    fields: dict[str, Any] = {"programme": "dibao_urban", "amount_fen": 70_000,
                              "effective_date": "2024-01-01", "document_ref": "当民〔2024〕1号"}  # fmt: skip
    services.execute(admin, None, "", SetPolicy(region_code="420582", kind="standard",
                                                 fields=fields))  # fmt: skip
    fresh: RegionPolicy = services.app.repository.get(policy_id("420582"))
    before_race = copy.deepcopy(fresh)  # the repository may hand out one cached object
    fresh.record("standard", fields | {"amount_fen": 71_000}, actor="x")
    services.app.save(fresh)

    def decide() -> Outcome:
        """Decides on the state as it was before the race, every time (a save takes the
        pending events, so each attempt records anew)."""
        stale = copy.deepcopy(before_race)
        stale.record("standard", fields | {"amount_fen": 72_000}, actor="x")
        return Outcome([stale], {})

    _text, before = scrape(client)
    with pytest.raises(Conflict):
        services.execute(admin, None, "", decide, retries=1)
    _text, after = scrape(client)
    lost = "doudi_command_races_lost_total"
    refused = "doudi_command_conflicts_total"
    assert value(after, lost, command="function") - value(before, lost, command="function") == 2
    assert (
        value(after, refused, command="function") - value(before, refused, command="function") == 1
    )


def test_pools_shown_on_postgres_only(services: Services, client: TestClient) -> None:
    _text, samples = scrape(client)
    pools = {labels for (name, labels) in samples if name == "doudi_db_pool_connections"}
    if services.db.is_sqlite:
        assert not pools
    else:
        assert (("pool", "views"), ("state", "open")) in pools
        assert (("pool", "store"), ("state", "idle")) in pools
