"""Bulk import of an existing roster (the migration path for a county moving onto doudi).

The CSV has one row per person, grouped by household (rows of one household are consecutive):

    household_ref, region_code, programme, id_number, name, relation, method, tier_code,
    start_month, household_income_fen, payee_account, payee_name, approved_on, document_ref

Each household becomes the same events the API would record — applied, economic check,
approved — plus the enrolment guard of each member. Case ids are derived from
(region_code, household_ref), so importing the same file again records nothing new. Cases are
saved many per ``save()`` (one transaction); a batch that collides with existing records is
retried household by household so one bad row never blocks the rest.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any, TextIO
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain.enrolment import PersonEnrolment
from domain.errors import DomainError
from domain.household import HouseholdCase
from ops.services import Services

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
BATCH_HOUSEHOLDS = 200


@dataclass
class ImportReport:
    households: int = 0
    skipped_existing: int = 0
    events: int = 0
    errors: list[str] = field(default_factory=list)


def imported_case_id(region_code: str, household_ref: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"doudi:import:{region_code}:{household_ref}")


def read_households(stream: TextIO) -> Iterator[list[dict[str, str]]]:
    reader = csv.DictReader(stream)
    missing = set(COLUMNS) - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"CSV lacks columns: {sorted(missing)}")
    for _ref, rows in groupby(reader, key=lambda row: (row["region_code"], row["household_ref"])):
        yield list(rows)


def build_household(
    rows: list[dict[str, str]], actor: str, person_key: Callable[[str], str]
) -> list[Aggregate]:
    """The case and its members' new enrolments, decided by the same domain methods as the API."""
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
    case = HouseholdCase.apply(
        region_code=head["region_code"],
        programme=head["programme"],
        members=members,
        address="",
        case_id=imported_case_id(head["region_code"], head["household_ref"]),
        **meta,
    )
    case.record_economic_check(
        income={"household_income_fen": int(head["household_income_fen"] or 0)}, **meta
    )
    case.approve(
        method=head["method"],
        tier_code=head["tier_code"] or None,
        start_month=head["start_month"],
        payee_account=head["payee_account"],
        payee_name=head["payee_name"],
        single_person_id_number=None,
        annual_review_due=None,
        programme=None,
        **meta,
    )
    enrolments: list[Aggregate] = []
    for member_id in case.members:
        enrolment = PersonEnrolment(person_key=person_key(member_id))
        enrolment.enrol(kind="household", case_id=str(case.id))
        enrolments.append(enrolment)
    return [case, *enrolments]


def import_households(
    services: Services, stream: TextIO, actor: str, progress: Callable[[int], None] | None = None
) -> ImportReport:
    report = ImportReport()
    batch: list[list[Aggregate]] = []
    for rows in read_households(stream):
        try:
            batch.append(build_household(rows, actor, services.person_key))
        except (DomainError, ValueError, KeyError) as error:
            report.errors.append(f"household {rows[0].get('household_ref')}: {error}")
        if len(batch) >= BATCH_HOUSEHOLDS:
            _save_batch(services, batch, report, progress)
            batch = []
    if batch:
        _save_batch(services, batch, report, progress)
    return report


def _events(aggregates: Iterable[Aggregate]) -> int:
    return sum(len(a._pending_events) for a in aggregates)


def _save_batch(
    services: Services,
    batch: list[list[Aggregate]],
    report: ImportReport,
    progress: Callable[[int], None] | None,
) -> None:
    flat = [aggregate for household in batch for aggregate in household]
    events = _events(flat)
    try:
        services.app.save(*flat)
        report.households += len(batch)
        report.events += events
    except IntegrityError:
        for household in batch:
            _save_one(services, household, report)
    if progress is not None:
        progress(len(batch))


def _save_one(services: Services, household: list[Aggregate], report: ImportReport) -> None:
    """Save one household after a batch collided: skip it if imported before, else enrol properly."""
    case = household[0]
    try:
        services.app.repository.get(case.id)
        report.skipped_existing += 1
        return
    except AggregateNotFoundError:
        pass
    assert isinstance(case, HouseholdCase)
    try:
        enrolments = services._enrolments(list(case.members))
        for enrolment in enrolments.values():
            enrolment.enrol(kind="household", case_id=str(case.id))
        fresh: list[Any] = [case, *enrolments.values()]
        events = _events(fresh)
        services.app.save(*fresh)
        report.households += 1
        report.events += events
    except (DomainError, IntegrityError) as error:
        report.errors.append(f"case {case.id}: {error}")
