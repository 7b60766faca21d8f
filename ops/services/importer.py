"""Bulk import of an existing roster (the migration path for a county moving onto doudi).

The CSV has one row per person, grouped by household (rows of one household are consecutive):

    household_ref, region_code, programme, id_number, name, relation, method, tier_code,
    start_month, household_income_fen, payee_account, payee_name, approved_on, document_ref

and optionally ``decided_on`` and ``document_date``: the day the approval was taken and its
document's date, when they differ from ``approved_on`` (kept on the approval as the API keeps
them, without the API's one-year bound: a migration brings years of decisions). Months the
county's previous system paid come in with ``doudi import history`` (``ops.services.history``).

Each household becomes the same events the API would record — applied, economic check,
approved — plus the enrolment guard of each member. Case ids are derived from
(region_code, household_ref), so importing the same file again records nothing new.

New households take the fast lane: the domain's decision functions validate and return each
event's fields, ``ledger.store.bulk`` encodes the stored events directly, and 200 households are
recorded per insert through the library's recorder (one transaction). A batch that collides
with existing records (a case imported before, a person already enrolled) is retried household
by household through the aggregates, so one bad row never blocks the rest. With
``workers`` > 1, worker processes decide and encode while this process records the batches in
roster order (``_decided_in_processes``): the same log and report as one process.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from typing import Any, TextIO
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, StoredEvent

from domain.csv_input import csv_records
from domain.enrolment import PersonEnrolment, enrolment_name
from domain.errors import DomainError, InvalidValue
from domain.household import (
    HouseholdCase,
    application_fields,
    approval_fields,
    economic_check_fields,
)
from ledger.store.bulk import StoredEventEncoder
from ledger.store.ids import name_uuid
from ledger.store.runtime import tune_gc, worker_pool
from ledger.store.settings import Settings
from ops.services.cases import enrol
from ops.services.core import Services

COLUMNS = (
    "household_ref",
    "region_code",
    "programme",
    "id_number",
    "name",
    "relation",
    "method",
    "tier_code",
    "start_month",
    "household_income_fen",
    "payee_account",
    "payee_name",
    "approved_on",
    "document_ref",
)
OPTIONAL_COLUMNS = ("decided_on", "document_date")
BATCH_HOUSEHOLDS = 200
_FEN = re.compile(r"[0-9]{1,16}")


@dataclass
class ImportReport:
    households: int = 0
    skipped_existing: int = 0
    events: int = 0
    errors: list[str] = field(default_factory=list)


def imported_case_id(region_code: str, household_ref: str) -> UUID:
    return name_uuid(f"doudi:import:{region_code}:{household_ref}")


def read_households(stream: TextIO) -> Iterator[list[dict[str, str]]]:
    """The roster's households, each its consecutive rows; every cell passes the text rule, and
    a problem with the file itself is an ``InvalidValue`` naming its line (``domain.csv_input``)."""
    _header, records = csv_records(stream, COLUMNS, field="roster")
    names = COLUMNS + OPTIONAL_COLUMNS
    rows = ({name: row.get(name, "") for name in names} for _line, row in records)
    for _ref, group in groupby(rows, key=lambda row: (row["region_code"], row["household_ref"])):
        yield list(group)


def household_decisions(rows: list[dict[str, str]], actor: str) -> dict[str, dict[str, Any]]:
    """A roster household's decisions as the keyword arguments of the case's methods."""
    head = rows[0]
    meta = {
        "effective_date": head["approved_on"],
        "actor": actor,
        "document_ref": head["document_ref"],
    }
    members = [
        {"id_number": r["id_number"], "name": r["name"], "relation": r["relation"] or "member"}
        for r in rows
    ]
    return {
        "apply": {"region_code": head["region_code"], "programme": head["programme"],
                  "members": members, "address": "", **meta},
        "check": {"income": {"household_income_fen": _fen(head["household_income_fen"])}, **meta},
        "approve": {"method": head["method"], "tier_code": head["tier_code"] or None,
                    "start_month": head["start_month"], "payee_account": head["payee_account"],
                    "payee_name": head["payee_name"], "single_person_id_number": None,
                    "annual_review_due": None, "programme": None, **meta,
                    "decided_on": head.get("decided_on") or None,
                    "document_date": head.get("document_date") or None},
    }  # fmt: skip


def _fen(cell: str) -> int:
    """A whole number of fen written in ASCII digits (``int()`` also reads ``１００`` and ``1_0``)."""
    if not cell:
        return 0
    if not _FEN.fullmatch(cell):
        raise InvalidValue(
            "household_income_fen must be whole fen in ASCII digits",
            field="household_income_fen",
            rule="integer_fen",
        )
    return int(cell)


def build_household(rows: list[dict[str, str]], actor: str) -> HouseholdCase:
    """The case, decided by the same domain methods the API calls."""
    head, decided = rows[0], household_decisions(rows, actor)
    case = HouseholdCase.apply(
        case_id=imported_case_id(head["region_code"], head["household_ref"]), **decided["apply"]
    )
    case.record_economic_check(**decided["check"])
    case.approve(**decided["approve"])
    return case


@dataclass
class NewHousehold:
    """A household decided by the domain's decision functions, its events not yet built: the
    fields of Applied, EconomicCheckRecorded and Approved, and its members' person keys."""

    rows: list[dict[str, str]]
    actor: str
    case_id: UUID
    applied: dict[str, Any]
    checked: dict[str, Any]
    approved: dict[str, Any]
    person_keys: list[str]
    # Encoded already (by a worker process of a parallel import); the fields are then not kept.
    encoded: list[StoredEvent] | None = None

    def stored_events(self, encoder: StoredEventEncoder) -> list[StoredEvent]:
        if self.encoded is not None:
            return self.encoded
        case, now = HouseholdCase, datetime.now(tz=UTC)  # recorded together: one timestamp
        # A migrated caseload's decisions were taken outside doudi: they name no person
        # (``staff_id`` empty), as ``build_household``'s do, and conflict with no later step.
        unnamed = {"staff_id": ""}
        events = [
            encoder.encode(case.Applied, self.case_id, 1, self.applied | unnamed, now),
            encoder.encode(
                case.EconomicCheckRecorded, self.case_id, 2, self.checked | unnamed, now
            ),
            encoder.encode(case.Approved, self.case_id, 3, self.approved | unnamed, now),
        ]
        case_id = str(self.case_id)
        events += [
            encoder.encode(PersonEnrolment.Registered, name_uuid(enrolment_name(key)), 1,
                           {"person_key": key, "kind": "household", "case_id": case_id}, now)
            for key in self.person_keys
        ]  # fmt: skip
        return events


