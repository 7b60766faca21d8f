"""Reading the log by topic and by shard, decoding fields without event objects, and rebuilding
a view with several processes: each gives what the ordinary path gives."""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.roll import RollChunk
from ledger.store.db import Cursor
from ledger.store.logreader import Unread
from ledger.store.transcoding import _utc_text_of
from ops.services.core import Services
from ops.services.rebuild import rebuild
from projections.runner import REBUILDING, View, aggregate_topic, utc_text
from tests.integration.test_contract import admin, checked_case
from tests.integration.test_contract import demo_log as contract_demo_log


def demo_log(services: Services) -> None:
    contract_demo_log(services, households=40, tekun=6, seed=41)


def everything(services: Services) -> list[Any]:
    return list(services.read_notifications(1, 1_000_000))


def test_reads_by_topic_pass_over_the_rest_and_cover_the_log(services: Services) -> None:
    demo_log(services)
    head = services.log_position()
    topics = services.case_state.topics
    wanted = [n.id for n in everything(services) if n.topic.startswith(topics)]
    assert 0 < len(wanted) < head  # enrolments, policy, rolls and the rest are passed over
    seen, start = [], 1
    while start <= head:
        found, covered = services.log.read(start, 7, topics)
        assert covered >= start and all(start <= n.id <= covered for n in found)
        seen += [n.id for n in found]
        start = covered + 1
    assert seen == wanted and covered == head
    # a log whose tail holds no wanted topic is still covered to its head
    assert services.log.read(wanted[-1] + 1, 7, topics) == ([], head)


def test_states_left_unread_are_read_on_demand_as_they_were_stored(services: Services) -> None:
    demo_log(services)
    head = services.log_position()
    chunk = aggregate_topic(RollChunk)
    stored = {n.id: n for n in everything(services)}
    found, covered = services.log.read(1, 1_000_000, (), (chunk,))
    assert covered == head and [n.id for n in found] == sorted(stored)
    unread = [n for n in found if isinstance(n, Unread)]
    if services.db.is_sqlite:  # a local file: every state is read
        assert not unread
    else:
        assert unread and {n.id for n in unread} == {
            i for i, n in stored.items() if n.topic.startswith(chunk)
        }
        assert all(n.state == b"" and n.size == len(stored[n.id].state) for n in unread)
        # '_' in a prefix is no wildcard: only topics that start with exactly it come unread
        twisted = chunk.replace(".", "_")
        assert not any(
            isinstance(n, Unread) for n in services.log.read(1, 1_000_000, (), (twisted,))[0]
        )
    assert services.log.states(found) == [stored[n.id] for n in found]


def test_a_topic_is_left_unread_only_when_no_other_view_caught_up_reads_it(
    services: Services,
) -> None:
    runner, chunk = services.projections, aggregate_topic(RollChunk)
    assert runner.unread(["rolls"]) == (chunk,)
    assert runner.unread(["rolls", "case_state", "audit_trail"]) == (chunk,)  # they read no chunk
    assert runner.unread(["case_state"]) == ()

    class EveryTopic(View):  # a view that reads every event (``topics`` empty)
        name, tables = "every_topic", ()

        def create(self, cur: Cursor) -> None: ...

        def process(self, cur: Cursor, position: int, event: Any) -> None: ...

    runner.views["every_topic"] = EveryTopic()
    assert runner.unread(["rolls", "every_topic"]) == ()

    class RecordedChunks(EveryTopic):  # reads one event class of the chunks: a longer prefix
        name, topics = "recorded_chunks", (f"{chunk}Recorded",)

    runner.views["recorded_chunks"] = RecordedChunks()
    assert runner.unread(["rolls", "recorded_chunks"]) == ()


def test_shards_split_the_log_by_aggregate(services: Services) -> None:
    demo_log(services)
    head = services.log_position()
    parts = [services.log.read(1, 1_000_000, (), shard=(k, 3))[0] for k in range(3)]
    assert sorted(n.id for part in parts for n in part) == list(range(1, head + 1))
    owners = [{n.originator_id for n in part} for part in parts]
    assert not (owners[0] & owners[1]) and not (owners[1] & owners[2])


