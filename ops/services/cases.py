"""Case commands: household cases (低保 / 低保边缘) and 特困 persons, from application to
termination, with the enrolment (one open case per person and kind) and recusal (回避) they need.

Each command is a frozen dataclass of the fields its route's body carries; ``decide`` loads the
case the caller may see, checks the permission, decides one step and returns what to save.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from domain.access import Principal
from domain.decisions import decision_documents, recording_lag
from domain.enrolment import PersonEnrolment, enrolment_id
from domain.entitlement import gradual_exit_ended
from domain.errors import Forbidden, NotFound
from domain.household import CaseStatus, HouseholdCase
from domain.tekun import TekunApplication, TekunPerson
from ops.services.core import Command, Outcome, Services, now_utc

# --- helpers shared by the case commands (and by grants) --------------------------------------


def enrol(
    services: Services, id_numbers: Sequence[str], kind: str, case_id: str, field: str = "id_number"
) -> list[Aggregate]:
    """Enrol each person in the case, refusing anyone already in another open case of the kind."""
    touched: list[Aggregate] = []
    for index, id_number in enumerate(id_numbers):
        key = services.person_key(id_number)
        try:
            enrolment = services.app.repository.get(enrolment_id(key))
        except AggregateNotFoundError:
            touched.append(PersonEnrolment(person_key=key, kind=kind, case_id=case_id))
            continue
        current = enrolment.open_cases.get(kind)
        if current is not None and current != case_id and _exit_over(services, current):
            enrolment.release(kind=kind, case_id=current)  # that case has left the programme
        enrolment.enrol(kind=kind, case_id=case_id, field=field.format(index=index))
        touched.append(enrolment)
    return touched


def _exit_over(services: Services, case_id: str) -> bool:
    """Whether a household case's gradual exit is over today: it has left the programme
    without another decision (``domain.entitlement.gradual_exit_ended``), so its members'
    enrolment ends when one of them is enrolled again."""
    try:
        case = services.app.repository.get(UUID(case_id))
    except AggregateNotFoundError:
        return False
    if not isinstance(case, HouseholdCase) or case.status != CaseStatus.GRADUAL_EXIT:
        return False
    assert case.exit_month is not None and case.exit_months is not None
    return gradual_exit_ended(case.exit_month, case.exit_months, now_utc().date().isoformat())


def release(
    services: Services, id_numbers: Sequence[str], kind: str, case_id: str
) -> list[Aggregate]:
    """End each person's enrolment in the case (a person never enrolled has nothing to end)."""
    touched: list[Aggregate] = []
    for id_number in id_numbers:
        try:
            enrolment = services.app.repository.get(enrolment_id(services.person_key(id_number)))
        except AggregateNotFoundError:
            continue
        enrolment.release(kind=kind, case_id=case_id)
        touched.append(enrolment)
    return touched


def require_unrelated(services: Services, principal: Principal, id_numbers: Iterable[str]) -> None:
    """Recusal (回避): an official registered in the relatives' registry (a ``cadre_relative``
    record naming the official's staff id) as related to one of these people takes no step
    on their case (403, rule ``recusal``)."""
    keys = [services.person_key(id_number) for id_number in id_numbers]
    if not keys:
        return
    services.projections.catch_up_if_behind(services.registry.name)  # every record recorded yet
    if services.registry.related(principal.staff_id, keys):
        raise Forbidden(
            "an official related to a member of this case (近亲属备案) must recuse",
            field="staff_id",
            rule="recusal",
        )


def require_unrelated_to_roll(services: Services, principal: Principal, roll_id: str) -> None:
    """Recusal on a roll (回避): an official registered as related to a member of a case the
    roll pays (the relative's open cases) neither approves it nor takes its bank file (403
    ``recusal`` naming the line); another officer can."""
    for view in (services.registry.name, services.rolls.name):
        services.projections.catch_up_if_behind(view)
    cases: set[str] = set()
    for key in services.registry.relatives_of(principal.staff_id):
        with contextlib.suppress(AggregateNotFoundError):
            cases.update(services.app.repository.get(enrolment_id(key)).open_cases.values())
    line = services.rolls.first_line_of(roll_id, sorted(cases)) if cases else None
    if line is not None:
        raise Forbidden(
            f"an official related to a member of case {line['case_id']} (近亲属备案), paid on"
            f" line {line['line_no']}, must recuse from this roll",
            field=f"lines[{line['line_no']}].case_id",
            rule="recusal",
        )


