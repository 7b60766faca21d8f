"""Audit trail view: events by subject, in log order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from domain.household import HouseholdCase
from domain.policy import RegionPolicy
from domain.registry import RegistryRecord
from domain.roll import PaymentRoll
from domain.tekun import TekunApplication, TekunPerson
from domain.temporary import TemporaryGrant
from ledger.journal import JournalTransaction, LedgerYear
from ledger.store.db import Cursor, Database
from projections.audit_trail.projection import AuditTrailProjection
from projections.runner import View, aggregate_topic, utc_text


def parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


DDL = (
    """CREATE TABLE IF NOT EXISTS audit_events (
        position BIGINT PRIMARY KEY, originator_id TEXT NOT NULL, originator_version INTEGER NOT NULL,
        event_type TEXT NOT NULL, region_code TEXT, effective_date TEXT, recorded_at TEXT NOT NULL,
        actor TEXT NOT NULL, document_ref TEXT, details TEXT NOT NULL, prepared_by TEXT,
        checked_by TEXT, approved_by TEXT)""",
    """CREATE TABLE IF NOT EXISTS audit_subjects (
        subject_kind TEXT NOT NULL, subject_id TEXT NOT NULL, position BIGINT NOT NULL,
        PRIMARY KEY (subject_kind, subject_id, position))""",
    # Known-at reads find the log position of a time through it (``last_recorded_by``).
    "CREATE INDEX IF NOT EXISTS audit_events_recorded ON audit_events (recorded_at)",
)


EVENT_FIELDS = (
    "position", "originator_id", "originator_version", "event_type", "region_code",
    "effective_date", "recorded_at", "actor", "document_ref", "details", "prepared_by",
    "checked_by", "approved_by",
)  # fmt: skip


SUBJECT_FIELDS = ("subject_kind", "subject_id", "position")


class AuditTrailView(View):
    name = "audit_trail"
    # Bumped whenever what the tables hold changes: the view is then rebuilt from the log.
    version = 6
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
            TekunApplication,
            LedgerYear,
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

    def last_recorded_by(self, moment: str, window_s: int) -> int:
        """The highest log position of an audited event recorded at or before ``moment`` (UTC
        text), 0 if none. Recorded times follow log positions except among decisions saved at
        once, which wait on each other for seconds at most: the positions of the events
        recorded in the ``window_s`` seconds before the last one by ``moment`` are compared,
        along the index, instead of every event's before it."""
        with self.db.transaction() as cur:
            last = cur.execute(
                "SELECT MAX(recorded_at) AS at FROM audit_events WHERE recorded_at <= %s", (moment,)
            ).fetchone()
            if last is None or last["at"] is None:
                return 0
            since = utc_text(parse_utc(last["at"]) - timedelta(seconds=window_s))
            found = cur.execute(
                "SELECT MAX(position) AS position FROM audit_events"
                " WHERE recorded_at >= %s AND recorded_at <= %s",
                (since, moment),
            ).fetchone()
        return int(found["position"]) if found and found["position"] is not None else 0

    def recorded_after(
        self, originator_ids: Sequence[str], position: int, limit: int = 500
    ) -> list[dict[str, Any]]:
        """The events of these records (a page of cases) recorded after log position
        ``position``, in log order: what makes the page as known now differ from then."""
        if not originator_ids:
            return []
        marks = ", ".join(["%s"] * len(originator_ids))
        with self.db.transaction() as cur:
            return cur.execute(
                "SELECT position, originator_id, originator_version, event_type, effective_date,"
                f" recorded_at, document_ref FROM audit_events WHERE originator_id IN ({marks})"
                " AND position > %s ORDER BY position LIMIT %s",
                [*originator_ids, position, limit],
            ).fetchall()

    def for_subject(
        self,
        kind: str,
        subject_id: str,
        *,
        as_of: str | None = None,
        period: tuple[str, str] | None = None,
        limit: int | None = None,
        after: int | None = None,
    ) -> list[dict[str, Any]]:
        """Every event about one subject in log order, optionally only those recorded by ``as_of``
        and, with an audit ``period``, those effective in it (recorded in it, if undated); with
        ``limit``, at most that many after log position ``after`` (a range of the subject's key)."""
        sql = (
            "SELECT e.position, e.originator_id, e.originator_version, e.event_type, e.region_code,"
            " e.effective_date, e.recorded_at, e.actor, e.document_ref, e.details, e.prepared_by,"
            " e.checked_by, e.approved_by FROM audit_subjects s"
            " JOIN audit_events e ON e.position = s.position WHERE s.subject_kind = %s AND s.subject_id = %s"
        )
        params: list[Any] = [kind, subject_id]
        if as_of is not None:
            sql += " AND e.recorded_at <= %s"
            params.append(as_of)
        if period is not None:
            sql += " AND COALESCE(e.effective_date, SUBSTR(e.recorded_at, 1, 10)) BETWEEN %s AND %s"
            params += list(period)
        if after is not None:
            sql += " AND s.position > %s"
            params.append(after)
        sql += " ORDER BY s.position"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        with self.db.transaction() as cur:
            rows = cur.execute(sql, params).fetchall()
        return [decision_dates_shown(row) for row in rows]

    def recusal_review(
        self, scope_prefix: str, *, as_of: str, period: tuple[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Decisions an official took on a case (or grant, or 特困 application) of a person
        later registered as their relative (近亲属备案): each step the official prepared,
        checked or approved before the registration, with the record that registered it — the
        list the relatives' registry asks to review. Cases in the scope (by the region of the
        event naming the person), recorded by ``as_of``, effective in ``period`` if given."""
        sql = (
            "SELECT DISTINCT r.record_id, r.official_staff_id, r.recorded_at AS registered_at,"
            " e.position, e.originator_id, e.event_type, e.effective_date, e.recorded_at,"
            " e.prepared_by, e.checked_by, e.approved_by, e.document_ref"
            " FROM registry_records r"
            " JOIN audit_subjects sp ON sp.subject_kind = 'person' AND sp.subject_id = r.person_key"
            " JOIN audit_events ep ON ep.position = sp.position"
            " JOIN audit_subjects sc ON sc.subject_kind IN ('case', 'grant', 'application')"
            " AND sc.subject_id = ep.originator_id"
            " JOIN audit_events e ON e.position = sc.position"
            " WHERE r.kind = 'cadre_relative' AND e.position < r.position"
            " AND r.official_staff_id IN (e.prepared_by, e.checked_by, e.approved_by)"
            " AND ep.region_code LIKE %s AND e.recorded_at <= %s AND r.recorded_at <= %s"
        )
        params: list[Any] = [f"{scope_prefix}%", as_of, as_of]
        if period is not None:
            sql += " AND COALESCE(e.effective_date, SUBSTR(e.recorded_at, 1, 10)) BETWEEN %s AND %s"
            params += list(period)
        with self.db.transaction() as cur:
            return cur.execute(sql + " ORDER BY e.position, r.record_id", params).fetchall()


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
