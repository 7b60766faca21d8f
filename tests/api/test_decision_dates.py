"""Dates a caller writes cannot reach back past what they decide on, nor choose authority.

A household applied for on 2024-01-05 (tests/factories.py), a 特困 person approved on
2023-12-20, and a grant requested on 2024-03-02 in a county whose township approval limit was
3,000 yuan from 2021 and is 1 yuan from 2024-01-01: each decision dated before its fact is
refused naming the date field and the fact, an approval is judged by the limits in force on the
day it is recorded, and nothing refused is recorded. Both backends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ops.services.core import Services
from tests.api.conftest import colleague, tekun_applied
from tests.api.test_grants_api import grant_body, setup
from tests.api.test_households_api import API, apply, assert_problem
from tests.factories import approve_body, household_body, id_number, income_body

DOC = {"document_ref": "当民批〔2024〕7号"}
Token = Any


def refused(client: TestClient, services: Services, path: str, body: dict[str, Any],
            headers: dict[str, str], status: int, field: str, rule: str) -> None:  # fmt: skip
    before = services.log_position()
    assert_problem(client.post(f"{API}{path}", json=body, headers=headers), status, field, rule)
    assert services.log_position() == before


@pytest.mark.parametrize(
    ("step", "body", "field"),
    [
        ("economic-checks", income_body() | {"effective_date": "2024-01-04"}, "effective_date"),
        ("approve", approve_body(effective_date="2020-01-01", start_month="2020-01"), "effective_date"),
        ("approve", approve_body(start_month="2023-12"), "start_month"),
        ("reject", {"reason": "收入超标", "effective_date": "2023-12-31", **DOC}, "effective_date"),
    ],
    ids=["check", "approval", "start_month", "rejection"],
)  # fmt: skip
def test_a_household_decision_cannot_precede_the_application(
    client: TestClient, token: Token, services: Services, step: str, body: dict[str, Any],
    field: str,
) -> None:  # fmt: skip
    """An economic check, an approval (or its first month paid) and a rejection dated before the
    application of 2024-01-05: 422 naming the date and `before_application`, nothing recorded."""
    admin = token("admin")
    case_id = apply(client, admin, seed=81)
    if step == "approve":
        assert client.post(f"{API}/households/{case_id}/economic-checks", json=income_body(),
                           headers=admin).status_code == 200  # fmt: skip
    by = admin if step == "economic-checks" else colleague(client, admin)
    refused(client, services, f"/households/{case_id}/{step}", body, by, 422, field,
            "before_application")  # fmt: skip


def test_a_decision_on_an_active_case_cannot_precede_the_application(
    client: TestClient, token: Token, services: Services
) -> None:
    """Once approved, a termination (or any change) dated before the application is refused,
    while a death learned late still terminates from a day before the approval's date."""
    admin = token("admin")
    case_id = apply(client, admin, seed=82)
    checker = colleague(client, admin)
    for step, body, by in (
        ("economic-checks", income_body(), admin),
        ("approve", approve_body(), checker),
    ):
        assert client.post(f"{API}/households/{case_id}/{step}", json=body,
                           headers=by).status_code == 200  # fmt: skip
    early = {"reason": "death", "effective_date": "2024-01-04", **DOC}
    refused(client, services, f"/households/{case_id}/terminate", early, checker, 422,
            "effective_date", "before_application")  # fmt: skip
    late_news = early | {"effective_date": "2024-01-15"}  # after the application, before 01-20
    ended = client.post(
        f"{API}/households/{case_id}/terminate", json=late_news, headers=colleague(client, admin)
    )
    assert ended.status_code == 200, ended.text


def test_a_tekun_decision_cannot_precede_the_approval(
    client: TestClient, token: Token, services: Services
) -> None:
    """A 特困 person approved on 2023-12-20: a care-level reassessment dated 2023-12-19 is 422
    `before_approval`, nothing recorded."""
    approver = token("approver")
    body = {"region_code": "420582", "id_number": id_number(sequence=821), "name": "李老汉",
            "mode": "dispersed", "care_level": "partial", "payee_account": "6217003312345678",
            "payee_name": "李老汉", "start_month": "2024-01", "effective_date": "2023-12-20", **DOC}  # fmt: skip
    created = client.post(
        f"{API}/tekun", json=tekun_applied(client, approver, body), headers=approver
    )
    assert created.status_code == 201, created.text
    care = {"care_level": "none", "effective_date": "2023-12-19", **DOC}
    refused(client, services, f"/tekun/{created.json()['case_id']}/care-level", care, approver,
            422, "effective_date", "before_approval")  # fmt: skip


