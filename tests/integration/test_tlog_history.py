"""The history of issued checkpoints and the seal's lag behind the log, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from ledger.proof import verify as v
from ops.services.core import Services
from projections.tlog.audit import verify_database
from projections.tlog.checkpoints import key_name
from tests.integration.test_contract import admin, checked_case


def test_every_issued_checkpoint_is_kept_once_and_a_past_one_extends_to_a_later(
    services: Services,
) -> None:
    """Issue a checkpoint, record more, issue another (twice): the history lists the two, once
    each, smallest first; the past one fetched by its size verifies under the published key,
    and the later tree extends it (a consistency proof)."""
    principal = admin(services)
    vkey, origin = services.log_key.vkey, services.settings.log_origin
    checked_case(services, principal, seed=1)
    services.seal()
    first = services.issue_checkpoint()
    checked_case(services, principal, seed=2)
    services.seal()
    second = services.issue_checkpoint()
    assert services.issue_checkpoint() == second  # the same checkpoint, kept once
    old, new = v.verify_checkpoint(first, vkey, origin), v.verify_checkpoint(second, vkey, origin)
    assert old.size < new.size
    page = services.issued.page(50, 0)
    assert page["total"] == 2
    assert [(item["tree_size"], item["key"]) for item in page["items"]] == [
        (old.size, key_name(services.log_key)),
        (new.size, key_name(services.log_key)),
    ]
    assert page["items"][0]["root_hash"] == base64.b64encode(old.root).decode()
    assert services.issued.page(1, 1)["items"][0]["tree_size"] == new.size
    fetched = services.issued.note(old.size)
    assert fetched == first and services.issued.note(old.size + 1) in (None, second)
    past = v.verify_checkpoint(fetched or "", vkey, origin)
    v.verify_consistency(past.size, new.size, past.root, new.root,
                         services.tlog.consistency(past.size, new.size))  # fmt: skip
    # Every issued checkpoint, checked by the verification, holds.
    report = verify_database(services.db, services.tree_reader, services.tlog,
                             services.issued.notes(), [vkey], origin)  # fmt: skip
    assert report.ok, report.problems
    assert [kept.checkpoint.size for kept in report.checkpoints if kept.checkpoint] == [
        old.size,
        new.size,
    ]


def test_the_issued_history_catches_a_truncated_log(services: Services) -> None:
    """Delete the log's last event and reseal nothing: the verification, given the history of
    issued checkpoints, finds the later one no longer holds (fewer events than it signed)."""
    principal = admin(services)
    checked_case(services, principal, seed=3)
    services.seal()
    services.issue_checkpoint()
    head = services.log_position()
    table = services.app.recorder.events_table_name
    column = "rowid" if services.db.is_sqlite else "notification_id"
    with services.db.transaction(write=True) as cur:
        cur.execute(f"DELETE FROM {table} WHERE {column} = %s", (head,))
    report = verify_database(services.db, services.tree_reader, services.tlog,
                             services.issued.notes(), [services.log_key.vkey])  # fmt: skip
    assert not report.ok
    assert "truncated or deleted" in report.checkpoints[0].finding


def test_the_seal_lag_names_the_events_behind_and_the_oldest_ones_wait(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sealed up to the head: nothing behind. Record a case without sealing: the lag counts the
    positions after the sealed one and the wait of the first of them (not of a later one); an
    oldest unsealed event whose state cannot be read leaves the wait unknown, never an error."""
    principal = admin(services)
    checked_case(services, principal, seed=4)
    services.seal()
    sealed = services.log_position()
    assert services.seal_lag().as_dict() == {
        "position": sealed,
        "events_behind": 0,
        "seconds_behind": 0.0,
    }
    monkeypatch.setattr(services, "keep_sealed", lambda: 0)  # no read along the way seals
    checked_case(services, principal, seed=5)
    head = services.log_position()
    (oldest,) = services.app.recorder.select_notifications(start=sealed + 1, limit=1)
    recorded = services.app.mapper.to_domain_event(oldest).timestamp
    # As if each unsealed event had been recorded 100 s before the next: the first waited longest.
    lag = services.lag_behind(
        sealed, lambda stored: recorded - timedelta(seconds=100 * (head - stored.id))
    )
    assert (lag.position, lag.events) == (sealed, head - sealed) and lag.events > 1
    assert lag.seconds is not None
    assert 100 * (head - sealed - 1) <= lag.seconds < 100 * (head - sealed - 1) + 60
    found = services.seal_lag()
    assert found.events == head - sealed and found.seconds is not None and found.seconds < 60
    table = services.app.recorder.events_table_name
    column = "rowid" if services.db.is_sqlite else "notification_id"
    with services.db.transaction(write=True) as cur:
        cur.execute(
            f"UPDATE {table} SET state = %s WHERE {column} = %s", (b"\x00garbage", sealed + 1)
        )
    assert services.seal_lag().as_dict() == {
        "position": sealed,
        "events_behind": head - sealed,
        "seconds_behind": None,
    }