def decide_household(
    rows: list[dict[str, str]], actor: str, person_key: Callable[[str], str]
) -> NewHousehold:
    """What ``build_household`` decides for a new case, through the same decision functions
    (``domain.household``), without the aggregate: the importer's fast lane."""
    head, decided = rows[0], household_decisions(rows, actor)
    applied = application_fields(**decided["apply"])
    ids = [member["id_number"] for member in applied["members"]]
    applied_on = applied["effective_date"]
    approved = approval_fields(
        applied_programme=applied["programme"], member_ids=set(ids), **decided["approve"],
        applied_on=applied_on,
    )  # fmt: skip
    return NewHousehold(
        rows=rows,
        actor=actor,
        case_id=imported_case_id(head["region_code"], head["household_ref"]),
        applied=applied,
        checked=economic_check_fields(**decided["check"], applied_on=applied_on),
        approved=approved,
        person_keys=[person_key(id_number) for id_number in ids],
    )


class _Batch:
    """New households recorded together in one insert. A person named twice within the batch
    forces it out first, so the later household goes the careful way (loading that person's
    record through the domain path). A person named again in a later batch needs no memory of
    earlier ones (which at a province's scale would hold millions of keys): that batch's insert
    collides on the person's enrolment record and goes household by household the same way.

    One batch is inserted by a writer thread while the next is decided and encoded: psycopg
    waits for the server without the GIL, so the database's work overlaps Python's. A batch is
    handed over only after the one before it has been recorded (or retried one by one), so the
    log's order is the roster's order either way."""

    def __init__(
        self, services: Services, report: ImportReport, progress: Callable[[int], None] | None
    ):
        self.services, self.report, self.progress = services, report, progress
        self.encoder = StoredEventEncoder(services.app)
        self.households: list[NewHousehold] = []
        self.seen: set[str] = set()
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-writer")
        self.in_flight: tuple[Future[Any], list[NewHousehold], int] | None = None

    def add(self, household: NewHousehold) -> None:
        if any(key in self.seen for key in household.person_keys):
            self.flush()
            self.drain()
            _save_one(self.services, household, self.report)
            return
        self.seen.update(household.person_keys)
        self.households.append(household)
        if len(self.households) >= BATCH_HOUSEHOLDS:
            self.flush()

    def flush(self) -> None:
        """Encode the batch and hand it to the writer once the batch before it is recorded."""
        if not self.households:
            return
        households, self.households = self.households, []
        stored = [e for household in households for e in household.stored_events(self.encoder)]
        self.drain()
        # The library's own recorder (its transaction, table lock and notification ids): only
        # the building of the events is bypassed, not how they are recorded.
        future = self.writer.submit(self.services.app.recorder.insert_events, stored)
        self.in_flight = (future, households, len(stored))
        self.seen = set()

    def drain(self) -> None:
        """Wait for the batch being inserted; if it collided, record it one by one."""
        if self.in_flight is None:
            return
        future, households, events = self.in_flight
        self.in_flight = None
        try:
            future.result()
            self.report.households += len(households)
            self.report.events += events
        except IntegrityError:
            # Some case or person is already recorded: nothing of the batch was; go one by one.
            for household in households:
                _save_one(self.services, household, self.report)
        if self.progress is not None:
            self.progress(len(households))

    def finish(self) -> None:
        self.flush()
        self.drain()


# Events an import records before it refreshes the log's planner statistics.
ANALYZED_AFTER = 100_000


