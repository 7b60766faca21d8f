"""Contract tests that run unchanged on SQLite and PostgreSQL (the `database_url` fixture)."""

from __future__ import annotations

import gc
import io
import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest

from api.cli.demo import load_demo
from domain.access import Principal
from domain.errors import Conflict, InvalidValue
from domain.programmes import dibao_programme_for
from domain.references import bank_reference, reference_prefix
from domain.roll import RollChunk
from ledger.store.settings import Settings
from ops.demo import roster_csv
from ops.services.cases import HOUSEHOLD_DECISIONS, ApplyHousehold
from ops.services.core import Outcome, Served, Services
from ops.services.importer import import_households
from ops.services.rolls import approve_roll, generate_roll
from projections.case_state.settled import CASE_ID
from projections.rolls.view import generation_key, reference_sql
from projections.runner import ProjectionRunner
from tests.conftest import COUNTY, make_settings
from tests.factories import approve_body, household_body

APPROVE = {
    "method": "top_up",
    "tier_code": None,
    "start_month": "2024-02",
    "payee_account": "6222020200112233",
    "payee_name": "王一",
    "single_person_id_number": None,
    "annual_review_due": None,
    "programme": None,
    "effective_date": "2024-01-20",
    "document_ref": "批",
}


def at_once(*targets: Callable[[], object]) -> None:
    """Run each target in its own thread, all started before any is waited for."""
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def admin(services: Services, region: str = COUNTY) -> Principal:
    credential_id, _token = services.issue_credential(
        "test", role="admin", region_scope=region, staff_id="test-officer"
    )
    return Principal(credential_id, "admin", region)


def record(
    services: Services,
    principal: Principal,
    decide: Callable[[], Outcome],
    key: str | None = None,
    fingerprint: str = "f",
) -> Served:
    return services.execute(principal, key, fingerprint, decide)


def checked_case(services: Services, principal: Principal, seed: int = 1) -> str:
    body = household_body(seed=seed)
    served = record(services, principal, lambda: ApplyHousehold(**body).decide(services, principal))
    case_id = str(served.response["case_id"])
    record(
        services,
        principal,
        lambda: HOUSEHOLD_DECISIONS["economic-checks"](
            case_id=case_id,
            **{
                "income": {"household_income_fen": 1000},
                "effective_date": "2024-01-10",
                "document_ref": "核",
            },
        ).decide(services, principal),
    )
    return case_id


def test_starting_twice_is_a_no_op_and_keeps_everything(settings: Settings) -> None:
    """Set-up creates every table on an empty database; a second start changes nothing."""
    first = Services(settings)
    principal = admin(first)
    checked_case(first, principal)
    first.fresh()
    before = {name: first.projections.dump(name) for name in first.projections.views}
    position = first.log_position()
    first.close()
    second = Services(settings)
    assert second.log_position() == position
    assert {name: second.projections.dump(name) for name in second.projections.views} == before
    second.close()


def demo_log(services: Services, households: int = 60, tekun: int = 10, seed: int = 40) -> None:
    """A demo county, one more checked case and a generated roll, every view caught up."""
    load_demo(services, households=households, tekun=tekun)
    principal = admin(services)
    checked_case(services, principal, seed=seed)
    record(
        services, principal, lambda: generate_roll(services, principal, COUNTY, "2022-09", "all")
    )
    services.fresh()


def test_rebuilding_every_projection_equals_the_live_one(services: Services) -> None:
    """Replay the whole log into fresh tables: the rows equal those built live, incrementally."""
    demo_log(services)
    for name in services.projections.views:
        live = services.projections.dump(name)
        assert any(live.values()), name
        services.projections.rebuild(name)
        assert services.projections.dump(name) == live, name


