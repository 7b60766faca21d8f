"""No path lets one person both prepare and decide the same case or grant.

Method: hypothesis draws sequences of (person, command) for one household case (apply, record
an economic check, reassess income, approve, reject, terminate) and for one temporary grant
(request, approve, pay), runs them on the aggregates in memory, skipping what the rules refuse
(a refusal must record nothing), and then reads the recorded events: no approval, rejection or
termination is by the person who applied or recorded the economic check in force before it; no
grant is approved by its requester or paid by its approver.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import DomainError
from domain.household import HouseholdCase
from domain.temporary import TemporaryGrant
from tests.factories import household_body, id_number

PEOPLE = ("a", "b", "c")
DOC = {"document_ref": "当民批〔2024〕1号"}
CASE_COMMANDS = ("check", "reassess", "approve", "reject", "terminate")
PREPARING = ("Applied", "EconomicCheckRecorded", "IncomeReassessed")
DECIDING = ("Approved", "Rejected", "Terminated")


def case_step(case: HouseholdCase, command: str, person: str) -> None:
    meta = {"actor": f"credential-of-{person}", "staff_id": person, **DOC}
    income = {"household_income_fen": 30_000}
    match command:
        case "check":
            case.record_economic_check(income=income, effective_date="2024-01-10", **meta)
        case "reassess":
            case.reassess_income(income=income, effective_date="2024-03-01", **meta)
        case "approve":
            case.approve(method="top_up", tier_code=None, start_month="2024-02",
                         payee_account="6222020200112233", payee_name="王一",
                         single_person_id_number=None, annual_review_due=None, programme=None,
                         effective_date="2024-01-20", **meta)  # fmt: skip
        case "reject":
            case.reject(reason="收入超标", effective_date="2024-01-20", **meta)
        case "terminate":
            case.terminate(reason="death", effective_date="2024-04-01", **meta)


def run(aggregate: Any, step: Any, command: str, person: str) -> None:
    """One command; a refused one leaves the aggregate as it was."""
    version = aggregate.version
    try:
        step(aggregate, command, person)
    except DomainError:
        assert aggregate.version == version


@settings(max_examples=300, deadline=None)
@given(
    applicant=st.sampled_from(PEOPLE),
    steps=st.lists(st.tuples(st.sampled_from(CASE_COMMANDS), st.sampled_from(PEOPLE)), max_size=12),
)
def test_no_one_prepares_and_decides_a_case(applicant: str, steps: list[tuple[str, str]]) -> None:
    body = household_body()
    case = HouseholdCase.apply(region_code=body["region_code"], programme=body["programme"],
                               members=body["members"], address="", effective_date="2024-01-05",
                               actor=f"credential-of-{applicant}", staff_id=applicant, **DOC)  # fmt: skip
    for command, person in steps:
        run(case, case_step, command, person)
    applied_by, checked_by = "", ""
    for recorded in case.collect_events():
        kind = type(recorded).__name__
        if kind == "Applied":
            applied_by = recorded.staff_id
        elif kind in PREPARING:
            checked_by = recorded.staff_id
        elif kind in DECIDING:
            assert recorded.staff_id not in (applied_by, checked_by), (kind, recorded.staff_id)


def grant_step(grant: TemporaryGrant, command: str, person: str) -> None:
    meta = {"actor": f"credential-of-{person}", "staff_id": person}
    if command == "approve":
        grant.approve(level="county", paying_township="420582001", township_limit_fen=300_000,
                      committee_limit_fen=2_000_000, effective_date="2024-03-02",
                      recorded_on="2024-03-02", **meta, **DOC)  # fmt: skip
    else:
        grant.pay(transaction_key=f"grant:{grant.id}:pay", posting_date="2024-03-03", **meta)


@settings(max_examples=200, deadline=None)
@given(
    requester=st.sampled_from(PEOPLE),
    steps=st.lists(
        st.tuples(st.sampled_from(("approve", "pay")), st.sampled_from(PEOPLE)), max_size=6
    ),
)
def test_no_one_requests_and_approves_or_approves_and_pays_a_grant(
    requester: str, steps: list[tuple[str, str]]
) -> None:
    grant = TemporaryGrant.request(region_code="420582001000", occurred_in="420582001000",
                                   id_number=id_number(sequence=5), name="过路人", grant_type="urgent",
                                   amount_fen=100_000, reason="火灾", effective_date="2024-03-02",
                                   actor=f"credential-of-{requester}", staff_id=requester, **DOC)  # fmt: skip
    for command, person in steps:
        run(grant, grant_step, command, person)
    by = {type(e).__name__: e.staff_id for e in grant.collect_events()}
    assert by.get("Approved") != by["Requested"]
    if "Paid" in by:
        assert by["Paid"] != by["Approved"]
