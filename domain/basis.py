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

from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import orjson

from domain.dates import first_day, month_of
from domain.entitlement import CareLevel, Income, PayMethod, gradual_exit_pays


class CaseFact(NamedTuple):
    """A tuple, not a dataclass: a roll builds a few million of these."""

    version: int
    event_type: str  # "HouseholdCase.Approved", …
    effective_date: str
    recorded_at: str
    position: int
    details: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.event_type}#{self.position}"


@dataclass
class MonthBasis:
    kind: str
    programme: str
    status: str
    method: PayMethod
    tier_code: str | None
    members: dict[str, bool]  # person key → covered
    income: Income
    start_month: str | None
    exit_month: str | None
    exit_months: int
    care_level: CareLevel
    mode: str
    sources: list[str]

    def __init__(
        self,
        kind: str,
        programme: str = "",
        status: str = "applied",
        method: PayMethod = "top_up",
        tier_code: str | None = None,
        members: dict[str, bool] | None = None,
        income: Income | None = None,
        start_month: str | None = None,
        exit_month: str | None = None,
        exit_months: int = 0,
        care_level: CareLevel = "full_self_care",
        mode: str = "dispersed",
        sources: list[str] | None = None,
    ) -> None:
        # Written out, not generated: see ``compiled_init`` in ``domain.entitlement``.
        self.kind = kind
        self.programme = programme
        self.status = status
        self.method = method
        self.tier_code = tier_code
        self.members = {} if members is None else members
        self.income = Income(0) if income is None else income
        self.start_month = start_month
        self.exit_month = exit_month
        self.exit_months = exit_months
        self.care_level = care_level
        self.mode = mode
        self.sources = [] if sources is None else sources

    @property
    def household_members(self) -> int:
        return len(self.members)

    @property
    def covered_members(self) -> int:
        count = 0  # a compiled loop: no list made, once a roll line
        for covered in self.members.values():
            if covered:
                count += 1
        return count

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
            basis.income = Income(
                d["household_income_fen"],
                d["excluded_income_fen"],
                d["rigid_expenditure_fen"],
                d["employment_cost_fen"],
                fact.ref,
            )
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


# The settled basis as the case-state view keeps it for the roll (``settled_data``): three
# parts, each on a line of its own, so that a roll takes a case's apart with one split and
# decodes only what it has not seen: its *values* (what the amounts depend on: kind,
# programme, method, tier, household size and covered count, the income figures, care level,
# mode), its *span* (status, start month, exit month and months: whether a month is paid) and
# its *references* (the income fact, then the basis's facts, separated by ``REF_SEPARATOR``).
# Thousands of cases share their values and a dozen spans cover a county: the roll keeps what
# each gives, and per case splits its references alone. Members are kept as counts: their
# person keys are the facts' business, not the amount's.
REF_SEPARATOR: Final = "\x1f"


def settled_data(basis: MonthBasis) -> bytes | None:
    """The settled basis in the view's form (above); None if a reference holds a separator
    (never a fact reference, ``Class.Event#position``: the roll then folds the case's facts)."""
    income = basis.income
    refs = [income.source, *basis.sources]
    if any(REF_SEPARATOR in ref or "\n" in ref for ref in refs):
        return None
    values = orjson.dumps([
        basis.kind, basis.programme, basis.method, basis.tier_code, basis.household_members,
        basis.covered_members, income.household_income_fen, income.excluded_income_fen,
        income.rigid_expenditure_fen, income.employment_cost_fen, basis.care_level, basis.mode,
    ])  # fmt: skip
    span = orjson.dumps([basis.status, basis.start_month, basis.exit_month, basis.exit_months])
    return b"\n".join((values, span, REF_SEPARATOR.join(refs).encode()))


class SettledValues:
    """A settled basis's values, read from the part ``settled_data`` stores (a plain class:
    mypyc compiles its ``__init__``, where a ``NamedTuple``'s is interpreted Python — measured
    +2.2 % of a roll's instructions, built for each new value set)."""

    def __init__(self, values: bytes) -> None:
        (kind, programme, method, tier_code, household, covered, income, excluded, rigid,
         employment, care_level, mode) = orjson.loads(values)  # fmt: skip
        self.kind: str = kind
        self.programme: str = programme
        self.method: PayMethod = method
        self.tier_code: str | None = tier_code
        self.household: int = household
        self.covered: int = covered
        self.income: int = income
        self.excluded: int = excluded
        self.rigid: int = rigid
        self.employment: int = employment
        self.care_level: CareLevel = care_level
        self.mode: str = mode


def numbered_members(household: int, covered: int) -> dict[str, bool]:
    """Members as the settled form keeps them, as counts: numbered, the first ``covered`` of
    them covered."""
    return {f"#{number}": number < covered for number in range(household)}


def basis_from_settled(values: bytes, span: bytes, refs: str) -> MonthBasis:
    """A basis from the view's three parts (``settled_data``). Its members are numbered, not
    named: the form keeps their count and covered count, all a month's amount reads. A roll
    reads the values alone (``SettledValues``); this is the whole inverse of ``settled_data``."""
    v = SettledValues(values)
    status, start_month, exit_month, exit_months = orjson.loads(span)
    income_source, *sources = refs.split(REF_SEPARATOR)
    return MonthBasis(v.kind, v.programme, status, v.method, v.tier_code,
                      numbered_members(v.household, v.covered),
                      Income(v.income, v.excluded, v.rigid, v.employment, income_source),
                      start_month, exit_month, exit_months, v.care_level, v.mode, sources)  # fmt: skip


def span_pays(span: bytes, month: str) -> bool:
    """Whether a settled basis with this span (``settled_data``) is paid for ``month``."""
    status, start_month, exit_month, exit_months = orjson.loads(span)
    return MonthBasis(
        "", status=status, start_month=start_month, exit_month=exit_month, exit_months=exit_months
    ).paying_in(month)