def test_the_log_is_read_a_few_megabytes_at_a_time(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catch-up reads at most ``READ_BYTES`` of stored state at once (at least one
    notification): a rebuild of the rolls view after a year of provincial rolls would otherwise
    read thousands of ~150 KB chunks in one go. Small reads rebuild every view the same."""
    demo_log(services)
    live = {name: services.projections.dump(name) for name in services.projections.views}
    monkeypatch.setattr("ledger.store.logreader.READ_BYTES", 20_000)
    reader = services.log
    found, covered = reader.read(1, 5000)
    assert 1 < len(found) < 5000 and covered == found[-1].id < reader.head()
    assert sum(len(n.state) for n in found[:-1]) < 20_000 <= sum(len(n.state) for n in found)
    for name in services.projections.views:
        services.projections.rebuild(name)
        assert services.projections.dump(name) == live[name], name


def test_processes_starting_at_once_on_an_empty_database_all_start(database_url: str) -> None:
    """An API process and projection workers may start together on an empty database. Without
    the start-up lock, four at once failed every time here on PostgreSQL (two ``CREATE TABLE IF
    NOT EXISTS`` racing on the catalogue); each must start, and the tables exist once."""
    errors: list[BaseException] = []

    def start() -> None:
        try:
            Services(make_settings(database_url)).close()
        except BaseException as error:
            errors.append(error)

    at_once(*[start] * 4)
    assert errors == []
    services = Services(make_settings(database_url))
    assert services.log_position() == 0 and services.projections.positions()["case_state"] == 0
    services.close()


def orphan_rows(token: str, shown: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """``roll_lines`` rows of a failed generation ``token`` with the lines ``shown``."""
    return [
        (generation_key(token), n, line["case_id"], line["programme"], line["region_code"],
         line["covered_members"], line["total_fen"], line["receivable_fen"], None)
        for n, line in enumerate(shown)
    ]  # fmt: skip


def test_roll_lines_written_ahead_count_once_and_only_under_their_header(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A generation writes its lines into the rolls view before saving their chunk events.
    Lines of a generation whose header never came stay invisible and go with the next
    generation; lines a header deleted before their chunks were projected are written again
    from the events; every line counts once."""
    load_demo(services, households=40, tekun=5)
    principal = admin(services)

    def generate() -> Outcome:
        outcome = generate_roll(services, principal, COUNTY, "2022-09", "all")
        services.app.save(*outcome.aggregates)
        services.fresh()
        return outcome

    def rows(roll: str) -> dict[str, int]:
        with services.db.transaction() as cur:
            found = cur.execute(
                "SELECT g.token, COUNT(*) AS n FROM roll_lines l JOIN roll_generations g ON g.gen = l.gen"
                " WHERE g.roll_id = %s GROUP BY g.token",
                (roll,),
            ).fetchall()
        return {row["token"]: int(row["n"]) for row in found}

    first = generate()
    roll, count = str(first.response["roll_id"]), int(first.response["line_count"])
    assert count > 0 and list(rows(roll).values()) == [count]
    shown = list(services.rolls.all_lines(roll))
    # A generation that wrote its lines and then failed: never shown, gone with the next one.
    services.rolls.write_ahead(
        roll, "orphan-token", ["orphan-chunk"], orphan_rows("orphan-token", shown)
    )
    assert list(services.rolls.all_lines(roll)) == shown
    decoded: list[Any] = []
    decode = services.rolls.decode
    monkeypatch.setattr(
        services.rolls, "decode", lambda n: decoded.append(decode(n)) or decoded[-1]
    )
    second = generate()
    monkeypatch.undo()
    # Chunks written ahead are passed over undecoded.
    chunks_decoded = [e for e in decoded if isinstance(e, RollChunk.Recorded)]
    assert chunks_decoded == []
    assert "orphan-token" not in rows(roll) and list(rows(roll).values()) == [count]
    with services.db.transaction() as cur:
        marks = cur.execute(
            "SELECT token FROM roll_chunks_ahead WHERE roll_id = %s", (roll,)
        ).fetchall()
    assert {row["token"] for row in marks} <= {str(second.aggregates[0].totals["token"])}
    # Lines written ahead but deleted before their chunks were projected are written again.
    outcome = generate_roll(services, principal, COUNTY, "2022-09", "all")
    token = str(outcome.aggregates[0].totals["token"])
    with services.db.transaction(write=True) as cur:
        cur.execute("DELETE FROM roll_lines WHERE gen = %s", (generation_key(token),))
        cur.execute("DELETE FROM roll_chunks_ahead WHERE token = %s", (token,))
    services.app.save(*outcome.aggregates)
    services.fresh()
    assert rows(roll) == {token: count}
    assert list(services.rolls.all_lines(roll)) == shown
    assert second.response["generation"] < outcome.response["generation"]
    # An attempt that failed after the last generation, and the roll approved as it was: the
    # approval takes the attempt's lines and marks out (the roll is never generated again).
    services.rolls.write_ahead(
        roll, "late-orphan", ["late-chunk"], orphan_rows("late-orphan", shown)
    )
    assert rows(roll) == {token: count, "late-orphan": len(shown)}
    finance = Principal("finance-1", "finance_officer", COUNTY)
    services.app.save(*approve_roll(services, finance, roll).aggregates)
    services.fresh()
    assert rows(roll) == {token: count}
    with services.db.transaction() as cur:
        late = cur.execute(
            "SELECT COUNT(*) AS n FROM roll_chunks_ahead WHERE token = 'late-orphan'"
        ).fetchone()
    assert late["n"] == 0
    assert list(services.rolls.all_lines(roll)) == shown


def test_roll_policy_check_refuses_a_tier_in_use_and_not_one_given_up(services: Services) -> None:
    """A roll is refused, recording nothing, while a case has a tier the month's policy has no
    amount for; once that case has moved to another tier, the county's list of programmes
    still names the old tier, and the roll goes ahead."""
    load_demo(services, households=10, tekun=1)
    principal = admin(services)
    body = household_body("420582101000", seed=77, programme="dibao_rural")
    applied = ApplyHousehold(**body).decide(services, principal)
    services.app.save(*applied.aggregates)
    case_id = str(applied.response["case_id"])
    for action, fields in (
        (
            "economic-checks",
            {
                "income": {"household_income_fen": 30_000},
                "effective_date": "2024-01-10",
                "document_ref": "核对报告2024-01",
            },
        ),
        (
            "approve",
            approve_body(
                method="tier",
                tier_code="Z",
                programme="dibao_rural",
                single_person_id_number=None,
                annual_review_due=None,
            ),
        ),
    ):
        by = admin(services) if action == "approve" else principal  # another person approves
        services.app.save(
            *HOUSEHOLD_DECISIONS[action](case_id=case_id, **fields).decide(services, by).aggregates
        )
    services.fresh()
    assert ("household", "dibao_rural", "Z") in services.case_state.county_programmes(COUNTY)
    position = services.log_position()
    with pytest.raises(InvalidValue) as refused:
        generate_roll(services, principal, COUNTY, "2024-03", "all")
    assert refused.value.rule == "tier_in_force" and services.log_position() == position
    change = {"tier_code": "B", "effective_date": "2024-02-01", "document_ref": "当民批〔2024〕2号"}
    services.app.save(
        *HOUSEHOLD_DECISIONS["tier"](case_id=case_id, **change)
        .decide(services, principal)
        .aggregates
    )
    services.fresh()
    assert ("household", "dibao_rural", "Z") in services.case_state.county_programmes(COUNTY)
    outcome = generate_roll(services, principal, COUNTY, "2024-03", "all")
    services.app.save(*outcome.aggregates)
    services.fresh()
    lines = list(services.rolls.all_lines(str(outcome.response["roll_id"])))
    assert [line["components"][0]["rule"] for line in lines if line["case_id"] == case_id] == [
        "tier B: 35000 fen × 2 covered"
    ]


def test_a_tekun_case_is_listed_under_its_regions_dibao_standard(services: Services) -> None:
    """A 特困 case's support is reckoned on the dibao standard of its region
    (``domain.programmes.standard_programme``): the county's list of programmes and the
    in-use check both answer with that programme, not the case's own."""
    load_demo(services, households=2, tekun=1)
    services.fresh()
    with services.db.transaction() as cur:
        (case,) = cur.execute(
            "SELECT programme, region_code FROM case_state WHERE kind = 'tekun'"
        ).fetchall()
    reckoned = dibao_programme_for(case["region_code"])
    other = ({"dibao_urban", "dibao_rural"} - {reckoned}).pop()
    assert ("tekun", reckoned, None) in services.case_state.county_programmes(COUNTY)
    assert services.case_state.programme_in_use(COUNTY, "tekun", reckoned, None)
    assert not services.case_state.programme_in_use(COUNTY, "tekun", other, None)
    assert not services.case_state.programme_in_use(COUNTY, "tekun", case["programme"], None)


def test_a_generation_whose_chunks_fail_to_save_leaves_no_lines(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines are written ahead of their chunk events; when the save of those events fails, the
    lines are taken out again, so the rolls view holds only what a rebuild from the log holds."""
    load_demo(services, households=40, tekun=5)
    principal = admin(services)
    services.fresh()
    save = services.app.save

    def failing(*aggregates: Any) -> Any:
        if any(isinstance(aggregate, RollChunk) for aggregate in aggregates):
            raise RuntimeError("the event store went away")
        return save(*aggregates)

    def counts() -> list[Any]:
        with services.db.transaction() as cur:
            return [cur.execute(f"SELECT COUNT(*) AS n FROM {table}").fetchone()
                    for table in ("roll_lines", "roll_chunks_ahead")]  # fmt: skip

    before = counts()  # the demo's own rolls
    monkeypatch.setattr(services.app, "save", failing)
    with pytest.raises(RuntimeError, match="went away"):
        generate_roll(services, principal, COUNTY, "2022-09", "all")
    monkeypatch.undo()
    services.fresh()
    assert counts() == before
    live = services.projections.dump("rolls")
    services.projections.rebuild("rolls")
    assert services.projections.dump("rolls") == live

    # A save that recorded its chunks and then failed to answer: the lines stay, as the log
    # has them (they are never shown: no header names their generation).
    def lost_answer(*aggregates: Any) -> Any:
        result = save(*aggregates)
        if any(isinstance(aggregate, RollChunk) for aggregate in aggregates):
            raise RuntimeError("the answer was lost")
        return result

    monkeypatch.setattr(services.app, "save", lost_answer)
    with pytest.raises(RuntimeError, match="lost"):
        generate_roll(services, principal, COUNTY, "2022-09", "all")
    monkeypatch.undo()
    services.fresh()
    assert counts() != before
    live = services.projections.dump("rolls")
    services.projections.rebuild("rolls")
    assert services.projections.dump("rolls") == live


def test_a_county_larger_than_a_page_of_cases_generates_its_roll(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A county of 4,500 households streams its cases in pages of 2,000 and (here) saves every
    chunk of 1,000 lines as it is full, so chunks are saved while
    the case stream is still open. On SQLite the stream reads through a connection of its own:
    its read snapshot would otherwise make writing the lines ahead fail with "database is
    locked" once the event store's connection has saved chunks. Every household gets its line
    once."""
    from ops.demo import policy_facts

    monkeypatch.setattr("ops.services.rolls.CHUNKS_PER_SAVE", 1)
    principal = admin(services)
    for kind, fields in policy_facts():
        services.app.save(*services.set_policy(principal, COUNTY, kind, fields).aggregates)
    assert (
        import_households(services, io.StringIO(roster_csv(4_500, seed=12)), "import").households
        == 4_500
    )
    outcome = generate_roll(services, principal, COUNTY, "2022-12", "all")
    services.app.save(*outcome.aggregates)
    services.fresh()
    assert outcome.response["line_count"] == 4_500
    with services.db.transaction() as cur:
        found = cur.execute(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT case_id) AS cases FROM roll_lines"
            " WHERE gen = (SELECT gen FROM rolls WHERE roll_id = %s)",
            (str(outcome.response["roll_id"]),),
        ).fetchone()
    assert found is not None and (int(found["n"]), int(found["cases"])) == (4_500, 4_500)
    # A page across two chunks: each line's components come from the chunk it was recorded in.
    roll_id = str(outcome.response["roll_id"])
    page, _next = services.rolls.lines(roll_id, limit=20, after=989)
    assert [line["line_no"] for line in page] == list(range(990, 1010))
    token = services.app.repository.get(UUID(roll_id)).token
    recorded = {line["line_no"]: line for number in (0, 1)
                for line in services.roll_chunk_lines(roll_id, str(token), number)}  # fmt: skip
    for line in page:
        assert line["components"] == recorded[line["line_no"]]["components"]
        assert line["case_id"] == recorded[line["line_no"]]["case_id"]
        assert line["total_fen"] == sum(c["amount_fen"] for c in line["components"])


def test_a_generation_failing_part_way_records_no_header_and_raises_its_own_error(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a save of chunks fails part-way, or the generator itself fails part-way (an operator's
    ctrl-c), the error raised is the one that happened, no header names the generation, nothing
    after the failure is saved, and the rolls view holds what its rebuild from the log holds; the
    next generation is whole."""
    from ops.demo import policy_facts

    monkeypatch.setattr("ops.services.rolls.CHUNKS_PER_SAVE", 1)  # one chunk of 1,000 lines a save
    principal = admin(services)
    for kind, fields in policy_facts():
        services.app.save(*services.set_policy(principal, COUNTY, kind, fields).aggregates)
    import_households(services, io.StringIO(roster_csv(4_500, seed=12)), "import")
    services.fresh()
    save = services.app.save
    saves: list[int] = []

    def chunks_logged() -> int:
        notifications = services.app.recorder.select_notifications(start=1, limit=1_000_000)
        return sum("RollChunk" in notification.topic for notification in notifications)

    def second_fails(*aggregates: Any) -> Any:
        if any(isinstance(aggregate, RollChunk) for aggregate in aggregates):
            saves.append(len(aggregates))
            if len(saves) == 2:
                raise RuntimeError("the disk is full")
        return save(*aggregates)

    monkeypatch.setattr(services.app, "save", second_fails)
    with pytest.raises(RuntimeError, match="disk is full"):
        generate_roll(services, principal, COUNTY, "2022-12", "all")
    monkeypatch.setattr(services.app, "save", save)
    assert (len(saves), chunks_logged()) == (2, 1)  # the third save was never tried

    calls: list[int] = []

    def progress(lines: int) -> None:
        calls.append(lines)
        assert (
            not gc.isenabled()
        )  # paused while the lines are made (``ledger.store.runtime.gc_paused``)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the operator pressed ctrl-c

    with pytest.raises(KeyboardInterrupt):
        generate_roll(services, principal, COUNTY, "2022-12", "all", progress)
    assert gc.isenabled() and len(calls) == 3
    assert chunks_logged() <= 1 + 3  # at most the chunks made before the generator stopped
    services.fresh()
    with services.db.transaction() as cur:
        assert cur.execute("SELECT COUNT(*) AS n FROM rolls").fetchone()["n"] == 0
    live = services.projections.dump("rolls")
    services.projections.rebuild("rolls")
    assert services.projections.dump("rolls") == live

    outcome = generate_roll(services, principal, COUNTY, "2022-12", "all")
    services.app.save(*outcome.aggregates)
    services.fresh()
    assert outcome.response["line_count"] == 4_500
    lines = list(services.rolls.all_lines(str(outcome.response["roll_id"])))
    assert sorted(line["line_no"] for line in lines) == list(range(4_500))
    assert len({line["case_id"] for line in lines}) == 4_500


def test_concurrent_conflicting_decisions_exactly_one_wins(services: Services) -> None:
    """Four approvers approve the same case at once: one is recorded, the others get a conflict."""
    case_id = checked_case(services, admin(services))
    principal = admin(services)
    barrier = threading.Barrier(4)
    results: list[Any] = []

    def decide() -> Outcome:
        outcome = HOUSEHOLD_DECISIONS["approve"](case_id=case_id, **APPROVE).decide(
            services, principal
        )
        barrier.wait(timeout=10)  # every thread has loaded and decided before anyone saves
        return outcome

    def worker() -> None:
        try:
            results.append(record(services, principal, decide))
        except Conflict as error:
            results.append(error)

    at_once(*[worker] * 4)
    assert sum(isinstance(r, Served) for r in results) == 1
    assert sum(isinstance(r, Conflict) and r.rule == "concurrent_decision" for r in results) == 3
    services.fresh()
    timeline = services.case_state.timeline(case_id)
    assert [t["event_type"] for t in timeline].count("HouseholdCase.Approved") == 1


def test_concurrent_retries_with_one_idempotency_key_record_once(services: Services) -> None:
    """Twenty identical requests with one key at once: one application recorded, twenty equal answers."""
    principal = admin(services)
    body = household_body(seed=11)
    position = services.log_position()
    barrier = threading.Barrier(20)
    answers: list[dict[str, Any]] = []

    def decide() -> Outcome:
        outcome = ApplyHousehold(**body).decide(services, principal)
        barrier.wait(timeout=10)
        return outcome

    def worker() -> None:
        answers.append(record(services, principal, decide, key="same-key").response)

    at_once(*[worker] * 20)
    assert len(answers) == 20 and all(a == answers[0] for a in answers)
    services.fresh()
    total = services.case_state.count(scope_prefix=COUNTY, kind="household")
    assert total == 1
    # the application, one enrolment per member (2), and the idempotency record
    assert services.log_position() == position + 1 + 2 + 1


def test_two_runners_catching_up_at_once_apply_each_event_once(
    services: Services, settings: Settings
) -> None:
    """Two processes' runners race over the same log; every timeline row exists exactly once."""
    load_demo(services, households=40, tekun=5)
    services.fresh()
    expected = services.projections.dump("case_state")
    services.projections.rebuild("case_state")  # reset, then race two runners from position 0
    other = Services(settings)
    with services.db.transaction(write=True) as cur:
        for table in services.case_state.tables:
            cur.execute(f"DELETE FROM {table}")
        cur.execute("UPDATE projection_tracking SET position = 0 WHERE name = 'case_state'")
    runners: list[ProjectionRunner] = [services.projections, other.projections]
    at_once(*[lambda runner=runner: runner.catch_up(["case_state"]) for runner in runners])
    assert services.projections.dump("case_state") == expected
    other.close()


def test_importing_the_same_roster_twice_records_nothing_new(services: Services) -> None:
    roster = roster_csv(50, seed=5)
    first = import_households(services, io.StringIO(roster), "import")
    assert first.households == 50 and not first.errors
    position = services.log_position()
    second = import_households(services, io.StringIO(roster), "import")
    assert second.households == 0 and second.skipped_existing == 50
    assert services.log_position() == position


def test_a_roster_overlapping_an_earlier_import_records_the_rest(services: Services) -> None:
    """A batch that collides with households imported before falls back to one by one: the
    new households of the batch are recorded, not lost with the failed batch."""
    full = roster_csv(30, seed=6)
    head = full[: full.index("H000011")].rsplit("\n", 1)[0] + "\n"  # households 1–10
    assert import_households(services, io.StringIO(head), "import").households == 10
    second = import_households(services, io.StringIO(full), "import")
    assert (second.households, second.skipped_existing, second.errors) == (20, 10, [])
    services.fresh()
    total = services.case_state.count(scope_prefix="420582")
    assert total == 30


def test_standard_as_known_at_a_time(services: Services) -> None:
    """A raise effective 1 April recorded later: asked as of before the recording, the old standard applies."""
    principal = admin(services)
    meta = {"period": "month", "document_ref": "当民发"}
    record(
        services,
        principal,
        lambda: services.set_policy(
            principal,
            COUNTY,
            "standard",
            {
                "programme": "dibao_urban",
                "amount_fen": 63_000,
                "effective_date": "2021-01-01",
                **meta,
            },
        ),
    )
    services.fresh()
    before_raise = services.policy.facts(COUNTY, "standard", "9999")[0]["recorded_at"]
    record(
        services,
        principal,
        lambda: services.set_policy(
            principal,
            COUNTY,
            "standard",
            {
                "programme": "dibao_urban",
                "amount_fen": 67_000,
                "effective_date": "2022-04-01",
                **meta,
            },
        ),
    )
    services.fresh()
    now = "9999-12-31T00:00:00.000000Z"
    assert (
        services.policy.applicable(COUNTY, "standard", "dibao_urban", "2022-03-01", now)["payload"][
            "amount_fen"
        ]
        == 63_000
    )
    assert (
        services.policy.applicable(COUNTY, "standard", "dibao_urban", "2022-04-01", now)["payload"][
            "amount_fen"
        ]
        == 67_000
    )
    assert (
        services.policy.applicable(COUNTY, "standard", "dibao_urban", "2022-04-01", before_raise)[
            "payload"
        ]["amount_fen"]
        == 63_000
    )
    # A township inherits its county's standard; a county without one falls back to nothing here.
    assert (
        services.policy.applicable("420582101000", "standard", "dibao_urban", "2022-05-01", now)
        is not None
    )


def test_decision_errors_leave_the_log_unchanged(services: Services) -> None:
    principal = admin(services)
    case_id = checked_case(services, admin(services))
    position = services.log_position()
    with pytest.raises(Conflict):
        record(
            services,
            principal,
            lambda: ApplyHousehold(**household_body(seed=1)).decide(services, principal),
        )
    bad = dict(APPROVE, start_month="2023-13")
    with pytest.raises(Exception) as caught:
        record(
            services,
            principal,
            lambda: HOUSEHOLD_DECISIONS["approve"](case_id=case_id, **bad).decide(
                services, principal
            ),
        )
    assert getattr(caught.value, "field", None) == "start_month"
    assert services.log_position() == position


def test_settings_refuse_default_secrets_in_production() -> None:
    with pytest.raises(ValueError):
        Settings(environment="production", database_url="sqlite:///x.db")
    assert make_settings("sqlite:///x.db").database.kind == "sqlite"
    target = Settings(database_url="postgresql://u:p@db:5433/doudi?schema=shard_42").database
    assert (target.kind, target.host, target.port, target.dbname, target.schema) == (
        "postgres",
        "db",
        5433,
        "doudi",
        "shard_42",
    )


@pytest.mark.postgres
def test_a_province_shard_lives_in_its_own_schema(postgres_url: str) -> None:
    """Two shards in one PostgreSQL database, each in its schema, never see each other's events."""
    hubei = Services(make_settings(f"{postgres_url}?schema=shard_42"))
    beijing = Services(make_settings(f"{postgres_url}?schema=shard_11"))
    principal = admin(hubei)
    checked_case(hubei, principal)
    hubei.fresh()
    beijing.fresh()
    assert hubei.log_position() > 0 and beijing.log_position() == 0
    assert beijing.case_state.count(scope_prefix="") == 0
    import psycopg

    with psycopg.connect(postgres_url) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables"
                " WHERE table_schema LIKE 'shard_%'"
            )
        }
    assert {"shard_42.case_state", "shard_11.case_state", "shard_42.doudi_events"} <= tables
    hubei.close()
    beijing.close()


