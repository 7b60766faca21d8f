"""Case state: maps household and 特困 events to the current row, members and timeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.household import CaseStatus, HouseholdCase
from domain.identity import mask_account, mask_id_number
from domain.regions import county_of
from domain.tekun import TekunPerson
from projections.db import Cursor
from projections.runner import event_details, event_name, utc_text

STATUS_AFTER: dict[str, str] = {
    "HouseholdCase.Applied": CaseStatus.APPLIED,
    "HouseholdCase.Approved": CaseStatus.ACTIVE,
    "HouseholdCase.Rejected": CaseStatus.REJECTED,
    "HouseholdCase.Suspended": CaseStatus.SUSPENDED,
    "HouseholdCase.Resumed": CaseStatus.ACTIVE,
    "HouseholdCase.GradualExitStarted": CaseStatus.GRADUAL_EXIT,
    "HouseholdCase.Terminated": CaseStatus.TERMINATED,
    "TekunPerson.Approved": CaseStatus.ACTIVE,
    "TekunPerson.Terminated": CaseStatus.TERMINATED,
}
# Identity numbers and accounts never reach a view in clear: the timeline keeps other fields.
HIDDEN = (
    "members",
    "member",
    "payee",
    "person",
    "id_number",
    "single_person_id_number",
    "institution",
)


class CaseStateProjection:
    def __init__(self, person_key: Callable[[str], str]) -> None:
        self.person_key = person_key

    def process(self, cur: Cursor, position: int, event: Any) -> None:
        if not isinstance(event, HouseholdCase.Event | TekunPerson.Event):
            return
        case_id = str(event.originator_id)
        self._state(cur, case_id, event)
        status = STATUS_AFTER.get(event_name(event))
        if status is not None:
            cur.execute(
                "UPDATE case_state SET status = %s, status_since = %s WHERE case_id = %s",
                (status, event.effective_date, case_id),
            )
        cur.execute(
            "UPDATE case_state SET version = %s, recorded_at = %s WHERE case_id = %s",
            (event.originator_version, utc_text(event.timestamp), case_id),
        )
        cur.execute(
            "INSERT INTO case_timeline (case_id, version, position, event_type, effective_date, recorded_at, actor,"
            " document_ref, status_after, details) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                case_id,
                event.originator_version,
                position,
                event_name(event),
                event.effective_date,
                utc_text(event.timestamp),
                event.actor,
                event.document_ref,
                status,
                event_details(event, HIDDEN),
            ),
        )

    def _state(self, cur: Cursor, case_id: str, event: Any) -> None:
        match event:
            case HouseholdCase.Applied():
                cur.execute(
                    "INSERT INTO case_state (case_id, kind, region_code, county_code, programme, status, status_since,"
                    " head_name, head_id_masked, head_person_key, applied_on, version, recorded_at)"
                    " VALUES (%s, 'household', %s, %s, %s, 'applied', %s, %s, %s, %s, %s, 1, %s)",
                    (
                        case_id,
                        event.region_code,
                        county_of(event.region_code),
                        event.programme,
                        event.effective_date,
                        event.members[0]["name"],
                        mask_id_number(event.members[0]["id_number"]),
                        self.person_key(event.members[0]["id_number"]),
                        event.effective_date,
                        utc_text(event.timestamp),
                    ),
                )
                for member in event.members:
                    self._member(cur, case_id, member, covered=True)
            case HouseholdCase.Approved():
                cur.execute(
                    "UPDATE case_state SET programme = %s, method = %s, tier_code = %s, start_month = %s,"
                    " payee_account_masked = %s, annual_review_due = %s, single_person = %s WHERE case_id = %s",
                    (
                        event.programme,
                        event.method,
                        event.tier_code,
                        event.start_month,
                        mask_account(event.payee["account_number"]),
                        event.annual_review_due,
                        event.single_person_id_number is not None,
                        case_id,
                    ),
                )
                if event.single_person_id_number is not None:
                    cur.execute(
                        "UPDATE case_members SET covered = (person_key = %s) WHERE case_id = %s",
                        (self.person_key(event.single_person_id_number), case_id),
                    )
            case HouseholdCase.MemberAdded():
                row = cur.execute(
                    "SELECT single_person FROM case_state WHERE case_id = %s", (case_id,)
                ).fetchone()
                self._member(cur, case_id, event.member, covered=not (row and row["single_person"]))
            case HouseholdCase.MemberRemoved():
                cur.execute(
                    "DELETE FROM case_members WHERE case_id = %s AND person_key = %s",
                    (case_id, self.person_key(event.id_number)),
                )
            case HouseholdCase.EconomicCheckRecorded() | HouseholdCase.IncomeReassessed():
                cur.execute(
                    "UPDATE case_state SET household_income_fen = %s WHERE case_id = %s",
                    (event.household_income_fen, case_id),
                )
            case HouseholdCase.TierChanged():
                cur.execute(
                    "UPDATE case_state SET tier_code = %s WHERE case_id = %s",
                    (event.tier_code, case_id),
                )
            case HouseholdCase.PayeeAccountChanged() | TekunPerson.ModeChanged():
                cur.execute(
                    "UPDATE case_state SET payee_account_masked = %s WHERE case_id = %s",
                    (mask_account(event.payee["account_number"]), case_id),
                )
                if isinstance(event, TekunPerson.ModeChanged):
                    cur.execute(
                        "UPDATE case_state SET programme = %s WHERE case_id = %s",
                        (f"tekun_{event.mode}", case_id),
                    )
            case HouseholdCase.GradualExitStarted():
                cur.execute(
                    "UPDATE case_state SET exit_months = %s WHERE case_id = %s",
                    (event.months, case_id),
                )
            case HouseholdCase.Terminated() | HouseholdCase.Rejected() | TekunPerson.Terminated():
                cur.execute(
                    "UPDATE case_state SET end_reason = %s WHERE case_id = %s",
                    (event.reason, case_id),
                )
            case HouseholdCase.AnnualReviewRecorded():
                cur.execute(
                    "UPDATE case_state SET annual_review_due = %s WHERE case_id = %s",
                    (event.next_due, case_id),
                )
            case TekunPerson.Approved():
                cur.execute(
                    "INSERT INTO case_state (case_id, kind, region_code, county_code, programme, status, status_since,"
                    " head_name, head_id_masked, head_person_key, applied_on, start_month, care_level,"
                    " payee_account_masked, version, recorded_at)"
                    " VALUES (%s, 'tekun', %s, %s, %s, 'active', %s, %s, %s, %s, %s, %s, %s, %s, 1, %s)",
                    (
                        case_id,
                        event.region_code,
                        county_of(event.region_code),
                        f"tekun_{event.mode}",
                        event.effective_date,
                        event.person["name"],
                        mask_id_number(event.person["id_number"]),
                        self.person_key(event.person["id_number"]),
                        event.effective_date,
                        event.start_month,
                        event.care_level,
                        mask_account(event.payee["account_number"]),
                        utc_text(event.timestamp),
                    ),
                )
                self._member(cur, case_id, dict(event.person, relation="self"), covered=True)
            case TekunPerson.CareLevelReassessed():
                cur.execute(
                    "UPDATE case_state SET care_level = %s WHERE case_id = %s",
                    (event.care_level, case_id),
                )
        cur.execute(
            "UPDATE case_state SET member_count = (SELECT COUNT(*) FROM case_members WHERE case_id = %s),"
            " covered_count = (SELECT COUNT(*) FROM case_members WHERE case_id = %s AND covered) WHERE case_id = %s",
            (case_id, case_id, case_id),
        )

    def _member(self, cur: Cursor, case_id: str, member: dict[str, Any], *, covered: bool) -> None:
        cur.execute(
            "INSERT INTO case_members (case_id, person_key, name, id_masked, relation, covered)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (
                case_id,
                self.person_key(member["id_number"]),
                member["name"],
                mask_id_number(member["id_number"]),
                member.get("relation", "member"),
                covered,
            ),
        )