def lowered_limits(client: TestClient, admin: dict[str, str], services: Services) -> int:
    """The township limit from 3,000 yuan (2021, by ``setup``) to 1 yuan from 2024-01-01; the
    log position of that fact."""
    limits = {"township_limit_fen": 100, "committee_limit_fen": 2_000_000,
              "effective_date": "2024-01-01", **DOC}  # fmt: skip
    assert client.post(f"{API}/policy/420582/approval-limits", json=limits,
                       headers=admin).status_code == 201  # fmt: skip
    return services.log_position()


def test_grant_authority_is_that_of_the_day_the_approval_is_recorded(
    client: TestClient, token: Token, services: Services
) -> None:
    """A grant of 2,500 yuan requested on 2023-06-01, when the township could approve 3,000:
    approved today by a township approver, dated the request's day, it is judged by today's
    1-yuan limit (403 `approval_authority`); a county approver approves it, and the limits it
    names are the 2024 ones."""
    admin = token("admin")
    setup(client, admin)
    lowered = lowered_limits(client, admin, services)
    grant = client.post(f"{API}/temporary-grants", json=grant_body(250_000, effective_date="2023-06-01"),
                        headers=admin).json()["grant_id"]  # fmt: skip
    approval = {"paying_township": "420582001", "effective_date": "2023-06-01", **DOC}
    township = token("approver", "420582001")
    refused(client, services, f"/temporary-grants/{grant}/approve", approval, township, 403,
            "", "approval_authority")  # fmt: skip
    county = client.post(f"{API}/temporary-grants/{grant}/approve", json=approval,
                         headers=token("approver"))  # fmt: skip
    assert county.status_code == 200, county.text
    assert county.json()["limits_set_by"] == f"RegionPolicy.ApprovalLimitsSet#{lowered}"


def test_grant_dates_follow_request_approval_and_payment(
    client: TestClient, token: Token, services: Services
) -> None:
    """A grant requested on 2024-03-02: an approval dated 2024-03-01 (`before_request`) or
    tomorrow (`in_future`), a payment posted before the approval and a supplement dated before
    it (`before_approval`) are 422 naming the date field; nothing is recorded."""
    admin = token("admin")
    setup(client, admin)
    grant = client.post(f"{API}/temporary-grants", json=grant_body(250_000),
                        headers=admin).json()["grant_id"]  # fmt: skip
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    approve = {"paying_township": "420582001", **DOC}
    for day, rule in (("2024-03-01", "before_request"), (tomorrow, "in_future")):
        refused(client, services, f"/temporary-grants/{grant}/approve",
                approve | {"effective_date": day}, colleague(client, admin), 422, "effective_date",
                rule)  # fmt: skip
    approved = client.post(f"{API}/temporary-grants/{grant}/approve",
                           json=approve | {"effective_date": "2024-03-05"},
                           headers=colleague(client, admin))  # fmt: skip
    assert approved.status_code == 200, approved.text
    refused(client, services, f"/temporary-grants/{grant}/pay", {"posting_date": "2024-03-04"},
            admin, 422, "posting_date", "before_approval")  # fmt: skip
    supplement = {"note": "补充说明", "effective_date": "2024-03-04", **DOC}
    refused(client, services, f"/temporary-grants/{grant}/supplements", supplement, admin, 422,
            "effective_date", "before_approval")  # fmt: skip
    paid = client.post(f"{API}/temporary-grants/{grant}/pay", json={"posting_date": "2024-03-05"},
                       headers=admin)  # fmt: skip
    assert paid.status_code == 200, paid.text


def test_a_person_born_after_the_decision_is_refused(
    client: TestClient, token: Token, services: Services
) -> None:
    """A birth date after the decision's date but before today (born 2025-06-01, an application
    of 2024-01-05, a grant request of 2024-03-02) is impossible: 422 `id_number_birth_data`
    naming the number, nothing recorded."""
    admin = token("admin")
    number = id_number(birth="20250601", sequence=831)
    household = household_body(seed=83, members=1)
    household["members"][0]["id_number"] = number
    refused(client, services, "/households", household, admin, 422, "members[0].id_number",
            "id_number_birth_data")  # fmt: skip
    refused(client, services, "/temporary-grants", grant_body(10_000, id_number=number), admin,
            422, "id_number", "id_number_birth_data")  # fmt: skip


