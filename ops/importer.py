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
from ops.services import Services, save_or_keep

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


def build_household(rows: list[dict[str, str]], actor: str) -> HouseholdCase:
    """The case, decided by the same domain methods the API calls."""
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
    return case


class _Batch:
    """Households saved together in one ``save()``; a person seen earlier in this run forces the
    batch out first, so the later household goes the careful way (loading that person's record)."""

    def __init__(
        self, services: Services, report: ImportReport, progress: Callable[[int], None] | None
    ):
        self.services, self.report, self.progress = services, report, progress
        self.cases: list[HouseholdCase] = []
        self.aggregates: list[Aggregate] = []
        self.seen: set[str] = set()

    def add(self, case: HouseholdCase) -> None:
        keys = [self.services.person_key(id_number) for id_number in case.members]
        if any(key in self.seen for key in keys):
            self.flush()
            _save_one(self.services, case, self.report)
            return
        self.seen.update(keys)
        self.cases.append(case)
        self.aggregates.append(case)
        self.aggregates += [
            PersonEnrolment(person_key=k, kind="household", case_id=str(case.id)) for k in keys
        ]
        if len(self.cases) >= BATCH_HOUSEHOLDS:
            self.flush()

    def flush(self) -> None:
        if not self.cases:
            return
        events = _events(self.aggregates)
        try:
            save_or_keep(self.services.app, *self.aggregates)
            self.report.households += len(self.cases)
            self.report.events += events
        except IntegrityError:
            for case in self.cases:
                _save_one(self.services, case, self.report)
        if self.progress is not None:
            self.progress(len(self.cases))
        self.cases, self.aggregates = [], []


def import_households(
    services: Services,
    stream: TextIO,
    actor: str,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    report = ImportReport()
    batch = _Batch(services, report, progress)
    for rows in read_households(stream):
        try:
            case = build_household(rows, actor)
        except (DomainError, ValueError, KeyError) as error:
            report.errors.append(f"household {rows[0].get('household_ref')}: {error}")
            continue
        batch.add(case)
    batch.flush()
    return report


def _events(aggregates: Iterable[Aggregate]) -> int:
    return sum(len(a._pending_events) for a in aggregates)


def _save_one(services: Services, case: HouseholdCase, report: ImportReport) -> None:
    """Save one household the careful way: skip it if imported before, else enrol with loads."""
    try:
        services.app.repository.get(case.id)
        report.skipped_existing += 1
        return
    except AggregateNotFoundError:
        pass
    try:
        fresh: list[Any] = [case, *services._enrol(list(case.members), "household", str(case.id))]
        events = _events(fresh)
        services.app.save(*fresh)
        report.households += 1
        report.events += events
    except (DomainError, IntegrityError) as error:
        report.errors.append(f"household {case.id}: {error}")
