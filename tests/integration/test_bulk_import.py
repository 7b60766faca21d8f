"""The importer's fast lane records exactly what the domain path records: it builds stored events
from the domain's decision functions without event objects, so these tests compare it with the
aggregates' own events — the encoded bytes for the same fields and timestamp, and the decoded
log of a whole imported roster on both backends."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.enrolment import PersonEnrolment
from domain.errors import InvalidValue
from domain.text import text_problem
from ledger.store.application import DoudiApplication
from ledger.store.bulk import StoredEventEncoder, event_shape
from ops.demo import roster_csv
from ops.services import importer
from ops.services.core import Services
from ops.services.importer import (
    build_household,
    decide_household,
    import_households,
    read_households,
)

ENVELOPE = ("originator_id", "originator_version", "timestamp")


def households(roster: str) -> list[list[dict[str, str]]]:
    return list(read_households(io.StringIO(roster)))


def domain_events(rows: list[dict[str, str]], person_key: Any) -> list[Any]:
    """The events the aggregates produce for a new household: its case's, then each member's
    first enrolment, in the order the importer records them."""
    case = build_household(rows, "import")
    enrolments = [
        PersonEnrolment(person_key=person_key(id_number), kind="household", case_id=str(case.id))
        for id_number in case.members
    ]
    return [e for aggregate in (case, *enrolments) for e in aggregate.collect_events()]


def roster_of(lines: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(lines[0]))
    writer.writeheader()
    writer.writerows(lines)
    return out.getvalue()


def head_named_again(households: int, seed: int, again: int) -> str:
    """A roster whose household number ``again`` (counting from 0) lists household 0's head."""
    lines = list(csv.DictReader(io.StringIO(roster_csv(households, seed=seed))))
    refs = sorted({line["household_ref"] for line in lines})
    other = next(line for line in lines if line["household_ref"] == refs[again])
    other["id_number"] = lines[0]["id_number"]
    return roster_of(lines)


def fields_of(event: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(event).items() if k not in ENVELOPE}


def assert_same_bytes(app: DoudiApplication, rows: list[dict[str, str]]) -> None:
    encoder = StoredEventEncoder(app)
    key = lambda id_number: f"key-{id_number}"  # noqa: E731 - any function will do here
    decided = decide_household(rows, "import", key)
    expected = domain_events(rows, key)
    built = decided.stored_events(encoder)
    assert len(built) == len(expected)
    for event, stored in zip(expected, built, strict=True):
        reference = app.mapper.to_stored_event(event)
        assert (stored.topic, stored.originator_id, stored.originator_version) == (
            reference.topic, reference.originator_id, reference.originator_version,
        )  # fmt: skip
        state = dict(vars(event))
        del state["originator_id"], state["originator_version"]
        library_bytes = app.mapper.transcoder.encode(state)
        ours = encoder.state(event_shape(type(event)), fields_of(event), event.timestamp)
        assert ours == library_bytes


def plain_app() -> DoudiApplication:
    return DoudiApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def test_a_generated_roster_encodes_to_the_libraries_bytes() -> None:
    app = plain_app()
    for rows in households(roster_csv(40, seed=3)):
        assert_same_bytes(app, rows)


# Control and invisible characters are refused before encoding (domain/text.py).
ODD_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Cf")), min_size=1, max_size=40
).filter(lambda text: text.strip() and text_problem(text.strip()) is None)


@settings(max_examples=60, deadline=None)
@given(name=ODD_TEXT, document=ODD_TEXT, payee=ODD_TEXT)
def test_any_names_and_references_encode_to_the_libraries_bytes(
    name: str, document: str, payee: str
) -> None:
    """Quotes, backslashes, CJK, emoji, combining marks: orjson and the library's JSON encoder
    must agree on every string a roster can carry."""
    rows = households(roster_csv(1, seed=4))[0]
    for row in rows:
        row.update(name=name, document_ref=document, payee_name=payee)
    assert_same_bytes(plain_app(), rows)


def test_a_lone_surrogate_is_refused_by_both_paths() -> None:
    """A lone surrogate (which no encoder can store) is refused by the text rule on the fast
    lane and on the domain path alike, naming the member's name."""
    rows = households(roster_csv(1, seed=4))[0]
    rows[0]["name"] = "王\udc80"
    for decide in (lambda: decide_household(rows, "import", str), lambda: domain_events(rows, str)):
        with pytest.raises(InvalidValue) as refused:
            decide()
        assert (refused.value.field, refused.value.rule) == ("members[0].name", "text_surrogate")