def test_an_identity_number_in_groups_is_read_and_its_raw_length_bounded(
    client: TestClient, token: Token, services: Services
) -> None:
    """The number written 6 + 8 + 4 with spaces is the person of the compact number (one case,
    so a second application for the compact number is 409); written with more than 24
    characters raw it is 422 naming the field, before any rule of the domain."""
    admin = token("admin")
    number = id_number(sequence=841)
    body = household_body(seed=84, members=1)
    body["members"][0]["id_number"] = f"{number[:6]} {number[6:14]} {number[14:]}"
    assert client.post(f"{API}/households", json=body, headers=admin).status_code == 201
    again = household_body(seed=85, members=1)
    again["members"][0]["id_number"] = number
    refused(client, services, "/households", again, admin, 409, "id_number",
            "one_open_household_case_per_person")  # fmt: skip
    again["members"][0]["id_number"] = "    ".join((number[:6], number[6:14], number[14:]))
    refused(client, services, "/households", again, admin, 422, "members.0.id_number",
            "string_too_long")  # fmt: skip


def test_a_credential_already_expired_is_not_issued(
    client: TestClient, token: Token, services: Services
) -> None:
    """An admin issuing a credential whose expiry is past (a special auditor's of 2020, or a
    minute ago) gets 422 naming `expires_at`, and nothing is recorded; an hour ahead is issued."""
    admin = token("admin")
    ago = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ahead = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    auditor = {"role": "special_auditor", "region_scope": "420582", "period_from": "2022-06-01",
               "period_to": "2022-08-31"}  # fmt: skip
    for expires_at in ("2020-01-01T00:00:00Z", ago):
        refused(client, services, "/credentials", auditor | {"expires_at": expires_at}, admin,
                422, "expires_at", "expires_in_past")  # fmt: skip
    issued = client.post(f"{API}/credentials", json=auditor | {"expires_at": ahead}, headers=admin)
    assert issued.status_code == 201, issued.text


def test_decision_and_document_dates_are_kept_beside_the_recorded_time(
    client: TestClient, token: Token, services: Services
) -> None:
    """An approval taken three days ago under a document dated two days ago is recorded today:
    the case's timeline and its audit trail show `decided_on` and `document_date` beside the
    store's recorded time (today). A decision date after today (`after_recording`) or a
    document date more than 366 days back (`recording_lag`) is 422 naming the field, and a
    特困 decision takes the same dates; nothing refused is recorded."""
    admin = token("admin")
    case_id = apply(client, admin, seed=83)
    checked = client.post(f"{API}/households/{case_id}/economic-checks", json=income_body(),
                          headers=admin)  # fmt: skip
    assert checked.status_code == 200, checked.text
    checker = colleague(client, admin)
    today = datetime.now(UTC).date()
    day = {n: (today - timedelta(days=n)).isoformat() for n in (-1, 2, 3, 400)}
    path = f"/households/{case_id}/approve"
    refused(client, services, path, approve_body(decided_on=day[-1]), checker, 422,
            "decided_on", "after_recording")  # fmt: skip
    refused(client, services, path, approve_body(document_date=day[400]), checker, 422,
            "document_date", "recording_lag")  # fmt: skip
    before = services.log_position()
    not_a_day = client.post(f"{API}{path}", json=approve_body(decided_on="2024-02-30"),
                            headers=checker)  # fmt: skip
    assert_problem(not_a_day, 422, "decided_on")
    assert services.log_position() == before
    approved = client.post(f"{API}{path}", json=approve_body(decided_on=day[3],
                           document_date=day[2]), headers=checker)  # fmt: skip
    assert approved.status_code == 200, approved.text

    timeline = client.get(f"{API}/households/{case_id}/timeline", headers=admin).json()["items"]
    approval = next(e for e in timeline if e["event_type"] == "HouseholdCase.Approved")
    assert (approval["decided_on"], approval["document_date"]) == (day[3], day[2])
    assert approval["recorded_at"][:10] == today.isoformat()
    assert approval["effective_date"] == "2024-01-20"  # its effective date is its own
    check = next(e for e in timeline if e["event_type"] == "HouseholdCase.EconomicCheckRecorded")
    assert (check["decided_on"], check["document_date"]) == (None, None)
    trail = client.get(f"{API}/audit/cases/{case_id}", headers=token("auditor")).json()["items"]
    audited = next(e for e in trail if e["event_type"] == "HouseholdCase.Approved")
    assert (audited["decided_on"], audited["document_date"]) == (day[3], day[2])
    assert audited["recorded_at"][:10] == today.isoformat()

    approver = token("approver")
    body = {"region_code": "420582", "id_number": id_number(sequence=831), "name": "周老汉",
            "mode": "dispersed", "care_level": "partial", "payee_account": "6217003312345678",
            "payee_name": "周老汉", "start_month": "2024-01", "effective_date": "2023-12-20",
            "decided_on": day[2], **DOC}  # fmt: skip
    body = tekun_applied(client, approver, body)
    refused(client, services, "/tekun", body | {"decided_on": day[-1]}, approver, 422,
            "decided_on", "after_recording")  # fmt: skip
    created = client.post(f"{API}/tekun", json=body, headers=approver)
    assert created.status_code == 201, created.text
    care = {"care_level": "none", "effective_date": "2024-03-01", "document_date": day[2], **DOC}
    person = created.json()["case_id"]
    assert client.post(f"{API}/tekun/{person}/care-level", json=care,
                       headers=approver).status_code == 200  # fmt: skip
    trail = client.get(f"{API}/audit/cases/{person}", headers=token("auditor")).json()["items"]
    assert [(e["decided_on"], e["document_date"]) for e in trail] == [
        (None, None),
        (day[2], None),
        (None, day[2]),
    ]  # fmt: skip  (the application, undated)


