"""No path lets one person both prepare and decide the same case, grant, 特困 support, roll or
large posting.

Method: hypothesis draws sequences of (person, command) for one household case (apply, record
an economic check, reassess income, approve, reject, terminate) and for one temporary grant
(request, approve, pay), runs them on the aggregates in memory, skipping what the rules refuse
(a refusal must record nothing), and then reads the recorded events: no approval, rejection or
termination is by the person who applied or recorded the economic check in force before it; no
grant is approved by its requester or paid by its approver. The same for 特困 support (applied,
approved, terminated), a roll (generated, approved, sent) and a posting above the confirmation
threshold (proposed, confirmed).
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import DomainError
from domain.household import HouseholdCase
from domain.roll import PaymentRoll
from domain.tekun import TekunApplication, TekunPerson
from domain.temporary import TemporaryGrant
from ledger.proposals import PostingProposal
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


def proposal_step(proposal: PostingProposal, command: str, person: str) -> None:
    proposal.confirm(actor=f"credential-of-{person}", staff_id=person)


@settings(max_examples=100, deadline=None)
@given(proposer=st.sampled_from(PEOPLE), confirmers=st.lists(st.sampled_from(PEOPLE), max_size=5))
def test_no_one_proposes_and_confirms_a_large_posting(proposer: str, confirmers: list[str]) -> None:
    proposal = PostingProposal.above_threshold(
        (1_000, "default"), namespace="420582", key="big", kind="posting", content={},
        content_sha256="0" * 64, total_fen=1_001, actor=f"credential-of-{proposer}",
        staff_id=proposer,
    )  # fmt: skip
    assert proposal is not None
    for person in confirmers:
        run(proposal, proposal_step, "confirm", person)
    confirmed = [e.staff_id for e in proposal.collect_events() if type(e).__name__ == "Confirmed"]
    assert len(confirmed) <= 1 and proposer not in confirmed


TEKUN = {"region_code": "420582", "name": "李", "mode": "dispersed", "care_level": "none",
         "institution": None, "payee_account": "6217003312345678", "payee_name": "李",
         "start_month": "2024-01", "effective_date": "2024-01-01", **DOC}  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(
    applicant=st.sampled_from(PEOPLE),
    steps=st.lists(
        st.tuples(st.sampled_from(("approve", "terminate")), st.sampled_from(PEOPLE)), max_size=6
    ),
)
def test_no_one_applies_for_and_approves_or_ends_tekun_support(
    applicant: str, steps: list[tuple[str, str]]
) -> None:
    person = id_number(sequence=9)
    application = TekunApplication.apply(region_code="420582", id_number=person, name="李",
                                         effective_date="2024-01-01", actor="c", staff_id=applicant,
                                         **DOC)  # fmt: skip
    people: list[TekunPerson] = []
    for command, actor in steps:
        if command == "approve" and not people:
            try:
                people.append(TekunPerson.approve(**TEKUN, id_number=person, actor=actor,
                                                  application=application, staff_id=actor))  # fmt: skip
            except DomainError:
                assert application.case_id is None
        elif people:
            run(people[0], lambda p, _c, who: p.terminate(reason="death", effective_date="2024-05-01",
                                                          actor=who, staff_id=who, **DOC), command, actor)  # fmt: skip
    for recorded in [e for p in people for e in p.collect_events()]:
        assert recorded.staff_id != applicant, type(recorded).__name__


def roll_step(roll: PaymentRoll, command: str, person: str) -> None:
    meta = {"actor": f"credential-of-{person}", "staff_id": person}
    if command == "generate":
        roll.record_generation(as_of="2024-03-01T00:00:00Z", line_count=1, total_fen=100,
                               totals={}, chunk_count=1, **meta)  # fmt: skip
    elif command == "approve":
        roll.approve(**meta)
    else:
        roll.record_sent(
            file_sha256="0" * 64, encoding="utf-8", line_count=1, total_fen=100, **meta
        )


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(("generate", "approve", "send")), st.sampled_from(PEOPLE)),
        max_size=10,
    )
)
def test_no_one_generates_and_approves_or_approves_and_sends_a_roll(
    steps: list[tuple[str, str]],
) -> None:
    roll = PaymentRoll.open(county_code="420582", month="2024-03", group="all")
    for command, person in steps:
        run(roll, roll_step, command, person)
    generated_by = approved_by = ""
    for recorded in roll.collect_events():
        kind = type(recorded).__name__
        if kind == "Generated":
            generated_by = recorded.staff_id
        elif kind == "Approved":
            assert recorded.staff_id != generated_by
            approved_by = recorded.staff_id
        elif kind == "Sent":
            assert recorded.staff_id != approved_by
