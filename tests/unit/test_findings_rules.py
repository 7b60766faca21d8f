"""The misuse rules and the death hold as pure functions, each on a worked example with its near
miss (one day outside a window, one fen under a limit, the month of the end itself)."""

from __future__ import annotations

import uuid

import pytest

from domain.errors import InvalidTransition, InvalidValue
from domain.findings import (
    Allocation,
    FindingReview,
    Grant,
    Rule,
    above_standard,
    backdated_days,
    days_late,
    finding_id,
    held,
    hold_from,
    idle_from,
    monthly_ceiling_fen,
    months_paid_twice,
    paid_after,
    repeated_grants,
    spend,
    split_grants,
)
from domain.policy import DEFAULT_THRESHOLDS, MisuseThresholds


def test_a_death_holds_from_the_next_month() -> None:
    """Died 2022-06-15: June is paid in full (次月停发), July on is held; December's death holds
    from January."""
    assert hold_from("2022-06-15") == "2022-07"
    assert not held("2022-06", "2022-06-15") and held("2022-07", "2022-06-15")
    assert held("2023-03", "2022-06-15") and hold_from("2022-12-31") == "2023-01"


def test_paid_after_an_end_counts_the_months_after_its_month() -> None:
    """Ended 2024-02-15; paid Feb 1,110.00, Mar 1,110.00, Apr 0 (netted), May 500.00: March and
    May were paid after the end, February (the month of the end) was due."""
    paid = {"2024-02": 111_000, "2024-03": 111_000, "2024-04": 0, "2024-05": 50_000}
    assert paid_after("2024-02-15", paid) == [("2024-03", 111_000), ("2024-05", 50_000)]
    assert paid_after("2024-05-31", paid) == []


def test_months_paid_twice() -> None:
    household = {"2024-02": 33_667, "2024-03": 33_667, "2024-04": 0}
    tekun = {"2024-03": 127_000, "2024-04": 127_000, "2024-05": 127_000}
    assert months_paid_twice(household, tekun) == ["2024-03"]


def test_split_grants_above_the_limit_within_the_window() -> None:
    """Limit 3,000.00 yuan, window 90 days: 2,000.00 on 03-01 and 1,000.01 on 04-15 split it;
    2,000.00 + 1,000.00 is at the limit (not above); 91 days apart is outside the window; a
    grant above the limit on its own was approved above it, not split."""
    a, b = Grant("a", "2024-03-01", 200_000), Grant("b", "2024-04-15", 100_001)
    assert split_grants([b, a], 300_000, 90) == [a, b]
    assert split_grants([a, Grant("b", "2024-04-15", 100_000)], 300_000, 90) == []
    assert split_grants([a, Grant("c", "2024-05-31", 150_000)], 300_000, 90) == []
    assert split_grants([a, Grant("c", "2024-05-30", 150_000)], 300_000, 90) != []
    assert split_grants([Grant("big", "2024-03-02", 400_000), a], 300_000, 90) == []


def test_repeated_grants_within_the_window() -> None:
    """Three grants within 90 days are repeated; the third one day late is not."""
    grants = [Grant("a", "2024-03-01", 1), Grant("b", "2024-04-01", 1)]
    assert repeated_grants([*grants, Grant("c", "2024-05-30", 1)], 3, 90) != []
    assert repeated_grants([*grants, Grant("c", "2024-05-31", 1)], 3, 90) == []


def test_back_dated_days() -> None:
    """Effective 2024-01-20, recorded 2024-04-20T08:00Z: 91 days; never negative."""
    assert backdated_days("2024-01-20", "2024-04-20T08:00:00.000000Z") == 91
    assert backdated_days("2024-05-01", "2024-04-20T08:00:00.000000Z") == 0


