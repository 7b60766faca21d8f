"""The findings view's start from empty on PostgreSQL: the prefix of the log in which the view
meets only households' applications and approvals named by no person (a bulk import's) and
policy facts is taken in bulk from the case-state and audit-trail views, not event by event.

Within such a prefix only two rules can fire: one person in two enrolled cases, and one account
paid for several households. Their few candidates are found in SQL and the approvals that made
them fire decoded, so each finding has the id, position, time and evidence the event-by-event
path gives it. The prefix ends before any other event the view acts on, and at the position
both views have reached; a case with an event after the prefix (which the case-state row
would already show) is folded from its own events up to there.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from domain.findings import Rule
from domain.household import HouseholdCase
from domain.identity import mask_account
from domain.policy import RegionPolicy
from ledger.store.db import Cursor
from projections.runner import event_name, utc_text

if TYPE_CHECKING:
    from projections.findings.view import FindingsView

# Event types (audit_events.event_type) that end the prefix: every other one the view acts on.
STOPS = [
    *(f"HouseholdCase.{name}" for name in ("Rejected", "MemberAdded", "MemberRemoved",
      "IncomeReassessed", "PayeeAccountChanged", "Suspended", "Resumed", "GradualExitStarted",
      "Terminated")),
    "TekunPerson.Approved", "TekunPerson.Terminated", "PaymentRoll.Opened",
    "PaymentRoll.Approved", "PaymentRoll.Sent", "PaymentRoll.BankResultsImported",
    "JournalTransaction.Posted",
]  # fmt: skip
STOP_PATTERNS = ["RegistryRecord.%", "TemporaryGrant.%"]
# An approval by a named person is a decision the back-dating rule checks: it ends the prefix.
UNNAMED = '%"staff_id":""%'


def prefix_end(cur: Cursor, positions: dict[str, int]) -> int:
    """The last log position of the prefix (0: none). The audit trail must have reached the
    case-state view's position, so that it lists every case event the case rows include."""
    case_at, audit_at = positions.get("case_state", 0), positions.get("audit_trail", 0)
    if cur.sqlite or audit_at < case_at or case_at <= 0:
        return 0
    row = cur.execute(
        "SELECT MIN(position) AS stop FROM audit_events WHERE position <= %s AND"
        " (event_type = ANY(%s) OR event_type LIKE ANY(%s)"
        " OR (event_type = 'HouseholdCase.Approved' AND details NOT LIKE %s))",
        (case_at, STOPS, STOP_PATTERNS, UNNAMED),
    ).fetchone()
    return case_at if row is None or row["stop"] is None else int(row["stop"]) - 1


def seed(view: FindingsView, cur: Cursor, positions: dict[str, int]) -> int:
    """Fill the empty view as the event-by-event path leaves it at the prefix's end, and
    return that position (0: nothing done)."""
    through = prefix_end(cur, positions)
    if through <= 0:
        return 0
    cur.execute("CREATE TEMP TABLE finding_later (case_id TEXT PRIMARY KEY) ON COMMIT DROP")
    cur.execute(
        "INSERT INTO finding_later SELECT DISTINCT originator_id FROM audit_events"
        " WHERE position > %s AND event_type LIKE 'HouseholdCase.%%'",
        (through,),
    )
    clean = (
        "FROM case_state c WHERE c.kind = 'household'"
        " AND NOT EXISTS (SELECT 1 FROM finding_later l WHERE l.case_id = c.case_id)"
    )
    if cur.execute(
        f"SELECT 1 AS odd {clean} AND c.status NOT IN ('applied', 'active') LIMIT 1"
    ).fetchone():
        return 0  # a state the prefix's events cannot give: left to the event-by-event path
    cur.execute(
        "INSERT INTO finding_cases (case_id, kind, region_code, programme, status, staff_ids,"
        " account_key, account_masked) SELECT c.case_id, c.kind, c.region_code, c.programme,"
        f" c.status, '[]', c.payee_account_sealed, c.payee_account_masked {clean}"
    )
    cur.execute(
        "INSERT INTO finding_members (case_id, person_key, id_masked)"
        " SELECT c.case_id, m ->> 0, m ->> 2 FROM finding_cases c JOIN case_history h"
        " ON h.case_id = c.case_id, jsonb_array_elements(convert_from(h.members, 'UTF8')::jsonb) m"
    )
    for row in cur.execute(
        "SELECT originator_id, details FROM audit_events WHERE position <= %s"
        " AND event_type = 'HouseholdCase.Applied' AND details NOT LIKE %s",
        (through, UNNAMED),
    ).fetchall():
        staff = json.loads(row["details"]).get("staff_id")
        if staff:
            cur.execute(
                "UPDATE finding_cases SET staff_ids = %s WHERE case_id = %s",
                (json.dumps([staff]), row["originator_id"]),
            )
    later = [r["case_id"] for r in cur.execute("SELECT case_id FROM finding_later").fetchall()]
    _fold(view, cur, sorted(later), through)
    _policy(view, cur, through)
    approvals: dict[str, tuple[int, Any]] = {}
    _two_cases(view, cur, through, approvals)
    _shared_accounts(view, cur, through, approvals)
    _reviews(view, cur, through)
    return through