def test_an_imported_roster_logs_the_domain_paths_events(services: Services) -> None:
    """Imported through the fast lane, the log holds, in order, the same events (topics, ids,
    versions, fields) that the aggregates produce, and every case loads from it."""
    roster = roster_csv(60, seed=8)
    report = import_households(services, io.StringIO(roster), "import")
    assert (report.households, report.errors) == (60, [])
    expected = [e for rows in households(roster) for e in domain_events(rows, services.person_key)]
    logged = [services.app.mapper.to_domain_event(n)
              for n in services.read_notifications(1, 10_000)]  # fmt: skip
    assert report.events == len(logged) == len(expected)
    for ours, theirs in zip(logged, expected, strict=True):
        assert type(ours) is type(theirs)
        assert (ours.originator_id, ours.originator_version) == (
            theirs.originator_id, theirs.originator_version,
        )  # fmt: skip
        assert fields_of(ours) == fields_of(theirs)
    timestamps = [event.timestamp for event in logged]
    assert timestamps == sorted(timestamps)
    rows = households(roster)[0]
    loaded = services.app.repository.get(decide_household(rows, "import", str).case_id)
    built = build_household(rows, "import")
    assert (loaded.members, loaded.payee, loaded.status, loaded.income) == (
        built.members, built.payee, built.status, built.income,
    )  # fmt: skip


def test_a_person_in_two_households_of_one_roster_goes_the_careful_way(
    services: Services,
) -> None:
    """The second household naming an already imported person is refused on the enrolment
    guard, as through the API; the households around it are recorded."""
    report = import_households(services, io.StringIO(head_named_again(3, 9, 2)), "import")
    assert report.households == 2
    assert len(report.errors) == 1 and "already in another open household case" in report.errors[0]


def test_a_person_named_again_in_a_later_batch_is_refused_and_the_rest_recorded(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of three households: household 8 names household 1's head. Its batch collides on
    the head's enrolment and is recorded household by household: 8 is refused as through the
    API, the other nine households are recorded once each."""
    monkeypatch.setattr("ops.services.importer.BATCH_HOUSEHOLDS", 3)
    report = import_households(services, io.StringIO(head_named_again(10, 11, 7)), "import")
    assert (report.households, len(report.errors)) == (9, 1)
    assert "already in another open household case" in report.errors[0]
    services.fresh()
    total = services.case_state.count(scope_prefix="42")
    assert total == 9


@pytest.mark.parametrize("column", ["id_number", "start_month", "programme"])
def test_a_bad_row_is_reported_and_the_rest_recorded(services: Services, column: str) -> None:
    lines = list(csv.DictReader(io.StringIO(roster_csv(4, seed=10))))
    lines[0][column] = "bad"
    report = import_households(services, io.StringIO(roster_of(lines)), "import")
    assert report.households == 3 and len(report.errors) == 1


def test_worker_processes_record_what_one_process_records(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes decide and encode while this one records, batches of four: the log holds
    the domain path's events in roster order, the bad row and the person named again are
    refused with the same reports, as by one process."""
    monkeypatch.setattr("ops.services.importer.BATCH_HOUSEHOLDS", 4)
    lines = list(csv.DictReader(io.StringIO(head_named_again(12, 13, 9))))
    refs = sorted({line["household_ref"] for line in lines})
    next(line for line in lines if line["household_ref"] == refs[5])["start_month"] = "bad"
    roster = roster_of(lines)
    report = import_households(services, io.StringIO(roster), "import", workers=2)
    assert report.households == 10 and len(report.errors) == 2
    assert report.errors[0].startswith(f"household {refs[5]}:")
    assert "already in another open household case" in report.errors[1]
    recorded = [rows for rows in households(roster) if rows[0]["household_ref"] not in (refs[5], refs[9])]  # fmt: skip
    expected = [e for rows in recorded for e in domain_events(rows, services.person_key)]
    logged = [services.app.mapper.to_domain_event(n)
              for n in services.read_notifications(1, 10_000)]  # fmt: skip
    assert report.events == len(logged) == len(expected)
    for ours, theirs in zip(logged, expected, strict=True):
        assert (type(ours), ours.originator_id, ours.originator_version) == (
            type(theirs), theirs.originator_id, theirs.originator_version,
        )  # fmt: skip
        assert fields_of(ours) == fields_of(theirs)


def test_a_large_import_leaves_the_log_analysed(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import of many events refreshes the log's planner statistics on PostgreSQL (so that
    an aggregate's few events are not planned as a table scan); a small one does not."""
    if services.db.is_sqlite:
        pytest.skip("PostgreSQL's planner statistics")
    table = services.app.recorder.events_table_name  # type: ignore[attr-defined]

    def analysed() -> bool:
        with services.db.transaction() as cur:
            row = cur.execute(
                "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (table,)
            ).fetchone()
        return row is not None and float(row["reltuples"]) > 0

    import_households(services, io.StringIO(roster_csv(5, seed=3)), "import")
    assert not analysed()
    monkeypatch.setattr(importer, "ANALYZED_AFTER", 10)
    import_households(services, io.StringIO(roster_csv(5, seed=4)), "import")
    assert analysed()
