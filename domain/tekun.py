"""特困 person (support for the extremely poor): application, approval, care level, mode,
termination (SPEC §5).

NOTE: the events below are a storage format. Renaming or moving them needs ``register_topic``.
Before the first release every event stays at version 1 and changes shape in place; from the
first release on, a change needs a ``class_version`` bump and an upcaster tested against a
frozen payload of the old version (see tests/upcasting).

Centralised support (集中供养) is paid to the institution's account; dispersed support
(分散供养) to the person.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.dates import validate_month
from domain.decisions import decision_documents, decision_meta
from domain.duties import require_other_person
from domain.errors import Conflict, InvalidTransition, InvalidValue
from domain.household import CaseStatus, _name, termination_reason
from domain.identity import validate_account, validate_id_number
from domain.programmes import CareLevel, SupportMode
from domain.regions import validate_region_code

TEKUN_OPEN = frozenset({CaseStatus.ACTIVE})


def validate_support(
    mode: str,
    care_level: str,
    institution: dict[str, Any] | None,
    payee_account: str | None,
    payee_name: str | None,
) -> dict[str, Any]:
    """Mode, care level and who is paid: the institution (centralised) or the person (dispersed)."""
    try:
        mode = SupportMode(mode).value
    except ValueError:
        raise InvalidValue(
            "mode must be 'centralized' or 'dispersed'", field="mode", rule="support_mode"
        ) from None
    try:
        care_level = CareLevel(care_level).value
    except ValueError:
        raise InvalidValue(
            f"care_level must be one of {[c.value for c in CareLevel]}",
            field="care_level",
            rule="care_level",
        ) from None
    if mode == SupportMode.CENTRALIZED:
        if not institution:
            raise InvalidValue(
                "centralised support names the institution",
                field="institution",
                rule="institution_required",
            )
        payee = {
            "account_number": validate_account(
                institution.get("account_number", ""), "institution.account_number"
            ),
            "account_name": _name(institution.get("name", ""), "institution.name"),
        }
    else:
        payee = {
            "account_number": validate_account(payee_account or "", "payee_account"),
            "account_name": _name(payee_name or "", "payee_name"),
        }
    return {"mode": mode, "care_level": care_level, "payee": payee}


class TekunApplication(Aggregate):
    """An application for 特困 support (申请), recorded by the official who prepared it (经办):
    the approval names it, is taken by another person, and each application is approved once."""

    @event("Applied")
    def __init__(
        self,
        region_code: str,
        person: dict[str, str],
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> None:
        self.region_code = region_code
        self.person = person
        self.applied_by = staff_id
        self.case_id: str | None = None

    @classmethod
    def apply(
        cls, *, region_code: str, id_number: str, name: str, effective_date: str, actor: str,
        document_ref: str, staff_id: str, decided_on: str | None = None,
        document_date: str | None = None,
    ) -> TekunApplication:  # fmt: skip
        meta = decision_meta(effective_date, actor, document_ref)
        meta |= decision_documents(decided_on, document_date)
        person = {"id_number": validate_id_number(id_number, born_by=meta["effective_date"]),
                  "name": _name(name, "name")}  # fmt: skip
        return cls(region_code=validate_region_code(region_code), person=person, **meta,
                   staff_id=staff_id)  # fmt: skip

    def check_approval(self, *, id_number: str, region_code: str, staff_id: str) -> None:
        """The approval is of this application's person and region, once, by another person."""
        if self.case_id is not None:
            raise Conflict(
                "this application has already been approved",
                field="application_id",
                rule="application_decided",
            )
        if id_number != self.person["id_number"] or region_code != self.region_code:
            raise InvalidValue(
                "the approval names another person or region than the application",
                field="application_id",
                rule="application_mismatch",
            )
        require_other_person(staff_id, "approve it", {"applied_by": self.applied_by})

    @event("Approved")
    def record_approval(self, case_id: str, actor: str, staff_id: str) -> None:
        self.case_id = case_id


