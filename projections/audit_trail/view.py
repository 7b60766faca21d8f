"""Audit trail view: events by subject, in log order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from domain.household import HouseholdCase
from domain.policy import RegionPolicy
from domain.registry import RegistryRecord
from domain.roll import PaymentRoll
from domain.tekun import TekunPerson
from domain.temporary import TemporaryGrant
from ledger.journal import JournalTransaction
from ledger.store.db import Cursor, Database
from projections.audit_trail.projection import AuditTrailProjection
from projections.runner import View, aggregate_topic

DDL = (
    """CREATE TABLE IF NOT EXISTS audit_events (
        position BIGINT PRIMARY KEY, originator_id TEXT NOT NULL, originator_version INTEGER NOT NULL,
        event_type TEXT NOT NULL, region_code TEXT, effective_date TEXT, recorded_at TEXT NOT NULL,
        actor TEXT NOT NULL, document_ref TEXT, details TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS audit_subjects (
        subject_kind TEXT NOT NULL, subject_id TEXT NOT NULL, position BIGINT NOT NULL,
        PRIMARY KEY (subject_kind, subject_id, position))""",
)


EVENT_FIELDS = (
    "position", "originator_id", "originator_version", "event_type", "region_code",
    "effective_date", "recorded_at", "actor", "document_ref", "details",
)  # fmt: skip


SUBJECT_FIELDS = ("subject_kind", "subject_id", "position")


class AuditTrailView(View):
    name = "audit_trail"
    # Bumped whenever what the tables hold changes: the view is then rebuilt from the log.
    version = 5
    tables = ("audit_events", "audit_subjects")
    topics = tuple(
        aggregate_topic(c)
        for c in (
            HouseholdCase,
            TekunPerson,
            RegionPolicy,
            RegistryRecord,
            TemporaryGrant,
            PaymentRoll,
            JournalTransaction,
        )
    )

    shardable = True  # a row per event, keyed by its position

    def __init__(self, db: Database, person_key: Callable[[str], str]) -> None:
        self.db = db
        self.projection = AuditTrailProjection(person_key)

    def create(self, cur: Cursor) -> None:
        for statement in DDL:
            cur.execute(statement)

    def process(self, cur: Cursor, position: int, event: Any) -> None:
        self.process_batch(cur, [(position, event)])

    def process_batch(self, cur: Cursor, batch: Sequence[tuple[int, Any]]) -> None:
        events, subjects = [], []
        for position, event in batch:
            row, about = self.projection.rows(position, event)
            if row is not None:
                events.append(row)
                subjects += about
        cur.insert_many("audit_events", EVENT_FIELDS, events)
        # A person named twice in one event (a member who is also the single covered person)
        # is one subject row.
        cur.insert_many("audit_subjects", SUBJECT_FIELDS, list(dict.fromkeys(subjects)))

    def for_subject(
        self,
        kind: str,
        subject_id: str,
        *,
        as_of: str | None = None,
        period: tuple[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Every event about one subject in log order, optionally only those recorded by ``as_of``
        and, with an audit ``period``, those effective in it (recorded in it, if undated)."""
        sql = (
            "SELECT e.position, e.originator_id, e.originator_version, e.event_type, e.region_code,"
            " e.effective_date, e.recorded_at, e.actor, e.document_ref, e.details FROM audit_subjects s"
            " JOIN audit_events e ON e.position = s.position WHERE s.subject_kind = %s AND s.subject_id = %s"
        )
        params: list[Any] = [kind, subject_id]
        if as_of is not None:
            sql += " AND e.recorded_at <= %s"
            params.append(as_of)
        if period is not None:
            sql += " AND COALESCE(e.effective_date, SUBSTR(e.recorded_at, 1, 10)) BETWEEN %s AND %s"
            params += list(period)
        with self.db.transaction() as cur:
            rows = cur.execute(sql + " ORDER BY e.position", params).fetchall()
        return [decision_dates_shown(row) for row in rows]


def decision_dates_shown(row: dict[str, Any]) -> dict[str, Any]:
    """An audit row with the decision's own dates beside its recorded time: the day it was
    taken (``decided_on``) and its document's date (``document_date``), null where the event
    has none (recorded the day it was taken)."""
    details = orjson.loads(row["details"]) if row["details"] else {}
    if not isinstance(details, dict):
        details = {}
    row["decided_on"] = details.get("decided_on")
    row["document_date"] = details.get("document_date")
    return row
