"""Reads that do not wait for the log, and read-your-writes by consistency token.

A command answers ``Doudi-Log-Position``; a read that sends it back waits (bounded) until the
views have reached it, and without it answers at once from the views as they are; every read
answers ``Doudi-View-Position``. The lag is made real by stopping the follower (the projection
worker), or on PostgreSQL by holding a view's tracking row as a busy worker would.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.http.app import create_app
from ledger.store.notify import Reached, await_views
from ledger.store.settings import Settings
from ops.services.core import Services
from projections.follow import Follower
from tests.conftest import make_settings
from tests.factories import household_body

HOUSEHOLDS = "/api/v1/households"
SEEDS = itertools.count(1)


def apply(client: TestClient, headers: dict[str, str]) -> tuple[str, int]:
    """Record an application; its case id and the log position the command answered."""
    answered = client.post(HOUSEHOLDS, json=household_body(seed=next(SEEDS)), headers=headers)
    assert answered.status_code == 201, answered.text
    return answered.json()["case_id"], int(answered.headers["Doudi-Log-Position"])


def plain(headers: dict[str, str]) -> dict[str, str]:
    """Headers that send no position: the session client sends only what it is given here."""
    return headers | {"Doudi-Log-Position": "0"}


def test_a_read_with_the_token_of_a_write_sees_it(
    client: TestClient, token: Callable[..., dict[str, str]]
) -> None:
    headers = token("case_worker")
    case_id, position = apply(client, headers)
    read = client.get(f"{HOUSEHOLDS}/{case_id}", headers=headers | {
        "Doudi-Log-Position": str(position)})  # fmt: skip
    assert read.status_code == 200, read.text
    assert read.json()["case_id"] == case_id
    assert int(read.headers["Doudi-View-Position"]) >= position


def test_without_the_token_a_read_answers_at_once_from_lagging_views(
    client: TestClient, services: Services, token: Callable[..., dict[str, str]]
) -> None:
    """The follower stopped: the write is in the log, not in the views. A read without the
    token answers at once (stating the older position), one with it waits its bound and
    answers 503 naming the header and the position reached; the follower back, it sees it."""
    headers = token("case_worker")
    apply(client, headers)  # the credential and a first case in the views
    services.stop_following()
    services.settings.read_wait_s = 0.3
    case_id, position = apply(client, headers)
    began = time.monotonic()
    stale = client.get(f"{HOUSEHOLDS}/{case_id}", headers=plain(headers))
    assert time.monotonic() - began < 0.3  # never waited
    assert stale.status_code == 404
    assert int(stale.headers["Doudi-View-Position"]) < position
    listed = client.get(HOUSEHOLDS, headers=plain(headers)).json()
    assert case_id not in {item["case_id"] for item in listed["items"]}

    began = time.monotonic()
    behind = client.get(f"{HOUSEHOLDS}/{case_id}", headers=headers | {
        "Doudi-Log-Position": str(position)})  # fmt: skip
    assert time.monotonic() - began >= 0.3  # waited its bound, then gave up
    assert behind.status_code == 503
    assert behind.headers["content-type"] == "application/problem+json"
    assert behind.headers["Retry-After"] == "1"
    problem = behind.json()
    assert problem["type"] == "/problems/views_behind"
    assert problem["errors"][0]["field"] == "Doudi-Log-Position"
    assert problem["requested_position"] == position
    assert problem["reached_position"] == int(behind.headers["Doudi-View-Position"]) < position
    metrics = client.get("/metrics").text
    assert re.search(r"^doudi_read_views_behind_total [1-9]", metrics, re.MULTILINE)
    assert re.search(r"^doudi_read_position_wait_seconds_count [1-9]", metrics, re.MULTILINE)

    services.settings.read_wait_s = 30.0
    services.follow()
    seen = client.get(f"{HOUSEHOLDS}/{case_id}", headers=headers | {
        "Doudi-Log-Position": str(position)})  # fmt: skip
    assert seen.status_code == 200
    assert int(seen.headers["Doudi-View-Position"]) >= position


@pytest.mark.parametrize(
    ("sent", "rule"),
    [
        ("abc", "int_parsing"),
        ("-1", "greater_than_equal"),
        ("1.5", "int_parsing"),
        (str(2**63), "less_than_equal"),
        ("999999999", "beyond_log_head"),
    ],
)
def test_a_malformed_token_is_refused_naming_the_header(
    client: TestClient, token: Callable[..., dict[str, str]], sent: str, rule: str
) -> None:
    headers = token("case_worker")
    refused = client.get(HOUSEHOLDS, headers=headers | {"Doudi-Log-Position": sent})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    error = refused.json()["errors"][0]
    assert (error["field"], error["rule"]) == ("Doudi-Log-Position", rule)


def test_the_verifiable_log_waits_for_the_seal_too(
    client: TestClient, services: Services, token: Callable[..., dict[str, str]]
) -> None:
    """The verifiable log's reads wait for the seal as well as the views: with the token of
    a write, its event's inclusion proof is there, and a checkpoint covers it."""
    case_id, position = apply(client, token("case_worker"))
    auditor = token("auditor") | {"Doudi-Log-Position": str(position)}
    proof = client.get(f"/api/v1/audit/proofs/inclusion?case_id={case_id}&version=1",
                       headers=auditor)  # fmt: skip
    assert proof.status_code == 200, proof.text
    assert int(proof.headers["Doudi-View-Position"]) >= position
    note = client.get("/api/v1/audit/checkpoint", headers=auditor)
    assert note.status_code == 200, note.text
    assert services.tlog.head().position >= position


