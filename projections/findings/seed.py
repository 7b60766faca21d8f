"""The findings view's start from empty on PostgreSQL: the log's prefix in which the view meets
only policy facts and households' applications and approvals named by no person (a bulk
import's) is read in bulk from the case-state and audit-trail views. In it only two rules can
fire (one person in two enrolled cases, one account for several households): their few
candidates are found in SQL and the approvals that fired them decoded, for the same ids,
positions, times and evidence as event by event. A case with events after the prefix (which its
case-state row shows) is folded from its own events up to the prefix's end.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from domain.findings import Rule
from domain.household import HouseholdCase
from domain.identity import mask_account
from ledger.store.db import Cursor
from projections.findings.view import HOUSEHOLD_EVENTS, FindingsView
from projections.runner import event_name, utc_text

# Event types (audit_events.event_type) that end the prefix: every other one the view acts on.
STOPS = [
    *(f"HouseholdCase.{name}" for name in HOUSEHOLD_EVENTS[2:]), "TekunPerson.Approved",
    "TekunPerson.Terminated", "PaymentRoll.Opened", "PaymentRoll.Approved", "PaymentRoll.Sent",
    "PaymentRoll.BankResultsImported", "JournalTransaction.Posted",
]  # fmt: skip
STOP_PATTERNS = ["RegistryRecord.%", "TemporaryGrant.%"]
# An approval by a named person is a decision the back-dating rule checks: it ends the prefix.
UNNAMED = '%"staff_id":""%'
CLEAN = (
    "FROM case_state c WHERE c.kind = 'household'"
    " AND NOT EXISTS (SELECT 1 FROM finding_later l WHERE l.case_id = c.case_id)"
)


def seed(view: FindingsView, cur: Cursor, positions: dict[str, int]) -> int:
    """Fill the empty view as the log up to the prefix's end would; return that position (0:
    none). The audit trail must have reached the case-state view, so that it lists every case
    event the case rows show, and neither may have passed over an event."""
    case_at = positions.get("case_state", 0)
    if cur.sqlite or positions.get("audit_trail", 0) < case_at or case_at <= 0:
        return 0
    if cur.execute(
        "SELECT 1 AS open FROM projection_failures WHERE resolved_at IS NULL"
        " AND view_name IN ('case_state', 'audit_trail') LIMIT 1"
    ).fetchone():
        return 0  # an event those views could not apply: their tables are not the log's
    # A bulk load leaves these tables without planner statistics (autovacuum may not have come
    # by): the statements below would be planned blind (a 1M-case seed took 1.4× as long).
    cur.execute("ANALYZE audit_events, case_state, case_history")
    cur.execute("SET LOCAL work_mem = '256MB'")  # the sorts and duplicate keys' groups in memory
    stop = cur.execute(
        "SELECT MIN(position) AS stop FROM audit_events WHERE position <= %s AND"
        " (event_type = ANY(%s) OR event_type LIKE ANY(%s)"
        " OR (event_type = 'HouseholdCase.Approved' AND details NOT LIKE %s))",
        (case_at, STOPS, STOP_PATTERNS, UNNAMED),
    ).fetchone()
    through = case_at if stop is None or stop["stop"] is None else int(stop["stop"]) - 1
    if through <= 0:
        return 0
    cur.execute("CREATE TEMP TABLE finding_later (case_id TEXT PRIMARY KEY) ON COMMIT DROP")
    cur.execute(
        "INSERT INTO finding_later SELECT DISTINCT originator_id FROM audit_events"
        " WHERE position > %s AND event_type LIKE 'HouseholdCase.%%'",
        (through,),
    )
    if cur.execute(f"SELECT 1 AS odd {CLEAN} AND c.status NOT IN ('applied', 'active') LIMIT 1").fetchone():  # fmt: skip
        return 0  # a state these events cannot give: left to the event-by-event path
    for index in ("finding_cases_account", "finding_members_person"):  # built once, after
        cur.execute(f"DROP INDEX {index}")
    cur.execute(
        "INSERT INTO finding_cases (case_id, kind, region_code, programme, status, staff_ids,"
        " account_key, account_masked) SELECT c.case_id, c.kind, c.region_code, c.programme,"
        f" c.status, '[]', c.payee_account_sealed, c.payee_account_masked {CLEAN}"
        " ORDER BY c.case_id"  # in key order: each insert into the primary key at its end
    )
    cur.execute(
        "INSERT INTO finding_members (case_id, person_key, id_masked) SELECT c.case_id, m ->> 0,"
        " m ->> 2 FROM finding_cases c JOIN case_history h ON h.case_id = c.case_id,"
        " json_array_elements(convert_from(h.members, 'UTF8')::json) m ORDER BY 1, 2"
    )
    view.create(cur)
    cur.execute("ANALYZE finding_cases, finding_members")  # the per-event rest plans on these
    for row in cur.execute(
        "SELECT originator_id, details FROM audit_events WHERE position <= %s"
        " AND event_type = 'HouseholdCase.Applied' AND details NOT LIKE %s",
        (through, UNNAMED),
    ).fetchall():
        if staff := json.loads(row["details"]).get("staff_id"):
            cur.execute("UPDATE finding_cases SET staff_ids = %s WHERE case_id = %s",
                        (json.dumps([staff]), row["originator_id"]))  # fmt: skip
    later = cur.execute("SELECT case_id FROM finding_later ORDER BY case_id").fetchall()
    view.start_batch()
    for position, event in sorted(
        (position, event) for row in [*later, *_ids(cur, through, "RegionPolicy.%")]
        for position, event in view.events_of(row["case_id"], through)
    ):  # fmt: skip
        _fold(view, cur, position, event)
    view._flush(cur)
    _rules(view, cur, through)
    for row in cur.execute("SELECT finding_id AS case_id FROM findings").fetchall():
        for position, event in view.events_of(row["case_id"], through):  # auditors' reviews
            view._apply_other(cur, event, (position, utc_text(event.timestamp)))
    return through


def _ids(cur: Cursor, through: int, pattern: str) -> list[dict[str, Any]]:
    return cur.execute(
        "SELECT DISTINCT originator_id AS case_id FROM audit_events WHERE position <= %s"
        " AND event_type LIKE %s",
        (through, pattern),
    ).fetchall()


def _fold(view: FindingsView, cur: Cursor, position: int, event: Any) -> None:
    """One event of a case with events after the prefix, or of a policy, in log order."""
    if isinstance(event, HouseholdCase.Applied):
        view._applied(event)
    elif isinstance(event, HouseholdCase.Approved):
        view._status(cur, event, "active", programme=event.programme)
        account = event.payee["account_number"]
        case = view._batch.cases[str(event.originator_id)]
        case["account_key"], case["account_masked"] = view.seal(account), mask_account(account)
    elif not isinstance(event, HouseholdCase.Event):
        view._apply_other(cur, event, (position, utc_text(event.timestamp)))


def _rules(view: FindingsView, cur: Cursor, through: int) -> None:
    """Each case meeting cases approved before it (the same person, the same account) fires
    as the event-by-event check of its approval does."""
    for person, case, earlier, at, _event in _in_turn(view, cur, through, (
        "SELECT m.person_key AS k, m.id_masked, c.case_id, c.region_code, c.staff_ids"
        " FROM finding_members m JOIN finding_cases c ON c.case_id = m.case_id WHERE c.status ="
        " 'active' AND m.person_key IN (SELECT person_key FROM finding_members GROUP BY"
        " person_key HAVING COUNT(*) > 1)")):  # fmt: skip
        for other in earlier:
            evidence = {
                "events": [at[2]],
                "other_case_id": other["case_id"],
                "other_region_code": other["region_code"],
                "other_status": "active",
            }
            view._upsert(
                cur, Rule.TWO_ACTIVE_CASES, (person, *sorted((case["case_id"], other["case_id"]))),
                case, at[:2], dated=at[1][:10], amount_fen=0, evidence=evidence, person=person,
            )  # fmt: skip
    for key, case, earlier, at, event in _in_turn(view, cur, through, (
        "SELECT account_key AS k, case_id, region_code, staff_ids, account_masked"
        " FROM finding_cases WHERE account_key IN (SELECT account_key FROM finding_cases"
        " WHERE account_key IS NOT NULL GROUP BY account_key HAVING COUNT(*) > 1)")):  # fmt: skip
        evidence = {"events": [at[2]], "account_masked": case["account_masked"],
                    "other_case_ids": sorted(c["case_id"] for c in earlier)}  # fmt: skip
        view._upsert(cur, Rule.SHARED_ACCOUNT, (case["case_id"], key), case, at[:2],
                     dated=event.effective_date, amount_fen=0, evidence=evidence)  # fmt: skip


def _in_turn(
    view: FindingsView, cur: Cursor, through: int, sql: str
) -> Iterator[tuple[str, dict[str, Any], list[dict[str, Any]], tuple[int, str, str], Any]]:
    """Of the cases sharing a key (``k``), each approved after another: (key, the case, those
    approved before it, its approval's position, time and reference, the approval)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in cur.execute(sql).fetchall():
        groups.setdefault(row["k"], []).append(row)
    for key, rows in groups.items():
        for row in rows:
            row["approval"] = next(
                (p, e) for p, e in view.events_of(row["case_id"], through)
                if isinstance(e, HouseholdCase.Approved)
            )  # fmt: skip
        rows.sort(key=lambda row: row["approval"][0])
        for turn, row in enumerate(rows[1:], 1):
            position, event = row["approval"]
            at = (position, utc_text(event.timestamp), f"{event_name(event)}#{position}")
            yield key, row, rows[:turn], at, event