def import_households(
    services: Services,
    stream: TextIO,
    actor: str,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> ImportReport:
    """Import a roster. With ``workers`` > 1, that many processes decide and encode the
    households (the CPU-bound part), a batch at a time, while this process records the batches
    in roster order exactly as it would have: the log, the reports and which of two households
    naming one person is refused are the same whatever the number of workers."""
    report = ImportReport()
    batch = _Batch(services, report, progress)
    households = read_households(stream)
    try:
        decided = (
            _decided_in_processes(services.settings, households, actor, workers)
            if workers > 1
            else (_decided(rows, actor, services.person_key) for rows in households)
        )
        for household in decided:
            if isinstance(household, str):
                report.errors.append(household)
            else:
                batch.add(household)
        batch.finish()
    finally:
        batch.writer.shutdown(wait=True)  # after an error: the insert under way ends first
    if report.events >= ANALYZED_AFTER and not services.db.is_sqlite:
        # After a bulk load the planner needs the log's statistics (as the PostgreSQL manual
        # advises): with none it plans an aggregate's few events as a parallel table scan.
        with services.db.transaction() as cur:
            cur.execute(f"ANALYZE {services.app.recorder.events_table_name}")
    return report


def _decided(
    rows: list[dict[str, str]], actor: str, person_key: Callable[[str], str]
) -> NewHousehold | str:
    """The household decided, or why it was refused."""
    try:
        return decide_household(rows, actor, person_key)
    except (DomainError, ValueError, KeyError) as error:
        return f"household {rows[0].get('household_ref')}: {error}"


# What a worker sends back for a household: why it was refused, or its case id, its members'
# person keys and its stored events as plain tuples (originator id, version, topic, state).
# UUIDs travel as objects: in the importing process, building them from bytes or deriving case
# ids again would cost more than unpickling them.
Encoded = str | tuple[UUID, list[str], list[tuple[UUID, int, str, bytes]]]


def _decided_in_processes(
    settings: Settings, households: Iterator[list[dict[str, str]]], actor: str, workers: int
) -> Iterator[NewHousehold | str]:
    """Households decided and encoded by worker processes, in roster order; at most two
    batches per worker are under way (bounded memory whatever the roster's size)."""
    with worker_pool(workers, _start_worker, (settings,)) as pool:
        under_way: deque[tuple[list[list[dict[str, str]]], Future[list[Encoded]]]] = deque()

        def submit(group: list[list[dict[str, str]]]) -> None:
            under_way.append((group, pool.submit(_decide_group, group, actor)))

        def collect() -> Iterator[NewHousehold | str]:
            group, future = under_way.popleft()
            for rows, encoded in zip(group, future.result(), strict=True):
                yield encoded if isinstance(encoded, str) else _received(rows, actor, encoded)

        group: list[list[dict[str, str]]] = []
        for rows in households:
            group.append(rows)
            if len(group) == BATCH_HOUSEHOLDS:
                submit(group)
                group = []
                if len(under_way) >= 2 * workers:
                    yield from collect()
        if group:
            submit(group)
        while under_way:
            yield from collect()


def _received(
    rows: list[dict[str, str]], actor: str, encoded: tuple[UUID, list[str], list[Any]]
) -> NewHousehold:
    case_id, keys, events = encoded
    return NewHousehold(
        rows=rows, actor=actor, case_id=case_id, applied={}, checked={}, approved={},
        person_keys=keys, encoded=[StoredEvent(*event) for event in events],
    )  # fmt: skip


_worker: tuple[Callable[[str], str], StoredEventEncoder] | None = None


def _start_worker(settings: Settings) -> None:
    global _worker
    tune_gc()
    services = Services(settings)  # the deployment's keys, cipher and compressor
    _worker = (services.person_key, StoredEventEncoder(services.app))


def _decide_group(group: list[list[dict[str, str]]], actor: str) -> list[Encoded]:
    assert _worker is not None, "started by _start_worker"
    person_key, encoder = _worker
    out: list[Encoded] = []
    for rows in group:
        household = _decided(rows, actor, person_key)
        if isinstance(household, str):
            out.append(household)
            continue
        events = household.stored_events(encoder)
        out.append((household.case_id, household.person_keys, [
            (e.originator_id, e.originator_version, e.topic, e.state) for e in events
        ]))  # fmt: skip
    return out


def _save_one(services: Services, household: NewHousehold, report: ImportReport) -> None:
    """Save one household the careful way, through the aggregate: skip it if imported before,
    else enrol its members with their records loaded (a person may already be enrolled)."""
    case = build_household(household.rows, household.actor)
    try:
        services.app.repository.get(case.id)
        report.skipped_existing += 1
        return
    except AggregateNotFoundError:
        pass
    try:
        fresh: list[Any] = [case, *enrol(services, list(case.members), "household", str(case.id))]
        events = sum(len(a._pending_events) for a in fresh)
        services.app.save(*fresh)
        report.households += 1
        report.events += events
    except (DomainError, IntegrityError) as error:
        report.errors.append(f"household {case.id}: {error}")
