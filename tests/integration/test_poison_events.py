"""Stored events a view cannot apply, written straight into the store (bypassing the API) on both
backends: a name holding U+0000 (PostgreSQL's text refuses it), a state whose bytes were
flipped (it cannot be decrypted) and a payload lacking a field the view reads. None of them may
stop the views, the reads or the tokens; each is recorded where status and health show it, a
read of its record answers 500 naming it, and a replay after a fix closes it."""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli.main import app as cli_app
from api.http.app import create_app
from api.http.responses import Health
from domain.errors import IntegrityFailure
from domain.roll import RollChunk
from ledger.store.settings import Settings
from ops.services.cases import ApplyHousehold
from ops.services.core import INTEGRITY_FAILURE, Services
from ops.services.rebuild import rebuild
from projections.audit_trail.view import AuditTrailView
from projections.runner import aggregate_topic
from tests.api.conftest import LogHeadClient
from tests.conftest import COUNTY
from tests.factories import household_body, income_body
from tests.integration.test_contract import admin, demo_log

NUL_NAME = "王\x00一"


@pytest.fixture
def client(settings: Settings, services: Services) -> Iterator[TestClient]:
    with LogHeadClient(create_app(settings, services), services) as found:
        yield found


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Runs a ``doudi`` command against the test's database (the settings of ``make_settings``)."""
    monkeypatch.setenv("DOUDI_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DOUDI_SECRET", settings.secret)
    monkeypatch.setenv("DOUDI_ENVIRONMENT", settings.environment)

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(cli_app, list(args))

    return invoke


def headers(services: Services, role: str = "admin") -> dict[str, str]:
    _credential, secret = services.issue_credential(
        "test", role=role, region_scope=COUNTY, staff_id="test-officer"
    )
    return {"Authorization": f"Bearer {secret}"}


def saved_case(services: Services, seed: int) -> tuple[str, Any]:
    """A household applied for through the services and saved without any catch-up: its case
    id and the recording (event and notification) of its first event."""
    outcome = ApplyHousehold(**household_body(seed=seed)).decide(services, admin(services))
    case = outcome.aggregates[0]
    recordings = services.app.save(*outcome.aggregates)
    (first,) = [r for r in recordings if r.domain_event.originator_id == case.id]
    return str(case.id), first


def encoded(services: Services, event: Any, change: Callable[[dict[str, Any]], None]) -> bytes:
    """The stored state the application's mapper writes for ``event`` with ``change`` made to
    its fields: it decrypts and decodes as any other, only its content is odd."""
    state = copy.deepcopy(dict(vars(event)))
    change(state)
    twin = object.__new__(type(event))
    object.__setattr__(twin, "__dict__", state)
    return bytes(services.app.mapper.to_stored_event(twin).state)


def flipped(state: bytes) -> bytes:
    """The stored bytes with one byte of the ciphertext flipped (the cipher's tag then fails)."""
    middle = 28 + (len(state) - 28) // 2
    return state[:middle] + bytes([state[middle] ^ 0x5A]) + state[middle + 1 :]


def overwrite(services: Services, originator_id: str, version: int, state: bytes) -> None:
    """Replace a stored event's state in the event store's own table, as tampering would."""
    table = services.app.recorder.events_table_name
    key: Any = UUID(originator_id).hex if services.db.is_sqlite else UUID(originator_id)
    with services.db.transaction(write=True) as cur:
        cur.execute(
            f"UPDATE {table} SET state = %s WHERE originator_id = %s AND originator_version = %s",
            (state, key, version),
        )
        assert cur.rowcount == 1


def without_effective_date(state: dict[str, Any]) -> None:
    del state["effective_date"]


def with_nul_name(state: dict[str, Any]) -> None:
    state["members"][0]["name"] = NUL_NAME


def open_failures(services: Services) -> dict[tuple[str, int], dict[str, Any]]:
    return {(f["view"], f["position"]): f for f in services.projections.failures()}


