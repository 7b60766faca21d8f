"""Separation of duties (不相容岗位相互分离): the person who prepares a step is not the one who
approves it.

A person is an officer's staff id, carried by every credential that prepares or approves (see
``domain.access``), so two tokens of one person are the same actor. Aggregates record the staff
id of each step beside the credential id (``actor``) and call ``require_other_person`` before a
checking step; an empty staff id (a caseload migrated by the bulk importer) conflicts with no one.
"""

from __future__ import annotations

from domain.errors import Forbidden


def require_other_person(staff_id: str, action: str, earlier: dict[str, str | None]) -> None:
    """Refuse (403, rule ``separation_of_duties``) if ``staff_id`` did one of the ``earlier``
    steps; ``earlier`` maps the step's field name (``applied_by``…) to the staff id that took it."""
    if not staff_id:
        return
    for step, maker in earlier.items():
        if maker == staff_id:
            raise Forbidden(
                f"the person who {STEP_NAMES.get(step, step)} may not {action}",
                field=step,
                rule="separation_of_duties",
            )


STEP_NAMES = {
    "applied_by": "applied for this case",
    "checked_by": "recorded its last economic check",
    "requested_by": "requested this grant",
    "approved_by": "approved it",
    "generated_by": "generated this roll's current draft",
    "staff_id": "holds the credential",
    "proposed_by": "proposed this posting",
}


# Which step (经办 prepared, 审核 checked, 审批 approved) each decision or posting event records,
# by event name; any other event naming a person (a member added, a payee account changed, a
# supplement) is a prepared step. The audit trail shows the person behind each.
PREPARED, CHECKED, APPROVED = "prepared_by", "checked_by", "approved_by"
STEP_OF_EVENT = {
    "HouseholdCase.EconomicCheckRecorded": CHECKED,
    "HouseholdCase.IncomeReassessed": CHECKED,
    "HouseholdCase.Approved": APPROVED,
    "HouseholdCase.Rejected": APPROVED,
    "HouseholdCase.Terminated": APPROVED,
    "TekunPerson.Approved": APPROVED,
    "TekunPerson.Terminated": APPROVED,
    "TekunPerson.CareLevelReassessed": APPROVED,
    "TekunPerson.ModeChanged": APPROVED,
    "TekunApplication.Approved": APPROVED,
    "TemporaryGrant.Approved": APPROVED,
    "PaymentRoll.Approved": APPROVED,
}
# Earlier steps an event names besides its own: a 特困 approval its application's maker, a
# confirmed posting or carry-over its second officer (复核).
NAMED_STEPS = {"applied_by": PREPARED, "confirmed_by": CHECKED}


def duties(event_name: str, fields: dict[str, object]) -> dict[str, str]:
    """Who prepared, checked and approved, as far as one event records it (staff ids; an
    event that names no person gives nothing)."""
    found: dict[str, str] = {}
    staff_id = fields.get("staff_id")
    if isinstance(staff_id, str) and staff_id:
        found[STEP_OF_EVENT.get(event_name, PREPARED)] = staff_id
    for name, step in NAMED_STEPS.items():
        value = fields.get(name)
        if isinstance(value, str) and value:
            found[step] = value
    return found
