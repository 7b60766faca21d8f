"""Temporary assistance (临时救助) through the API: approval levels by amount, payment from the
township reserve (备用金) advanced by the county, supplementary documentation afterwards.

Policy: a township approves up to 3,000 yuan, the county above, a committee (一事一议) from
20,000 yuan. The county advances 5,000 yuan to 玉阳街道 (420582001)'s reserve.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from ops.services.core import Services
from tests.api.test_households_api import API, assert_problem
from tests.api.test_rolls_api import fund_county
from tests.factories import id_number

DOC = {"document_ref": "当民临〔2024〕5号"}


def grant_body(amount_fen: int, **extra: Any) -> dict[str, Any]:
    return {"region_code": "110105", "occurred_in": "420582001000", "id_number": id_number("110105", sequence=5),
            "name": "过路人", "grant_type": "urgent", "amount_fen": amount_fen, "reason": "车祸急救",
            "effective_date": "2024-03-02", **DOC, **extra}  # fmt: skip


def setup(client: TestClient, admin: dict[str, str]) -> None:
    fund_county(client, admin)
    limits = {
        "township_limit_fen": 300_000,
        "committee_limit_fen": 2_000_000,
        "effective_date": "2021-01-01",
        **DOC,
    }
    assert (
        client.post(f"{API}/policy/420582/approval-limits", json=limits, headers=admin).status_code
        == 201
    )
    body = {"code": "advance", "posting_date": "2024-03-01", **DOC, "lines": [
        {"account": "reserve:420582001:temporary", "debit_fen": 500_000, "source": "central"},
        {"account": "pool:420582:dibao", "credit_fen": 500_000, "source": "central"}]}  # fmt: skip
    advance = client.post(
        f"{API}/ledger/transactions", json=body, headers=admin | {"Idempotency-Key": "advance-1"}
    )
    assert advance.status_code == 201, advance.text


def test_levels_payment_from_the_reserve_and_supplements(
    client: TestClient, token: Any, services: Services
) -> None:
    """An urgent grant to someone from Beijing hurt in 当阳, the level taken from the approver's
    credential: 2,500 yuan approved by 玉阳街道's approver (a township credential) and paid from
    its reserve; 4,000 yuan is beyond a township's authority (403) and a county approver's to
    give; 25,000 yuan needs the committee, which only a county approver with the committee's
    document records; a level in the body is refused; the reserve cannot pay more than it holds."""
    admin = token("admin")
    township, county_approver = token("approver", "420582001"), token("approver")
    setup(client, admin)
    small = client.post(f"{API}/temporary-grants", json=grant_body(250_000), headers=admin).json()
    approve = {"paying_township": "420582001", "effective_date": "2024-03-02", **DOC}
    claimed = client.post(f"{API}/temporary-grants/{small['grant_id']}/approve",
                          json=approve | {"level": "county"}, headers=township)  # fmt: skip
    assert_problem(claimed, 422, "level", "extra_forbidden")
    approved = client.post(
        f"{API}/temporary-grants/{small['grant_id']}/approve", json=approve, headers=township
    )
    assert approved.status_code == 200 and approved.json()["limits_set_by"].startswith(
        "RegionPolicy.ApprovalLimitsSet#"
    )
    assert approved.json()["level"] == "township"
    paid = client.post(
        f"{API}/temporary-grants/{small['grant_id']}/pay",
        json={"posting_date": "2024-03-03"},
        headers=admin,
    )
    assert paid.status_code == 200 and paid.json()["status"] == "paid"
    balances = {
        i["account"]: i["balance_fen"]
        for i in client.get(f"{API}/ledger/balances", headers=admin).json()["items"]
    }
    assert (
        balances["reserve:420582001:temporary"] == 250_000
        and balances["disbursed:420582001:temporary"] == 250_000
    )

    big = client.post(f"{API}/temporary-grants", json=grant_body(400_000), headers=admin).json()
    position = services.log_position()
    big_approve = f"{API}/temporary-grants/{big['grant_id']}/approve"
    too_low = client.post(big_approve, json=approve, headers=township)
    assert_problem(too_low, 403, "region_scope", "approval_authority")
    no_committee = client.post(big_approve, json=approve | {"committee_document_ref": "一事一议纪要 1"},
                               headers=township)  # fmt: skip
    assert_problem(no_committee, 403, "committee_document_ref", "approval_authority")
    other_reserve = client.post(big_approve, json=approve | {"paying_township": "420582002"},
                                headers=township)  # fmt: skip
    assert_problem(other_reserve, 403, "paying_township", "region_scope")
    assert services.log_position() == position
    as_county = client.post(big_approve, json=approve, headers=county_approver)
    assert as_county.status_code == 200 and as_county.json()["level"] == "county"
    overdraw = client.post(
        f"{API}/temporary-grants/{big['grant_id']}/pay",
        json={"posting_date": "2024-03-04"},
        headers=admin,
    )
    assert_problem(overdraw, 409, "grant_id", "insufficient_funds")
    (short,) = overdraw.json()["funds"]
    assert (short["account"], short["needs_fen"]) == ("reserve:420582001:temporary", 400_000)
    assert short["short_fen"] == 400_000 - short["holds_fen"] > 0
    assert services.log_position() == position + 1  # only the approval

    huge = client.post(f"{API}/temporary-grants", json=grant_body(2_500_000), headers=admin).json()
    huge_approve = f"{API}/temporary-grants/{huge['grant_id']}/approve"
    assert_problem(
        client.post(huge_approve, json=approve, headers=county_approver),
        403,
        "committee_document_ref",
        "approval_authority",
    )
    committee = approve | {"committee_document_ref": "当阳市临时救助一事一议纪要〔2024〕2号"}
    by_committee = client.post(huge_approve, json=committee, headers=county_approver)
    assert by_committee.status_code == 200 and by_committee.json()["level"] == "committee"
    supplement = {"note": "补充医院诊断证明", "effective_date": "2024-03-10", **DOC}
    assert (
        client.post(
            f"{API}/temporary-grants/{small['grant_id']}/supplements",
            json=supplement,
            headers=admin,
        ).status_code
        == 200
    )
    listing = client.get(f"{API}/temporary-grants", headers=token("auditor")).json()
    assert len(listing["items"]) == 3 and sorted(g["status"] for g in listing["items"]) == [
        "approved",
        "approved",
        "paid",
    ]
    beijing = token("auditor", "110105")
    assert (
        len(client.get(f"{API}/temporary-grants", headers=beijing).json()["items"]) == 3
    )  # by hukou region
    assert (
        len(
            client.get(f"{API}/temporary-grants", headers=token("auditor", "420581")).json()[
                "items"
            ]
        )
        == 0
    )
    assert_problem(
        client.post(f"{API}/temporary-grants", json=grant_body(-1), headers=admin),
        422,
        "amount_fen",
    )