def test_finding_ids_are_derived_from_rule_and_records() -> None:
    assert finding_id(Rule.PAID_AFTER_DEATH, "r", "c") == finding_id("paid_after_death", "r", "c")
    assert finding_id(Rule.PAID_AFTER_DEATH, "r", "c") != finding_id(Rule.REGISTRY_HIT, "r", "c")


def test_a_review_is_explained_or_confirmed_once() -> None:
    review = FindingReview.open(
        finding_id=uuid.uuid4(), rule="paid_after_death", region_code="420582"
    )
    meta = {"note": "已核实", "document_ref": "审〔2024〕1号", "actor": "a", "staff_id": "S1"}
    with pytest.raises(InvalidValue) as refused:
        review.confirm(outcome="prison", **meta)
    assert refused.value.field == "outcome"
    with pytest.raises(InvalidValue):
        review.explain(**meta | {"note": " "})
    review.confirm(outcome="recovery", **meta)
    assert review.status == "confirmed"
    with pytest.raises(InvalidTransition):
        review.explain(**meta)


def test_a_roll_is_late_after_the_deadline_day_of_its_month() -> None:
    """March 2024, the 10th: sent on the 10th is on time, on the 12th two days late."""
    assert days_late("2024-03", 10, "2024-03-10T23:59:59.000000Z") == 0
    assert days_late("2024-03", 10, "2024-03-12T09:00:00.000000Z") == 2
    assert days_late("2024-03", 10, "2024-02-20T09:00:00.000000Z") == 0


def test_the_ceiling_a_standard_allows_a_month() -> None:
    """A monthly standard is its own ceiling; a yearly one a twelfth rounded up to the yuan
    (5,000 yuan a year → 417 yuan; 6,000 → 500 exactly)."""
    assert monthly_ceiling_fen(67_000, "month") == 67_000
    assert monthly_ceiling_fen(500_000, "year") == 41_700
    assert monthly_ceiling_fen(600_000, "year") == 50_000


def test_a_month_above_the_standard_by_one_fen() -> None:
    """500 yuan × 2 covered at 100 %: 1,000.01 yuan is 1 fen above, 1,000 yuan is not; at 101 %
    1,010 yuan is allowed."""
    assert above_standard(100_001, 50_000, 2, 100) == 1
    assert above_standard(100_000, 50_000, 2, 100) == 0
    assert above_standard(101_000, 50_000, 2, 101) == 0
    assert above_standard(101_001, 50_000, 2, 101) == 1


def test_money_leaves_a_pool_first_in_first_out() -> None:
    """Two allocations of 100 and 50 yuan: spending 120 yuan empties the first and takes 20 from
    the second; an allocation is idle from 90 days after it arrived (2024-01-02 → 2024-04-01)."""
    before = [Allocation("a", "2024-01-02", 10_000), Allocation("b", "2024-02-01", 5_000)]
    after = spend(before, 12_000)
    assert [a.remaining_fen for a in after] == [0, 3_000]
    assert [a.remaining_fen for a in spend(before, 0)] == [10_000, 5_000]
    assert (
        idle_from("2024-01-02", 90) == "2024-04-01" and idle_from("2024-01-02", 89) == "2024-03-31"
    )


def test_the_new_thresholds_default_and_refuse_out_of_range() -> None:
    """Idle after 90 days and 100 % of the standard unless a region sets otherwise; a region
    can never allow less than the full standard, nor idle days outside 1–3660."""
    assert (DEFAULT_THRESHOLDS.idle_days, DEFAULT_THRESHOLDS.above_standard_percent) == (90, 100)
    base = {"grant_window_days": 90, "repeat_grant_count": 3, "backdate_days": 90,
            "payment_deadline_day": 10}  # fmt: skip
    assert MisuseThresholds(**base).checked().idle_days == 90
    for field, value in (("above_standard_percent", 99), ("idle_days", 0), ("idle_days", True)):
        with pytest.raises(InvalidValue) as refused:
            MisuseThresholds(**base, **{field: value}).checked()
        assert refused.value.field == field
