"""Household cases through the API: the whole lifecycle, illegal transitions, bad input, scopes."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from ops.services.core import Services
from tests.api.conftest import colleague
from tests.conftest import OTHER_COUNTY, OTHER_PROVINCE_COUNTY
from tests.factories import approve_body, household_body, id_number, income_body

API = "/api/v1"


def apply(client: TestClient, headers: dict[str, str], **kwargs: Any) -> str:
    response = client.post(f"{API}/households", json=household_body(**kwargs), headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["case_id"])


def assert_problem(response: Any, status: int, field: str, rule: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    fields = [error["field"] for error in body["errors"]]
    assert any(field in f for f in fields), (field, body)
    if rule is not None:
        assert any(rule == error["rule"] for error in body["errors"]), (rule, body)


def test_lifecycle_from_application_to_termination(client: TestClient, token: Any) -> None:
    """A household applies, is checked, approved, changed, exits gradually and is terminated;
    each decision shows in the case state and the effective-dated timeline with actor and document."""
    admin = token("admin")
    case_id = apply(client, admin)
    steps = [
        ("economic-checks", income_body()),
        ("approve", approve_body()),
        (
            "members",
            {
                "member": {"id_number": id_number(sequence=901), "name": "王新"},
                "effective_date": "2024-03-01",
                "document_ref": "变更2024-3",
            },
        ),
        ("income", income_body(50_000) | {"effective_date": "2024-04-01"}),
        (
            "suspend",
            {"reason": "外出失联", "effective_date": "2024-05-01", "document_ref": "暂停2024-5"},
        ),
        ("resume", {"effective_date": "2024-06-01", "document_ref": "恢复2024-6"}),
        (
            "gradual-exit",
            {"months": 6, "effective_date": "2024-07-01", "document_ref": "渐退2024-7"},
        ),
        (
            "terminate",
            {
                "reason": "income_above_standard",
                "effective_date": "2025-01-01",
                "document_ref": "停保2025-1",
            },
        ),
    ]
    checker = colleague(client, admin)  # decides what the first admin prepared
    for action, body in steps:
        by = checker if action in ("approve", "terminate") else admin
        response = client.post(f"{API}/households/{case_id}/{action}", json=body, headers=by)
        assert response.status_code == 200, (action, response.text)
    case = client.get(f"{API}/households/{case_id}", headers=admin).json()
    assert case["status"] == "terminated"
    assert case["end_reason"] == "income_above_standard"
    assert case["member_count"] == 3
    assert case["head_id_masked"].count("*") == 8
    timeline = client.get(f"{API}/households/{case_id}/timeline", headers=admin).json()["items"]
    assert [item["event_type"].split(".")[1] for item in timeline][:3] == [
        "Applied",
        "EconomicCheckRecorded",
        "Approved",
    ]
    assert all(item["document_ref"] and item["actor"] for item in timeline)
    assert len(timeline) == 1 + len(steps)


def test_illegal_transitions_are_refused_and_record_nothing(
    client: TestClient, token: Any, services: Services
) -> None:
    """Exit before approval, approve twice and changing a terminated case answer 409, log unchanged."""
    admin = token("admin")
    case_id = apply(client, admin)
    before = services.log_position()
    response = client.post(
        f"{API}/households/{case_id}/gradual-exit",
        json={"months": 6, "effective_date": "2024-02-01", "document_ref": "x"},
        headers=admin,
    )
    assert_problem(response, 409, "status")
    assert services.log_position() == before
    client.post(f"{API}/households/{case_id}/economic-checks", json=income_body(), headers=admin)
    assert (
        client.post(
            f"{API}/households/{case_id}/approve",
            json=approve_body(),
            headers=colleague(client, admin),
        ).status_code
        == 200
    )
    before = services.log_position()
    assert_problem(
        client.post(
            f"{API}/households/{case_id}/approve",
            json=approve_body(),
            headers=colleague(client, admin),
        ),
        409,
        "status",
    )
    client.post(
        f"{API}/households/{case_id}/terminate",
        json={"reason": "death", "effective_date": "2024-05-01", "document_ref": "死亡"},
        headers=colleague(client, admin),
    )
    before = services.log_position()
    response = client.post(
        f"{API}/households/{case_id}/suspend",
        json={"reason": "x", "effective_date": "2024-06-01", "document_ref": "x"},
        headers=admin,
    )
    assert_problem(response, 409, "status")
    assert services.log_position() == before


def test_member_in_two_open_households_is_refused(
    client: TestClient, token: Any, services: Services
) -> None:
    """The same person cannot apply in a second household while the first case is open."""
    admin = token("admin")
    apply(client, admin, seed=3)
    before = services.log_position()
    response = client.post(f"{API}/households", json=household_body(seed=3), headers=admin)
    assert_problem(response, 409, "members[0].id_number", "one_open_household_case_per_person")
    assert services.log_position() == before


def test_bad_input_is_refused_with_problem_json_and_records_nothing(
    client: TestClient, token: Any, services: Services
) -> None:
    """Each bad input answers 4xx naming the field and the rule; the event log does not move."""
    admin = token("admin")
    case_id = apply(client, admin)
    before = services.log_position()
    bad_id = household_body()
    bad_id["members"][0]["id_number"] = bad_id["members"][0]["id_number"][:-1] + (
        "0" if bad_id["members"][0]["id_number"][-1] != "0" else "1"
    )
    assert_problem(
        client.post(f"{API}/households", json=bad_id, headers=admin),
        422,
        "id_number",
        "id_number_check_digit",
    )
    province = token("admin", "420000")
    assert_problem(
        client.post(f"{API}/households", json=household_body(region="429999"), headers=province),
        422,
        "region_code",
        "known_region",
    )
    negative = income_body(-5)
    assert_problem(
        client.post(f"{API}/households/{case_id}/economic-checks", json=negative, headers=admin),
        422,
        "household_income_fen",
    )
    fractional = income_body() | {"household_income_fen": 100.5}
    assert_problem(
        client.post(f"{API}/households/{case_id}/economic-checks", json=fractional, headers=admin),
        422,
        "household_income_fen",
        "int_type",
    )
    client.post(f"{API}/households/{case_id}/economic-checks", json=income_body(), headers=admin)
    before = services.log_position()
    assert_problem(
        client.post(
            f"{API}/households/{case_id}/approve",
            json=approve_body(start_month="2023-13"),
            headers=admin,
        ),
        422,
        "start_month",
    )
    big = household_body() | {"address": "x" * 2_000_000}
    response = client.post(f"{API}/households", json=big, headers=admin)
    assert_problem(response, 413, "body", "max_body_bytes")
    assert services.log_position() == before


def test_idempotency_key_replays_and_conflicts(
    client: TestClient, token: Any, services: Services
) -> None:
    """Same key and body → the first answer again, nothing new recorded; same key, other body → 409."""
    admin = token("admin")
    headers = admin | {"Idempotency-Key": "apply-1"}
    first = client.post(f"{API}/households", json=household_body(seed=5), headers=headers)
    position = services.log_position()
    again = client.post(f"{API}/households", json=household_body(seed=5), headers=headers)
    assert again.status_code == first.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotency-Replayed"] == "true"
    assert services.log_position() == position
    other = client.post(f"{API}/households", json=household_body(seed=6), headers=headers)
    assert_problem(other, 409, "Idempotency-Key", "idempotency_key_reuse")
    assert services.log_position() == position


def test_roles_and_scopes(client: TestClient, token: Any, services: Services) -> None:
    """Each role does only its work, and nothing about another region leaks in lists or errors."""
    admin = token("admin")
    case_id = apply(client, admin, seed=7)
    client.post(f"{API}/households/{case_id}/economic-checks", json=income_body(), headers=admin)
    before = services.log_position()
    worker = token("case_worker")
    assert_problem(
        client.post(f"{API}/households/{case_id}/approve", json=approve_body(), headers=worker),
        403,
        "role",
    )
    for role in ("auditor", "special_auditor", "finance_officer"):
        extra = (
            {
                "expires_at": "2099-01-01T00:00:00+00:00",
                "period_from": "2024-01-01",
                "period_to": "2099-12-31",
            }
            if role == "special_auditor"
            else {}
        )
        reader = token(role, **extra)
        assert client.get(f"{API}/households/{case_id}", headers=reader).status_code == 200
        assert_problem(
            client.post(f"{API}/households", json=household_body(seed=8), headers=reader),
            403,
            "role",
        )
    neighbour = token("admin", OTHER_COUNTY)
    assert_problem(client.get(f"{API}/households/{case_id}", headers=neighbour), 404, "case_id")
    assert_problem(
        client.post(f"{API}/households/{case_id}/approve", json=approve_body(), headers=neighbour),
        404,
        "case_id",
    )
    listing = client.get(f"{API}/households", headers=neighbour).json()
    assert len(listing["items"]) == 0 and listing["items"] == []
    assert_problem(
        client.get(f"{API}/households?region=420582", headers=neighbour),
        403,
        "region",
        "region_scope",
    )
    assert_problem(
        client.post(f"{API}/households", json=household_body(seed=9), headers=neighbour),
        403,
        "region_code",
        "region_scope",
    )
    city = token("auditor", "420500")
    assert len(client.get(f"{API}/households", headers=city).json()["items"]) == 1
    beijing = token("auditor", OTHER_PROVINCE_COUNTY)
    assert len(client.get(f"{API}/households", headers=beijing).json()["items"]) == 0
    assert (
        client.get(f"{API}/households", headers={"Authorization": "Bearer nope"}).status_code == 401
    )
    assert (
        services.log_position() == before + 0 or services.log_position() > before
    )  # tokens are events


def test_list_filters_are_validated(client: TestClient, token: Any) -> None:
    """An unknown status or programme in a list filter is a 422 naming it, not an empty list."""
    admin = token("admin")
    assert_problem(client.get(f"{API}/households?status=happy", headers=admin), 422, "status")
    assert_problem(
        client.get(f"{API}/households?programme=spaceship", headers=admin), 422, "programme"
    )
    assert_problem(client.get(f"{API}/households?limit=0", headers=admin), 422, "limit")
    assert (
        client.get(
            f"{API}/households?status=active&programme=dibao_urban", headers=admin
        ).status_code
        == 200
    )
