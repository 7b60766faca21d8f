"""Misuse findings (SPEC §8), derived from the log: each finding's rule, region, the case,
person, grant or roll it names, its evidence (event references and amounts) and when it was
first detected (the log position and time of the event that made it fire).

The view keeps the few facts its rules read in tables of its own (cases and their members,
registry records, grants, the policy thresholds), so its findings depend on the log alone. The
one exception is what approved rolls paid: on a roll's approval (and again when its bank results
release failed lines) the view copies that roll's paid months from the rolls view, which the
runner applies before this one. A finding's id is derived from its rule and the records it
names (``domain.findings.finding_id``), so a rebuild gives the same findings with the same ids.
From empty on PostgreSQL, the log's leading bulk import is taken from the case-state and
audit-trail views instead (``seed.py``), with the same findings.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any
from uuid import UUID

from domain.dates import first_day
from domain.findings import (
    SEVERITY,
    Allocation,
    FindingReview,
    FindingStatus,
    Grant,
    Rule,
    above_standard,
    backdated_days,
    days_late,
    finding_id,
    held,
    hold_from,
    idle_from,
    monthly_ceiling_fen,
    months_paid_twice,
    paid_after,
    repeated_grants,
    roll_deadline,
    spend,
    split_grants,
)
from domain.household import HouseholdCase
from domain.identity import mask_account, mask_id_number
from domain.policy import (
    DEFAULT_THRESHOLDS,
    ApprovalLimits,
    MisuseThresholds,
    RegionPolicy,
    Standard,
)
from domain.programmes import HOUSEHOLD_PROGRAMMES
from domain.regions import policy_lookup_chain
from domain.registry import RegistryKind, RegistryRecord
from domain.roll import PaymentRoll
from domain.tekun import TekunPerson
from domain.temporary import TemporaryGrant
from ledger.journal import JournalTransaction
from ledger.store.db import Cursor, Database, chunks
from projections.keyset import after as keyset_after
from projections.keyset import prefix_range, split
from projections.runner import View, aggregate_topic, event_name, utc_text

# The order of the finding list: region (the scope is a range of it), then when found.
LIST_ORDER = ("region_code", "detected_position", "finding_id")
DDL = (
    """CREATE TABLE IF NOT EXISTS findings (
        finding_id TEXT PRIMARY KEY, rule TEXT NOT NULL, severity TEXT NOT NULL,
        region_code TEXT NOT NULL, status TEXT NOT NULL, case_id TEXT, person_key TEXT,
        id_masked TEXT, record_id TEXT, grant_id TEXT, roll_id TEXT, amount_fen BIGINT NOT NULL,
        dated TEXT NOT NULL, evidence TEXT NOT NULL, detected_position BIGINT NOT NULL,
        detected_at TEXT NOT NULL, updated_position BIGINT NOT NULL, staff_ids TEXT NOT NULL,
        outcome TEXT, reviewed_by TEXT, reviewed_at TEXT)""",
    "CREATE INDEX IF NOT EXISTS findings_region ON findings (region_code, rule, status)",
    "CREATE INDEX IF NOT EXISTS findings_case ON findings (case_id)",
    # The finding list's order (``LIST_ORDER``), unfiltered, by rule and by status.
    "CREATE INDEX IF NOT EXISTS findings_list ON findings (region_code, detected_position, finding_id)",
    "CREATE INDEX IF NOT EXISTS findings_list_rule"
    " ON findings (rule, region_code, detected_position, finding_id)",
    "CREATE INDEX IF NOT EXISTS findings_list_status"
    " ON findings (status, region_code, detected_position, finding_id)",
    """CREATE TABLE IF NOT EXISTS finding_steps (
        finding_id TEXT NOT NULL, position BIGINT NOT NULL, step TEXT NOT NULL, actor TEXT NOT NULL,
        staff_id TEXT NOT NULL, outcome TEXT, note TEXT NOT NULL, document_ref TEXT NOT NULL,
        recorded_at TEXT NOT NULL, PRIMARY KEY (finding_id, position))""",
    # The facts the rules read.
    """CREATE TABLE IF NOT EXISTS finding_cases (
        case_id TEXT PRIMARY KEY, kind TEXT NOT NULL, region_code TEXT NOT NULL,
        programme TEXT NOT NULL, status TEXT NOT NULL, end_date TEXT, end_ref TEXT,
        staff_ids TEXT NOT NULL, account_key TEXT, account_masked TEXT)""",
    "CREATE INDEX IF NOT EXISTS finding_cases_account ON finding_cases (account_key)",
    # The few terminated cases, probed for every case a roll pays (``CANDIDATES``).
    "CREATE INDEX IF NOT EXISTS finding_cases_ended ON finding_cases (case_id)"
    " WHERE status = 'terminated'",
    """CREATE TABLE IF NOT EXISTS finding_rolls (
        roll_id TEXT PRIMARY KEY, county_code TEXT NOT NULL, month TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS finding_members (
        case_id TEXT NOT NULL, person_key TEXT NOT NULL, id_masked TEXT NOT NULL,
        PRIMARY KEY (case_id, person_key))""",
    "CREATE INDEX IF NOT EXISTS finding_members_person ON finding_members (person_key)",
    # The cases that have shared a member with a case of the other kind (a household and a
    # 特困 case, as the two-cases check of an activation met them): the only cases the
    # dibao-and-特困 rule can fire on (``CANDIDATES``).
    "CREATE TABLE IF NOT EXISTS finding_crossed (case_id TEXT PRIMARY KEY)",
    """CREATE TABLE IF NOT EXISTS finding_records (
        record_id TEXT PRIMARY KEY, kind TEXT NOT NULL, person_key TEXT NOT NULL,
        region_code TEXT NOT NULL, effective_date TEXT NOT NULL, ref TEXT NOT NULL,
        dismissed INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS finding_records_person ON finding_records (person_key)",
    """CREATE TABLE IF NOT EXISTS finding_grants (
        grant_id TEXT PRIMARY KEY, person_key TEXT NOT NULL, id_masked TEXT NOT NULL,
        region_code TEXT NOT NULL, amount_fen BIGINT NOT NULL, requested_on TEXT NOT NULL,
        level TEXT, status TEXT NOT NULL, staff_ids TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS finding_grants_person ON finding_grants (person_key)",
    """CREATE TABLE IF NOT EXISTS finding_paid (
        case_id TEXT NOT NULL, month TEXT NOT NULL, roll_id TEXT NOT NULL,
        amount_fen BIGINT NOT NULL, ref TEXT NOT NULL, PRIMARY KEY (case_id, month, roll_id))""",
    # A roll's approval reads and checks its own paid months (a county's), never the province's.
    "CREATE INDEX IF NOT EXISTS finding_paid_roll ON finding_paid (roll_id)",
    # Money allocated to a county pool (拨付) and how much of it is still unspent, first in first
    # out; ``idle_from`` is the day it counts as idle if still unspent, ``idle`` whether it did.
    """CREATE TABLE IF NOT EXISTS finding_allocations (
        allocation_id TEXT PRIMARY KEY, account TEXT NOT NULL, county_code TEXT NOT NULL,
        posted_on TEXT NOT NULL, position BIGINT NOT NULL, amount_fen BIGINT NOT NULL,
        remaining_fen BIGINT NOT NULL, idle_from TEXT NOT NULL, ref TEXT NOT NULL,
        idle INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS finding_allocations_account ON finding_allocations (account, position)",
    """CREATE TABLE IF NOT EXISTS finding_policy (
        policy_id TEXT NOT NULL, region_code TEXT NOT NULL, kind TEXT NOT NULL,
        effective_date TEXT NOT NULL, position BIGINT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (policy_id, position))""",
)
FACT_TABLES = (
    "finding_cases", "finding_members", "finding_records", "finding_grants", "finding_paid",
    "finding_policy", "finding_rolls", "finding_allocations", "finding_crossed",
)  # fmt: skip
# A case in one of these states is paid (or may be): a registry hit on it is a finding.
ACTIVE = ("active", "suspended", "gradual_exit")
# A case in one of these states holds its members (the two-cases rule): a gradual exit (渐退)
# releases them once it is over, with no event saying so, so it is left out.
ENROLLED = ("active", "suspended")
# How to find, among the cases an approved roll paid (``finding_paid p``, by its roll index), those
# each payment rule may fire on. A roll pays thousands of cases and nearly none is a candidate,
# so none is probed per case paid: each query starts from the few that can be (the death
# records, the terminated cases by their partial index, the cases of ``finding_crossed``).
CANDIDATES = {
    "death": "SELECT DISTINCT p.case_id FROM finding_paid p JOIN finding_members m"
    " ON m.case_id = p.case_id JOIN finding_records r ON r.person_key = m.person_key"
    " AND r.kind = 'death' WHERE p.roll_id = %s ORDER BY p.case_id",
    "ended": "SELECT DISTINCT p.case_id FROM finding_paid p JOIN finding_cases c"
    " ON c.case_id = p.case_id AND c.status = 'terminated' WHERE p.roll_id = %s ORDER BY p.case_id",
    "twice": "SELECT x.case_id FROM finding_crossed x WHERE EXISTS (SELECT 1 FROM finding_paid p"
    " WHERE p.case_id = x.case_id AND p.roll_id = %s) ORDER BY x.case_id",
}
FINDING_COLUMNS = (
    "finding_id, rule, severity, region_code, status, case_id, id_masked, record_id, grant_id,"
    " roll_id, amount_fen, dated, evidence, detected_position, detected_at, outcome, reviewed_by,"
    " reviewed_at"
)
# Household decisions whose effective date the back-dating rule compares with the day they were
# recorded, when a person (a staff id) took them: a migrated caseload's decisions name no person
# and are back-dated by nature; 特困 decisions record no staff id yet.
DECISIONS = (
    HouseholdCase.Approved, HouseholdCase.Rejected, HouseholdCase.Terminated,
    HouseholdCase.IncomeReassessed,
)  # fmt: skip


HOUSEHOLD_EVENTS = (
    "Applied", "Approved", "Rejected", "MemberAdded", "MemberRemoved", "IncomeReassessed",
    "PayeeAccountChanged", "Suspended", "Resumed", "GradualExitStarted", "Terminated",
)  # fmt: skip
CASE_FIELDS = (
    "case_id", "kind", "region_code", "programme", "status", "end_date", "end_ref", "staff_ids",
    "account_key", "account_masked",
)  # fmt: skip
MEMBER_FIELDS = ("case_id", "person_key", "id_masked")


class Batch:
    """What one batch's transaction keeps in memory, so that the events of an import (a case
    applied, then approved) cost no statement each: the cases applied in the batch and their
    members, written in bulk before anything reads those tables (``FindingsView._flush``);
    the household cases paid to each account the batch's approvals name (read once per batch,
    kept up to date as the batch changes their status); and whether any registry record other
    than a death is known (if not, a case approved meets none)."""

    def __init__(self) -> None:
        self.cases: dict[str, dict[str, Any]] = {}
        self.members: dict[tuple[str, str], str] = {}  # (case, person key) → masked id
        self.by_key: dict[str, dict[str, str]] = {}  # account key → case id → status
        self.key_of: dict[str, str] = {}  # case id → its account key, for the cases above
        self.records = True
        # (region, kind, day) → the policy fact in force as ``FindingsView._fact`` found it:
        # a replay of an import asks the same county's thresholds for every decision.
        self.facts: dict[tuple[str, str, str], dict[str, Any] | None] = {}
        # (county, month) → the standards' ceilings ``FindingsView._ceilings`` found: a roll's
        # lines ask for the same few months (cleared with the facts).
        self.ceilings: dict[tuple[str, str], dict[str, int]] = {}
        # The cases that started being paid (or gained a member) since the last flush, in log
        # order: the two-cases rule checks them once they are written (``_two_cases``).
        self.activated: dict[str, tuple[int, str, str]] = {}  # case id → (position, time, ref)
        self.written: dict[str, list[tuple[str, str]]] = {}  # of those, new ones' members

    def set_status(self, case_id: str, status: str) -> None:
        key = self.key_of.get(case_id)
        if key is not None:
            self.by_key[key][case_id] = status


def _by_keys(cur: Cursor, select: str, column: str, keys: list[str]) -> list[dict[str, Any]]:
    """Rows of one table whose ``column`` is one of ``keys``: on PostgreSQL as one array
    parameter (no statement text of thousands of placeholders to build and parse), on SQLite
    in chunks of an IN list."""
    if not keys:
        return []
    if not cur.sqlite:
        return cur.execute(f"{select} WHERE {column} = ANY(%s)", (keys,)).fetchall()
    found: list[dict[str, Any]] = []
    for part in chunks(keys):
        marks = ", ".join(["%s"] * len(part))
        found += cur.execute(f"{select} WHERE {column} IN ({marks})", part).fetchall()
    return found


def _ref(event: Any, position: int) -> str:
    """An event reference as elsewhere in doudi: 'Class.Event#position'."""
    return f"{event_name(event)}#{position}"


class FindingsView(View):
    name = "findings"
    # Bumped whenever what the tables hold changes: the view is then rebuilt from the log.
    version = 4
    tables = ("findings", "finding_steps", *FACT_TABLES)
    topics = (
        # The case events the rules read, not every one (an import's economic checks are a
        # third of its events, and decoding is most of a catch-up's work).
        *(f"{aggregate_topic(HouseholdCase)}{name}" for name in HOUSEHOLD_EVENTS),
        f"{aggregate_topic(TekunPerson)}Approved",
        f"{aggregate_topic(TekunPerson)}Terminated",
        aggregate_topic(RegistryRecord),
        aggregate_topic(TemporaryGrant),
        aggregate_topic(RegionPolicy),
        aggregate_topic(FindingReview),
        # The roll's header only (opened, approved, sent, bank results), never its chunks.
        f"{aggregate_topic(PaymentRoll)}Opened",
        f"{aggregate_topic(PaymentRoll)}Approved",
        f"{aggregate_topic(PaymentRoll)}Sent",
        f"{aggregate_topic(PaymentRoll)}BankResultsImported",
        # Postings: money allocated to a county pool and money leaving it (滞留).
        f"{aggregate_topic(JournalTransaction)}Posted",
    )

    def __init__(
        self, db: Database, person_key: Callable[[str], str], seal: Callable[[str], str],
        events_of: Callable[[str, int], list[tuple[int, Any]]],
    ) -> None:  # fmt: skip
        """``seal`` keys bank accounts as the case-state view seals them (deterministic), so
        that a start from empty reads them there; ``events_of`` gives one record's events up
        to a log position (``projections.findings.seed``)."""
        self.db = db
        self.person_key = person_key
        self.seal = lru_cache(maxsize=16_384)(seal)  # a batch asks for each account twice
        self.events_of = events_of
        self._batch: Batch = Batch()

    def seed(self, cur: Cursor, positions: dict[str, int]) -> int:
        from projections.findings.seed import seed  # it reads this module's tables and rules

        return seed(self, cur, positions)

    def start_batch(self) -> None:
        self._batch = Batch()

    def create(self, cur: Cursor) -> None:
        for statement in DDL:
            cur.execute(statement)

    # --- events ----------------------------------------------------------------------------

    def process_batch(self, cur: Cursor, batch: Sequence[tuple[int, Any]]) -> None:
        self._batch = Batch()
        self._batch.records = (
            cur.execute(
                "SELECT 1 AS hit FROM finding_records WHERE kind <> %s LIMIT 1",
                (RegistryKind.DEATH.value,),
            ).fetchone()
            is not None
        )
        accounts = sorted({
            self.seal(event.payee["account_number"]) for _position, event in batch
            if isinstance(event, HouseholdCase.Approved | HouseholdCase.PayeeAccountChanged)
        })  # fmt: skip
        known = self._batch
        for row in _by_keys(cur, "SELECT case_id, kind, account_key, status FROM finding_cases",
                            "account_key", accounts):  # fmt: skip
            if row["kind"] == "household":
                known.by_key.setdefault(row["account_key"], {})[row["case_id"]] = row["status"]
                known.key_of[row["case_id"]] = row["account_key"]
        for position, event in batch:
            self._apply(cur, position, event)
        self._flush(cur)

    def _flush(self, cur: Cursor) -> None:
        """Write the cases and members the batch applied so far (before a statement reads them)."""
        batch = self._batch
        if batch.cases:
            rows = [tuple(case[f] for f in CASE_FIELDS) for case in batch.cases.values()]
            cur.insert_many("finding_cases", CASE_FIELDS, rows)
            batch.cases.clear()
        if batch.members:
            rows = [(case, person, masked) for (case, person), masked in batch.members.items()]
            cur.insert_many("finding_members", MEMBER_FIELDS, rows)
            batch.members.clear()
            for case, person, masked in rows:  # a new case's members, all of them
                if case in batch.activated:
                    batch.written.setdefault(case, []).append((person, masked))
        if batch.activated:
            self._two_cases(cur)

    def process(self, cur: Cursor, position: int, event: Any) -> None:
        self.process_batch(cur, [(position, event)])

    def _apply(self, cur: Cursor, position: int, event: Any) -> None:
        """Apply one event of the batch ``process_batch`` set up."""
        at = (position, utc_text(event.timestamp))
        if not isinstance(event, HouseholdCase.Applied | HouseholdCase.Approved):
            self._flush(cur)
        if isinstance(event, DECISIONS) and getattr(event, "staff_id", ""):
            self._backdated(cur, event, at)
        if isinstance(event, HouseholdCase.Event | TekunPerson.Event):
            self._apply_case(cur, event, at)
        else:
            self._apply_other(cur, event, at)

    def _apply_case(self, cur: Cursor, event: Any, at: tuple[int, str]) -> None:
        """A household's or 特困 person's event: the case's facts, and the checks it triggers."""
        match event:
            case HouseholdCase.Applied():
                self._applied(event)
            case TekunPerson.Approved():
                self._case(cur, event, "tekun", "tekun", [event.person], status="active")
                self._case_checks(cur, str(event.originator_id), at)
                self._activated(cur, event, at, flush=True)
            case HouseholdCase.Approved():
                self._status(cur, event, "active", programme=event.programme)
                self._activated(cur, event, at, flush=False)
                if self._batch.records:  # else no registry record to meet
                    self._flush(cur)
                    self._case_checks(cur, str(event.originator_id), at)
                self._account(cur, event, at)
            case HouseholdCase.PayeeAccountChanged():
                self._account(cur, event, at)
            case HouseholdCase.Resumed():
                self._status(cur, event, "active")
                self._activated(cur, event, at, flush=True)
            case HouseholdCase.Suspended():
                self._status(cur, event, "suspended")
            case HouseholdCase.GradualExitStarted():
                self._status(cur, event, "gradual_exit")
            case HouseholdCase.Rejected():
                self._status(cur, event, "rejected")
            case HouseholdCase.Terminated() | TekunPerson.Terminated():
                self._batch.set_status(str(event.originator_id), "terminated")
                cur.execute(
                    "UPDATE finding_cases SET status = 'terminated', end_date = %s, end_ref = %s"
                    " WHERE case_id = %s",
                    (event.effective_date, _ref(event, at[0]), str(event.originator_id)),
                )
                self._paid_after_end(cur, str(event.originator_id), at)
            case HouseholdCase.MemberAdded():
                self._members(cur, str(event.originator_id), [event.member])
                self._case_checks(cur, str(event.originator_id), at)
                self._activated(cur, event, at, flush=True)
            case HouseholdCase.MemberRemoved():
                cur.execute(
                    "DELETE FROM finding_members WHERE case_id = %s AND person_key = %s",
                    (str(event.originator_id), self.person_key(event.id_number)),
                )

    def _apply_other(self, cur: Cursor, event: Any, at: tuple[int, str]) -> None:
        """A registry record's, grant's, roll's, policy fact's or review's event."""
        position = at[0]
        match event:
            case RegistryRecord.Recorded():
                self._batch.records = self._batch.records or event.kind != RegistryKind.DEATH
                self._record(cur, event, at)
            case RegistryRecord.Dismissed():
                cur.execute(
                    "UPDATE finding_records SET dismissed = 1 WHERE record_id = %s",
                    (str(event.originator_id),),
                )
            case TemporaryGrant.Requested():
                cur.execute(
                    "INSERT INTO finding_grants (grant_id, person_key, id_masked, region_code, amount_fen,"
                    " requested_on, level, status, staff_ids) VALUES (%s, %s, %s, %s, %s, %s, NULL, 'requested', %s)",
                    (str(event.originator_id), self.person_key(event.person["id_number"]),
                     mask_id_number(event.person["id_number"]), event.region_code, event.amount_fen,
                     event.effective_date, json.dumps([event.staff_id] if event.staff_id else [])),
                )  # fmt: skip
            case TemporaryGrant.Approved():
                cur.execute(
                    "UPDATE finding_grants SET status = 'approved', level = %s WHERE grant_id = %s",
                    (event.level, str(event.originator_id)),
                )
                self._grant_checks(cur, str(event.originator_id), event.paying_township, at)
                self._above_authority(cur, event, at)
            case PaymentRoll.Opened():
                cur.execute(
                    "INSERT INTO finding_rolls (roll_id, county_code, month) VALUES (%s, %s, %s)",
                    (str(event.originator_id), event.county_code, event.month),
                )
            case PaymentRoll.Sent():
                self._late_roll(cur, event, at)
            case PaymentRoll.Approved() | PaymentRoll.BankResultsImported():
                self._roll_paid(cur, str(event.originator_id), _ref(event, position), at)
            case RegionPolicy.Opened():
                cur.execute(
                    "INSERT INTO finding_policy (policy_id, region_code, kind, effective_date, position,"
                    " value) VALUES (%s, %s, 'region', '', %s, '{}')",
                    (str(event.originator_id), event.region_code, position),
                )
            case RegionPolicy.FactRecorded() if event.value_type in (
                ApprovalLimits,
                MisuseThresholds,
                Standard,
            ):
                value = json.dumps(event.value().payload(), sort_keys=True)
                self._batch.facts.clear()
                self._batch.ceilings.clear()
                cur.execute(
                    "INSERT INTO finding_policy (policy_id, region_code, kind, effective_date, position,"
                    " value) SELECT policy_id, region_code, %s, %s, %s, %s FROM finding_policy"
                    " WHERE policy_id = %s AND kind = 'region'",
                    (event.value_type.kind, event.effective_date, position, value,
                     str(event.originator_id)),
                )  # fmt: skip
            case FindingReview.Explained() | FindingReview.Confirmed():
                self._reviewed(cur, event, position)
            case JournalTransaction.Posted():
                self._posted(cur, event, at)

    def _case(
        self, cur: Cursor, event: Any, kind: str, programme: str, members: list[dict[str, Any]],
        status: str = "applied",
    ) -> None:  # fmt: skip
        staff = getattr(event, "staff_id", "") or ""
        cur.execute(
            "INSERT INTO finding_cases (case_id, kind, region_code, programme, status, end_date, end_ref,"
            " staff_ids) VALUES (%s, %s, %s, %s, %s, NULL, NULL, %s)",
            (str(event.originator_id), kind, event.region_code, programme, status,
             json.dumps([staff] if staff else [])),
        )  # fmt: skip
        self._members(cur, str(event.originator_id), members)

    def _applied(self, event: Any) -> None:
        """A household applied: kept in the batch until something reads the cases."""
        case_id, staff = str(event.originator_id), event.staff_id or ""
        self._batch.cases[case_id] = {
            "case_id": case_id, "kind": "household", "region_code": event.region_code,
            "programme": event.programme, "status": "applied", "end_date": None, "end_ref": None,
            "staff_ids": json.dumps([staff] if staff else []), "account_key": None,
            "account_masked": None,
        }  # fmt: skip
        for member in event.members:
            key = (case_id, self.person_key(member["id_number"]))
            self._batch.members[key] = mask_id_number(member["id_number"])

    def _members(self, cur: Cursor, case_id: str, members: list[dict[str, Any]]) -> None:
        cur.executemany(
            "INSERT INTO finding_members (case_id, person_key, id_masked) VALUES (%s, %s, %s)"
            " ON CONFLICT (case_id, person_key) DO NOTHING",
            [(case_id, self.person_key(m["id_number"]), mask_id_number(m["id_number"]))
             for m in members],
        )  # fmt: skip

    def _status(self, cur: Cursor, event: Any, status: str, programme: str | None = None) -> None:
        case_id = str(event.originator_id)
        self._batch.set_status(case_id, status)
        staff = getattr(event, "staff_id", "") or ""
        pending = self._batch.cases.get(case_id)
        if pending is not None:
            pending["status"] = status
            if programme is not None:
                pending["programme"] = programme
            if staff:
                ids = sorted(set(json.loads(pending["staff_ids"])) | {staff})
                pending["staff_ids"] = json.dumps(ids)
            return
        cur.execute("UPDATE finding_cases SET status = %s, programme = COALESCE(%s, programme)"
                    " WHERE case_id = %s", (status, programme, case_id))  # fmt: skip
        if staff:
            row = cur.execute(
                "SELECT staff_ids FROM finding_cases WHERE case_id = %s", (case_id,)
            ).fetchone()
            if row is not None:
                ids = sorted(set(json.loads(row["staff_ids"])) | {staff})
                cur.execute(
                    "UPDATE finding_cases SET staff_ids = %s WHERE case_id = %s",
                    (json.dumps(ids), case_id),
                )

    def _record(self, cur: Cursor, event: Any, at: tuple[int, str]) -> None:
        record_id, person = str(event.originator_id), self.person_key(event.id_number)
        ref = _ref(event, at[0])
        cur.execute(
            "INSERT INTO finding_records (record_id, kind, person_key, region_code, effective_date, ref,"
            " dismissed) VALUES (%s, %s, %s, %s, %s, %s, 0)",
            (record_id, event.kind, person, event.region_code, event.effective_date, ref),
        )
        if event.kind == RegistryKind.DEATH:
            for case in self._cases_of(cur, person):
                self._paid_after_death(cur, case["case_id"], at)
            return
        for case in self._cases_of(cur, person):
            if case["status"] in ACTIVE:
                self._hit(cur, event.kind, record_id, case, person, event.effective_date, ref, at)

    # --- rules -----------------------------------------------------------------------------

    @staticmethod
    def _cases_of(cur: Cursor, person: str) -> list[dict[str, Any]]:
        return cur.execute(
            "SELECT c.case_id, c.kind, c.region_code, c.programme, c.status, c.end_date, c.end_ref,"
            " c.staff_ids, m.id_masked FROM finding_members m JOIN finding_cases c ON c.case_id = m.case_id"
            " WHERE m.person_key = %s ORDER BY c.case_id",
            (person,),
        ).fetchall()

    def _hit(
        self, cur: Cursor, kind: str, record_id: str, case: dict[str, Any], person: str,
        day: str, ref: str, at: tuple[int, str],
    ) -> None:  # fmt: skip
        """A registration (vehicle, property, business) or a relative of a cadre on a paid case."""
        rule = Rule.CADRE_RELATIVE if kind == RegistryKind.CADRE_RELATIVE else Rule.REGISTRY_HIT
        self._upsert(
            cur, rule, (record_id, case["case_id"]), case, at, dated=day, amount_fen=0,
            evidence={"events": [ref], "record_kind": kind, "case_status": case["status"]},
            person=person, record_id=record_id,
        )  # fmt: skip

    def _case_checks(self, cur: Cursor, case_id: str, at: tuple[int, str]) -> None:
        """A case that starts being paid (or gains a member) meets the registry records already
        there of its members."""
        rows = cur.execute(
            "SELECT r.record_id, r.kind, r.person_key, r.effective_date, r.ref FROM finding_records r"
            " JOIN finding_members m ON m.person_key = r.person_key WHERE m.case_id = %s AND r.kind <> %s"
            " AND r.dismissed = 0 ORDER BY r.record_id",
            (case_id, RegistryKind.DEATH.value),
        ).fetchall()
        case = self._case_row(cur, case_id)
        if case is None or case["status"] not in ACTIVE:
            return
        for row in rows:
            self._hit(cur, row["kind"], row["record_id"], case, row["person_key"],
                      row["effective_date"], row["ref"], at)  # fmt: skip

    def _case_row(self, cur: Cursor, case_id: str) -> dict[str, Any] | None:
        pending = self._batch.cases.get(case_id)
        if pending is not None:
            return dict(pending)
        return cur.execute(
            "SELECT case_id, kind, region_code, programme, status, end_date, end_ref, staff_ids"
            " FROM finding_cases WHERE case_id = %s",
            (case_id,),
        ).fetchone()

    @staticmethod
    def _paid(cur: Cursor, case_id: str) -> tuple[dict[str, int], dict[str, list[str]]]:
        """What approved rolls paid a case per month (fen), and the roll events that paid it."""
        paid: dict[str, int] = {}
        refs: dict[str, list[str]] = {}
        for row in cur.execute(
            "SELECT month, amount_fen, ref FROM finding_paid WHERE case_id = %s ORDER BY month, ref",
            (case_id,),
        ).fetchall():
            paid[row["month"]] = paid.get(row["month"], 0) + int(row["amount_fen"])
            refs.setdefault(row["month"], []).append(row["ref"])
        return paid, refs

    def _paid_after_death(self, cur: Cursor, case_id: str, at: tuple[int, str]) -> None:
        case = self._case_row(cur, case_id)
        if case is None:
            return
        paid, refs = self._paid(cur, case_id)
        deaths = cur.execute(
            "SELECT r.record_id, r.person_key, r.effective_date, r.ref, m.id_masked FROM finding_records r"
            " JOIN finding_members m ON m.person_key = r.person_key AND m.case_id = %s"
            " WHERE r.kind = %s ORDER BY r.record_id",
            (case_id, RegistryKind.DEATH.value),
        ).fetchall()
        for death in deaths:
            after = paid_after(death["effective_date"], paid)
            self._money_finding(
                cur, Rule.PAID_AFTER_DEATH, (death["record_id"], case_id), case, at, after, refs,
                [death["ref"]], person=death["person_key"], record_id=death["record_id"],
                dated=death["effective_date"],
            )  # fmt: skip

    def _paid_after_end(self, cur: Cursor, case_id: str, at: tuple[int, str]) -> None:
        case = self._case_row(cur, case_id)
        if case is None or case["status"] != "terminated" or not case["end_date"]:
            return
        paid, refs = self._paid(cur, case_id)
        after = paid_after(case["end_date"], paid)
        self._money_finding(
            cur, Rule.PAID_AFTER_TERMINATION, (case_id,), case, at, after, refs,
            [case["end_ref"]], dated=case["end_date"],
        )  # fmt: skip

    def _money_finding(
        self, cur: Cursor, rule: Rule, keys: tuple[str, ...], case: dict[str, Any],
        at: tuple[int, str], months: list[tuple[str, int]], refs: dict[str, list[str]],
        facts: list[str], *, dated: str, person: str | None = None, record_id: str | None = None,
    ) -> None:  # fmt: skip
        """A finding about money paid for months it was not due: fires on the first such month,
        its evidence grows with every month paid since; with none (all failed at the bank, as a
        rebuild would see) an unreviewed finding goes."""
        if not months:
            self._withdraw(cur, finding_id(rule, *keys))
            return
        evidence = {
            "events": facts,
            "paid": [{"month": m, "amount_fen": fen, "events": refs[m]} for m, fen in months],
        }
        self._upsert(
            cur, rule, keys, case, at, dated=dated, amount_fen=sum(fen for _m, fen in months),
            evidence=evidence, person=person, record_id=record_id,
        )  # fmt: skip

    def _roll_paid(self, cur: Cursor, roll_id: str, ref: str, at: tuple[int, str]) -> None:
        """Copy what an approved roll paid (the rolls view's paid months, less lines the bank
        failed) and check the cases it paid."""
        cur.execute("DELETE FROM finding_paid WHERE roll_id = %s", (roll_id,))
        cur.execute(
            "INSERT INTO finding_paid (case_id, month, roll_id, amount_fen, ref)"
            " SELECT case_id, month, roll_id, amount_fen, %s FROM paid_months WHERE roll_id = %s",
            (ref, roll_id),
        )
        # Only the cases a rule can fire on: a member with a death record, a termination, or a
        # member in a case of the other kind (a roll pays every case of a county).
        candidates = {
            name: [row["case_id"] for row in cur.execute(query, (roll_id,)).fetchall()]
            for name, query in CANDIDATES.items()
        }
        for case_id in candidates["death"]:
            self._paid_after_death(cur, case_id, at)
        for case_id in candidates["ended"]:
            self._paid_after_end(cur, case_id, at)
        for case_id in candidates["twice"]:
            self._paid_twice(cur, case_id, at)
        self._above_standard(cur, roll_id, ref, at)

    def _above_standard(self, cur: Cursor, roll_id: str, ref: str, at: tuple[int, str]) -> None:
        """A household paid for a month more than its standard allows: what the approved rolls
        paid it for that month (back-pay included) above ``above_standard_percent`` % of the
        full standard in force × the covered members on this roll's line. Top-up (补差) pays at
        most the standard a covered member and the top tier is the full standard, so only an
        amount set outside the rules (a tier above the standard, a back-pay above what was
        owed) passes it. Lines the roll's month's standard alone clears are not read twice."""
        roll = cur.execute(
            "SELECT county_code, month FROM finding_rolls WHERE roll_id = %s", (roll_id,)
        ).fetchone()
        if roll is None:
            return
        county, month = roll["county_code"], roll["month"]
        percent = self.thresholds(cur, county, first_day(month)).above_standard_percent
        ceilings = self._ceilings(cur, county, month)
        if not ceilings:
            return
        # Per programme, a line whose total is within the roll month's ceiling for its covered
        # members and pays that month alone (no adjustments) is below it: only the rest are read.
        cases = " ".join("WHEN %s THEN %s" for _ in ceilings)
        params: list[Any] = [value for item in sorted(ceilings.items()) for value in item]
        rows = cur.execute(
            "SELECT l.case_id, l.programme, l.covered_members, l.total_fen, l.months FROM rolls r"
            " JOIN roll_lines l ON l.gen = r.gen WHERE r.roll_id = %s AND l.programme IN"
            f" ({', '.join(['%s'] * len(ceilings))}) AND (l.months IS NOT NULL OR l.total_fen * 100"
            f" > l.covered_members * (CASE l.programme {cases} END) * %s) ORDER BY l.case_id",
            [roll_id, *sorted(ceilings), *params, percent],
        ).fetchall()
        for row in rows:
            paid = (
                [(month, int(row["total_fen"]))] if row["months"] is None
                else [(m["month"], int(m["amount_fen"])) for m in json.loads(row["months"])]
            )  # fmt: skip
            for paid_month, fen in paid:
                if fen > 0:
                    self._month_above(cur, row, county, paid_month, percent, ref, at)

    def _month_above(
        self, cur: Cursor, line: dict[str, Any], county: str, month: str, percent: int, ref: str,
        at: tuple[int, str],
    ) -> None:  # fmt: skip
        case_id, covered = line["case_id"], int(line["covered_members"])
        ceiling = self._ceilings(cur, county, month).get(line["programme"])
        if ceiling is None:
            return
        total = cur.execute(
            "SELECT COALESCE(SUM(amount_fen), 0) AS fen FROM finding_paid WHERE case_id = %s"
            " AND month = %s",
            (case_id, month),
        ).fetchone()
        paid = int(total["fen"]) if total else 0
        excess = above_standard(paid, ceiling, covered, percent)
        if not excess:
            return
        case = self._case_row(cur, case_id)
        if case is None:
            return
        evidence = {"events": [ref], "month": month, "programme": line["programme"],
                    "paid_fen": paid, "standard_fen": ceiling, "covered_members": covered,
                    "percent": percent, "allowed_fen": paid - excess}  # fmt: skip
        self._upsert(
            cur, Rule.ABOVE_STANDARD, (case_id, month), case, at, dated=first_day(month),
            amount_fen=excess, evidence=evidence,
        )  # fmt: skip

    def _ceilings(self, cur: Cursor, county: str, month: str) -> dict[str, int]:
        """Per programme, the most its standard allows a covered person for ``month`` in a
        county (``monthly_ceiling_fen``): the standard in force on the month's first day, or a
        higher one taking effect within the month, from the county's, city's or province's
        policy (the nearest that sets one for the programme). Looked up once a batch."""
        if (county, month) in self._batch.ceilings:
            return self._batch.ceilings[county, month]
        found: dict[str, int] = {}
        start, end = first_day(month), f"{month}-31"
        for code in policy_lookup_chain(county):
            rows = cur.execute(
                "SELECT effective_date, value FROM finding_policy WHERE region_code = %s AND kind = %s"
                " AND effective_date <= %s ORDER BY effective_date, position",
                (code, Standard.kind, end),
            ).fetchall()
            mine: dict[str, int] = {}
            for row in rows:  # in date order: the last before the month wins, any in it counts
                value = json.loads(row["value"])
                ceiling = monthly_ceiling_fen(int(value["amount_fen"]), value["period"])
                if row["effective_date"] <= start:
                    mine[value["programme"]] = ceiling
                else:
                    mine[value["programme"]] = max(ceiling, mine.get(value["programme"], 0))
            for programme, ceiling in mine.items():
                if programme in HOUSEHOLD_PROGRAMMES:  # 特困 is paid by its own rule
                    found.setdefault(programme, ceiling)
        self._batch.ceilings[county, month] = found
        return found

    # --- the same person in two cases ------------------------------------------------------

    def _activated(self, cur: Cursor, event: Any, at: tuple[int, str], *, flush: bool) -> None:
        """A case started being paid (or gained a member): checked against every other case in
        the province once written (at once, or at the next flush for an import's approvals)."""
        self._batch.activated[str(event.originator_id)] = (*at, _ref(event, at[0]))
        if flush:
            self._flush(cur)

    def _two_cases(self, cur: Cursor) -> None:
        """The same person a member of two cases of one kind (two households, or two 特困
        records) both enrolled (active or suspended), in any two counties: the view holds the
        whole province, so the check sees across counties. The enrolment guard refuses this on
        every command; the rule finds what got past it (a migrated caseload, a writer around
        the service). Each pair fires once, on the case enrolled second (the one whose
        activation met the other); the checks of a flush see exactly what each activation saw,
        since nothing but applications and approvals happened in between. Cases of two kinds
        sharing a person go to ``finding_crossed``: both get paid only if an activation met them."""
        activated, self._batch.activated = self._batch.activated, {}
        # Single-table lookups by key, joined here: during an import's catch-up the tables grow
        # faster than the planner's statistics, and a join it plans on stale ones can go
        # quadratic. Nearly always a person has no other case and the second lookup is empty.
        members = self._members_of(cur, sorted(activated))
        elsewhere: dict[str, list[str]] = {}
        for row in _by_keys(cur, "SELECT person_key, case_id FROM finding_members", "person_key",
                            sorted({m["person_key"] for m in members})):  # fmt: skip
            elsewhere.setdefault(row["person_key"], []).append(row["case_id"])
        pairs = [
            (member, other) for member in members
            for other in elsewhere.get(member["person_key"], []) if other != member["case_id"]
        ]  # fmt: skip
        if not pairs:
            return
        cases = self._cases(cur, {c for m, o in pairs for c in (m["case_id"], o)})
        crossed: set[str] = set()
        for member, other in pairs:
            case_id = member["case_id"]
            mine, theirs = activated[case_id], activated.get(other)
            case, found = cases.get(case_id), cases.get(other)
            if case is None or found is None:
                continue
            if case["kind"] != found["kind"]:  # the dibao-and-特困 rule's, on a roll
                crossed.update((case_id, other))
                continue
            if case["status"] not in ENROLLED or found["status"] not in ENROLLED:
                continue
            if theirs is not None and theirs[0] > mine[0]:
                continue  # the other was enrolled later: the pair fires on it
            evidence = {"events": [mine[2]], "other_case_id": other,
                        "other_region_code": found["region_code"],
                        "other_status": found["status"]}  # fmt: skip
            person = member["person_key"]
            self._upsert(
                cur, Rule.TWO_ACTIVE_CASES, (person, *sorted((case_id, other))),
                case | {"id_masked": member["id_masked"]}, (mine[0], mine[1]),
                dated=mine[1][:10], amount_fen=0, evidence=evidence, person=person,
            )  # fmt: skip
        cur.executemany(
            "INSERT INTO finding_crossed (case_id) VALUES (%s) ON CONFLICT DO NOTHING",
            [(case_id,) for case_id in sorted(crossed)],
        )

    def _members_of(self, cur: Cursor, ids: list[str]) -> list[dict[str, Any]]:
        """The members of these cases: those an import's batch just wrote, from memory (kept
        by ``_flush``), the others read."""
        written = self._batch.written
        members = [
            {"case_id": case_id, "person_key": person, "id_masked": masked}
            for case_id in ids for person, masked in written.get(case_id, ())
        ]  # fmt: skip
        rest = [case_id for case_id in ids if case_id not in written]
        members += _by_keys(cur, "SELECT case_id, person_key, id_masked FROM finding_members",
                            "case_id", rest)  # fmt: skip
        self._batch.written = {}
        return members

    @staticmethod
    def _cases(cur: Cursor, ids: set[str]) -> dict[str, dict[str, Any]]:
        """The cases of these ids, by id (only after a flush: none pending in the batch)."""
        rows = _by_keys(cur, "SELECT case_id, kind, region_code, programme, status, end_date,"
                        " end_ref, staff_ids FROM finding_cases", "case_id", sorted(ids))  # fmt: skip
        return {row["case_id"]: row for row in rows}

    # --- allocated funds left idle (滞留) -----------------------------------------------------

    def _posted(self, cur: Cursor, event: Any, at: tuple[int, str]) -> None:
        """A posting: money allocated to a county pool is followed until spent (first in, first
        out); money leaving a pool spends the oldest allocations first. Then any allocation
        still unspent on the posting's date past its idle day is a finding (the ledger's own
        dates are the clock: the first posting dated after the day finds it)."""
        txn, day = str(event.originator_id), event.posting_date
        for index, line in enumerate(event.lines):
            account = line["account"]
            if not account.startswith("pool:"):
                continue
            if line["credit_fen"]:
                self._spend(cur, account, int(line["credit_fen"]))
            if line["debit_fen"] and event.code == "allocate":
                county = account.split(":")[1]
                days = self.thresholds(cur, county, day).idle_days
                cur.execute(
                    "INSERT INTO finding_allocations (allocation_id, account, county_code, posted_on,"
                    " position, amount_fen, remaining_fen, idle_from, ref, idle) VALUES"
                    " (%s, %s, %s, %s, %s, %s, %s, %s, %s, 0)",
                    (f"{txn}:{index}", account, county, day, at[0], int(line["debit_fen"]),
                     int(line["debit_fen"]), idle_from(day, days), _ref(event, at[0])),
                )  # fmt: skip
        for row in cur.execute(
            "SELECT allocation_id, account, county_code, posted_on, amount_fen, remaining_fen,"
            " idle_from, ref FROM finding_allocations WHERE idle = 0 AND remaining_fen > 0"
            " AND idle_from <= %s ORDER BY idle_from, allocation_id",
            (day,),
        ).fetchall():
            cur.execute(
                "UPDATE finding_allocations SET idle = 1 WHERE allocation_id = %s",
                (row["allocation_id"],),
            )
            subject = {"case_id": None, "region_code": row["county_code"], "staff_ids": "[]"}
            evidence = {"events": [row["ref"], _ref(event, at[0])], "account": row["account"],
                        "allocated_fen": int(row["amount_fen"]), "posted_on": row["posted_on"],
                        "idle_from": row["idle_from"], "seen_on": day,
                        "remaining_fen": int(row["remaining_fen"])}  # fmt: skip
            self._upsert(
                cur, Rule.IDLE_FUNDS, (row["allocation_id"],), subject, at,
                dated=row["idle_from"], amount_fen=int(row["remaining_fen"]), evidence=evidence,
            )  # fmt: skip

    @staticmethod
    def _spend(cur: Cursor, account: str, amount_fen: int) -> None:
        """Money left a pool: the oldest unspent allocations to it are spent first."""
        rows = cur.execute(
            "SELECT allocation_id, posted_on, remaining_fen FROM finding_allocations"
            " WHERE account = %s AND remaining_fen > 0 ORDER BY position, allocation_id",
            (account,),
        ).fetchall()
        before = [
            Allocation(r["allocation_id"], r["posted_on"], int(r["remaining_fen"])) for r in rows
        ]
        cur.executemany(
            "UPDATE finding_allocations SET remaining_fen = %s WHERE allocation_id = %s",
            [(a.remaining_fen, a.allocation_id) for a, b in zip(spend(before, amount_fen), before,
                                                                 strict=True)
             if a.remaining_fen != b.remaining_fen],
        )  # fmt: skip

    def _paid_twice(self, cur: Cursor, case_id: str, at: tuple[int, str]) -> None:
        """Dibao and 特困 paid to the same person for the same month."""
        case = self._case_row(cur, case_id)
        if case is None:
            return
        others = cur.execute(
            "SELECT DISTINCT o.case_id, c.programme, m.person_key, m.id_masked FROM finding_members m"
            " JOIN finding_members o ON o.person_key = m.person_key AND o.case_id <> m.case_id"
            " JOIN finding_cases c ON c.case_id = o.case_id WHERE m.case_id = %s AND c.kind <> %s"
            " ORDER BY o.case_id",
            (case_id, case["kind"]),
        ).fetchall()
        paid, refs = self._paid(cur, case_id)
        for other in others:
            household_programme = (
                other["programme"] if case["kind"] == "tekun" else case["programme"]
            )
            if not household_programme.startswith("dibao"):  # 低保边缘 is not dibao
                continue
            other_paid, other_refs = self._paid(cur, other["case_id"])
            months = months_paid_twice(paid, other_paid)
            mine, theirs = (case_id, paid, refs), (other["case_id"], other_paid, other_refs)
            household, tekun = (theirs, mine) if case["kind"] == "tekun" else (mine, theirs)
            keys = (household[0], tekun[0], other["person_key"])
            if not months:
                self._withdraw(cur, finding_id(Rule.DIBAO_AND_TEKUN, *keys))
                continue
            home = self._case_row(cur, tekun[0]) or case
            evidence = {
                "events": [],
                "paid": [
                    {"month": m, "amount_fen": household[1][m] + tekun[1][m],
                     "household_fen": household[1][m], "tekun_fen": tekun[1][m],
                     "events": household[2][m] + tekun[2][m]}
                    for m in months
                ],
                "other_case_id": household[0],
            }  # fmt: skip
            self._upsert(
                cur, Rule.DIBAO_AND_TEKUN, keys, home, at, dated=first_day(months[0]),
                amount_fen=sum(tekun[1][m] for m in months), evidence=evidence,
                person=other["person_key"],
            )  # fmt: skip

    def _account(self, cur: Cursor, event: Any, at: tuple[int, str]) -> None:
        """One bank account paid for several households: a household case starts being paid
        to (or changes to) an account another paid household case is paid to."""
        case_id, account = str(event.originator_id), event.payee["account_number"]
        key, batch = self.seal(account), self._batch
        pending = batch.cases.get(case_id)
        if pending is not None:
            pending["account_key"], pending["account_masked"] = key, mask_account(account)
        else:
            cur.execute(
                "UPDATE finding_cases SET account_key = %s, account_masked = %s WHERE case_id = %s",
                (key, mask_account(account), case_id),
            )
        case = self._case_row(cur, case_id)
        if case is None:
            return
        old = batch.key_of.get(case_id)
        if old is not None:
            del batch.by_key[old][case_id]
        batch.by_key.setdefault(key, {})[case_id] = case["status"]
        batch.key_of[case_id] = key
        if case["status"] not in ACTIVE:
            return
        others = sorted(
            other for other, status in batch.by_key[key].items()
            if other != case_id and status in ACTIVE
        )  # fmt: skip
        if not others:
            return
        evidence = {"events": [_ref(event, at[0])], "account_masked": mask_account(account),
                    "other_case_ids": others}  # fmt: skip
        self._upsert(
            cur, Rule.SHARED_ACCOUNT, (case_id, key), case, at, dated=event.effective_date,
            amount_fen=0, evidence=evidence,
        )  # fmt: skip

    def _late_roll(self, cur: Cursor, event: Any, at: tuple[int, str]) -> None:
        """A month's roll sent to the bank after the region's deadline for that month."""
        roll_id = str(event.originator_id)
        roll = cur.execute(
            "SELECT county_code, month FROM finding_rolls WHERE roll_id = %s", (roll_id,)
        ).fetchone()
        if roll is None:
            return
        deadline_day = self.thresholds(cur, roll["county_code"], f"{roll['month']}-01")
        late = days_late(roll["month"], deadline_day.payment_deadline_day, at[1])
        if not late:
            return
        deadline = roll_deadline(roll["month"], deadline_day.payment_deadline_day)
        evidence = {"events": [_ref(event, at[0])], "month": roll["month"], "deadline": deadline,
                    "sent_at": at[1], "days_late": late}  # fmt: skip
        subject = {"case_id": None, "region_code": roll["county_code"], "staff_ids": "[]"}
        self._upsert(
            cur, Rule.LATE_ROLL, (roll_id,), subject, at, dated=deadline,
            amount_fen=int(event.total_fen), evidence=evidence, roll_id=roll_id,
        )  # fmt: skip

    def _grant_checks(
        self, cur: Cursor, grant_id: str, paying_township: str, at: tuple[int, str]
    ) -> None:
        """Grants to one person split under the approver's limit, or repeated in a window."""
        grant = cur.execute(
            "SELECT person_key, id_masked, region_code, requested_on, level"
            " FROM finding_grants WHERE grant_id = %s",
            (grant_id,),
        ).fetchone()
        if grant is None:
            return
        region = paying_township[:6]
        day = grant["requested_on"]
        thresholds = self.thresholds(cur, region, day)
        rows = cur.execute(
            "SELECT grant_id, requested_on, amount_fen, level, staff_ids FROM finding_grants"
            " WHERE person_key = %s AND status <> 'requested' ORDER BY requested_on, grant_id",
            (grant["person_key"],),
        ).fetchall()
        grants = [Grant(r["grant_id"], r["requested_on"], int(r["amount_fen"])) for r in rows]
        window = thresholds.grant_window_days
        subject = {"case_id": None, "region_code": paying_township, "id_masked": grant["id_masked"],
                   "staff": {r["grant_id"]: json.loads(r["staff_ids"]) for r in rows}}  # fmt: skip
        repeated = repeated_grants(grants, thresholds.repeat_grant_count, window)
        if repeated:
            self._grant_finding(cur, Rule.REPEATED_GRANTS, repeated, subject, grant, at,
                                {"window_days": window, "count": thresholds.repeat_grant_count})  # fmt: skip
        limit = self._limit(cur, region, day, grant["level"])
        if limit is None:
            return
        same_level = [g for g, r in zip(grants, rows, strict=True) if r["level"] == grant["level"]]
        split = split_grants(same_level, limit, window)
        if split:
            self._grant_finding(cur, Rule.SPLIT_GRANTS, split, subject, grant, at,
                                {"window_days": window, "limit_fen": limit, "level": grant["level"]})  # fmt: skip

    def _above_authority(self, cur: Cursor, event: Any, at: tuple[int, str]) -> None:
        """A grant approved above the limit its approver's level held on the approval's date
        (the approval itself checks the limits in force on the day it is recorded, so a
        decision dated back to a lower limit passes it)."""
        grant_id = str(event.originator_id)
        row = cur.execute(
            "SELECT person_key, id_masked, amount_fen, staff_ids FROM finding_grants"
            " WHERE grant_id = %s",
            (grant_id,),
        ).fetchone()
        limit = self._limit(cur, event.paying_township[:6], event.effective_date, event.level)
        if row is None or limit is None or int(row["amount_fen"]) <= limit:
            return
        subject = {"case_id": None, "region_code": event.paying_township,
                   "id_masked": row["id_masked"], "staff_ids": row["staff_ids"]}  # fmt: skip
        evidence = {"events": [_ref(event, at[0])], "level": event.level, "limit_fen": limit,
                    "approved_on": event.effective_date}  # fmt: skip
        self._upsert(
            cur, Rule.ABOVE_AUTHORITY, (grant_id,), subject, at, dated=event.effective_date,
            amount_fen=int(row["amount_fen"]), evidence=evidence, person=row["person_key"],
            grant_id=grant_id,
        )  # fmt: skip

    def _grant_finding(
        self, cur: Cursor, rule: Rule, grants: list[Grant], subject: dict[str, Any],
        grant: dict[str, Any], at: tuple[int, str], terms: dict[str, Any],
    ) -> None:  # fmt: skip
        """A finding about a run of grants to one person; the case workers who requested any of
        them see it."""
        staff = sorted({s for g in grants for s in subject["staff"].get(g.grant_id, [])})
        subject = subject | {"staff_ids": json.dumps(staff)}
        evidence = {
            "events": [],
            "grants": [{"grant_id": g.grant_id, "day": g.day, "amount_fen": g.amount_fen}
                       for g in grants],
            **terms,
        }  # fmt: skip
        self._upsert(
            cur, rule, (grant["person_key"], grants[0].grant_id), subject, at,
            dated=grants[0].day, amount_fen=sum(g.amount_fen for g in grants), evidence=evidence,
            person=grant["person_key"], grant_id=grants[-1].grant_id,
        )  # fmt: skip

    def _backdated(self, cur: Cursor, event: Any, at: tuple[int, str]) -> None:
        """A decision that took effect longer before its recording than the region allows."""
        region = event.region_code if hasattr(event, "region_code") else None
        case = self._case_row(cur, str(event.originator_id))
        if region is None:
            if case is None:
                return
            region = case["region_code"]
        recorded = at[1]
        days = backdated_days(event.effective_date, recorded)
        allowed = self.thresholds(cur, region[:6], recorded[:10]).backdate_days
        if days <= allowed:
            return
        subject = case or {"case_id": str(event.originator_id), "region_code": region,
                           "staff_ids": "[]"}  # fmt: skip
        evidence = {"events": [_ref(event, at[0])], "effective_date": event.effective_date,
                    "recorded_at": recorded, "days": days, "allowed_days": allowed}  # fmt: skip
        self._upsert(
            cur, Rule.BACKDATED_DECISION, (str(event.originator_id), str(at[0])), subject, at,
            dated=event.effective_date, amount_fen=0, evidence=evidence,
        )  # fmt: skip

    # --- policy ----------------------------------------------------------------------------

    def _fact(self, cur: Cursor, region: str, kind: str, day: str) -> dict[str, Any] | None:
        """The fact of a kind in force on a day for a county, from its own, its city's or its
        province's policy, as recorded so far (looked up once a batch until a fact is recorded)."""
        known = self._batch.facts
        if (region, kind, day) not in known:
            known[region, kind, day] = self._fact_recorded(cur, region, kind, day)
        return known[region, kind, day]

    def _fact_recorded(
        self, cur: Cursor, region: str, kind: str, day: str
    ) -> dict[str, Any] | None:
        for code in policy_lookup_chain(region):
            row = cur.execute(
                "SELECT value FROM finding_policy WHERE region_code = %s AND kind = %s"
                " AND effective_date <= %s ORDER BY effective_date DESC, position DESC LIMIT 1",
                (code, kind, day),
            ).fetchone()
            if row is not None:
                found: dict[str, Any] = json.loads(row["value"])
                return found
        return None

    def thresholds(self, cur: Cursor, region: str, day: str) -> MisuseThresholds:
        found = self._fact(cur, region, MisuseThresholds.kind, day)
        return DEFAULT_THRESHOLDS if found is None else MisuseThresholds(**found)

    def _limit(self, cur: Cursor, region: str, day: str, level: str | None) -> int | None:
        """The approval limit the approver of ``level`` held: a township's own limit, a
        county's up to the committee limit; none for the committee."""
        found = self._fact(cur, region, ApprovalLimits.kind, day)
        if found is None or level not in ("township", "county"):
            return None
        limits = ApprovalLimits(**found)
        return limits.township_limit_fen if level == "township" else limits.committee_limit_fen

    # --- writing findings ------------------------------------------------------------------

    def _upsert(
        self, cur: Cursor, rule: Rule, keys: tuple[str, ...], subject: dict[str, Any],
        at: tuple[int, str], *, dated: str, amount_fen: int, evidence: dict[str, Any],
        person: str | None = None, record_id: str | None = None, grant_id: str | None = None,
        roll_id: str | None = None,
    ) -> None:  # fmt: skip
        """Insert a finding, or update the evidence of one already found (which keeps when
        and where it was first detected)."""
        fid = str(finding_id(rule, *keys))
        text = json.dumps(evidence, ensure_ascii=False, sort_keys=True)
        existing = cur.execute(
            "SELECT evidence, amount_fen FROM findings WHERE finding_id = %s", (fid,)
        ).fetchone()
        if existing is not None:
            if existing["evidence"] != text or int(existing["amount_fen"]) != amount_fen:
                cur.execute(
                    "UPDATE findings SET evidence = %s, amount_fen = %s, updated_position = %s"
                    " WHERE finding_id = %s",
                    (text, amount_fen, at[0], fid),
                )
            return
        cur.execute(
            f"INSERT INTO findings ({FINDING_COLUMNS}, person_key, updated_position, staff_ids)"
            " VALUES (%s, %s, %s, %s, 'open', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, NULL, NULL,"
            " %s, %s, %s)",
            (fid, rule.value, SEVERITY[rule], subject["region_code"], subject.get("case_id"),
             subject.get("id_masked"), record_id, grant_id, roll_id, amount_fen, dated, text,
             at[0], at[1], person, at[0], subject.get("staff_ids") or "[]"),
        )  # fmt: skip

    @staticmethod
    def _withdraw(cur: Cursor, fid: UUID) -> None:
        """A finding whose evidence is gone goes, unless an auditor has worked it."""
        cur.execute(
            "DELETE FROM findings WHERE finding_id = %s AND status = %s",
            (str(fid), FindingStatus.OPEN.value),
        )

    @staticmethod
    def _reviewed(cur: Cursor, event: Any, position: int) -> None:
        confirmed = isinstance(event, FindingReview.Confirmed)
        status = FindingStatus.CONFIRMED if confirmed else FindingStatus.EXPLAINED
        outcome = event.outcome if confirmed else None
        at = utc_text(event.timestamp)
        fid = str(event.originator_id)
        cur.execute(
            "UPDATE findings SET status = %s, outcome = %s, reviewed_by = %s, reviewed_at = %s"
            " WHERE finding_id = %s",
            (status.value, outcome, event.staff_id, at, fid),
        )
        cur.execute(
            "INSERT INTO finding_steps (finding_id, position, step, actor, staff_id, outcome, note,"
            " document_ref, recorded_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (fid, position, status.value, event.actor, event.staff_id, outcome, event.note,
             event.document_ref, at),
        )  # fmt: skip

    # --- reads -----------------------------------------------------------------------------

    def search(
        self, *, scope_prefix: str, rule: str | None, status: str | None,
        period: tuple[str, str] | None, staff_id: str | None, limit: int,
        after: list[Any] | None = None,
    ) -> tuple[int, int, list[dict[str, Any]], dict[str, dict[str, int]], list[Any] | None]:  # fmt: skip
        """Findings in scope (and dated in ``period``; on the cases ``staff_id`` worked, if
        given): (count, money involved, a page after the key ``after`` in ``LIST_ORDER``,
        count and money per rule, the key to continue from or None)."""
        where, params = self._where(scope_prefix, rule, status, period, staff_id)
        following, key = keyset_after(LIST_ORDER, after)
        with self.db.transaction() as cur:
            per_rule = cur.execute(
                "SELECT rule, COUNT(*) AS n, COALESCE(SUM(amount_fen), 0) AS fen FROM findings"
                f" WHERE {where} GROUP BY rule ORDER BY rule",
                params,
            ).fetchall()
            rows = cur.execute(
                f"SELECT {FINDING_COLUMNS} FROM findings WHERE {where}{following}"
                f" ORDER BY {', '.join(LIST_ORDER)} LIMIT %s",
                [*params, *key, limit + 1],
            ).fetchall()
        by_rule = {r["rule"]: {"count": int(r["n"]), "amount_fen": int(r["fen"])} for r in per_rule}
        total = sum(r["count"] for r in by_rule.values())
        money = sum(r["amount_fen"] for r in by_rule.values())
        rows, last = split(rows, limit, LIST_ORDER)
        return total, money, [_shown(row) for row in rows], by_rule, last

    @staticmethod
    def _where(
        scope_prefix: str, rule: str | None, status: str | None,
        period: tuple[str, str] | None, staff_id: str | None,
    ) -> tuple[str, list[Any]]:  # fmt: skip
        ranged, bounds = prefix_range("region_code", scope_prefix)
        where, params = "TRUE" + ranged, bounds
        for column, value in (("rule", rule), ("status", status)):
            if value:
                where += f" AND {column} = %s"
                params.append(value)
        if period is not None:
            where += " AND dated BETWEEN %s AND %s"
            params += list(period)
        if staff_id is not None:
            # JSON text of staff ids: the quoted id, so no id matches inside another; '_' and
            # '%' (and the escape itself) taken literally, so an id is never a pattern.
            literal = json.dumps(staff_id).replace("\\", "\\\\")
            literal = literal.replace("%", "\\%").replace("_", "\\_")
            where += " AND staff_ids LIKE %s ESCAPE '\\'"
            params.append("%" + literal + "%")
        return where, params

    def get(self, fid: str) -> dict[str, Any] | None:
        """One finding with its evidence and its review steps (None if unknown)."""
        with self.db.transaction() as cur:
            row = cur.execute(
                f"SELECT {FINDING_COLUMNS}, staff_ids FROM findings WHERE finding_id = %s", (fid,)
            ).fetchone()
            if row is None:
                return None
            steps = cur.execute(
                "SELECT step, actor, staff_id, outcome, note, document_ref, recorded_at"
                " FROM finding_steps WHERE finding_id = %s ORDER BY position",
                (fid,),
            ).fetchall()
        found = _shown(row)
        found["staff_ids"] = json.loads(row["staff_ids"])
        found["steps"] = steps
        return found

    def holds(self, county: str, month: str) -> dict[str, dict[str, Any]]:
        """The cases of a county whose payment a roll for ``month`` holds: a member has a death
        record not dismissed and the case is not terminated (``domain.findings.held``). Case id
        → the reason (the record, the death date, the first month held)."""
        with self.db.transaction() as cur:
            rows = cur.execute(
                "SELECT c.case_id, r.record_id, r.effective_date, r.ref, m.id_masked"
                " FROM finding_records r JOIN finding_members m ON m.person_key = r.person_key"
                " JOIN finding_cases c ON c.case_id = m.case_id WHERE r.kind = %s AND r.dismissed = 0"
                " AND c.status <> 'terminated' AND c.region_code LIKE %s ORDER BY c.case_id, r.effective_date",
                (RegistryKind.DEATH.value, county + "%"),
            ).fetchall()
        found: dict[str, dict[str, Any]] = {}
        for row in rows:
            if row["case_id"] in found or not held(month, row["effective_date"]):
                continue
            found[row["case_id"]] = {
                "case_id": row["case_id"],
                "reason": "death_record",
                "record_id": row["record_id"],
                "event": row["ref"],
                "id_masked": row["id_masked"],
                "death_date": row["effective_date"],
                "held_from": hold_from(row["effective_date"]),
            }
        return found

    def death_record(self, record_id: str) -> dict[str, Any] | None:
        with self.db.transaction() as cur:
            return cur.execute(
                "SELECT record_id, kind, region_code, effective_date, dismissed FROM finding_records"
                " WHERE record_id = %s",
                (record_id,),
            ).fetchone()


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in row.items() if k != "staff_ids"}
    shown["evidence"] = json.loads(row["evidence"])
    shown["amount_fen"] = int(row["amount_fen"])
    shown["detected_position"] = int(row["detected_position"])
    shown["months"] = [p["month"] for p in shown["evidence"].get("paid", [])]
    return shown
