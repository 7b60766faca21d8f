"""Worked examples of back-pay, recovery and netting (domain/recovery.py): each case file
states what was paid and what is owed as known now, in fen, and the line that results."""

from __future__ import annotations

from domain.basis import CaseFact
from domain.entitlement import Component
from domain.recovery import adjustments, causes, net

PAID_AT = "2024-04-25T10:00:00.000000Z"  # the April roll's as-of time
LATER = "2024-05-10T09:00:00.000000Z"


def fact(event_type: str, effective: str, recorded: str, position: int) -> CaseFact:
    return CaseFact(1, event_type, effective, recorded, position, {})


def owed(by_month: dict[str, int], source: str = "RegionPolicy.StandardSet#6"):  # type: ignore[no-untyped-def]
    return lambda month: [Component("base", by_month[month], "top-up", (source,))]


def never_policy(_ref: str) -> str:
    return ""


def test_back_pay_names_the_income_fact_learned_after_the_payment() -> None:
    """Case file: April paid 60,000 fen on 25 April. On 10 May an income check effective
    1 April lowers the counted income; April is now owed 67,000 fen. The May roll adds one
    back-pay of 67,000 − 60,000 = 7,000 fen for April, naming the check."""
    facts = [
        fact("HouseholdCase.Approved", "2024-03-01", "2024-03-02T08:00:00.000000Z", 3),
        fact("HouseholdCase.EconomicCheckRecorded", "2024-04-01", LATER, 9),
    ]
    found = adjustments(
        facts,
        "2024-05",
        {"2024-04": (60_000, PAID_AT)},
        "",
        owed({"2024-04": 67_000}),
        never_policy,
    )
    assert found == [
        {
            "code": "backpay",
            "month": "2024-04",
            "amount_fen": 7_000,
            "rule": "back-pay for 2024-04: due 67000 fen as known now, paid 60000 fen",
            "sources": ["HouseholdCase.EconomicCheckRecorded#9"],
        }
    ]


def test_recovery_names_the_policy_fact_recorded_after_the_payment() -> None:
    """Case file: April paid 67,000 fen. On 10 May the county corrects April's standard
    (recorded then, effective 1 April); April is now owed 64,000 fen. The adjustment is a
    recovery of −3,000 fen naming the corrected standard, as the policy book dates it."""
    recorded = {"RegionPolicy.StandardSet#12": LATER}
    found = adjustments(
        [fact("HouseholdCase.Approved", "2024-03-01", "2024-03-02T08:00:00.000000Z", 3)],
        "2024-05",
        {"2024-04": (67_000, PAID_AT)},
        LATER,
        owed({"2024-04": 64_000}, "RegionPolicy.StandardSet#12"),
        lambda ref: recorded.get(ref, ""),
    )
    assert [(a["code"], a["amount_fen"], a["sources"]) for a in found] == [
        ("recovery", -3_000, ["RegionPolicy.StandardSet#12"])
    ]


def test_months_with_nothing_learned_since_payment_are_not_worked_out_again() -> None:
    """Case file: March and April paid; nothing about the case or the county's policy was
    recorded after 25 April. No month is worked out again (``owed`` is never asked), so no
    adjustment; a month after the roll's month is never adjusted either."""
    asked: list[str] = []

    def counting(month: str) -> list[Component]:
        asked.append(month)
        return []

    paid = {"2024-03": (60_000, PAID_AT), "2024-04": (60_000, PAID_AT)}
    facts = [fact("HouseholdCase.Approved", "2024-03-01", "2024-03-02T08:00:00.000000Z", 3)]
    assert adjustments(facts, "2024-05", paid, PAID_AT, counting, never_policy) == []
    assert asked == []


def test_causes_fall_back_to_recomputed() -> None:
    """Case file: a month worked out again with no fact recorded after its payment (the
    county's policy changed elsewhere) names 'recomputed'; facts effective after the month's
    first day do not bear on it."""
    facts = [fact("HouseholdCase.MemberAdded", "2024-05-01", LATER, 11)]
    assert causes(facts, [], "2024-04", PAID_AT, never_policy) == ["recomputed"]


def test_back_pay_is_paid_in_full_and_recoveries_are_taken_oldest_first() -> None:
    """Case file: May pays 60,000 fen. Adjustments: February −50,000, March +5,000, April
    −20,000. Available: 60,000 + 5,000 = 65,000. February takes 50,000 (15,000 left), April
    takes 15,000 of its 20,000 (0 left): payable 0, receivable 5,000 (April's rest)."""
    adjusted = [
        {"month": "2024-02", "amount_fen": -50_000},
        {"month": "2024-03", "amount_fen": 5_000},
        {"month": "2024-04", "amount_fen": -20_000},
    ]
    payable, receivable, months = net("2024-05", 60_000, adjusted)
    assert (payable, receivable) == (0, 5_000)
    assert months == [
        {"month": "2024-05", "amount_fen": 60_000},
        {"month": "2024-03", "amount_fen": 5_000},
        {"month": "2024-02", "amount_fen": -50_000},
        {"month": "2024-04", "amount_fen": -15_000},
    ]


def test_a_recovery_on_a_line_that_pays_nothing_stays_receivable() -> None:
    """Case file: the case ended in April; May pays nothing (``regular_fen`` None). April's
    recovery of −30,000 fen cannot be taken from anything: payable 0, receivable 30,000, and
    no month is listed (nothing moved)."""
    assert net("2024-05", None, [{"month": "2024-04", "amount_fen": -30_000}]) == (0, 30_000, [])
