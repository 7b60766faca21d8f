"""The replay proof (``doudi audit replay``): the whole log replayed into a scratch database
equals the live views table by table, and a tampered view row is caught and named by key."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli.main import app
from domain.errors import Conflict
from ops.services.core import Services
from ops.services.replay import replay
from projections.replay import Digest, replay_jobs, row_hash
from tests.conftest import make_settings
from tests.integration.test_contract import demo_log


def differing(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [table for table in report["tables"] if not table["equal"]]


def test_a_replay_of_the_log_equals_every_live_view(services: Services) -> None:
    """A demo county with a roll: every compared table of every view has the same digest in
    the replay as live, and none is empty but those with nothing to hold."""
    demo_log(services, households=20, tekun=4)
    report = replay(services, diff=True)
    assert differing(report) == [] and report["equal"]
    head = services.log_position()
    assert set(report["positions"].values()) == {head}
    tables = {table["table"]: table for table in report["tables"]}
    assert {"case_state", "audit_events", "roll_lines", "policy_facts", "credentials"} <= set(
        tables
    )
    assert tables["roll_lines"]["live"].split(":")[0] != "0"
    assert report["not_compared"]["working_tables"]["rolls"] == [
        "roll_generations",
        "roll_chunks_ahead",
    ]
    # the scratch database is gone: no replay schema (PostgreSQL) or file (SQLite) is left
    if services.db.is_sqlite:
        assert not list(Path(services.db.target.path).parent.glob("doudi-replay-*"))
    else:
        with services.db.transaction() as cur:
            left = cur.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'doudi_replay_%'"
            ).fetchall()
        assert left == []


def test_a_tampered_view_row_is_caught_and_named(services: Services) -> None:
    """Change one amount of one roll line and delete a case's history row behind the views'
    back: the replay reports the two tables as different, names each differing key with the
    live and the replayed row, and leaves the other tables equal."""
    demo_log(services, households=20, tekun=4)
    with services.db.transaction(write=True) as cur:
        line = cur.execute(
            "SELECT gen, line_no, total_fen FROM roll_lines ORDER BY line_no LIMIT 1"
        ).fetchone()
        assert line is not None
        cur.execute(
            "UPDATE roll_lines SET total_fen = total_fen + 1 WHERE gen = %s AND line_no = %s",
            (line["gen"], line["line_no"]),
        )
        case = cur.execute("SELECT case_id FROM case_history ORDER BY case_id LIMIT 1").fetchone()
        assert case is not None
        cur.execute("DELETE FROM case_history WHERE case_id = %s", (case["case_id"],))
    report = replay(services, diff=True)
    assert not report["equal"]
    bad = {table["table"]: table for table in differing(report)}
    assert set(bad) == {"roll_lines", "case_history"}
    (changed,) = bad["roll_lines"]["differences"]
    assert changed["key"] == {"gen": line["gen"], "line_no": line["line_no"]}
    assert changed["live"]["total_fen"] == line["total_fen"] + 1
    assert changed["replayed"]["total_fen"] == line["total_fen"]
    (missing,) = bad["case_history"]["differences"]
    assert missing["key"] == {"case_id": case["case_id"]} and missing["live"] is None
    assert missing["replayed"]["case_id"] == case["case_id"]
    # without --diff only the digests are told
    assert all("differences" not in table for table in differing(replay(services, diff=False)))


@pytest.mark.postgres
def test_a_replay_shared_by_two_processes_equals_the_live_views(postgres_url: str) -> None:
    """Two processes share the replay on PostgreSQL (the views that are not shardable as one
    job, the rolls view before the findings view that reads it, then each shard of the case-state
    and audit-trail views): equal on a demo county with a roll; a case-state row and an audit
    row changed behind the views' back are still caught, each by its key."""
    services = Services(make_settings(postgres_url))
    try:
        demo_log(services, households=20, tekun=4)
        views = list(services.projections.views.values())
        jobs = replay_jobs(views, 2)
        assert jobs[0][1] is None and jobs[0][0].index("rolls") < jobs[0][0].index("findings")
        assert (["case_state"], (1, 2)) in jobs and (["audit_trail"], (0, 2)) in jobs
        report = replay(services, diff=True, workers=2)
        assert differing(report) == [] and report["equal"]
        with services.db.transaction(write=True) as cur:
            case = cur.execute("SELECT case_id FROM case_state ORDER BY case_id LIMIT 1").fetchone()
            assert case is not None
            cur.execute("UPDATE case_state SET status = 'x' WHERE case_id = %s", (case["case_id"],))
            cur.execute(
                "DELETE FROM audit_events WHERE position = (SELECT MAX(position) FROM audit_events)"
            )
        bad = {t["table"]: t for t in differing(replay(services, diff=True, workers=2))}
        assert set(bad) == {"case_state", "audit_events"}
        assert bad["case_state"]["differences"][0]["key"] == {"case_id": case["case_id"]}
        assert bad["audit_events"]["differences"][0]["live"] is None
    finally:
        services.close()