def test_poisoned_events_stop_nothing_but_their_own_records_until_a_fix_and_retry(
    services: Services, client: TestClient, cli: Callable[..., Any]
) -> None:
    """Goal: a poisoned event is recorded and passed while every other case, view, token and
    command keeps working, and a fix plus ``projections retry`` closes it. Method: write three
    poisoned events into the store, then read, write and rebuild through the API and the CLI."""
    admin_headers = headers(services)
    good = client.post("/api/v1/households", json=household_body(seed=1), headers=admin_headers)
    assert good.status_code == 201, good.text
    good_id = good.json()["case_id"]

    # The API's follower waits while the events are saved and poisoned: left running, it could
    # apply an event between its save and its poisoning.
    services.stop_following()
    nul_id, nul = saved_case(services, seed=2)
    overwrite(services, nul_id, 1, encoded(services, nul.domain_event, with_nul_name))
    tampered_id, tampered = saved_case(services, seed=3)
    overwrite(services, tampered_id, 1, flipped(bytes(tampered.notification.state)))
    odd_id, odd = saved_case(services, seed=4)
    overwrite(services, odd_id, 1, encoded(services, odd.domain_event, without_effective_date))
    services.follow()

    # Reads, writes after the poison and tokens issued after it all work; every view catches up.
    later = client.post("/api/v1/households", json=household_body(seed=5), headers=admin_headers)
    assert later.status_code == 201, later.text
    new_token = headers(services, "auditor")  # authenticates through a catch-up (``fresh``)
    for case_id in (good_id, later.json()["case_id"]):
        assert client.get(f"/api/v1/households/{case_id}", headers=new_token).status_code == 200
    listed = client.get("/api/v1/households", headers=new_token).json()["items"]
    assert {good_id, later.json()["case_id"]} <= {item["case_id"] for item in listed}
    head = services.log_position()
    assert all(position == head for position in services.projections.positions().values())

    failures = open_failures(services)
    assert failures[("case_state", tampered.notification.id)]["error_type"] == INTEGRITY_FAILURE
    assert failures[("case_state", odd.notification.id)]["error_type"] == "KeyError"
    assert failures[("audit_trail", tampered.notification.id)]["originator_id"] == tampered_id
    postgres = not services.db.is_sqlite
    # PostgreSQL's text refuses U+0000; SQLite keeps it (the boundary refuses it: another test)
    assert (("case_state", nul.notification.id) in failures) is postgres
    for failure in failures.values():
        assert NUL_NAME not in failure["message"] and "王" not in failure["message"]
        assert failure["attempts"] == 1

    health = client.get("/api/v1/health").json()
    assert health["status"] == "degraded"
    Health.model_validate(health)  # as the OpenAPI document declares it
    assert {"view": "case_state", "position": odd.notification.id, "error_type": "KeyError"} in (
        health["failures"]
    )
    assert all(set(item) == {"view", "position", "error_type"} for item in health["failures"])
    status = cli("projections", "status")
    assert status.exit_code == 0, status.output
    listed_failures = json.loads(status.stdout)["failures"]
    assert {(f["view"], f["position"]) for f in listed_failures} == set(failures)
    assert all(f["message"] for f in listed_failures)

    # A record a view failed on is a 500 naming it, never "no such case".
    damaged = client.get(f"/api/v1/households/{tampered_id}", headers=admin_headers)
    assert damaged.status_code == 500
    assert damaged.json()["type"] == "/problems/event_integrity"
    assert damaged.json()["aggregate_id"] == tampered_id
    assert damaged.json()["errors"][0]["rule"] == "event_integrity"
    trail = client.get(f"/api/v1/audit/cases/{tampered_id}", headers=headers(services, "auditor"))
    assert (trail.status_code, trail.json()["aggregate_id"]) == (500, tampered_id)
    unapplied = client.get(f"/api/v1/households/{odd_id}", headers=admin_headers)
    assert unapplied.status_code == 500
    assert unapplied.json()["type"] == "/problems/projection_failure"
    # ... and so is a command that loads the damaged aggregate from the store.
    command = client.post(
        f"/api/v1/households/{tampered_id}/income", json=income_body(), headers=admin_headers
    )
    assert command.status_code == 500
    assert command.json()["type"] == "/problems/event_integrity"
    assert command.json()["aggregate_id"] == tampered_id

    # A rebuild completes and records the same failures again.
    rebuilt = cli("projections", "rebuild", "all")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert set(open_failures(services)) == set(failures)
    if postgres:  # the rebuild shared by processes passes them too
        rebuild(services, "case_state", workers=2)
        assert set(open_failures(services)) == set(failures)
        assert services.projections.positions()["case_state"] == services.log_position()

    # Without a fix a retry replays and keeps them open; after the fix it closes every one.
    still = cli("projections", "retry")
    assert still.exit_code == 1, still.output
    assert max(f["attempts"] for f in services.projections.failures()) >= 3
    overwrite(services, nul_id, 1, bytes(nul.notification.state))
    overwrite(services, tampered_id, 1, bytes(tampered.notification.state))
    overwrite(services, odd_id, 1, bytes(odd.notification.state))
    retried = cli("projections", "retry")
    assert retried.exit_code == 0, retried.output
    assert json.loads(retried.stdout)["failures"] == []
    assert services.projections.failures() == []
    assert client.get("/api/v1/health").json()["status"] == "ok"
    for case_id in (nul_id, tampered_id, odd_id):
        assert client.get(f"/api/v1/households/{case_id}", headers=new_token).status_code == 200
    live = services.projections.dump("case_state")
    services.projections.rebuild("case_state")
    assert services.projections.dump("case_state") == live  # the retried view is complete


