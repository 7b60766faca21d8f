"""Household case (低保 / 低保边缘): application, checks, approval, changes, exit (SPEC §5).

NOTE: the events below are a storage format. Renaming or moving them needs ``register_topic``.
Before the first release every event stays at version 1 and changes shape in place; from the
first release on, a change needs a ``class_version`` bump and an upcaster tested against a
frozen payload of the old version (see tests/upcasting).

Each public method decides (validates against the current state and the input) and then calls
exactly one ``@event`` method, whose body is the fold: it only changes state, so replaying the
log rebuilds the same case.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.dates import add_months, month_of, validate_month
from domain.decisions import decision_documents, decision_meta
from domain.duties import require_other_person
from domain.errors import InvalidTransition, InvalidValue
from domain.identity import validate_account, validate_id_number
from domain.money import require_fen
from domain.programmes import HOUSEHOLD_PROGRAMMES, PaymentMethod, Programme
from domain.regions import validate_region_code
from domain.text import clean_text

DEFAULT_GRADUAL_EXIT_MONTHS = 6  # 渐退期


class CaseStatus(StrEnum):
    APPLIED = "applied"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    GRADUAL_EXIT = "gradual_exit"
    TERMINATED = "terminated"
    REJECTED = "rejected"


OPEN_STATUSES = frozenset(
    {CaseStatus.APPLIED, CaseStatus.ACTIVE, CaseStatus.SUSPENDED, CaseStatus.GRADUAL_EXIT}
)
PAYING_STATUSES = frozenset({CaseStatus.ACTIVE, CaseStatus.GRADUAL_EXIT})


class TerminationReason(StrEnum):
    INCOME_ABOVE_STANDARD = "income_above_standard"
    DEATH = "death"
    MOVED = "moved"
    FRAUD = "fraud"
    VOLUNTARY = "voluntary"
    NO_LONGER_ELIGIBLE = "no_longer_eligible"
    GRADUAL_EXIT_ENDED = "gradual_exit_ended"
    OTHER = "other"


def termination_reason(reason: str) -> str:
    try:
        return TerminationReason(reason).value
    except ValueError:
        raise InvalidValue(
            f"reason must be one of {[r.value for r in TerminationReason]}",
            field="reason",
            rule="termination_reason",
        ) from None


def validate_members(members: list[dict[str, Any]], born_by: str) -> list[dict[str, Any]]:
    """Members as stored: id number (validated, born by ``born_by``, the decision's date),
    name, relation; each person once."""
    if not members:
        raise InvalidValue("a household has at least one member", field="members", rule="non_empty")
    seen: set[str] = set()
    clean = []
    for index, member in enumerate(members):
        id_number = validate_id_number(
            member.get("id_number", ""), f"members[{index}].id_number", born_by=born_by
        )
        if id_number in seen:
            raise InvalidValue(
                "a person is listed twice",
                field=f"members[{index}].id_number",
                rule="unique_member",
            )
        seen.add(id_number)
        name = clean_text(str(member.get("name", "")).strip(), f"members[{index}].name")
        if not name or len(name) > 50:
            raise InvalidValue(
                "name is 1–50 characters", field=f"members[{index}].name", rule="name_required"
            )
        clean.append(
            {
                "id_number": id_number,
                "name": name,
                "relation": clean_text(
                    str(member.get("relation") or "member"), f"members[{index}].relation"
                ),
            }
        )
    return clean


def validate_income(values: dict[str, Any]) -> dict[str, Any]:
    """An economic check: monthly household income and what the rules count out of it."""
    fields = (
        "household_income_fen",
        "excluded_income_fen",
        "rigid_expenditure_fen",
        "employment_cost_fen",
        "assets_fen",
        "deposits_fen",
    )
    clean: dict[str, Any] = {name: require_fen(values.get(name, 0), name) for name in fields}
    if clean["excluded_income_fen"] > clean["household_income_fen"]:
        raise InvalidValue(
            "excluded income cannot exceed household income",
            field="excluded_income_fen",
            rule="excluded_not_above_income",
        )
    matches = values.get("data_matches") or []
    if not isinstance(matches, list) or not all(isinstance(m, str) for m in matches):
        raise InvalidValue(
            "data_matches is a list of strings", field="data_matches", rule="string_list"
        )
    clean["data_matches"] = list(matches)
    return clean


# --- decisions as pure functions ------------------------------------------------------------
# Each returns the validated fields of one event. The aggregate's methods call them after their
# checks of the case's state, and the bulk importer (ledger/store/bulk.py) calls the same functions to
# encode new cases' events directly: one set of rules for both paths.


def application_fields(
    *, region_code: str, programme: str, members: list[dict[str, Any]], address: str,
    effective_date: str, actor: str, document_ref: str, decided_on: str | None = None,
    document_date: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The fields of ``Applied``."""
    if programme not in HOUSEHOLD_PROGRAMMES:
        raise InvalidValue(
            f"programme must be one of {sorted(HOUSEHOLD_PROGRAMMES)}",
            field="programme",
            rule="household_programme",
        )
    meta = decision_meta(effective_date, actor, document_ref)
    meta |= decision_documents(decided_on, document_date)
    return {
        "region_code": validate_region_code(region_code),
        "programme": programme,
        "members": validate_members(members, born_by=meta["effective_date"]),
        "address": str(address or "")[:200],
        **meta,
    }


def economic_check_fields(
    income: dict[str, Any],
    effective_date: str,
    actor: str,
    document_ref: str,
    decided_on: str | None = None,
    document_date: str | None = None,
    *,
    applied_on: str,
) -> dict[str, Any]:
    """The fields of ``EconomicCheckRecorded`` for a case applied for on ``applied_on``."""
    meta = decision_meta(effective_date, actor, document_ref,
                         not_before=(applied_on, "before_application"))  # fmt: skip
    return {**validate_income(income), **meta, **decision_documents(decided_on, document_date)}


def approval_fields(
    *, applied_programme: str, member_ids: Collection[str], method: str, tier_code: str | None,
    start_month: str, payee_account: str, payee_name: str, single_person_id_number: str | None,
    annual_review_due: str | None, programme: str | None, effective_date: str, actor: str,
    document_ref: str, decided_on: str | None = None, document_date: str | None = None,
    applied_on: str,
) -> dict[str, Any]:  # fmt: skip
    """The fields of ``Approved`` for a case applied for ``applied_programme`` on ``applied_on``
    with these members (the caller has checked that the case is applied and economically
    checked). Neither the approval nor the first month paid precedes the application."""
    meta = decision_meta(effective_date, actor, document_ref,
                         not_before=(applied_on, "before_application"))  # fmt: skip
    meta |= decision_documents(decided_on, document_date)
    start_month = validate_month(start_month, "start_month")
    if start_month < month_of(applied_on):
        raise InvalidValue(
            f"start_month {start_month} is before the month of the application ({applied_on})",
            field="start_month",
            rule="before_application",
        )
    method = _method(method, tier_code)
    programme = programme or applied_programme
    if programme not in HOUSEHOLD_PROGRAMMES:
        raise InvalidValue(
            "programme must be a household programme",
            field="programme",
            rule="household_programme",
        )
    if single_person_id_number is not None:
        if applied_programme != Programme.MARGINAL:
            raise InvalidValue(
                "single-person cover (单人保) applies to marginal households",
                field="single_person_id_number",
                rule="single_person_marginal_only",
            )
        if validate_id_number(single_person_id_number, "single_person_id_number") not in member_ids:
            raise InvalidValue(
                "the single covered person must be a member",
                field="single_person_id_number",
                rule="member_of_household",
            )
    if annual_review_due is not None:
        decision_meta(annual_review_due, actor, document_ref)  # validates the date
    return {
        "programme": programme,
        "method": method,
        "tier_code": tier_code,
        "start_month": start_month,
        "payee": {
            "account_number": validate_account(payee_account, "payee_account"),
            "account_name": _name(payee_name, "payee_name"),
        },
        "single_person_id_number": single_person_id_number,
        "annual_review_due": annual_review_due,
        **meta,
    }


class HouseholdCase(Aggregate):
    """A household's case from application to termination."""

    @event("Applied")
    def __init__(
        self,
        region_code: str,
        programme: str,
        members: list[dict[str, Any]],
        address: str,
        effective_date: str,
        actor: str,
        document_ref: str,
        decided_on: str | None = None,
        document_date: str | None = None,
        staff_id: str = "",
    ) -> None:
        self.region_code = region_code
        self.programme = programme
        self.members = {m["id_number"]: dict(m, covered=True) for m in members}
        self.head_id_number = members[0]["id_number"]
        self.address = address
        self.status = CaseStatus.APPLIED
        self.applied_on = effective_date
        self.method: str | None = None
        self.tier_code: str | None = None
        self.start_month: str | None = None
        self.single_person = False
        self.income: dict[str, Any] | None = None
        self.payee: dict[str, str] | None = None
        self.exit_months: int | None = None
        self.exit_month: str | None = None
        self.annual_review_due: str | None = None
        self.terminated_reason: str | None = None
        # Who prepared the decision an approver takes: separation of duties compares them.
        self.applied_by = staff_id
        self.checked_by = ""

    @classmethod
    def apply(
        cls,
        *,
        region_code: str,
        programme: str,
        members: list[dict[str, Any]],
        address: str,
        effective_date: str,
        actor: str,
        document_ref: str,
        decided_on: str | None = None,
        document_date: str | None = None,
        case_id: UUID | None = None,
        staff_id: str = "",
    ) -> HouseholdCase:
        """Record an application; ``case_id`` lets a bulk import derive ids so re-runs are no-ops."""
        fields = application_fields(
            region_code=region_code, programme=programme, members=members, address=address,
            effective_date=effective_date, actor=actor, document_ref=document_ref,
            decided_on=decided_on, document_date=document_date,
        )  # fmt: skip
        if case_id is None:
            return cls(**fields, staff_id=staff_id)
        applied: type[Any] = getattr(cls, "Applied")  # noqa: B009 - made by @event, unseen by mypy
        return cls._create(applied, id=case_id, **fields, staff_id=staff_id)

    # --- decide ---------------------------------------------------------------------------

    def _meta(
        self,
        effective_date: str,
        actor: str,
        document_ref: str,
        decided_on: str | None = None,
        document_date: str | None = None,
        staff_id: str | None = None,
    ) -> dict[str, Any]:
        """A decision on this case takes effect no earlier than the application. It may precede
        an earlier decision's date: a death learned late terminates from the day of death,
        even if that was before the approval was dated. With ``staff_id``, the person is in it."""
        meta = decision_meta(
            effective_date, actor, document_ref, not_before=(self.applied_on, "before_application")
        )
        meta |= decision_documents(decided_on, document_date)
        return meta if staff_id is None else meta | {"staff_id": staff_id}

    def _require(self, allowed: frozenset[CaseStatus] | set[CaseStatus], action: str) -> None:
        if self.status not in allowed:
            raise InvalidTransition(
                f"cannot {action} a case that is {self.status}",
                field="status",
                rule=f"{action.replace(' ', '_')}_requires_{'_or_'.join(sorted(allowed))}",
            )

    def record_economic_check(
        self,
        *,
        income: dict[str, Any],
        effective_date: str,
        actor: str,
        document_ref: str,
        decided_on: str | None = None,
        document_date: str | None = None,
        staff_id: str = "",
    ) -> None:
        self._require(OPEN_STATUSES, "record an economic check on")
        self._economic_check_recorded(
            **economic_check_fields(
                income,
                effective_date,
                actor,
                document_ref,
                decided_on,
                document_date,
                applied_on=self.applied_on,
            ),
            staff_id=staff_id,
        )

    def _require_checker(self, staff_id: str, action: str) -> None:
        """The person deciding neither applied for the case nor recorded its last economic check."""
        require_other_person(
            staff_id, action, {"applied_by": self.applied_by, "checked_by": self.checked_by}
        )

    def approve(
        self,
        *,
        method: str,
        tier_code: str | None,
        start_month: str,
        payee_account: str,
        payee_name: str,
        single_person_id_number: str | None,
        annual_review_due: str | None,
        programme: str | None,
        effective_date: str,
        actor: str,
        document_ref: str,
        decided_on: str | None = None,
        document_date: str | None = None,
        staff_id: str = "",
    ) -> None:
        self._require({CaseStatus.APPLIED}, "approve")
        if self.income is None:
            raise InvalidTransition(
                "an economic check must be recorded before approval",
                field="status",
                rule="economic_check_before_approval",
            )
        self._require_checker(staff_id, "approve it")
        self._approved(
            staff_id=staff_id,
            **approval_fields(
                applied_programme=self.programme, member_ids=self.members, method=method,
                tier_code=tier_code, start_month=start_month, payee_account=payee_account,
                payee_name=payee_name, single_person_id_number=single_person_id_number,
                annual_review_due=annual_review_due, programme=programme,
                effective_date=effective_date, actor=actor, document_ref=document_ref,
                decided_on=decided_on, document_date=document_date, applied_on=self.applied_on,
            )
        )  # fmt: skip

    def reject(
        self,
        *,
        reason: str,
        effective_date: str,
        actor: str,
        document_ref: str,
        decided_on: str | None = None,
        document_date: str | None = None,
        staff_id: str = "",
    ) -> None:
        self._require({CaseStatus.APPLIED}, "reject")
        meta = self._meta(effective_date, actor, document_ref, decided_on, document_date)
        self._require_checker(staff_id, "reject it")
        self._rejected(reason=_text(reason, "reason"), **meta, staff_id=staff_id)

    def add_member(
        self,
        *,
        member: dict[str, Any],
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> None:
        self._require(OPEN_STATUSES, "add a member to")
        meta = self._meta(
            effective_date, actor, document_ref, decided_on, document_date, staff_id=staff_id
        )
        clean = validate_members([member], born_by=meta["effective_date"])[0]
        if clean["id_number"] in self.members:
            raise InvalidValue(
                "already a member of this household", field="id_number", rule="unique_member"
            )
        self._member_added(member=clean, **meta)

    def remove_member(
        self,
        *,
        id_number: str,
        reason: str,
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> None:
        self._require(OPEN_STATUSES, "remove a member from")
        if id_number not in self.members:
            raise InvalidValue(
                "not a member of this household", field="id_number", rule="member_of_household"
            )
        if len(self.members) == 1:
            raise InvalidTransition(
                "the last member cannot be removed; terminate the case instead",
                field="id_number",
                rule="last_member",
            )
        self._member_removed(
            id_number=id_number,
            reason=_text(reason, "reason"),
            **self._meta(
                effective_date, actor, document_ref, decided_on, document_date, staff_id=staff_id
            ),
        )

    def reassess_income(
        self,
        *,
        income: dict[str, Any],
        effective_date: str,
        actor: str,
        document_ref: str,
        decided_on: str | None = None,
        document_date: str | None = None,
        staff_id: str = "",
    ) -> None:
        self._require(PAYING_STATUSES | {CaseStatus.SUSPENDED}, "reassess income of")
        self._income_reassessed(
            **validate_income(income),
            **self._meta(effective_date, actor, document_ref, decided_on, document_date),
            staff_id=staff_id,
        )

    def change_tier(
        self,
        *,
        tier_code: str,
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> None:
        self._require(PAYING_STATUSES | {CaseStatus.SUSPENDED}, "change the tier of")
        if self.method != PaymentMethod.TIER:
            raise InvalidTransition(
                "the case is paid by top-up, not by tier", field="tier_code", rule="tier_method"
            )
        _method(PaymentMethod.TIER, tier_code)
        self._tier_changed(
            tier_code=tier_code,
            **self._meta(
                effective_date, actor, document_ref, decided_on, document_date, staff_id=staff_id
            ),
        )

    def change_payee_account(
        self,
        *,
        account_number: str,
        account_name: str,
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> None:
        self._require(PAYING_STATUSES | {CaseStatus.SUSPENDED}, "change the payee account of")
        self._payee_account_changed(
            payee={
                "account_number": validate_account(account_number),
                "account_name": _name(account_name, "account_name"),
            },
            **self._meta(
                effective_date, actor, document_ref, decided_on, document_date, staff_id=staff_id
            ),
        )

    def suspend(
        self,
        *,
        reason: str,
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> None:
        self._require({CaseStatus.ACTIVE}, "suspend")
        self._suspended(
            reason=_text(reason, "reason"),
            **self._meta(
                effective_date, actor, document_ref, decided_on, document_date, staff_id=staff_id
            ),
        )

    def resume(
        self,
        *,
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> None:
        self._require({CaseStatus.SUSPENDED}, "resume")
        self._resumed(
            **self._meta(
                effective_date, actor, document_ref, decided_on, document_date, staff_id=staff_id
            )
        )

    def start_gradual_exit(
        self,
        *,
        months: int,
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> None:
        self._require({CaseStatus.ACTIVE}, "start gradual exit of")
        if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 12:
            raise InvalidValue(
                "months must be a whole number 1–12", field="months", rule="gradual_exit_months"
            )
        self._gradual_exit_started(
            months=months,
            **self._meta(
                effective_date, actor, document_ref, decided_on, document_date, staff_id=staff_id
            ),
        )

    def terminate(
        self,
        *,
        reason: str,
        effective_date: str,
        actor: str,
        document_ref: str,
        decided_on: str | None = None,
        document_date: str | None = None,
        staff_id: str = "",
    ) -> None:
        self._require(PAYING_STATUSES | {CaseStatus.SUSPENDED}, "terminate")
        reason = termination_reason(reason)
        meta = self._meta(effective_date, actor, document_ref, decided_on, document_date)
        self._require_checker(staff_id, "terminate it")
        self._terminated(reason=reason, **meta, staff_id=staff_id)

    def record_annual_review(
        self,
        *,
        outcome: str,
        next_due: str,
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
        eligible: bool | None = None,
    ) -> None:
        """A review (复核); ``eligible`` true during a gradual exit means it found the household
        eligible again, so the case is active again and does not leave when the exit ends."""
        self._require(PAYING_STATUSES | {CaseStatus.SUSPENDED}, "review")
        decision_meta(next_due, actor, document_ref)
        meta = self._meta(
            effective_date, actor, document_ref, decided_on, document_date, staff_id=staff_id
        )
        if eligible and self.status is CaseStatus.GRADUAL_EXIT:
            assert self.exit_month is not None and self.exit_months is not None
            until = add_months(self.exit_month, self.exit_months)
            if month_of(meta["effective_date"]) >= until:
                raise InvalidTransition(
                    f"the gradual exit ended before {until}; a household found eligible after"
                    " it applies again",
                    field="effective_date",
                    rule="within_gradual_exit",
                )
        self._annual_review_recorded(
            outcome=_text(outcome, "outcome"), next_due=next_due, eligible=eligible, **meta
        )

    # --- fold -----------------------------------------------------------------------------

    def _set_income(
        self, income_fen: int, excluded_fen: int, rigid_fen: int, employment_fen: int
    ) -> None:
        self.income = {
            "household_income_fen": income_fen,
            "excluded_income_fen": excluded_fen,
            "rigid_expenditure_fen": rigid_fen,
            "employment_cost_fen": employment_fen,
        }

    @event("EconomicCheckRecorded")
    def _economic_check_recorded(
        self,
        household_income_fen: int,
        excluded_income_fen: int,
        rigid_expenditure_fen: int,
        employment_cost_fen: int,
        assets_fen: int,
        deposits_fen: int,
        data_matches: list[str],
        effective_date: str,
        actor: str,
        document_ref: str,
        decided_on: str | None = None,
        document_date: str | None = None,
        staff_id: str = "",
    ) -> None:
        self._set_income(
            household_income_fen, excluded_income_fen, rigid_expenditure_fen, employment_cost_fen
        )
        self.checked_by = staff_id

    @event("Approved")
    def _approved(
        self,
        programme: str,
        method: str,
        tier_code: str | None,
        start_month: str,
        payee: dict[str, str],
        single_person_id_number: str | None,
        annual_review_due: str | None,
        effective_date: str,
        actor: str,
        document_ref: str,
        decided_on: str | None = None,
        document_date: str | None = None,
        staff_id: str = "",
    ) -> None:
        self.status = CaseStatus.ACTIVE
        self.programme, self.method, self.tier_code, self.start_month = (
            programme,
            method,
            tier_code,
            start_month,
        )
        self.payee = payee
        self.annual_review_due = annual_review_due
        self.single_person = single_person_id_number is not None
        for id_number, member in self.members.items():
            member["covered"] = single_person_id_number in (None, id_number)

    @event("Rejected")
    def _rejected(
        self,
        reason: str,
        effective_date: str,
        actor: str,
        document_ref: str,
        decided_on: str | None = None,
        document_date: str | None = None,
        staff_id: str = "",
    ) -> None:
        self.status = CaseStatus.REJECTED
        self.terminated_reason = reason

    @event("MemberAdded")
    def _member_added(
        self,
        member: dict[str, Any],
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> None:
        self.members[member["id_number"]] = dict(member, covered=not self.single_person)

    @event("MemberRemoved")
    def _member_removed(
        self,
        id_number: str,
        reason: str,
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> None:
        del self.members[id_number]

    @event("IncomeReassessed")
    def _income_reassessed(
        self,
        household_income_fen: int,
        excluded_income_fen: int,
        rigid_expenditure_fen: int,
        employment_cost_fen: int,
        assets_fen: int,
        deposits_fen: int,
        data_matches: list[str],
        effective_date: str,
        actor: str,
        document_ref: str,
        decided_on: str | None = None,
        document_date: str | None = None,
        staff_id: str = "",
    ) -> None:
        self._set_income(
            household_income_fen, excluded_income_fen, rigid_expenditure_fen, employment_cost_fen
        )
        self.checked_by = staff_id

    @event("TierChanged")
    def _tier_changed(
        self,
        tier_code: str,
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> None:
        self.tier_code = tier_code

    @event("PayeeAccountChanged")
    def _payee_account_changed(
        self,
        payee: dict[str, str],
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> None:
        self.payee = payee

    @event("Suspended")
    def _suspended(
        self,
        reason: str,
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> None:
        self.status = CaseStatus.SUSPENDED

    @event("Resumed")
    def _resumed(
        self,
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> None:
        self.status = CaseStatus.ACTIVE

    @event("GradualExitStarted")
    def _gradual_exit_started(
        self,
        months: int,
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> None:
        self.status = CaseStatus.GRADUAL_EXIT
        self.exit_months = months
        self.exit_month = month_of(effective_date)

    @event("Terminated")
    def _terminated(
        self,
        reason: str,
        effective_date: str,
        actor: str,
        document_ref: str,
        decided_on: str | None = None,
        document_date: str | None = None,
        staff_id: str = "",
    ) -> None:
        self.status = CaseStatus.TERMINATED
        self.terminated_reason = reason

    @event("AnnualReviewRecorded")
    def _annual_review_recorded(
        self,
        outcome: str,
        next_due: str,
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
        eligible: bool | None = None,
    ) -> None:
        self.annual_review_due = next_due
        if eligible and self.status is CaseStatus.GRADUAL_EXIT:
            self.status = CaseStatus.ACTIVE


def _method(method: str, tier_code: str | None) -> str:
    try:
        chosen = PaymentMethod(method)
    except ValueError:
        raise InvalidValue(
            "method must be 'top_up' or 'tier'", field="method", rule="payment_method"
        ) from None
    if chosen is PaymentMethod.TIER and not (
        isinstance(tier_code, str) and 0 < len(tier_code) <= 16
    ):
        raise InvalidValue(
            "tier method needs a tier_code of 1–16 characters", field="tier_code", rule="tier_code"
        )
    if chosen is PaymentMethod.TOP_UP and tier_code is not None:
        raise InvalidValue(
            "top_up method takes no tier_code", field="tier_code", rule="tier_code_only_for_tier"
        )
    return chosen.value


def _text(value: str, field: str) -> str:
    """A reason, outcome or note: 1–500 characters under the text rule (``clean_text``)."""
    if not isinstance(value, str) or not value.strip() or len(value) > 500:
        raise InvalidValue(f"{field} is 1–500 characters", field=field, rule="text_required")
    return clean_text(value.strip(), field)


def _name(value: str, field: str) -> str:
    """A person's, payee's or institution's name: 1–100 characters under the text rule."""
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        raise InvalidValue(f"{field} is 1–100 characters", field=field, rule="name_required")
    return clean_text(value.strip(), field)