class TekunPerson(Aggregate):
    """One person supported under 特困供养, approved on an application (``TekunApplication``)."""

    @event("Approved")
    def __init__(
        self,
        region_code: str,
        person: dict[str, str],
        mode: str,
        care_level: str,
        payee: dict[str, str],
        start_month: str,
        effective_date: str,
        actor: str,
        document_ref: str,
        application_id: str = "",
        applied_by: str = "",
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> None:
        """``applied_by``: who prepared the application (经办); ``staff_id``: who approved (审批)."""
        self.application_id = application_id
        self.applied_by = applied_by
        self.region_code = region_code
        self.person = person
        self.mode = mode
        self.care_level = care_level
        self.payee = payee
        self.start_month = start_month
        self.status = CaseStatus.ACTIVE
        self.approved_on = effective_date
        self.terminated_reason: str | None = None

    @classmethod
    def approve(
        cls,
        *,
        region_code: str,
        id_number: str,
        name: str,
        mode: str,
        care_level: str,
        institution: dict[str, Any] | None,
        payee_account: str | None,
        payee_name: str | None,
        start_month: str,
        effective_date: str,
        actor: str,
        document_ref: str,
        application: TekunApplication,
        staff_id: str,
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> TekunPerson:
        meta = decision_meta(effective_date, actor, document_ref)
        meta |= decision_documents(decided_on, document_date)
        born_by = meta["effective_date"]
        person = {"id_number": validate_id_number(id_number, born_by=born_by),
                  "name": _name(name, "name")}  # fmt: skip
        region_code = validate_region_code(region_code)
        application.check_approval(
            id_number=person["id_number"], region_code=region_code, staff_id=staff_id
        )
        approved = cls(
            region_code=region_code,
            person=person,
            **validate_support(mode, care_level, institution, payee_account, payee_name),
            start_month=validate_month(start_month, "start_month"),
            **meta,
            application_id=str(application.id),
            applied_by=application.applied_by,
            staff_id=staff_id,
        )
        application.record_approval(case_id=str(approved.id), actor=actor, staff_id=staff_id)
        return approved

    @property
    def programme(self) -> str:
        return f"tekun_{self.mode}"

    def _meta(
        self,
        effective_date: str,
        actor: str,
        document_ref: str,
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> dict[str, Any]:
        """A decision on this person's support takes effect no earlier than its approval."""
        meta = decision_meta(
            effective_date, actor, document_ref, not_before=(self.approved_on, "before_approval")
        )
        return meta | decision_documents(decided_on, document_date)

    def _require_active(self, action: str) -> None:
        if self.status != CaseStatus.ACTIVE:
            raise InvalidTransition(
                f"cannot {action} a person whose support is {self.status}",
                field="status",
                rule=f"{action.replace(' ', '_')}_requires_active",
            )

    def reassess_care_level(
        self, *, care_level: str, effective_date: str, actor: str, document_ref: str,
        staff_id: str = "", decided_on: str | None = None, document_date: str | None = None,
    ) -> None:  # fmt: skip
        self._require_active("reassess the care level of")
        support = validate_support(
            self.mode,
            care_level,
            _institution(self),
            self.payee["account_number"],
            self.payee["account_name"],
        )
        self._care_level_reassessed(
            care_level=support["care_level"], **self._meta(effective_date, actor, document_ref, decided_on, document_date),
            staff_id=staff_id,
        )  # fmt: skip

    def change_mode(
        self,
        *,
        mode: str,
        institution: dict[str, Any] | None,
        payee_account: str | None,
        payee_name: str | None,
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> None:
        self._require_active("change the support mode of")
        support = validate_support(mode, self.care_level, institution, payee_account, payee_name)
        if support["mode"] == self.mode:
            raise InvalidValue(
                "the person is already supported in this mode", field="mode", rule="mode_changes"
            )
        self._mode_changed(
            mode=support["mode"],
            payee=support["payee"],
            **self._meta(effective_date, actor, document_ref, decided_on, document_date),
            staff_id=staff_id,
        )

    def terminate(
        self, *, reason: str, effective_date: str, actor: str, document_ref: str,
        staff_id: str = "", decided_on: str | None = None, document_date: str | None = None,
    ) -> None:  # fmt: skip
        """Not by the person who applied for the support (separation of duties)."""
        self._require_active("terminate")
        require_other_person(staff_id, "terminate it", {"applied_by": self.applied_by})
        self._terminated(
            reason=termination_reason(reason), **self._meta(effective_date, actor, document_ref, decided_on, document_date),
            staff_id=staff_id,
        )  # fmt: skip

    @event("CareLevelReassessed")
    def _care_level_reassessed(
        self, care_level: str, effective_date: str, actor: str, document_ref: str,
        staff_id: str = "", decided_on: str | None = None, document_date: str | None = None,
    ) -> None:  # fmt: skip
        self.care_level = care_level

    @event("ModeChanged")
    def _mode_changed(
        self, mode: str, payee: dict[str, str], effective_date: str, actor: str, document_ref: str,
        staff_id: str = "", decided_on: str | None = None, document_date: str | None = None,
    ) -> None:  # fmt: skip
        self.mode = mode
        self.payee = payee

    @event("Terminated")
    def _terminated(
        self,
        reason: str,
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> None:
        self.status = CaseStatus.TERMINATED
        self.terminated_reason = reason


def _institution(person: TekunPerson) -> dict[str, Any] | None:
    if person.mode != SupportMode.CENTRALIZED:
        return None
    return {"account_number": person.payee["account_number"], "name": person.payee["account_name"]}
