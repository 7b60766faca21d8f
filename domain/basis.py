"""A case's basis for one month, as known at a time: a pure fold of its effective-dated facts.

Facts are the case's events as the case-state view keeps them (identity numbers replaced by
person keys). The rule for a month M: the facts recorded by time T that count from on or before the first
day of M are folded in that order (then version); a fact counts from its effective date, except
that an approval — and the application and checks it rests on — counts from its start month. So a raise effective
1 April counts for April; a death on 10 May still leaves May paid and stops June (次月停发); a
fact recorded later than T is not known yet, and the difference it makes is carried by a later
roll as back-pay or recovery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from domain.dates import first_day, month_of
from domain.entitlement import (
    CareLevel,
    Income,
    PayMethod,
    gradual_exit_pays,
    income_before_rise,
)


class CaseFact(NamedTuple):
    """One of a case's facts as the case-state view keeps it (a row of its facts blob)."""

    version: int
    event_type: str  # "HouseholdCase.Approved", …
    effective_date: str
    recorded_at: str
    position: int
    details: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.event_type}#{self.position}"


@dataclass(slots=True)
class MonthBasis:
    """A case's basis for one month, folded from its facts (``basis_for_month``)."""

    kind: str
    programme: str = ""
    status: str = "applied"
    method: PayMethod = "top_up"
    tier_code: str | None = None
    members: dict[str, bool] = field(default_factory=dict)  # person key → covered
    income: Income = field(default_factory=lambda: Income(0))
    start_month: str | None = None
    exit_month: str | None = None
    exit_months: int = 0
    care_level: CareLevel = "full_self_care"
    mode: str = "dispersed"
    sources: list[str] = field(default_factory=list)
    # The incomes recorded, as the fold meets them: the one before the latest, and the latest.
    # In a gradual exit ``income`` stays the one before the rise (``income_before_rise``).
    previous_income: Income | None = None
    latest_income: Income | None = None

    @property
    def household_members(self) -> int:
        return len(self.members)

    @property
    def covered_members(self) -> int:
        return list(self.members.values()).count(True)

    def paying_in(self, month: str) -> bool:
        """Whether the case is paid for ``month`` at all (before its amount is worked out)."""
        if self.start_month is None or month < self.start_month:
            return False
        if self.status == "active":
            return True
        if self.status == "gradual_exit" and self.exit_month is not None:
            return gradual_exit_pays(self.exit_month, self.exit_months, month)
        return False


# The fields of each event the fold reads: the case-state view keeps only these in the facts
# blob a roll reads (the full details stay in the timeline).
FOLD_FIELDS: dict[str, tuple[str, ...]] = {
    "Applied": ("programme", "members"),
    "Approved": ("programme", "method", "tier_code", "start_month", "single_person_key", "mode",
                 "care_level", "person"),
    "EconomicCheckRecorded": ("household_income_fen", "excluded_income_fen", "rigid_expenditure_fen",
                              "employment_cost_fen"),
    "MemberAdded": ("member",),
    "MemberRemoved": ("person_key",),
    "TierChanged": ("tier_code",),
    "GradualExitStarted": ("months",),
    "AnnualReviewRecorded": ("eligible",),
    "CareLevelReassessed": ("care_level",),
    "ModeChanged": ("mode",),
}  # fmt: skip
FOLD_FIELDS["IncomeReassessed"] = FOLD_FIELDS["EconomicCheckRecorded"]


def fold_details(event_type: str, details: dict[str, Any]) -> dict[str, Any]:
    """The part of an event's details the fold reads (people reduced to their person keys)."""
    out: dict[str, Any] = {}
    for name in FOLD_FIELDS.get(event_type.split(".", 1)[1], ()):
        if name not in details:
            continue
        value = details[name]
        if name == "members":
            value = [{"person_key": m["person_key"]} for m in value]
        elif name in ("member", "person") and value is not None:
            value = {"person_key": value["person_key"]}
        out[name] = value
    return out