# --- PostgreSQL: the production shape, API processes beside a projection worker ---------------


@pytest.fixture
def worker_shape(postgres_url: str) -> Iterator[tuple[TestClient, Services, Services]]:
    """An API process with ``DOUDI_PROJECTIONS=worker`` (it never applies an event) and, as
    ``doudi projections run``, a worker process's services (started by the test)."""
    settings = make_settings(postgres_url).model_copy(update={"projections": "worker"})
    api = Services(settings)
    worker = Services(make_settings(postgres_url))
    with TestClient(create_app(settings, api)) as client:
        yield client, api, worker
    worker.close()
    api.close()


def issued(services: Services, role: str = "case_worker") -> dict[str, str]:
    _credential, secret = services.issue_credential("test", role=role, region_scope="420582",
                                                    staff_id=f"{role}-w")  # fmt: skip
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.postgres
def test_worker_shape_reads_wait_on_the_workers_notification(
    worker_shape: tuple[TestClient, Services, Services],
) -> None:
    client, api, worker = worker_shape
    worker.fresh()  # the views as a worker left them before it stopped
    headers = issued(worker)
    worker.fresh()
    case_id, position = apply(client, headers)
    # No worker running: the API process applies nothing, and answers at once.
    stale = client.get(f"{HOUSEHOLDS}/{case_id}", headers=headers)
    assert stale.status_code == 404
    assert int(stale.headers["Doudi-View-Position"]) < position
    assert api.projections.reached() < position  # nothing applied on the request path

    # A read with the token waits; the worker starts meanwhile, and its NOTIFY ends the wait
    # long before the listener's own look at the tracking table (every 5 s).
    answers: dict[str, Any] = {}

    def read() -> None:
        began = time.monotonic()
        answers["read"] = client.get(f"{HOUSEHOLDS}/{case_id}", headers=headers | {
            "Doudi-Log-Position": str(position)})  # fmt: skip
        answers["seconds"] = time.monotonic() - began

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.3)
    worker.follower.start()
    reader.join(timeout=10)
    worker.follower.stop()
    assert answers["read"].status_code == 200, answers["read"].text
    assert answers["read"].json()["case_id"] == case_id
    assert 0.3 <= answers["seconds"] < 4.5  # the listener's own look comes at 5 s