def decision_dates(decided_on: str | None, document_date: str | None) -> dict[str, Any]:
    """A decision's own dates (``decided_on``, ``document_date``), checked against the day it
    is recorded: today (UTC), the day of the event's recorded time."""
    dates = decision_documents(decided_on, document_date)
    recording_lag(dates, now_utc().date().isoformat())
    return dates


def in_scope(services: Services, principal: Principal, cls: type[Any], case_id: str) -> Any:
    """Load a case the caller may see; a case outside the scope is 'not found' (no leak)."""
    case = services.load(cls, case_id, "case_id")
    if not principal.sees(case.region_code):
        raise NotFound(f"no such {cls.__name__}", field="case_id", rule="exists")
    return case


def case_summary(case: HouseholdCase | TekunPerson) -> dict[str, Any]:
    return {
        "case_id": str(case.id),
        "status": str(case.status),
        "version": case.version,
        "region_code": case.region_code,
        "programme": str(case.programme),
    }


# --- household cases --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ApplyHousehold(Command):
    """Record an application (申请), enrolling its members."""

    region_code: str
    programme: str
    members: list[dict[str, Any]]
    address: str = ""
    effective_date: str
    document_ref: str
    decided_on: str | None = None
    document_date: str | None = None

    def decide(self, services: Services, principal: Principal) -> Outcome:
        principal.require("case.apply")
        principal.require_region(self.region_code)
        case = HouseholdCase.apply(
            region_code=self.region_code, programme=self.programme, members=self.members,
            address=self.address, effective_date=self.effective_date,
            document_ref=self.document_ref, actor=principal.credential_id,
            staff_id=principal.staff_id, **decision_dates(self.decided_on, self.document_date),
        )  # fmt: skip
        require_unrelated(services, principal, case.members)
        enrolments = enrol(
            services, list(case.members), "household", str(case.id), "members[{index}].id_number"
        )
        return Outcome([case, *enrolments], case_summary(case), 201)


@dataclass(frozen=True, kw_only=True)
class HouseholdDecision(Command):
    """One step on an open household case; ``take`` calls the case's method for it."""

    case_id: str
    effective_date: str
    document_ref: str
    decided_on: str | None = None
    document_date: str | None = None
    permission: ClassVar[str] = "case.decide"

    def decide(self, services: Services, principal: Principal) -> Outcome:
        case: HouseholdCase = in_scope(services, principal, HouseholdCase, self.case_id)
        principal.require(self.permission)
        require_unrelated(services, principal, case.members)
        before = set(case.members)
        self.take(case, principal.credential_id, principal.staff_id)
        after = set(case.members) if case.status not in ("terminated", "rejected") else set()
        enrolments = enrol(services, sorted(after - before), "household", str(case.id))
        enrolments += release(services, sorted(before - after), "household", str(case.id))
        return Outcome([case, *enrolments], case_summary(case))

    def take(self, case: HouseholdCase, actor: str, staff_id: str | None) -> None:
        """Decide the step on ``case``; ``staff_id`` goes to the steps separation of duties
        compares (who prepared, who decided)."""
        raise NotImplementedError

    def meta(self, actor: str) -> dict[str, Any]:
        return {"effective_date": self.effective_date, "document_ref": self.document_ref,
                "actor": actor, **decision_dates(self.decided_on, self.document_date)}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class RecordEconomicCheck(HouseholdDecision):
    income: dict[str, Any]
    permission: ClassVar[str] = "case.record"

    def take(self, case: HouseholdCase, actor: str, staff_id: str | None) -> None:
        case.record_economic_check(income=self.income, **self.meta(actor), staff_id=staff_id)


@dataclass(frozen=True, kw_only=True)
class ApproveHousehold(HouseholdDecision):
    method: str
    tier_code: str | None
    start_month: str
    payee_account: str
    payee_name: str
    single_person_id_number: str | None
    annual_review_due: str | None
    programme: str | None

    def take(self, case: HouseholdCase, actor: str, staff_id: str | None) -> None:
        case.approve(
            method=self.method, tier_code=self.tier_code, start_month=self.start_month,
            payee_account=self.payee_account, payee_name=self.payee_name,
            single_person_id_number=self.single_person_id_number,
            annual_review_due=self.annual_review_due, programme=self.programme,
            **self.meta(actor), staff_id=staff_id,
        )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class RejectHousehold(HouseholdDecision):
    reason: str

    def take(self, case: HouseholdCase, actor: str, staff_id: str | None) -> None:
        case.reject(reason=self.reason, **self.meta(actor), staff_id=staff_id)


