"""The household case as a state machine, in memory: each legal path, each refused one."""

from __future__ import annotations

from typing import Any

import pytest

from domain.enrolment import PersonEnrolment
from domain.errors import Conflict, InvalidTransition, InvalidValue
from domain.household import CaseStatus, HouseholdCase
from domain.policy import RegionPolicy
from domain.tekun import TekunApplication, TekunPerson
from tests.factories import household_body, id_number

META = {"actor": "worker-1", "document_ref": "当民批〔2024〕1号"}
DECISION = {"effective_date": "2024-01-01", "document_ref": META["document_ref"]}


def applied(**kwargs: Any) -> HouseholdCase:
    body = household_body(**kwargs)
    return HouseholdCase.apply(
        region_code=body["region_code"],
        programme=body["programme"],
        members=body["members"],
        address="",
        effective_date="2024-01-05",
        **META,
    )


def approved(programme: str = "dibao_urban") -> HouseholdCase:
    case = applied(programme=programme)
    case.record_economic_check(
        income={"household_income_fen": 30_000}, effective_date="2024-01-10", **META
    )
    case.approve(
        method="top_up",
        tier_code=None,
        start_month="2024-02",
        payee_account="6222020200112233",
        payee_name="王一",
        single_person_id_number=None,
        annual_review_due="2025-01-31",
        programme=None,
        effective_date="2024-01-20",
        **META,
    )
    return case


def test_approval_needs_an_economic_check_and_happens_once() -> None:
    case = applied()
    with pytest.raises(InvalidTransition) as caught:
        case.approve(
            method="top_up",
            tier_code=None,
            start_month="2024-02",
            payee_account="6222020200112233",
            payee_name="王一",
            single_person_id_number=None,
            annual_review_due=None,
            programme=None,
            effective_date="2024-01-20",
            **META,
        )
    assert caught.value.rule == "economic_check_before_approval"
    case = approved()
    assert case.status is CaseStatus.ACTIVE
    with pytest.raises(InvalidTransition):
        case.approve(
            method="top_up",
            tier_code=None,
            start_month="2024-02",
            payee_account="6222020200112233",
            payee_name="王一",
            single_person_id_number=None,
            annual_review_due=None,
            programme=None,
            effective_date="2024-01-20",
            **META,
        )


def test_exit_before_approval_and_changes_after_termination_are_refused() -> None:
    case = applied()
    with pytest.raises(InvalidTransition):
        case.start_gradual_exit(months=6, effective_date="2024-02-01", **META)
    case = approved()
    case.terminate(reason="death", effective_date="2024-05-01", **META)
    for action in (
        lambda: case.suspend(reason="x", effective_date="2024-06-01", **META),
        lambda: case.terminate(reason="death", effective_date="2024-06-01", **META),
        lambda: case.add_member(
            member={"id_number": id_number(sequence=77), "name": "新"},
            effective_date="2024-06-01",
            **META,
        ),
    ):
        with pytest.raises(InvalidTransition):
            action()


def test_single_person_cover_only_for_marginal_households() -> None:
    """单人保: one member of a marginal household covered alone; refused for a dibao household."""
    case = applied(programme="marginal")
    case.record_economic_check(
        income={"household_income_fen": 30_000}, effective_date="2024-01-10", **META
    )
    member = list(case.members)[1]
    case.approve(
        method="top_up",
        tier_code=None,
        start_month="2024-02",
        payee_account="6222020200112233",
        payee_name="王二",
        single_person_id_number=member,
        annual_review_due=None,
        programme="dibao_urban",
        effective_date="2024-01-20",
        **META,
    )
    assert [m["covered"] for m in case.members.values()] == [False, True]
    dibao = applied(programme="dibao_urban")
    dibao.record_economic_check(
        income={"household_income_fen": 0}, effective_date="2024-01-10", **META
    )
    with pytest.raises(InvalidValue):
        dibao.approve(
            method="top_up",
            tier_code=None,
            start_month="2024-02",
            payee_account="6222020200112233",
            payee_name="王二",
            single_person_id_number=next(iter(dibao.members)),
            annual_review_due=None,
            programme=None,
            effective_date="2024-01-20",
            **META,
        )