def test_a_view_whose_version_changed_is_rebuilt_on_start(settings: Settings) -> None:
    """Bumping a view's version drops its tables at start-up; catch-up rebuilds it from the log."""
    first = Services(settings)
    checked_case(first, admin(first))
    first.fresh()
    before = first.projections.dump("case_state")
    first.close()
    second = Services(settings)
    second.case_state.version += 1
    try:
        second.projections.setup()
        assert second.projections.positions()["case_state"] == 0
        second.fresh()
        assert second.projections.dump("case_state") == before
    finally:
        second.case_state.version -= 1
        second.close()


def test_a_roll_reads_the_facts_and_paid_months_it_uses(services: Services) -> None:
    """The case stream lists, of the months paid, only this month and those paid before the
    case's latest fact or the latest policy change was recorded (adjustments pass over the
    rest), and leaves out a case's facts when its settled basis holds for the month and no paid
    month is listed; the roll folds facts for every other case (the SQL and the roll's own test
    must agree: a case the roll folds without its facts is an error)."""
    load_demo(services, households=40, tekun=5)  # June 2022 approved, July drafted
    services.fresh()
    as_of = "2030-01-01T00:00:00.000000Z"
    seen = {"without facts": 0, "with facts": 0, "months dropped": 0, "months kept": 0}
    for month, policy_until in (("2022-03", ""), ("2022-09", ""), ("2023-06", as_of)):
        cut = f"{month}-01"
        full = {
            row.case[CASE_ID]: row.history
            for page in services.case_state.county_case_pages(COUNTY, month)
            for row in page
        }
        with services.db.transaction() as cur:
            dates = {
                r["case_id"]: (r["recorded_at"], r["settled_from"])
                for r in cur.execute(
                    "SELECT case_id, recorded_at, settled_from FROM case_state"
                ).fetchall()
            }
        known = (cut, as_of, policy_until)
        for page in services.case_state.county_case_pages(COUNTY, month, known):
            for row in page:
                recorded, settled_from = dates[row.case[CASE_ID]]
                expected = {
                    paid: value
                    for paid, value in full[row.case[CASE_ID]].items()
                    if paid == month or value[1] < recorded or value[1] < policy_until
                }
                assert row.history == expected, row.case[CASE_ID]
                seen["months kept"] += len(expected)
                seen["months dropped"] += len(full[row.case[CASE_ID]]) - len(expected)
                settled = settled_from <= cut and recorded <= as_of
                # The database's comparison (``SETTLED_HOLDS``) is Python's, by code point.
                assert row.holds == (row.settled is not None and settled), row.case[CASE_ID]
                needed = not settled or bool(expected)
                assert (row.blob is not None) == needed, row.case[CASE_ID]
                seen["with facts" if needed else "without facts"] += 1
    assert all(seen.values()), seen