def test_fields_decode_as_the_library_decodes_every_event(services: Services) -> None:
    demo_log(services)
    mapper = services.app.mapper
    for notification in everything(services):
        name, fields, recorded = services.case_state.decode(notification)
        event = mapper.to_domain_event(notification)
        expected = {k: v for k, v in vars(event).items() if k not in ("originator_id", "originator_version", "timestamp")}  # fmt: skip
        assert name == type(event).__qualname__
        assert fields == expected, name
        assert recorded == utc_text(event.timestamp)


def test_timestamps_in_whole_seconds_keep_their_width() -> None:
    stamp = {"_type_": "datetime_iso", "_data_": "2026-11-30T14:16:33+00:00"}
    assert _utc_text_of(stamp) == "2026-11-30T14:16:33.000000Z"
    assert _utc_text_of({"_type_": "datetime_iso", "_data_": "2026-11-30T14:16:33.5+08:00"}) is None


def test_a_rebuild_shared_by_processes_equals_the_live_view(services: Services) -> None:
    """On PostgreSQL two processes replay a shard each; on SQLite (one writer) it is the
    ordinary replay. Either way the rows equal those built live, and the view follows the log
    again from the head."""
    demo_log(services)
    for name in ("case_state", "audit_trail"):
        live = services.projections.dump(name)
        assert rebuild(services, name, workers=2) >= services.log_position()
        assert services.projections.dump(name) == live, name
        assert services.projections.positions()[name] == services.log_position()
    checked_case(services, admin(services), seed=42)  # and it keeps following
    services.fresh()
    assert services.projections.positions()["case_state"] == services.log_position()


@pytest.mark.postgres
def test_catch_up_passes_over_a_view_being_rebuilt_and_a_failed_rebuild_is_handed_back(
    postgres_url: str,
) -> None:
    from tests.conftest import make_settings

    services = Services(make_settings(postgres_url))
    try:
        demo_log(services)
        live = services.projections.dump("case_state")
        services.projections.begin_sharded_rebuild("case_state")
        checked_case(services, admin(services), seed=43)
        services.fresh()  # other views move on; the one being rebuilt is left alone
        positions = services.projections.positions()
        assert positions["case_state"] == REBUILDING
        assert positions["audit_trail"] == services.log_position()
        assert services.case_state.count(scope_prefix="") == 0
        # the worker processes cannot reach their database: the rebuild fails, and the view is
        # emptied and handed back to the ordinary catch-up, which rebuilds it from position 0
        good = services.settings
        services.settings = good.model_copy(
            update={"database_url": postgres_url.rsplit("/", 1)[0] + "/doudi_no_such_database"}
        )
        with pytest.raises(Exception):  # noqa: B017 - whatever the worker raised
            rebuild(services, "case_state", workers=2)
        services.settings = good
        assert services.projections.positions()["case_state"] == 0
        services.fresh()
        rebuilt = services.projections.dump("case_state")
        assert len(rebuilt["case_state"]) == len(live["case_state"]) + 1
    finally:
        services.close()


@pytest.mark.postgres
def test_the_rebuild_command_shares_a_view_between_processes(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from typer.testing import CliRunner

    from api.cli.main import app

    monkeypatch.setenv("DOUDI_DATABASE_URL", postgres_url)
    monkeypatch.setenv("DOUDI_SECRET", "cli-test-secret")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["demo", "--households", "30"]).exit_code == 0
    before = json.loads(runner.invoke(app, ["projections", "status"]).stdout)
    result = runner.invoke(app, ["projections", "rebuild", "case_state", "--workers", "2"])
    assert result.exit_code == 0, result.output
    after = json.loads(runner.invoke(app, ["projections", "status"]).stdout)
    # The seal is untouched by a rebuild; the wait of its oldest unsealed event grows meanwhile.
    assert after.pop("seal")["position"] == before.pop("seal")["position"]
    assert after == before
    assert runner.invoke(app, ["projections", "rebuild", "all", "--workers", "0"]).exit_code == 2