@dataclass(frozen=True, kw_only=True)
class AddMember(HouseholdDecision):
    member: dict[str, Any]
    permission: ClassVar[str] = "case.record"

    def take(self, case: HouseholdCase, actor: str, staff_id: str | None) -> None:
        case.add_member(member=self.member, **self.meta(actor), staff_id=staff_id)


@dataclass(frozen=True, kw_only=True)
class RemoveMember(HouseholdDecision):
    id_number: str
    reason: str
    permission: ClassVar[str] = "case.record"

    def take(self, case: HouseholdCase, actor: str, staff_id: str | None) -> None:
        case.remove_member(
            id_number=self.id_number, reason=self.reason, **self.meta(actor), staff_id=staff_id
        )


@dataclass(frozen=True, kw_only=True)
class ReassessIncome(HouseholdDecision):
    income: dict[str, Any]
    permission: ClassVar[str] = "case.record"

    def take(self, case: HouseholdCase, actor: str, staff_id: str | None) -> None:
        case.reassess_income(income=self.income, **self.meta(actor), staff_id=staff_id)


@dataclass(frozen=True, kw_only=True)
class ChangeTier(HouseholdDecision):
    tier_code: str

    def take(self, case: HouseholdCase, actor: str, staff_id: str | None) -> None:
        case.change_tier(tier_code=self.tier_code, **self.meta(actor), staff_id=staff_id)


@dataclass(frozen=True, kw_only=True)
class ChangePayeeAccount(HouseholdDecision):
    account_number: str
    account_name: str
    permission: ClassVar[str] = "case.record"

    def take(self, case: HouseholdCase, actor: str, staff_id: str | None) -> None:
        case.change_payee_account(
            account_number=self.account_number, account_name=self.account_name, **self.meta(actor),
            staff_id=staff_id,
        )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class SuspendHousehold(HouseholdDecision):
    reason: str

    def take(self, case: HouseholdCase, actor: str, staff_id: str | None) -> None:
        case.suspend(reason=self.reason, **self.meta(actor), staff_id=staff_id)


@dataclass(frozen=True, kw_only=True)
class ResumeHousehold(HouseholdDecision):
    def take(self, case: HouseholdCase, actor: str, staff_id: str | None) -> None:
        case.resume(**self.meta(actor), staff_id=staff_id)


@dataclass(frozen=True, kw_only=True)
class StartGradualExit(HouseholdDecision):
    months: int

    def take(self, case: HouseholdCase, actor: str, staff_id: str | None) -> None:
        case.start_gradual_exit(months=self.months, **self.meta(actor), staff_id=staff_id)


@dataclass(frozen=True, kw_only=True)
class TerminateHousehold(HouseholdDecision):
    reason: str

    def take(self, case: HouseholdCase, actor: str, staff_id: str | None) -> None:
        case.terminate(reason=self.reason, **self.meta(actor), staff_id=staff_id)


@dataclass(frozen=True, kw_only=True)
class RecordAnnualReview(HouseholdDecision):
    outcome: str
    next_due: str
    eligible: bool | None = None

    def take(self, case: HouseholdCase, actor: str, staff_id: str | None) -> None:
        case.record_annual_review(
            outcome=self.outcome, next_due=self.next_due, eligible=self.eligible,
            **self.meta(actor), staff_id=staff_id,
        )  # fmt: skip


# The step each decision route's last path segment names (``POST /households/{id}/{action}``).
HOUSEHOLD_DECISIONS: dict[str, type[HouseholdDecision]] = {
    "economic-checks": RecordEconomicCheck,
    "approve": ApproveHousehold,
    "reject": RejectHousehold,
    "members": AddMember,
    "remove-member": RemoveMember,
    "income": ReassessIncome,
    "tier": ChangeTier,
    "payee-account": ChangePayeeAccount,
    "suspend": SuspendHousehold,
    "resume": ResumeHousehold,
    "gradual-exit": StartGradualExit,
    "terminate": TerminateHousehold,
    "annual-review": RecordAnnualReview,
}


