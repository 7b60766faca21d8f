"""Misuse findings (SPEC §8): the rules that decide whether a finding fires and what it holds,
the hold a death record puts on a payment (次月停发), and the auditors' review of a finding.

NOTE: the events below are a storage format. Renaming or moving them needs ``register_topic``.
Before the first release every event stays at version 1 and changes shape in place; from the
first release on, a change needs a ``class_version`` bump and an upcaster tested against a
frozen payload of the old version (see tests/upcasting).

A finding itself is not recorded: the findings view derives it from the log (the rules below
decide it), with an id derived from its rule and the records it names, so a rebuild gives the
same ids. Only the review of a finding (explained, confirmed) is an event of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, NamedTuple
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.dates import add_months, month_of
from domain.decisions import require_document
from domain.errors import InvalidTransition, InvalidValue
from domain.text import clean_text


class Rule(StrEnum):
    PAID_AFTER_DEATH = "paid_after_death"
    PAID_AFTER_TERMINATION = "paid_after_termination"
    TWO_ACTIVE_CASES = "two_active_cases"
    DIBAO_AND_TEKUN = "dibao_and_tekun"
    REGISTRY_HIT = "registry_hit"
    CADRE_RELATIVE = "cadre_relative"
    SPLIT_GRANTS = "split_grants"
    REPEATED_GRANTS = "repeated_grants"
    BACKDATED_DECISION = "backdated_decision"
    SHARED_ACCOUNT = "shared_account"
    ABOVE_AUTHORITY = "above_authority"
    LATE_ROLL = "late_roll"
    ABOVE_STANDARD = "above_standard"
    IDLE_FUNDS = "idle_funds"


# How serious a finding of each rule is: money already lost (high), money at risk or a rule
# broken (medium), a fact to review (low).
SEVERITY: dict[Rule, str] = {
    Rule.PAID_AFTER_DEATH: "high",
    Rule.PAID_AFTER_TERMINATION: "high",
    Rule.TWO_ACTIVE_CASES: "high",
    Rule.DIBAO_AND_TEKUN: "high",
    Rule.REGISTRY_HIT: "medium",
    Rule.CADRE_RELATIVE: "low",
    Rule.SPLIT_GRANTS: "medium",
    Rule.REPEATED_GRANTS: "low",
    Rule.BACKDATED_DECISION: "low",
    Rule.SHARED_ACCOUNT: "medium",
    Rule.ABOVE_AUTHORITY: "high",
    Rule.LATE_ROLL: "medium",
    Rule.ABOVE_STANDARD: "high",
    Rule.IDLE_FUNDS: "medium",
}


class FindingStatus(StrEnum):
    OPEN = "open"
    EXPLAINED = "explained"
    CONFIRMED = "confirmed"


class Outcome(StrEnum):
    """What a confirmed finding leads to: money to recover (追回) or a referral (移送)."""

    RECOVERY = "recovery"
    REFERRAL = "referral"


def finding_id(rule: str, *keys: str) -> UUID:
    """A finding's id: its rule and the ids of the records it names, so the same log always
    gives the same finding."""
    return uuid5(NAMESPACE_URL, "doudi:finding:" + ":".join((rule, *keys)))


# --- holds (次月停发) ------------------------------------------------------------------------


def hold_from(death_date: str) -> str:
    """The first month a death holds: the month after the death (the month of death is paid)."""
    return add_months(month_of(death_date), 1)


def held(roll_month: str, death_date: str) -> bool:
    """Whether a roll for ``roll_month`` holds the payment of a case whose member died on
    ``death_date`` (worked example: died 2022-06-15 → the June roll pays, July's holds)."""
    return roll_month >= hold_from(death_date)


# --- the rules on payments -------------------------------------------------------------------


def paid_after(end_date: str, paid: dict[str, int]) -> list[tuple[str, int]]:
    """The months paid (month → fen) after the month of ``end_date`` (a death, a termination),
    in month order, leaving out months that net to nothing. The month of the end is due in
    full (次月停发), so it is never counted."""
    last = month_of(end_date)
    return [(month, fen) for month, fen in sorted(paid.items()) if month > last and fen > 0]


def months_paid_twice(first: dict[str, int], second: dict[str, int]) -> list[str]:
    """The months both payment histories paid something for (a person's dibao and 特困)."""
    return sorted(m for m in first.keys() & second.keys() if first[m] > 0 and second[m] > 0)


def monthly_ceiling_fen(amount_fen: int, period: str) -> int:
    """The most a standard allows a covered person for one month: a monthly standard itself, a
    yearly one a twelfth rounded up to the yuan (at or above what any rounding rule gives;
    worked example: 5,000 yuan a year → 417 yuan)."""
    if period == "year":
        return -(-amount_fen // 1200) * 100
    return amount_fen


def above_standard(paid_fen: int, ceiling_fen: int, covered: int, percent: int) -> int:
    """How much (fen) a month paid a household above ``percent`` % of its standard × covered
    members (0 if not above; worked example: 1,200 yuan paid, 500 × 2 at 100 % → 200 yuan)."""
    allowed = ceiling_fen * covered * percent // 100
    return max(0, paid_fen - allowed)


# --- the rule on allocated funds (滞留) ---------------------------------------------------------


class Allocation(NamedTuple):
    """Money allocated to a county pool, as the idle-funds rule follows it."""

    allocation_id: str
    posted_on: str
    remaining_fen: int


def spend(allocations: Sequence[Allocation], amount_fen: int) -> list[Allocation]:
    """What is left of each allocation once ``amount_fen`` has left the pool: money leaves in the
    order it arrived (first in, first out), so the oldest allocation is spent first."""
    left = []
    for allocation in allocations:
        taken = min(amount_fen, allocation.remaining_fen)
        amount_fen -= taken
        left.append(allocation._replace(remaining_fen=allocation.remaining_fen - taken))
    return left


def idle_from(posted_on: str, idle_days: int) -> str:
    """The first day an allocation still unspent counts as idle: ``idle_days`` days after it
    arrived (worked example: 2024-01-02 and 90 days → 2024-04-01)."""
    return (date.fromisoformat(posted_on) + timedelta(days=idle_days)).isoformat()


# --- the rules on temporary grants -----------------------------------------------------------


class Grant(NamedTuple):
    """A temporary grant as the grant rules read it."""

    grant_id: str
    day: str  # the date it was requested (effective)
    amount_fen: int


def _days(first: str, second: str) -> int:
    return (date.fromisoformat(second) - date.fromisoformat(first)).days


def _windows(grants: Sequence[Grant], window_days: int) -> list[list[Grant]]:
    """For each grant in date order, it and the grants within ``window_days`` days after it."""
    ordered = sorted(grants, key=lambda g: (g.day, g.grant_id))
    return [
        [g for g in ordered[index:] if _days(first.day, g.day) <= window_days]
        for index, first in enumerate(ordered)
    ]


def split_grants(grants: Sequence[Grant], limit_fen: int, window_days: int) -> list[Grant]:
    """Grants split to stay under an approval limit: the first run of two or more grants to one
    person within ``window_days`` days, each at or under ``limit_fen`` (the limit the approver
    held) and together above it; empty if there is none."""
    under = [g for g in grants if g.amount_fen <= limit_fen]
    for window in _windows(under, window_days):
        if len(window) >= 2 and sum(g.amount_fen for g in window) > limit_fen:
            return window
    return []


def repeated_grants(grants: Sequence[Grant], count: int, window_days: int) -> list[Grant]:
    """The first run of ``count`` or more grants to one person within ``window_days`` days."""
    for window in _windows(grants, window_days):
        if len(window) >= count:
            return window
    return []


def backdated_days(effective_date: str, recorded_at: str) -> int:
    """How many days a decision took effect before the day it was recorded (0 if not before)."""
    return max(0, _days(effective_date, recorded_at[:10]))


def roll_deadline(month: str, deadline_day: int) -> str:
    """The last day a month's roll may be sent to the bank: that month's ``deadline_day``."""
    return f"{month}-{deadline_day:02d}"


def days_late(month: str, deadline_day: int, sent_at: str) -> int:
    """How many days after its deadline a month's roll was sent (0 if on time; worked example:
    March 2024, the 10th, sent 2024-03-12T09:00Z → 2 days)."""
    return max(0, _days(roll_deadline(month, deadline_day), sent_at[:10]))


# --- the review of a finding -----------------------------------------------------------------


def _note(value: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 2000:
        raise InvalidValue("note is 1–2000 characters", field="note", rule="text_required")
    return clean_text(value.strip(), "note")


class FindingReview(Aggregate):
    """An auditor's work on one finding (its id is the finding's): explained, or confirmed
    with an outcome. Either step closes the review."""

    @staticmethod
    def create_id(finding_id: UUID, **_: Any) -> UUID:
        return finding_id

    @event("Opened")
    def __init__(self, finding_id: UUID, rule: str, region_code: str) -> None:
        self.status = FindingStatus.OPEN.value

    @classmethod
    def open(cls, *, finding_id: UUID, rule: str, region_code: str) -> FindingReview:
        return cls(finding_id=finding_id, rule=rule, region_code=region_code)

    def _require_open(self) -> None:
        if self.status != FindingStatus.OPEN:
            raise InvalidTransition(
                f"the finding is already {self.status}", field="status", rule="finding_open"
            )

    def explain(self, *, note: str, document_ref: str, actor: str, staff_id: str) -> None:
        """The finding has an explanation that clears it (a documented reason)."""
        self._require_open()
        self._explained(
            note=_note(note), document_ref=require_document(document_ref), actor=actor,
            staff_id=staff_id,
        )  # fmt: skip

    def confirm(
        self, *, outcome: str, note: str, document_ref: str, actor: str, staff_id: str
    ) -> None:
        """The finding stands: money to recover or a case to refer."""
        self._require_open()
        try:
            outcome = Outcome(outcome).value
        except ValueError:
            raise InvalidValue(
                f"outcome must be one of {[o.value for o in Outcome]}",
                field="outcome",
                rule="finding_outcome",
            ) from None
        self._confirmed(
            outcome=outcome, note=_note(note), document_ref=require_document(document_ref),
            actor=actor, staff_id=staff_id,
        )  # fmt: skip

    @event("Explained")
    def _explained(self, note: str, document_ref: str, actor: str, staff_id: str) -> None:
        self.status = FindingStatus.EXPLAINED.value

    @event("Confirmed")
    def _confirmed(
        self, outcome: str, note: str, document_ref: str, actor: str, staff_id: str
    ) -> None:
        self.status = FindingStatus.CONFIRMED.value