def test_the_digest_does_not_depend_on_row_order() -> None:
    """The table digest is a sum of row hashes: any order of the same rows gives the same one,
    and a changed value another."""
    rows = [(1, "a", b"\x00"), (2, "b", None), (3, "c", 7)]
    total = sum(row_hash(row) for row in rows) % 2**128
    again = sum(row_hash(row) for row in reversed(rows)) % 2**128
    assert Digest(3, total) == Digest(3, again)
    assert row_hash((1, "a", b"\x01")) != row_hash(rows[0])


def test_the_command_reports_equality_and_exits_1_on_a_difference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`doudi audit replay` on the demo county prints an equal report (exit 0); after a view
    row is changed, `--diff` names it and exits 1."""
    monkeypatch.setenv("DOUDI_DATABASE_URL", f"sqlite:///{tmp_path}/cli.sqlite3")
    monkeypatch.setenv("DOUDI_SECRET", "cli-test-secret")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["demo", "--households", "10"]).exit_code == 0
    equal = runner.invoke(app, ["audit", "replay"])
    assert equal.exit_code == 0, equal.output
    assert json.loads(equal.stdout)["equal"] is True
    with sqlite3.connect(tmp_path / "cli.sqlite3") as conn:
        conn.execute("UPDATE case_state SET status = 'terminated' WHERE rowid = 1")
    changed = runner.invoke(app, ["audit", "replay", "--diff", "--limit", "1"])
    assert changed.exit_code == 1
    (table,) = [t for t in json.loads(changed.stdout)["tables"] if not t["equal"]]
    assert (
        table["table"] == "case_state" and table["differences"][0]["live"]["status"] == "terminated"
    )


def test_statistics_as_known_at_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`doudi stats --as-of-position 0` on the demo county knows no roll and names every roll
    approved since; at the log's head it equals the statistics as known now; a bad time is
    refused naming the option's rule."""
    monkeypatch.setenv("DOUDI_DATABASE_URL", f"sqlite:///{tmp_path}/cli.sqlite3")
    monkeypatch.setenv("DOUDI_SECRET", "cli-test-secret")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["demo", "--households", "10"]).exit_code == 0
    months = ["stats", "--from", "2022-01", "--to", "2022-12"]
    now = json.loads(runner.invoke(app, months).stdout)
    assert now and all(item["amount_fen"] > 0 for item in now)
    before = json.loads(runner.invoke(app, [*months, "--as-of-position", "0"]).stdout)
    assert before["items"] == [] and before["known_at"]["position"] == 0
    assert before["known_at"]["recorded_after"]
    head = max(r["position"] for r in before["known_at"]["recorded_after"])
    known = json.loads(runner.invoke(app, [*months, "--as-of-position", str(head)]).stdout)
    assert known["items"] == now and known["known_at"]["recorded_after"] == []
    bad = runner.invoke(app, [*months, "--as-known-at", "2022-02-30T00:00:00Z"])
    assert bad.exit_code == 2 and "timestamp_valid" in bad.output


def test_a_view_being_rebuilt_is_not_compared(services: Services) -> None:
    """While a view is marked as being rebuilt by several processes its tables are partial:
    the replay refuses (409 ``view_rebuilding``) rather than report a difference."""
    demo_log(services, households=5, tekun=1)
    services.projections.begin_sharded_rebuild("audit_trail")
    with pytest.raises(Conflict) as refused:
        replay(services)
    assert refused.value.rule == "view_rebuilding" and "audit_trail" in refused.value.detail