# --- 特困 persons ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ApplyTekun(Command):
    """Record an application for 特困 support (申请): the step its approver may not take too."""

    region_code: str
    id_number: str
    name: str
    effective_date: str
    document_ref: str
    decided_on: str | None = None
    document_date: str | None = None

    def decide(self, services: Services, principal: Principal) -> Outcome:
        principal.require("case.record")
        principal.require_region(self.region_code)
        fields = asdict(self) | decision_dates(self.decided_on, self.document_date)
        application = TekunApplication.apply(**fields, actor=principal.credential_id,
                                             staff_id=principal.staff_id)  # fmt: skip
        require_unrelated(services, principal, [application.person["id_number"]])
        return Outcome([application], {"application_id": str(application.id),
                                       "region_code": application.region_code}, 201)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class ApproveTekun(Command):
    """Approve support for an extremely poor person (特困供养) on their application, enrolling them."""

    application_id: str
    region_code: str
    id_number: str
    name: str
    mode: str
    care_level: str
    institution: dict[str, Any] | None = None
    payee_account: str | None = None
    payee_name: str | None = None
    start_month: str
    effective_date: str
    document_ref: str
    decided_on: str | None = None
    document_date: str | None = None

    def decide(self, services: Services, principal: Principal) -> Outcome:
        principal.require("case.decide")
        principal.require_region(self.region_code)
        application = services.load(TekunApplication, self.application_id, "application_id")
        if not principal.sees(application.region_code):
            raise NotFound("no such application", field="application_id", rule="exists")
        person = TekunPerson.approve(
            region_code=self.region_code, id_number=self.id_number, name=self.name,
            mode=self.mode, care_level=self.care_level, institution=self.institution,
            payee_account=self.payee_account, payee_name=self.payee_name,
            start_month=self.start_month, effective_date=self.effective_date,
            document_ref=self.document_ref, actor=principal.credential_id,
            application=application, staff_id=principal.staff_id,
            **decision_dates(self.decided_on, self.document_date),
        )  # fmt: skip
        require_unrelated(services, principal, [person.person["id_number"]])
        enrolments = enrol(services, [person.person["id_number"]], "tekun", str(person.id))
        return Outcome([application, person, *enrolments], case_summary(person), 201)


@dataclass(frozen=True, kw_only=True)
class TekunDecision(Command):
    """One step on a 特困 person's support; ``take`` calls the person's method for it."""

    case_id: str
    effective_date: str
    document_ref: str
    decided_on: str | None = None
    document_date: str | None = None

    def decide(self, services: Services, principal: Principal) -> Outcome:
        person: TekunPerson = in_scope(services, principal, TekunPerson, self.case_id)
        principal.require("case.decide")
        require_unrelated(services, principal, [person.person["id_number"]])
        self.take(person, principal.credential_id, principal.staff_id)
        touched: list[Aggregate] = [person]
        if person.status == "terminated":
            touched += release(services, [person.person["id_number"]], "tekun", str(person.id))
        return Outcome(touched, case_summary(person))

    def take(self, person: TekunPerson, actor: str, staff_id: str) -> None:
        raise NotImplementedError

    def meta(self, actor: str, staff_id: str) -> dict[str, Any]:
        return {"effective_date": self.effective_date, "document_ref": self.document_ref,
                "actor": actor, "staff_id": staff_id,
                **decision_dates(self.decided_on, self.document_date)}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class ReassessCareLevel(TekunDecision):
    care_level: str

    def take(self, person: TekunPerson, actor: str, staff_id: str) -> None:
        person.reassess_care_level(care_level=self.care_level, **self.meta(actor, staff_id))


@dataclass(frozen=True, kw_only=True)
class ChangeTekunMode(TekunDecision):
    mode: str
    institution: dict[str, Any] | None = None
    payee_account: str | None = None
    payee_name: str | None = None

    def take(self, person: TekunPerson, actor: str, staff_id: str) -> None:
        person.change_mode(
            mode=self.mode, institution=self.institution, payee_account=self.payee_account,
            payee_name=self.payee_name, **self.meta(actor, staff_id),
        )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class TerminateTekun(TekunDecision):
    reason: str

    def take(self, person: TekunPerson, actor: str, staff_id: str) -> None:
        person.terminate(reason=self.reason, **self.meta(actor, staff_id))


# The step each 特困 decision route's last path segment names.
TEKUN_DECISIONS: dict[str, type[TekunDecision]] = {
    "care-level": ReassessCareLevel,
    "mode": ChangeTekunMode,
    "terminate": TerminateTekun,
}