def test_a_settled_basis_too_large_for_the_county_index_is_read_from_the_row(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The county index holds a case's settled basis only up to ``SETTLED_INLINE`` bytes (an
    index entry has a size limit, a basis grows with the case's facts); a larger one is read
    from the case's row. Rebuilt with every basis counted as too large, the roll is the same."""
    import orjson

    import projections.case_state.projection as projection
    from domain.lines import Parts
    from domain.roll import ProgrammeGroup
    from ops.services.roll_lines import roll_lines
    from ops.services.rolls import PolicyBook

    load_demo(services, households=30, tekun=4)  # June 2022 approved, July drafted
    services.fresh()
    as_of = "2030-01-01T00:00:00.000000Z"

    def lines() -> bytes:
        found: list[Any] = []
        for month in ("2022-05", "2022-07", "2023-06"):
            book, parts = PolicyBook(services, COUNTY, as_of), Parts()
            found += list(roll_lines(services, COUNTY, month, ProgrammeGroup.ALL, book, parts))
            found.append(parts.take())
        return orjson.dumps(found)

    def inline() -> int:
        with services.db.transaction() as cur:
            row = cur.execute(
                "SELECT COUNT(settled_inline) AS n FROM case_state WHERE settled IS NULL"
            ).fetchone()
        return int(row["n"])

    expected = lines()
    assert inline() > 0 and b'"household"' in expected and b'"tekun"' in expected
    monkeypatch.setattr(projection, "SETTLED_INLINE", 0)
    services.projections.rebuild("case_state")
    assert inline() == 0
    assert lines() == expected


def test_the_roll_reads_a_countys_cases_from_the_county_index_alone(services: Services) -> None:
    """The county index holds every column the roll's case stream reads (``PAGE_FIELDS``, the
    settled basis, the start month): PostgreSQL in its INCLUDE, SQLite after the key (a
    covering index), so a county's cases are read from adjacent index pages, not from rows
    spread over the whole table. A field added to the stream without the index fails here."""
    from projections.case_state.settled import PAGE_FIELDS

    columns = ", ".join(f"c.{name}" for name in PAGE_FIELDS)
    sql = (
        f"SELECT {columns}, c.settled_inline FROM case_state c"
        " WHERE c.county_code = %s AND c.start_month <= %s ORDER BY c.case_id"
    )
    with services.db.transaction() as cur:
        if cur.sqlite:
            plan = cur.execute(f"EXPLAIN QUERY PLAN {sql}", ("420582", "2024-03")).fetchall()
            assert any("COVERING INDEX case_state_county_cover" in str(row) for row in plan), plan
            names = {row["name"] for row in cur.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'case_state'"
            ).fetchall()}  # fmt: skip
            assert "case_state_county" not in names  # the key-only index it replaced
        else:
            cur.execute("SET LOCAL enable_seqscan = off")
            cur.execute("SET LOCAL enable_bitmapscan = off")
            plan = cur.execute(f"EXPLAIN {sql}", ("420582", "2024-03")).fetchall()
            assert "Index Only Scan using case_state_county" in str(plan), plan