def _fold(view: FindingsView, cur: Cursor, case_ids: list[str], through: int) -> None:
    """The cases with events after the prefix, from their own events up to its end."""
    view.start_batch()
    for case_id in case_ids:
        for _position, event in view.events_of(case_id, through):
            if isinstance(event, HouseholdCase.Applied):
                view._applied(event)
            elif isinstance(event, HouseholdCase.Approved):
                view._status(cur, event, "active", programme=event.programme)
                pending = view._batch.cases[case_id]
                account = event.payee["account_number"]
                pending["account_key"] = view.seal(account)
                pending["account_masked"] = mask_account(account)
    view._flush(cur)


def _policy(view: FindingsView, cur: Cursor, through: int) -> None:
    """The policy facts recorded in the prefix, applied in log order."""
    ids = cur.execute(
        "SELECT DISTINCT originator_id FROM audit_events WHERE position <= %s"
        " AND event_type LIKE 'RegionPolicy.%%'",
        (through,),
    ).fetchall()
    events = sorted(
        (position, event) for row in ids
        for position, event in view.events_of(row["originator_id"], through)
    )  # fmt: skip
    for position, event in events:
        if isinstance(event, RegionPolicy.Event):
            view._apply_other(cur, event, _at(position, event)[:2])


def _at(position: int, event: Any) -> tuple[int, str, str]:
    """Where an event fires a finding: its position, time and reference."""
    return position, utc_text(event.timestamp), f"{event_name(event)}#{position}"


def _approval(
    view: FindingsView, approvals: dict[str, tuple[int, Any]], case_id: str, through: int
) -> tuple[int, Any]:
    """A case's approval in the prefix (its position and event), decoded once."""
    if case_id not in approvals:
        found = [
            (position, event) for position, event in view.events_of(case_id, through)
            if isinstance(event, HouseholdCase.Approved)
        ]  # fmt: skip
        approvals[case_id] = found[0]
    return approvals[case_id]


def _two_cases(
    view: FindingsView, cur: Cursor, through: int, approvals: dict[str, tuple[int, Any]]
) -> None:
    """A person in two approved households fires once, on the one approved second, as the
    event-by-event path's check of each approval against the enrolled cases finds it."""
    rows = cur.execute(
        "SELECT m.person_key, m.id_masked, c.case_id, c.region_code, c.status, c.staff_ids,"
        " c.kind FROM finding_members m JOIN finding_cases c ON c.case_id = m.case_id"
        " WHERE c.status = 'active' AND m.person_key IN (SELECT person_key FROM finding_members"
        " GROUP BY person_key HAVING COUNT(*) > 1) ORDER BY m.person_key, c.case_id"
    ).fetchall()
    by_person: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_person.setdefault(row["person_key"], []).append(row)
    for person, cases in by_person.items():
        ordered = sorted(cases, key=lambda c: _approval(view, approvals, c["case_id"], through)[0])
        for later, case in enumerate(ordered):
            position, event = _approval(view, approvals, case["case_id"], through)
            at = _at(position, event)
            for other in ordered[:later]:
                evidence = {"events": [at[2]], "other_case_id": other["case_id"],
                            "other_region_code": other["region_code"], "other_status": "active"}  # fmt: skip
                view._upsert(
                    cur, Rule.TWO_ACTIVE_CASES, (person, *sorted((case["case_id"], other["case_id"]))),
                    case, at[:2], dated=at[1][:10], amount_fen=0, evidence=evidence, person=person,
                )  # fmt: skip


def _shared_accounts(
    view: FindingsView, cur: Cursor, through: int, approvals: dict[str, tuple[int, Any]]
) -> None:
    """A household approved to an account earlier approved households are paid to."""
    rows = cur.execute(
        "SELECT case_id, region_code, staff_ids, account_key, account_masked FROM finding_cases"
        " WHERE account_key IN (SELECT account_key FROM finding_cases WHERE account_key IS NOT NULL"
        " GROUP BY account_key HAVING COUNT(*) > 1) ORDER BY account_key, case_id"
    ).fetchall()
    by_key: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_key.setdefault(row["account_key"], []).append(row)
    for key, cases in by_key.items():
        ordered = sorted(cases, key=lambda c: _approval(view, approvals, c["case_id"], through)[0])
        for later, case in enumerate(ordered[1:], 1):
            position, event = _approval(view, approvals, case["case_id"], through)
            at = _at(position, event)
            evidence = {"events": [at[2]], "account_masked": case["account_masked"],
                        "other_case_ids": sorted(c["case_id"] for c in ordered[:later])}  # fmt: skip
            view._upsert(
                cur, Rule.SHARED_ACCOUNT, (case["case_id"], key), case, at[:2],
                dated=event.effective_date, amount_fen=0, evidence=evidence,
            )  # fmt: skip


def _reviews(view: FindingsView, cur: Cursor, through: int) -> None:
    """Auditors' steps on the prefix's findings recorded within it (a review's record is
    its finding's id)."""
    ids = [r["finding_id"] for r in cur.execute("SELECT finding_id FROM findings").fetchall()]
    for finding in ids:
        for position, event in view.events_of(finding, through):
            view._apply_other(cur, event, _at(position, event)[:2])