def test_policy_facts_and_grant_decisions_take_their_dates_too(
    client: TestClient, token: Token, services: Services
) -> None:
    """A standard decided yesterday under a document dated today, and a grant's request and
    approval recorded days after they were taken: the policy's and the grant's audit trails
    show the dates beside the recorded time; a policy fact decided tomorrow (`after_recording`)
    and a grant request whose document is 400 days old (`recording_lag`) are 422 naming the
    field, nothing recorded."""
    admin = token("admin")
    today = datetime.now(UTC).date()
    day = {n: (today - timedelta(days=n)).isoformat() for n in (-1, 0, 1, 3, 400)}
    standard = {"programme": "dibao_urban", "amount_fen": 70_000, "period": "month",
                "effective_date": "2024-01-01", **DOC}  # fmt: skip
    refused(client, services, "/policy/420582/standards", standard | {"decided_on": day[-1]},
            admin, 422, "decided_on", "after_recording")  # fmt: skip
    set_ = client.post(f"{API}/policy/420582/standards", headers=admin,
                       json=standard | {"decided_on": day[1], "document_date": day[0]})  # fmt: skip
    assert set_.status_code == 201, set_.text
    trail = client.get(f"{API}/audit/policy/420582", headers=token("auditor")).json()["items"]
    assert [(e["decided_on"], e["document_date"]) for e in trail
            if e["event_type"] == "RegionPolicy.StandardSet"] == [(day[1], day[0])]  # fmt: skip

    setup(client, admin)
    refused(client, services, "/temporary-grants", grant_body(10_000, document_date=day[400]),
            admin, 422, "document_date", "recording_lag")  # fmt: skip
    requested = client.post(f"{API}/temporary-grants", headers=admin,
                            json=grant_body(10_000, decided_on=day[3]))  # fmt: skip
    assert requested.status_code == 201, requested.text
    grant = requested.json()["grant_id"]
    approve = {"paying_township": "420582001", "effective_date": "2024-03-05",
               "document_date": day[1], **DOC}  # fmt: skip
    approved = client.post(f"{API}/temporary-grants/{grant}/approve", json=approve,
                           headers=colleague(client, admin))  # fmt: skip
    assert approved.status_code == 200, approved.text
    person = {"id_number": grant_body(0)["id_number"]}  # registered in 110105: a national auditor
    events = client.post(f"{API}/audit/persons/search", json=person,
                         headers=token("auditor", "000000"))  # fmt: skip
    assert events.status_code == 200, events.text
    dated = [(e["event_type"], e["decided_on"], e["document_date"]) for e in events.json()["items"]
             if e["event_type"].startswith("TemporaryGrant.")]  # fmt: skip
    assert dated == [("TemporaryGrant.Requested", day[3], None)]  # the request names the person
    # The grant's own trail (the audit view's rows for it; no route reads it yet).
    services.projections.catch_up()
    dated = [(e["event_type"], e["decided_on"], e["document_date"])
             for e in services.audit.for_subject("grant", grant)]  # fmt: skip
    assert dated == [("TemporaryGrant.Requested", day[3], None),
                     ("TemporaryGrant.Approved", None, day[1])]  # fmt: skip