def test_the_view_works_out_a_line_s_bank_reference_as_the_roll_gives_it(
    services: Services,
) -> None:
    """``roll_lines`` keeps no reference: ``reference_sql`` gives the one ``bank_reference``
    gives, numbers of more than seven digits included."""
    prefix = reference_prefix("420582", "2024-03", "all")
    numbers = [0, 7, 1_234_567, 9_999_999, 10_000_000, 123_456_789]
    union = " UNION ALL ".join(["SELECT %s AS line_no"] * len(numbers))
    with services.db.transaction() as cur:
        rows = cur.execute(
            f"SELECT l.line_no, {reference_sql(services.db.is_sqlite)} AS reference"
            f" FROM ({union}) l ORDER BY l.line_no",
            [prefix, *numbers],
        ).fetchall()
    assert [(row["line_no"], row["reference"]) for row in rows] == [
        (n, bank_reference("420582", "2024-03", "all", n)) for n in numbers
    ]


def test_paid_months_key_carries_what_the_case_stream_probes(services: Services) -> None:
    """On PostgreSQL the roll's per-case probe of paid months reads ``as_of`` from the key's
    index alone (``PAID_INCLUDE``); SQLite, without INCLUDE, keeps the plain key."""
    services.fresh()
    with services.db.transaction() as cur:
        if services.db.is_sqlite:
            found = cur.execute(
                "SELECT sql FROM sqlite_master WHERE name = 'paid_months'"
            ).fetchone()
            assert found is not None and "PRIMARY KEY (case_id, month, roll_id))" in found["sql"]
            return
        found = cur.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'paid_months_pkey'"
        ).fetchone()
    assert found is not None
    assert found["indexdef"].endswith("(case_id, month, roll_id) INCLUDE (as_of, amount_fen)")
