"""Retroactivity through rolls: facts recorded late are carried by the next roll, month by month.

Method: approve the January–March 2024 rolls, then record a fact effective in January; the April
roll must carry one adjustment per affected month (back-pay or recovery) naming the fact, and no
month may be paid twice.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import colleague
from tests.api.test_households_api import API
from tests.api.test_rolls_api import DOC, POLICY, fund_county
from tests.factories import approve_body, household_body, income_body


def setup_county(
    client: TestClient, admin: dict[str, str], members: int = 3, income_fen: int = 90_000
) -> str:
    fund_county(client, admin)
    for path, body in POLICY:
        client.post(f"{API}/policy/420582/{path}", json=body | DOC, headers=admin)
    case_id = client.post(
        f"{API}/households",
        json=household_body("420582001000", members=members, seed=80),
        headers=admin,
    ).json()["case_id"]
    client.post(
        f"{API}/households/{case_id}/economic-checks", json=income_body(income_fen), headers=admin
    )
    client.post(
        f"{API}/households/{case_id}/approve",
        json=approve_body(start_month="2024-01"),
        headers=colleague(client, admin),
    )
    return str(case_id)


def roll(
    client: TestClient,
    finance: dict[str, str],
    month: str,
    group: str = "all",
    approve: bool = True,
) -> dict[str, Any]:
    made = client.post(
        f"{API}/rolls",
        json={"county_code": "420582", "month": month, "group": group},
        headers=finance,
    )
    assert made.status_code == 201, made.text
    roll_id = made.json()["roll_id"]
    if approve:
        approved = client.post(f"{API}/rolls/{roll_id}/approve", headers=colleague(client, finance))
        assert approved.status_code == 200, approved.text
    summary: dict[str, Any] = client.get(f"{API}/rolls/{roll_id}", headers=finance).json()
    summary["lines"] = client.get(f"{API}/rolls/{roll_id}/lines", headers=finance).json()["items"]
    return summary


def test_raise_recorded_three_months_late_gives_three_back_pay_months(
    client: TestClient, token: Any
) -> None:
    """670 → 700 yuan effective 1 January, recorded in April: 3 × (1,200 − 1,110) yuan back-pay."""
    admin, finance = token("admin"), token("finance_officer")
    setup_county(client, admin)
    for month in ("2024-01", "2024-02", "2024-03"):
        assert roll(client, finance, month)["total_fen"] == 111_000
    raise_body = {
        "programme": "dibao_urban",
        "amount_fen": 70_000,
        "period": "month",
        "effective_date": "2024-01-01",
    }
    client.post(f"{API}/policy/420582/standards", json=raise_body | DOC, headers=admin)
    april = roll(client, finance, "2024-04", approve=False)
    (line,) = april["lines"]
    backpay = [c for c in line["components"] if c["code"] == "backpay"]
    assert [(c["month"], c["amount_fen"]) for c in backpay] == [
        ("2024-01", 9_000),
        ("2024-02", 9_000),
        ("2024-03", 9_000),
    ]
    assert all(
        any(s.startswith("RegionPolicy.StandardSet#") for s in c["sources"]) for c in backpay
    )
    assert line["total_fen"] == 120_000 + 27_000 and april["totals"]["backpay_fen"] == 27_000


def test_death_recorded_late_gives_recoveries_and_a_visible_receivable(
    client: TestClient, token: Any
) -> None:
    """A single person (670 yuan) died 15 January; recorded in April: February and March are
    recovered; nothing is paid from April; with no payment to net against, 1,340 yuan stays a
    receivable on the roll (and on the next one too) instead of vanishing."""
    admin, finance = token("admin"), token("finance_officer")
    case_id = setup_county(client, admin, members=1, income_fen=0)
    for month in ("2024-01", "2024-02", "2024-03"):
        assert roll(client, finance, month)["total_fen"] == 67_000
    client.post(
        f"{API}/households/{case_id}/terminate",
        json={"reason": "death", "effective_date": "2024-01-15", **DOC},
        headers=colleague(client, admin),
    )
    april = roll(client, finance, "2024-04")
    (line,) = april["lines"]
    assert [(c["code"], c["month"], c["amount_fen"]) for c in line["components"]] == [
        ("recovery", "2024-02", -67_000),
        ("recovery", "2024-03", -67_000),
    ]
    assert any(s.startswith("HouseholdCase.Terminated#") for s in line["components"][0]["sources"])
    assert (line["total_fen"], line["receivable_fen"]) == (0, 134_000)
    may = roll(client, finance, "2024-05", approve=False)
    assert [(ln["total_fen"], ln["receivable_fen"]) for ln in may["lines"]] == [(0, 134_000)]


def test_recovery_is_netted_against_a_continuing_payment(client: TestClient, token: Any) -> None:
    """Income found higher from February, recorded in April: the overpayment is taken from April."""
    admin, finance = token("admin"), token("finance_officer")
    case_id = setup_county(client, admin)
    for month in ("2024-01", "2024-02", "2024-03"):
        roll(client, finance, month)
    client.post(
        f"{API}/households/{case_id}/income",
        json=income_body(120_000) | {"effective_date": "2024-02-01"},
        headers=admin,
    )
    april = roll(client, finance, "2024-04")
    (line,) = april["lines"]
    # due from February: (2,010 − 1,200) = 810 yuan; paid 1,110: recover 300 yuan for Feb and Mar.
    assert [
        (c["code"], c["month"], c["amount_fen"]) for c in line["components"] if c["code"] != "base"
    ] == [("recovery", "2024-02", -30_000), ("recovery", "2024-03", -30_000)]
    assert (line["total_fen"], line["receivable_fen"]) == (81_000 - 60_000, 0)
    may = roll(client, finance, "2024-05", approve=False)
    assert [c["code"] for c in may["lines"][0]["components"]] == [
        "base"
    ]  # recovered once, not again


def test_no_month_is_paid_twice_across_rolls(client: TestClient, token: Any) -> None:
    """March paid in the dibao roll is not paid again by the county's roll of every programme."""
    admin, finance = token("admin"), token("finance_officer")
    setup_county(client, admin)
    assert roll(client, finance, "2024-03", group="dibao")["total_fen"] == 111_000
    again = roll(client, finance, "2024-03", group="all", approve=False)
    assert again["lines"] == [] and again["total_fen"] == 0