@pytest.mark.postgres
def test_a_busy_worker_does_not_hold_up_reads_without_the_token(
    worker_shape: tuple[TestClient, Services, Services],
) -> None:
    """The worker running but stuck on a view's tracking row (held here, as a long batch holds
    it): reads without the token answer at once; with it, 503 after the bound; released, the
    worker catches up and the token read sees the write."""
    client, api, worker = worker_shape
    headers = issued(worker)
    worker.fresh()
    worker.follower.start()
    api.settings.read_wait_s = 0.5
    try:
        with psycopg.connect(api.settings.database.postgres_conninfo()) as holder:
            holder.execute(
                "SELECT position FROM projection_tracking WHERE name = 'case_state' FOR UPDATE"
            )
            case_id, position = apply(client, headers)
            began = time.monotonic()
            stale = client.get(HOUSEHOLDS, headers=headers)
            assert time.monotonic() - began < 0.5
            assert stale.status_code == 200
            assert case_id not in {item["case_id"] for item in stale.json()["items"]}
            behind = client.get(HOUSEHOLDS, headers=headers | {
                "Doudi-Log-Position": str(position)})  # fmt: skip
            assert behind.status_code == 503
            assert behind.json()["reached_position"] < position
        api.settings.read_wait_s = 30.0
        seen = client.get(HOUSEHOLDS, headers=headers | {"Doudi-Log-Position": str(position)})
        assert seen.status_code == 200
        assert case_id in {item["case_id"] for item in seen.json()["items"]}
    finally:
        worker.follower.stop()


def test_worker_mode_needs_postgres(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="DOUDI_PROJECTIONS=worker needs PostgreSQL"):
        Settings(database_url=f"sqlite:///{tmp_path}/x.sqlite3", projections="worker")


# --- the parts, alone --------------------------------------------------------------------------


def test_reached_waits_bounded_and_wakes_when_raised() -> None:
    reached = Reached()
    assert reached.wait(5, 0.05) == 0  # bounded: gave up
    threading.Timer(0.05, lambda: reached.raise_to(7, 3)).start()
    began = time.monotonic()
    assert reached.wait(5, 5.0) == 7
    assert time.monotonic() - began < 1.0
    assert reached.at(sealed=True) == 3
    reached.raise_to(2, 1)  # positions only rise
    assert (reached.views, reached.seal) == (7, 3)


def test_await_views_answers_at_once_without_a_position() -> None:
    reached = Reached()
    reached.raise_to(4, 4)
    never: Callable[[], int] = lambda: pytest.fail("no head looked up")  # noqa: E731
    assert await_views(reached, None, never, 0.0) == 4
    assert await_views(reached, 3, never, 0.0) == 4


def test_a_failing_follower_goes_on(services: Services) -> None:
    """An error of a step (the database away) is logged; the loop pauses and tries again."""
    calls: list[int] = []

    class Flaky(Follower):
        def step(self) -> int:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("database away")
            if len(calls) == 3:
                stop.set()
            return super().step()

    stop = threading.Event()
    follower = Flaky(services.db, services.projections, services.keep_sealed,
                     services.seal_position, Reached(), poll_s=0.01)  # fmt: skip
    reported: list[int] = []
    services.fresh()
    services.issue_credential("test", role="admin", region_scope="420582", staff_id="a-1")
    follower.run(stop, report=reported.append)
    assert len(calls) == 3
    assert reported and reported[0] > 0
    assert follower.reached.views == services.log_position()


def test_an_announcement_that_is_not_two_positions_raises_nothing() -> None:
    from ledger.store.notify import announced as _positions

    assert _positions("12 10") == (12, 10)
    for odd in ("", "12", "12 x", "-1 3", "1 2 3", "１２ 3"):
        assert _positions(odd) == (None, None)


def test_a_read_states_where_the_views_stand_from_the_start(
    settings: Settings, services: Services, token: Callable[..., dict[str, str]]
) -> None:
    """An API process starting over caught-up views states their position on its first read,
    not 0 until its follower first reports."""
    headers = token("admin")
    services.fresh()
    with TestClient(create_app(settings, services)) as client:
        services.stop_following()
        read = client.get(HOUSEHOLDS, headers=headers)
        assert read.status_code == 200
        assert int(read.headers["Doudi-View-Position"]) == services.log_position() > 0