def test_replaying_the_events_rebuilds_the_same_case() -> None:
    case = approved()
    case.suspend(reason="外出", effective_date="2024-03-01", **META)
    case.resume(effective_date="2024-04-01", **META)
    events = case.collect_events()
    copy: Any = None
    for event in events:
        copy = event.mutate(copy)
    assert vars(copy) == vars(case)


def test_enrolment_guard_keeps_one_open_case_per_person() -> None:
    enrolment = PersonEnrolment(person_key="k", kind="household", case_id="a")
    enrolment.enrol(kind="household", case_id="a")  # the same case again is no change
    enrolment.enrol(kind="tekun", case_id="t")  # another kind is tracked separately
    with pytest.raises(Conflict):
        enrolment.enrol(kind="household", case_id="b")
    enrolment.release(kind="household", case_id="a")
    enrolment.enrol(kind="household", case_id="b")
    assert enrolment.open_cases == {"household": "b", "tekun": "t"}


def test_policy_and_tekun_rules_refuse_bad_values() -> None:
    policy = RegionPolicy.open("420582")
    with pytest.raises(InvalidValue) as caught:
        policy.record(
            "tekun_rule",
            {"multiplier_percent": 120, "explicit_amount_fen": None, **DECISION},
            actor=META["actor"],
        )
    assert caught.value.rule == "tekun_multiplier_minimum"
    with pytest.raises(InvalidValue):
        policy.record(
            "standard",
            {"programme": "nope", "amount_fen": 100, "period": "month", **DECISION},
            actor=META["actor"],
        )
    with pytest.raises(InvalidValue):
        policy.record(
            "care_standard",
            {"level": "partial", "amount_fen": 100, "percent_of_minimum_wage": 15, **DECISION},
            actor=META["actor"],
        )
    with pytest.raises(InvalidValue) as caught:
        TekunPerson.approve(
            region_code="420582",
            id_number=id_number(),
            name="李",
            mode="centralized",
            care_level="none",
            institution=None,
            payee_account=None,
            payee_name=None,
            start_month="2024-01",
            effective_date="2024-01-01",
            **META,
            application=TekunApplication.apply(
                region_code="420582",
                id_number=id_number(),
                name="李",
                effective_date="2024-01-01",
                staff_id="worker",
                **META,
            ),
            staff_id="approver",
        )
    assert caught.value.rule == "institution_required"


def test_a_tekun_application_is_approved_once_by_another_person() -> None:
    """Worked example: 王 applies for 李's 特困 support; 王's own approval is 403
    ``separation_of_duties``, 张's is recorded with both persons, and the application cannot be
    approved again (409 ``application_decided``)."""
    from domain.errors import Forbidden

    person = id_number(sequence=77)
    application = TekunApplication.apply(region_code="420582", id_number=person, name="李",
                                         effective_date="2024-01-01", staff_id="wang", **META)  # fmt: skip
    approval = {"region_code": "420582", "id_number": person, "name": "李", "mode": "dispersed",
                "care_level": "none", "institution": None, "payee_account": "6217003312345678",
                "payee_name": "李", "start_month": "2024-01", "effective_date": "2024-01-01",
                **META, "application": application}  # fmt: skip
    with pytest.raises(Forbidden) as refused:
        TekunPerson.approve(**approval, staff_id="wang")
    assert (refused.value.field, refused.value.rule) == ("applied_by", "separation_of_duties")
    approved = TekunPerson.approve(**approval, staff_id="zhang")
    assert (approved.applied_by, approved.application_id) == ("wang", str(application.id))
    assert application.case_id == str(approved.id)
    with pytest.raises(Conflict) as again:
        TekunPerson.approve(**approval, staff_id="zhao")
    assert again.value.rule == "application_decided"
