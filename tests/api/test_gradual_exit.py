"""Gradual exit (渐退) through the API: the household keeps its amount, then leaves on its own.

The case file: 当阳市 (420582), urban standard 670 yuan a month. Three urban households of two,
each checked at 300 yuan a month on 10 January and paid from February: 670 × 2 − 300 = 1,040
yuan a month. On 1 May each is granted a 3-month exit. Household R's income rise to 2,000 yuan
(above the standard) is recorded the same day; household U's rise is left unrecorded; household
E's rise is recorded and a review on 1 June finds it eligible again on 500 yuan. R and U are paid
1,040 yuan for May, June and July, nothing for August, and read as terminated
(`gradual_exit_ended`) from 1 August without another decision; E stays active and is paid
670 × 2 − 500 = 840 yuan for August. Both backends.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from ops.services.core import Services
from tests.api.conftest import colleague
from tests.api.test_households_api import API, assert_problem
from tests.api.test_rolls_api import DOC, POLICY, fund_county
from tests.factories import approve_body, household_body, income_body

MAY = "2024-05-01"


def paid_household(client: TestClient, admin: dict[str, str], seed: int) -> str:
    case_id = client.post(
        f"{API}/households", json=household_body("420582001000", seed=seed), headers=admin
    ).json()["case_id"]
    checked = client.post(
        f"{API}/households/{case_id}/economic-checks", json=income_body(30_000), headers=admin
    )
    assert checked.status_code == 200, checked.text
    approved = client.post(
        f"{API}/households/{case_id}/approve", json=approve_body(), headers=colleague(client, admin)
    )
    assert approved.status_code == 200, approved.text
    return str(case_id)


def decide(client: TestClient, headers: dict[str, str], case_id: str, step: str,
           body: dict[str, Any]) -> None:  # fmt: skip
    response = client.post(f"{API}/households/{case_id}/{step}", json=body | DOC, headers=headers)
    assert response.status_code == 200, response.text


def paid_in(client: TestClient, finance: dict[str, str], month: str) -> dict[str, int]:
    """Case → the line's total in the county's draft roll for ``month``."""
    roll = client.post(f"{API}/rolls", json={"county_code": "420582", "month": month},
                       headers=finance)  # fmt: skip
    assert roll.status_code == 201, roll.text
    lines = client.get(f"{API}/rolls/{roll.json()['roll_id']}/lines?limit=500",
                       headers=finance).json()["items"]  # fmt: skip
    return {line["case_id"]: line["total_fen"] for line in lines}


def test_a_gradual_exit_keeps_paying_then_the_case_leaves(
    client: TestClient, token: Any, services: Services
) -> None:
    admin = token("admin")
    fund_county(client, admin)
    for path, body in POLICY:
        assert client.post(f"{API}/policy/420582/{path}", json=body | DOC,
                           headers=admin).status_code == 201  # fmt: skip
    recorded, unrecorded, eligible = (paid_household(client, admin, seed) for seed in (71, 72, 73))
    checker = colleague(client, admin)
    risen = income_body(200_000) | {"effective_date": MAY}
    for case_id in (recorded, eligible):
        decide(client, admin, case_id, "income", risen)
    for case_id in (recorded, unrecorded, eligible):
        decide(client, checker, case_id, "gradual-exit", {"months": 3, "effective_date": MAY})
    decide(
        client, admin, eligible, "income", income_body(50_000) | {"effective_date": "2024-06-01"}
    )
    decide(client, checker, eligible, "annual-review", {
        "outcome": "复核仍符合低保条件", "next_due": "2025-06-01", "eligible": True,
        "effective_date": "2024-06-01"})  # fmt: skip

    finance = token("finance_officer")
    for month in ("2024-05", "2024-06", "2024-07"):
        paid = paid_in(client, finance, month)
        assert (paid[recorded], paid[unrecorded]) == (104_000, 104_000), month
    august = paid_in(client, finance, "2024-08")
    assert recorded not in august and unrecorded not in august
    assert august[eligible] == 84_000

    for case_id in (recorded, unrecorded):
        case = client.get(f"{API}/households/{case_id}", headers=admin).json()
        assert (case["status"], case["end_reason"], case["status_since"]) == (
            "terminated", "gradual_exit_ended", "2024-08-01")  # fmt: skip
    assert client.get(f"{API}/households/{eligible}", headers=admin).json()["status"] == "active"
    ended = client.get(f"{API}/households?status=terminated", headers=admin).json()["items"]
    assert {case["case_id"] for case in ended} == {recorded, unrecorded}
    exiting = client.get(f"{API}/households?status=gradual_exit", headers=admin).json()
    assert exiting["items"] == []

    # Having left, its members may apply again: the old case's enrolment ends with it.
    members = client.get(f"{API}/households/{recorded}", headers=admin).json()["members"]
    assert len(members) == 2
    again = household_body("420582001000", seed=71) | {"effective_date": "2024-09-02"}
    reapplied = client.post(f"{API}/households", json=again, headers=admin)
    assert reapplied.status_code == 201, reapplied.text
    still_open = household_body("420582001000", seed=73) | {"effective_date": "2024-09-02"}
    assert_problem(client.post(f"{API}/households", json=still_open, headers=admin), 409,
                   "members[0].id_number")  # fmt: skip

    # A review after the exit ended cannot bring the case back: it applies again.
    position = services.log_position()
    late = {"outcome": "复核", "next_due": "2025-06-01", "eligible": True,
            "effective_date": "2024-08-01", **DOC}  # fmt: skip
    assert_problem(client.post(f"{API}/households/{recorded}/annual-review", json=late,
                               headers=checker), 409, "effective_date", "within_gradual_exit")  # fmt: skip
    assert services.log_position() == position


def test_a_region_that_pays_half_during_the_exit(client: TestClient, token: Any) -> None:
    """The county's policy: a gradual exit keeps 50 % (from 2024-01-01). Household R (income rise
    recorded, 3-month exit from 1 May) is paid 520 yuan for May–July, its line naming the rule;
    household S, the same values but no exit, is paid 1,040 yuan in the same roll."""
    admin = token("admin")
    fund_county(client, admin)
    half = {"pay_percent": 50, "effective_date": "2024-01-01"}
    for path, body in [*POLICY, ("gradual-exit-rules", half)]:
        assert client.post(f"{API}/policy/420582/{path}", json=body | DOC,
                           headers=admin).status_code == 201  # fmt: skip
    exiting, staying = (paid_household(client, admin, seed) for seed in (74, 75))
    decide(client, admin, exiting, "income", income_body(200_000) | {"effective_date": MAY})
    decide(client, colleague(client, admin), exiting, "gradual-exit",
           {"months": 3, "effective_date": MAY})  # fmt: skip
    finance = token("finance_officer")
    for month in ("2024-05", "2024-07"):
        paid = paid_in(client, finance, month)
        assert (paid[exiting], paid[staying]) == (52_000, 104_000), month
    roll = client.post(f"{API}/rolls", json={"county_code": "420582", "month": "2024-06"},
                       headers=finance).json()  # fmt: skip
    lines = client.get(f"{API}/rolls/{roll['roll_id']}/lines", headers=finance).json()["items"]
    (base,) = next(line for line in lines if line["case_id"] == exiting)["components"]
    assert "gradual exit (渐退): 50%" in base["rule"]
    assert any(source.startswith("RegionPolicy.GradualExitRuleSet#") for source in base["sources"])
    assert paid_in(client, finance, "2024-08").get(exiting) is None