def built_as_older_code(services: Services, view: str) -> None:
    """Mark a view's tables as built by another version of its code: the next start-up
    replays it, as after an upgrade (the compiled view class cannot be patched)."""
    with services.db.transaction(write=True) as cur:
        cur.execute(
            "UPDATE projection_tracking SET view_version = view_version - 1 WHERE name = %s",
            (view,),
        )


def test_a_version_bump_replays_the_view_and_closes_the_failures_that_no_longer_fail(
    settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Goal: new view code (a version bump) retries the view's failures. Method: record a
    failure, start again with the version bumped, before and after repairing the event."""
    case_id, first = saved_case(services, seed=7)
    overwrite(services, case_id, 1, encoded(services, first.domain_event, without_effective_date))
    services.fresh()
    assert [f["position"] for f in services.projections.failures("case_state")] == [
        first.notification.id
    ]
    built_as_older_code(services, "case_state")
    again = Services(settings).fresh()
    (failure,) = again.projections.failures("case_state")
    assert failure["attempts"] == 2  # replayed, and still failing
    again.close()
    overwrite(services, case_id, 1, bytes(first.notification.state))
    built_as_older_code(services, "case_state")
    fixed = Services(settings).fresh()
    assert fixed.projections.failures() == []
    assert fixed.case_state.get(case_id) is not None
    fixed.close()


INFRASTRUCTURE = [
    pytest.param(lambda: psycopg.OperationalError("server closed the connection"), id="lost"),
    pytest.param(lambda: psycopg.errors.LockNotAvailable("lock timeout"), id="lock-timeout"),
    pytest.param(lambda: psycopg.InterfaceError("the connection is closed"), id="interface"),
    pytest.param(lambda: sqlite3.OperationalError("database is locked"), id="sqlite-locked"),
    pytest.param(lambda: sqlite3.DatabaseError("database disk image is malformed"), id="damaged"),
]


@pytest.mark.parametrize("make_error", INFRASTRUCTURE)
@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "wrapped"])
def test_an_error_of_the_database_stops_the_catch_up_and_is_never_recorded(
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    make_error: Callable[[], Exception],
    wrapped: bool,
) -> None:
    """Goal: an outage never skips events. Method: a view raising a database error (bare, or
    as the cause of another error) makes the catch-up raise, records nothing, moves no
    position; once the error is gone the same events are applied."""
    case_id, _first = saved_case(services, seed=8)
    before = services.projections.positions()["audit_trail"]
    real = AuditTrailView.process_batch

    def failing(self: AuditTrailView, cur: Any, batch: Any) -> None:
        if not wrapped:
            raise make_error()
        try:
            raise make_error()
        except Exception as cause:
            raise KeyError("payload") from cause

    monkeypatch.setattr(AuditTrailView, "process_batch", failing)
    with pytest.raises((KeyError, psycopg.Error, sqlite3.Error)):
        services.fresh()
    assert services.projections.failures() == []
    assert services.projections.positions()["audit_trail"] == before
    monkeypatch.setattr(AuditTrailView, "process_batch", real)
    services.fresh()
    assert services.audit.for_subject("case", case_id)


def test_a_damaged_idempotency_record_or_enrolment_is_an_integrity_failure(
    services: Services, client: TestClient
) -> None:
    """Goal: every load of stored events for an answer names a damaged one, never "not found"
    or a fresh start. Method: flip the bytes of an idempotency record and of an enrolment,
    then replay the request and apply for the same person."""
    admin_headers = headers(services)
    body = household_body(seed=9)
    first = client.post(
        "/api/v1/households", json=body, headers=admin_headers | {"Idempotency-Key": "k-9"}
    )
    assert first.status_code == 201
    events = services.read_notifications(1, 1_000_000)
    record = next(n for n in events if ":IdempotencyRecord." in n.topic)
    overwrite(services, str(record.originator_id), 1, flipped(bytes(record.state)))
    replay = client.post(
        "/api/v1/households", json=body, headers=admin_headers | {"Idempotency-Key": "k-9"}
    )
    assert replay.status_code == 500
    assert replay.json()["aggregate_id"] == str(record.originator_id)
    enrolment = next(n for n in events if "PersonEnrolment" in n.topic)
    overwrite(services, str(enrolment.originator_id), 1, flipped(bytes(enrolment.state)))
    with pytest.raises(IntegrityFailure) as raised:
        services.app.repository.get(enrolment.originator_id)
    assert raised.value.aggregate_id == str(enrolment.originator_id)


def test_a_damaged_roll_chunk_is_passed_by_the_rolls_view_and_named_by_the_lines_read(
    services: Services, client: TestClient
) -> None:
    """Goal: the rolls view, which takes chunks unread and passes over those written ahead,
    passes a chunk it cannot decode too, and the roll names it. Method: flip a chunk's bytes,
    rebuild the view (no chunk is written ahead then: each is read and decoded), read the roll
    and its lines, repair the chunk and rebuild again. The API's follower is stopped first: a
    catch-up of its own beside the rebuild would race it for the view's rows, and the reads
    wait for nothing (the rebuilds bring the view up to the log)."""
    services.stop_following()
    demo_log(services, households=12, tekun=2, seed=41)
    chunk = next(
        n
        for n in services.read_notifications(1, 1_000_000)
        if n.topic.startswith(aggregate_topic(RollChunk))
    )
    roll = str(services.app.mapper.to_domain_event(chunk).roll_id)
    overwrite(services, str(chunk.originator_id), chunk.originator_version, flipped(chunk.state))
    services.projections.rebuild("rolls")
    (failure,) = services.projections.failures("rolls")
    assert (failure["position"], failure["error_type"]) == (chunk.id, INTEGRITY_FAILURE)
    assert services.projections.positions()["rolls"] == services.log_position()
    # The roll (whose totals count lines the view lacks) and its lines answer 500 naming the chunk.
    read = headers(services) | {"Doudi-Log-Position": "0"}
    for path in (f"/api/v1/rolls/{roll}", f"/api/v1/rolls/{roll}/lines"):
        answer = client.get(path, headers=read)
        assert answer.status_code == 500
        assert answer.json()["type"] == "/problems/event_integrity"
        assert answer.json()["aggregate_id"] == str(chunk.originator_id)
    # Repaired and retried, the view holds the chunk's lines again.
    overwrite(services, str(chunk.originator_id), chunk.originator_version, chunk.state)
    services.projections.rebuild("rolls")
    assert services.projections.failures() == []
    lines = client.get(f"/api/v1/rolls/{roll}/lines", headers=read)
    assert lines.status_code == 200 and lines.json()["items"]


def test_a_failure_of_one_view_fails_only_the_reads_that_view_serves(
    services: Services, client: TestClient
) -> None:
    """Goal: a case whose audit-trail row could not be written still reads from the case-state
    view, while its audit trail answers 500; an undecodable state fails both. Method: record a
    failure of each kind for a healthy case, as the runner would, and read the case both ways."""
    case_id, first = saved_case(services, seed=21)
    services.fresh()

    def failed(view: str, error_type: str) -> None:
        with services.db.transaction(write=True) as cur:
            cur.execute(
                "INSERT INTO projection_failures (view_name, position, topic, originator_id,"
                " error_type, message, first_seen, last_seen, attempts)"
                " VALUES (%s, %s, %s, %s, %s, 'test', 'now', 'now', 1)",
                (view, first.notification.id, first.notification.topic, case_id, error_type),
            )

    failed("audit_trail", "KeyError")
    assert client.get(f"/api/v1/households/{case_id}", headers=headers(services)).status_code == 200
    trail = client.get(f"/api/v1/audit/cases/{case_id}", headers=headers(services))
    assert trail.status_code == 500
    assert trail.json()["type"] == "/problems/projection_failure"
    with services.db.transaction(write=True) as cur:
        cur.execute("DELETE FROM projection_failures")
    failed("audit_trail", INTEGRITY_FAILURE)
    case = client.get(f"/api/v1/households/{case_id}", headers=headers(services))
    assert case.status_code == 500
    assert case.json()["type"] == "/problems/event_integrity"