def _counting_from(facts: list[CaseFact]) -> list[tuple[str, int, CaseFact]]:
    """(date from which the fact counts, version, fact) for each fact. An approval counts from
    its start month (a decision dated 20 January with start month January pays January), and the
    application and checks it rests on count with it; every later fact counts from its own
    effective date."""
    start, approved_at = "", 0
    for f in facts:
        if f.event_type.endswith(".Approved"):
            start, approved_at = first_day(f.details["start_month"]), f.version
            break
    return [(start if f.version <= approved_at else f.effective_date, f.version, f) for f in facts]


def basis_for_month(kind: str, facts: list[CaseFact], month: str, as_of: str) -> MonthBasis:
    cut = first_day(month)
    known = [f for f in facts if f.recorded_at <= as_of]
    # Versions are unique within a case, so the sort never compares the facts themselves.
    return _folded(kind, sorted(entry for entry in _counting_from(known) if entry[0] <= cut))


def _folded(kind: str, counting: list[tuple[str, int, CaseFact]]) -> MonthBasis:
    basis = MonthBasis(kind=kind)
    for _from, _version, fact in counting:
        _fold(basis, fact)
        basis.sources.append(f"{fact.event_type}#{fact.position}")
    return basis


def _fold(basis: MonthBasis, fact: CaseFact) -> None:
    d = fact.details
    match fact.event_type.split(".", 1)[1]:
        case "Applied":
            basis.programme = d["programme"]
            basis.members = {m["person_key"]: True for m in d["members"]}
        case "Approved" if basis.kind == "tekun":
            basis.status, basis.programme = "active", f"tekun_{d['mode']}"
            basis.mode, basis.care_level, basis.start_month = (
                d["mode"],
                d["care_level"],
                d["start_month"],
            )
            basis.members = {d["person"]["person_key"]: True}
        case "Approved":
            basis.status, basis.programme, basis.method = "active", d["programme"], d["method"]
            basis.tier_code, basis.start_month = d["tier_code"], d["start_month"]
            single = d.get("single_person_key")
            if single is not None:
                basis.members = {key: key == single for key in basis.members}
        case "EconomicCheckRecorded" | "IncomeReassessed":
            income = Income(
                d["household_income_fen"],
                d["excluded_income_fen"],
                d["rigid_expenditure_fen"],
                d["employment_cost_fen"],
                fact.ref,
            )
            basis.previous_income, basis.latest_income = basis.latest_income, income
            if basis.status != "gradual_exit":  # an exit pays on the income before the rise
                basis.income = income
        case "MemberAdded":
            single_person = any(not covered for covered in basis.members.values())
            basis.members[d["member"]["person_key"]] = not single_person
        case "MemberRemoved":
            basis.members.pop(d["person_key"], None)
        case "TierChanged":
            basis.tier_code = d["tier_code"]
        case "Suspended":
            basis.status = "suspended"
        case "Resumed":
            basis.status = "active"
        case "GradualExitStarted":
            basis.status, basis.exit_month, basis.exit_months = (
                "gradual_exit",
                month_of(fact.effective_date),
                d["months"],
            )
            if basis.latest_income is not None:
                basis.income = income_before_rise(basis.previous_income, basis.latest_income)
        case "AnnualReviewRecorded" if basis.status == "gradual_exit" and d.get("eligible"):
            # A review within the exit found the household eligible again: paid as before,
            # on the income it recorded last.
            basis.status, basis.exit_month, basis.exit_months = "active", None, 0
            if basis.latest_income is not None:
                basis.income = basis.latest_income
        case "Terminated" | "Rejected":
            basis.status = "terminated"
        case "CareLevelReassessed":
            basis.care_level = d["care_level"]
        case "ModeChanged":
            basis.mode, basis.programme = d["mode"], f"tekun_{d['mode']}"


def settled_basis(kind: str, facts: list[CaseFact]) -> tuple[str, MonthBasis]:
    """(from, basis): the date from which every fact counts, and the basis that every month
    whose first day is on or after it folds to (as known once all the facts are known). The
    case-state view keeps it per case, so a roll folds only the cases with a recent fact."""
    # basis_for_month(kind, facts, "9999-12", "9999"), with the counting dates worked out once
    counting = _counting_from(facts)
    since = max((entry[0] for entry in counting), default="")
    return since, _folded(kind, sorted(counting))
