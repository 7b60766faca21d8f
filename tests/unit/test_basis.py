"""A case's basis for a month as known at a time: effective dates and recorded times both count."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.basis import CaseFact, MonthBasis, basis_for_month, settled_basis
from projections.case_state.settled import basis_from_settled, settled_data, span_pays

EARLY, LATE = "2024-01-31T00:00:00.000000Z", "2024-09-30T00:00:00.000000Z"


def fact(
    version: int, kind: str, effective: str, recorded: str = EARLY, **details: Any
) -> CaseFact:
    return CaseFact(version, f"HouseholdCase.{kind}", effective, recorded, version * 10, details)


def history(*later: CaseFact) -> list[CaseFact]:
    members = [{"person_key": "p1", "relation": "self"}, {"person_key": "p2", "relation": "member"}]
    return [
        fact(1, "Applied", "2024-01-05", programme="dibao_urban", members=members),
        fact(
            2,
            "EconomicCheckRecorded",
            "2024-01-10",
            household_income_fen=30_000,
            excluded_income_fen=0,
            rigid_expenditure_fen=0,
            employment_cost_fen=0,
        ),
        fact(
            3,
            "Approved",
            "2024-01-20",
            programme="dibao_urban",
            method="top_up",
            tier_code=None,
            start_month="2024-02",
            single_person_key=None,
        ),
        *later,
    ]


def test_paid_from_the_start_month_with_members_and_income() -> None:
    facts = history()
    assert not basis_for_month("household", facts, "2024-01", LATE).paying_in("2024-01")
    basis = basis_for_month("household", facts, "2024-02", LATE)
    assert basis.paying_in("2024-02") and basis.covered_members == 2
    assert (
        basis.income.household_income_fen == 30_000
        and basis.sources[-1] == "HouseholdCase.Approved#30"
    )


def test_death_on_the_tenth_leaves_that_month_paid_and_stops_the_next() -> None:
    facts = history(fact(4, "Terminated", "2024-05-10", reason="death"))
    assert basis_for_month("household", facts, "2024-05", LATE).paying_in("2024-05")
    assert not basis_for_month("household", facts, "2024-06", LATE).paying_in("2024-06")


def test_a_fact_recorded_late_is_unknown_before_its_recording() -> None:
    """A member added effective March but recorded in September: March as known in January has 2."""
    facts = history(
        fact(4, "MemberAdded", "2024-03-01", LATE, member={"person_key": "p3", "relation": "child"})
    )
    assert basis_for_month("household", facts, "2024-03", EARLY).covered_members == 2
    assert basis_for_month("household", facts, "2024-03", LATE).covered_members == 3


def test_out_of_order_facts_fold_in_effective_order() -> None:
    """Income reassessed effective April recorded before a suspension effective March: both apply."""
    facts = history(
        fact(
            4,
            "IncomeReassessed",
            "2024-04-01",
            household_income_fen=10_000,
            excluded_income_fen=0,
            rigid_expenditure_fen=0,
            employment_cost_fen=0,
        ),
        fact(5, "Suspended", "2024-03-01", reason="x"),
        fact(6, "Resumed", "2024-05-01"),
    )
    assert not basis_for_month("household", facts, "2024-04", LATE).paying_in("2024-04")
    may = basis_for_month("household", facts, "2024-05", LATE)
    assert may.paying_in("2024-05") and may.income.household_income_fen == 10_000


def test_gradual_exit_pays_n_months_then_stops() -> None:
    facts = history(fact(4, "GradualExitStarted", "2024-06-01", months=3))
    paid = [
        m
        for m in ("2024-05", "2024-06", "2024-07", "2024-08", "2024-09")
        if basis_for_month("household", facts, m, LATE).paying_in(m)
    ]
    assert paid == ["2024-05", "2024-06", "2024-07", "2024-08"]


def income(version: int, effective: str, fen: int, recorded: str = EARLY) -> CaseFact:
    return fact(version, "IncomeReassessed", effective, recorded, household_income_fen=fen,
                excluded_income_fen=0, rigid_expenditure_fen=0, employment_cost_fen=0)  # fmt: skip


def test_a_gradual_exit_pays_on_the_income_before_a_recorded_rise() -> None:
    """渐退 after a recorded rise: the check of 10 January found 300 yuan; on 1 May income rose
    to 2,000 yuan (above the standard) and a 3-month exit took effect the same day. May–July
    are paid on the 300 yuan the household had before the rise, August is not paid; a fall
    recorded during the exit does not change what the exit pays."""
    facts = history(
        income(4, "2024-05-01", 200_000),
        fact(5, "GradualExitStarted", "2024-05-01", months=3),
        income(6, "2024-06-01", 50_000),
    )
    for month in ("2024-05", "2024-06", "2024-07"):
        basis = basis_for_month("household", facts, month, LATE)
        assert basis.paying_in(month) and basis.income.household_income_fen == 30_000, month
        assert basis.income.source == "HouseholdCase.EconomicCheckRecorded#20"
    # Without the exit, the rise would count from May.
    no_exit = [f for f in facts if f.event_type != "HouseholdCase.GradualExitStarted"]
    assert (
        basis_for_month("household", no_exit, "2024-05", LATE).income.household_income_fen
        == 200_000
    )
    assert not basis_for_month("household", facts, "2024-08", LATE).paying_in("2024-08")


def test_a_gradual_exit_with_the_rise_unrecorded_pays_the_same() -> None:
    """渐退 with the rise left unrecorded: the exit pays on the income last recorded (300 yuan),
    the same basis as when the rise is recorded."""
    facts = history(fact(4, "GradualExitStarted", "2024-05-01", months=3))
    recorded = history(income(4, "2024-05-01", 200_000),
                       fact(5, "GradualExitStarted", "2024-05-01", months=3))  # fmt: skip
    for month in ("2024-05", "2024-07"):
        plain = basis_for_month("household", facts, month, LATE)
        risen = basis_for_month("household", recorded, month, LATE)
        assert plain.income == risen.income and plain.income.household_income_fen == 30_000


def test_a_review_that_finds_the_household_eligible_again_keeps_it_paid() -> None:
    """A review on 1 June within a 3-month exit found the household eligible again on a
    recorded income of 500 yuan: active again, paid on that income after July."""
    facts = history(
        income(4, "2024-05-01", 200_000),
        fact(5, "GradualExitStarted", "2024-05-01", months=3),
        income(6, "2024-06-01", 50_000),
        fact(7, "AnnualReviewRecorded", "2024-06-01", eligible=True),
    )
    september = basis_for_month("household", facts, "2024-09", LATE)
    assert september.status == "active" and september.paying_in("2024-09")
    assert september.income.household_income_fen == 50_000
    may = basis_for_month("household", facts, "2024-05", LATE)
    assert may.status == "gradual_exit" and may.income.household_income_fen == 30_000


def test_single_person_cover_and_member_removal() -> None:
    facts = history()
    facts[2] = fact(
        3,
        "Approved",
        "2024-01-20",
        programme="dibao_urban",
        method="top_up",
        tier_code=None,
        start_month="2024-02",
        single_person_key="p2",
    )
    facts.append(fact(4, "MemberRemoved", "2024-04-01", person_key="p1", reason="moved"))
    march = basis_for_month("household", facts, "2024-03", LATE)
    assert (march.household_members, march.covered_members) == (2, 1)
    april = basis_for_month("household", facts, "2024-04", LATE)
    assert (april.household_members, april.covered_members) == (1, 1)


LATER = {
    "IncomeReassessed": {"household_income_fen": 10_000, "excluded_income_fen": 0,
                         "rigid_expenditure_fen": 0, "employment_cost_fen": 0},
    "TierChanged": {"tier_code": "B"},
    "Suspended": {},
    "Resumed": {},
    "MemberAdded": {"member": {"person_key": "p3"}},
    "MemberRemoved": {"person_key": "p2"},
    "GradualExitStarted": {"months": 2},
    "AnnualReviewRecorded": {"eligible": True},
    "Terminated": {},
}  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(sorted(LATER)), st.dates(date(2024, 1, 1), date(2025, 3, 31))),
        max_size=5,
    )
)
def test_the_settled_basis_is_the_fold_of_every_month_from_its_date(
    later: list[tuple[str, date]],
) -> None:
    """What the case-state view keeps per case (and a roll uses instead of folding) equals the
    fold for every month whose first day is on or after the settled date."""
    facts = history(*(fact(4 + n, kind, day.isoformat(), **LATER[kind]) for n, (kind, day) in enumerate(later)))  # fmt: skip
    since, settled = settled_basis("household", facts)
    data = settled_data(settled)
    assert data is not None
    values, span, refs = data.split(b"\n", 2)
    kept = basis_from_settled(values, span, refs.decode())
    # The view's form keeps the members as counts (numbered, not named), all else as it is.
    assert (kept.household_members, kept.covered_members) == (
        settled.household_members, settled.covered_members)  # fmt: skip
    # The incomes met while folding are the fold's working state, not the basis's values.
    kept_fields = set(f.name for f in dataclasses.fields(MonthBasis)) - {
        "members", "previous_income", "latest_income"}  # fmt: skip
    for name in sorted(kept_fields):
        assert getattr(kept, name) == getattr(settled, name), name
    for month in (f"{year}-{m:02d}" for year in (2024, 2025) for m in range(1, 13)):
        assert span_pays(span, month) == settled.paying_in(month)
        if f"{month}-01" >= since:
            assert basis_for_month("household", facts, month, LATE) == settled


def test_a_settled_basis_whose_reference_holds_a_separator_is_not_kept() -> None:
    """The view's form separates references with ``REF_SEPARATOR`` and parts with newlines: a
    reference holding either is not kept (the roll then folds the case's facts)."""
    facts = history()
    _since, settled = settled_basis("household", facts)
    assert settled_data(settled) is not None
    for odd in ("A\x1f#1", "A\n#1"):
        settled.sources.append(odd)
        assert settled_data(settled) is None
        settled.sources.pop()
