"""Policy book, 特困 persons, registries, audit trails and credentials through the API."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from fastapi.testclient import TestClient

from domain.access import Credential
from ops.services.core import Services
from tests.api.conftest import tekun_applied
from tests.api.test_households_api import API, apply, assert_problem
from tests.conftest import COUNTY, OTHER_COUNTY
from tests.factories import id_number

DOC = {"document_ref": "当民发〔2022〕12号"}


def test_policy_standard_as_known_at_a_time_with_its_source(client: TestClient, token: Any) -> None:
    """Rural 5,280 → 6,000 yuan a year from 1 April: monthly 440 then 500 yuan, each with the event that set it."""
    approver = token("approver")
    for amount, day in ((528_000, "2021-01-01"), (600_000, "2022-04-01")):
        body = {
            "programme": "dibao_rural",
            "amount_fen": amount,
            "period": "year",
            "effective_date": day,
            **DOC,
        }
        assert (
            client.post(f"{API}/policy/420582/standards", json=body, headers=approver).status_code
            == 201
        )
    march = client.get(
        f"{API}/policy/420582/standard?programme=dibao_rural&month=2022-03", headers=approver
    ).json()
    april = client.get(
        f"{API}/policy/420582/standard?programme=dibao_rural&month=2022-04", headers=approver
    ).json()
    assert march["standard_fen_per_month"] == 44_000 and april["standard_fen_per_month"] == 50_000
    assert april["set_by"]["event_type"] == "RegionPolicy.StandardSet"
    assert april["set_by"]["document_ref"] == DOC["document_ref"]
    early = client.get(
        f"{API}/policy/420582/standard?programme=dibao_rural&month=2022-04&as_of=2000-01-01T00:00:00Z",
        headers=approver,
    )
    assert_problem(early, 404, "month", "standard_exists")
    # Rounding to the yuan changes the monthly figure of an annual standard that is not a multiple of 12.
    client.post(
        f"{API}/policy/420582/standards",
        headers=approver,
        json={
            "programme": "dibao_rural",
            "amount_fen": 600_100,
            "period": "year",
            "effective_date": "2023-01-01",
            **DOC,
        },
    )
    client.post(
        f"{API}/policy/420582/rounding",
        headers=approver,
        json={"unit": "yuan", "mode": "half_up", "effective_date": "2023-01-01", **DOC},
    )
    jan = client.get(
        f"{API}/policy/420582/standard?programme=dibao_rural&month=2023-01", headers=approver
    ).json()
    assert jan["standard_fen_per_month"] == 50_000 and jan["rounding"]["unit"] == "yuan"
    facts = client.get(f"{API}/policy/420582/facts?kind=standard", headers=approver).json()["items"]
    assert len(facts) == 3


def test_policy_bad_input(client: TestClient, token: Any, services: Services) -> None:
    approver = token("approver")
    worker = token("case_worker")
    position = services.log_position()
    cases = [
        (
            {
                "programme": "dibao_urban",
                "amount_fen": -1,
                "period": "month",
                "effective_date": "2022-01-01",
                **DOC,
            },
            "amount_fen",
        ),
        (
            {
                "programme": "dibao_urban",
                "amount_fen": 1.5,
                "period": "month",
                "effective_date": "2022-01-01",
                **DOC,
            },
            "amount_fen",
        ),
        (
            {
                "programme": "dibao_urban",
                "amount_fen": 100,
                "period": "week",
                "effective_date": "2022-01-01",
                **DOC,
            },
            "period",
        ),
        (
            {
                "programme": "dibao_urban",
                "amount_fen": 100,
                "period": "month",
                "effective_date": "2022-13-01",
                **DOC,
            },
            "effective_date",
        ),
        (
            {
                "programme": "spaceship",
                "amount_fen": 100,
                "period": "month",
                "effective_date": "2022-01-01",
                **DOC,
            },
            "programme",
        ),
    ]
    for body, field in cases:
        assert_problem(
            client.post(f"{API}/policy/420582/standards", json=body, headers=approver), 422, field
        )
    tekun = {"multiplier_percent": 120, "effective_date": "2022-01-01", **DOC}
    assert_problem(
        client.post(f"{API}/policy/420582/tekun-rules", json=tekun, headers=approver),
        422,
        "multiplier_percent",
    )
    assert_problem(
        client.get(
            f"{API}/policy/420582/standard?programme=dibao_urban&month=2023-13", headers=approver
        ),
        422,
        "month",
    )
    good = {
        "programme": "dibao_urban",
        "amount_fen": 100,
        "period": "month",
        "effective_date": "2022-01-01",
        **DOC,
    }
    assert_problem(
        client.post(f"{API}/policy/420582/standards", json=good, headers=worker), 403, "role"
    )
    assert_problem(
        client.post(f"{API}/policy/420581/standards", json=good, headers=approver),
        403,
        "region_code",
    )
    assert services.log_position() == position
    # A county officer reads its province's policy, not another county's.
    assert client.get(f"{API}/policy/420000/facts", headers=worker).status_code == 200
    assert_problem(client.get(f"{API}/policy/420581/facts", headers=worker), 403, "region_code")


def test_tekun_person_lifecycle_and_payee(client: TestClient, token: Any) -> None:
    """Centralised support is paid to the institution; changing to dispersed pays the person."""
    approver = token("approver")
    body = {
        "region_code": "420582",
        "id_number": id_number(sequence=301),
        "name": "李老汉",
        "mode": "centralized",
        "care_level": "partial",
        "institution": {"name": "当阳市社会福利院", "account_number": "4200123456789012"},
        "start_month": "2024-01",
        "effective_date": "2023-12-20",
        **DOC,
    }
    applied = tekun_applied(client, approver, body)
    response = client.post(f"{API}/tekun", json=applied, headers=approver)
    assert response.status_code == 201, response.text
    case_id = response.json()["case_id"]
    used = client.post(f"{API}/tekun", json=applied, headers=approver)
    assert_problem(used, 409, "application_id", "application_decided")
    not_one = client.post(f"{API}/tekun", json=body | {"application_id": case_id}, headers=approver)
    assert_problem(not_one, 404, "application_id", "exists")
    again = client.post(
        f"{API}/tekun", json=tekun_applied(client, approver, body), headers=approver
    )
    assert_problem(again, 409, "id_number", "one_open_tekun_case_per_person")
    change = {
        "mode": "dispersed",
        "payee_account": "6217003312345678",
        "payee_name": "李老汉",
        "effective_date": "2024-06-01",
        **DOC,
    }
    assert (
        client.post(f"{API}/tekun/{case_id}/mode", json=change, headers=approver).status_code == 200
    )
    care = {"care_level": "none", "effective_date": "2024-07-01", **DOC}
    assert (
        client.post(f"{API}/tekun/{case_id}/care-level", json=care, headers=approver).status_code
        == 200
    )
    person = client.get(f"{API}/tekun/{case_id}", headers=approver).json()
    assert person["programme"] == "tekun_dispersed" and person["care_level"] == "none"
    assert person["payee_account_masked"].endswith("5678")
    end = {"reason": "death", "effective_date": "2024-08-01", **DOC}
    assert (
        client.post(f"{API}/tekun/{case_id}/terminate", json=end, headers=approver).status_code
        == 200
    )
    assert_problem(
        client.post(f"{API}/tekun/{case_id}/care-level", json=care, headers=approver), 409, "status"
    )
    # After termination the person may be approved again (a new case).
    renewed = tekun_applied(client, approver, body)
    assert client.post(f"{API}/tekun", json=renewed, headers=approver).status_code == 201


def test_registry_records_are_idempotent_and_never_change_a_case(
    client: TestClient, token: Any, services: Services
) -> None:
    admin = token("admin")
    case_id = apply(client, admin, seed=21)
    head = services.load(
        __import__("domain.household", fromlist=["HouseholdCase"]).HouseholdCase, case_id
    )
    death = {
        "kind": "death",
        "source": "公安户籍",
        "source_ref": "D-1",
        "id_number": head.head_id_number,
        "region_code": "420582",
        "effective_date": "2024-03-03",
    }
    first = client.post(f"{API}/registry/records", json=death, headers=admin)
    assert first.status_code == 201 and first.json()["created"] is True
    position = services.log_position()
    second = client.post(f"{API}/registry/records", json=death, headers=admin)
    assert second.status_code == 200 and second.json()["created"] is False
    assert services.log_position() == position
    # A free-form detail holding an integer the event store's JSON cannot carry exactly (beyond
    # 64 bits, read back as a float) is refused, not recorded.
    huge = death | {"source_ref": "D-2", "details": {"value": 10**20}}
    refused = client.post(f"{API}/registry/records", json=huge, headers=admin)
    assert refused.status_code == 422 and "details" in refused.text
    assert services.log_position() == position
    assert client.get(f"{API}/households/{case_id}", headers=admin).json()["status"] == "applied"
    records = client.get(f"{API}/registry/records?kind=death", headers=admin).json()
    assert len(records["items"]) == 1 and "*" in records["items"][0]["id_masked"]
    assert (
        client.get(f"{API}/registry/records", headers=token("auditor", OTHER_COUNTY)).json()[
            "items"
        ]
        == []
    )


def credential_issued_back_then(services: Services, *, expires_at: str) -> dict[str, str]:
    """Headers for a special auditor credential recorded while it was valid and expired since:
    the domain's ``Credential.issue``, past the service's refusal of an expiry already past."""
    secret = "doudi_" + secrets.token_urlsafe(32)
    credential = Credential.issue(role="special_auditor", region_scope=COUNTY, label="",
                                  token_sha256=hashlib.sha256(secret.encode()).hexdigest(),
                                  expires_at=expires_at, period_from="2000-01-01",
                                  period_to="2000-12-31", issued_by="test")  # fmt: skip
    services.app.save(credential)
    return {"Authorization": f"Bearer {secret}"}


def test_audit_trail_names_actor_document_and_respects_scope_and_period(
    client: TestClient, token: Any, services: Services
) -> None:
    """Auditors follow a case and a person; to a special auditor a case applied for after its
    period does not exist."""
    admin = token("admin")
    case_id = apply(client, admin, seed=31)
    auditor = token("auditor")
    trail = client.get(f"{API}/audit/cases/{case_id}", headers=auditor).json()["items"]
    assert trail[0]["event_type"] == "HouseholdCase.Applied" and trail[0]["document_ref"]
    assert "id_number" not in trail[0]["details"]
    person = client.post(
        f"{API}/audit/persons/search",
        json={"id_number": id_number(sequence=310, birth="19930101")},
        headers=auditor,
    ).json()["items"]
    assert [
        row["originator_id"] for row in person if row["event_type"] == "HouseholdCase.Applied"
    ] == [case_id]
    past = token(
        "special_auditor",
        expires_at="2099-01-01T00:00:00+00:00",
        period_from="2000-01-01",
        period_to="2001-12-31",
    )
    assert_problem(client.get(f"{API}/audit/cases/{case_id}", headers=past), 404, "case_id")
    expired = credential_issued_back_then(services, expires_at="2001-01-01T00:00:00+00:00")
    assert client.get(f"{API}/audit/cases/{case_id}", headers=expired).status_code == 401
    assert_problem(
        client.get(f"{API}/audit/cases/{case_id}", headers=token("case_worker")), 403, "role"
    )
    assert_problem(
        client.get(f"{API}/audit/cases/{case_id}", headers=token("auditor", OTHER_COUNTY)),
        404,
        "case_id",
    )


def test_admin_issues_credentials_only_within_its_scope(client: TestClient, token: Any) -> None:
    city_admin = token("admin", "420500")
    response = client.post(
        f"{API}/credentials",
        json={"role": "case_worker", "region_scope": "420582", "staff_id": "cw-7"},
        headers=city_admin,
    )
    assert response.status_code == 201
    new = {"Authorization": f"Bearer {response.json()['token']}"}
    assert client.get(f"{API}/households", headers=new).status_code == 200
    assert_problem(
        client.post(
            f"{API}/credentials",
            json={"role": "admin", "region_scope": "110105"},
            headers=city_admin,
        ),
        403,
        "region_scope",
    )
    assert_problem(
        client.post(
            f"{API}/credentials",
            json={"role": "admin", "region_scope": "420582"},
            headers=token("approver"),
        ),
        403,
        "role",
    )
    assert client.get("/docs").status_code == 200 and "cdn" not in client.get("/docs").text.lower()


def test_a_retried_credential_request_returns_the_same_token(
    client: TestClient, token: Any, services: Services
) -> None:
    """The token is shown once, but a retry with the same Idempotency-Key (a lost response) gets
    the same credential and token back, not a second credential; the token never reaches the
    event log in clear."""
    admin = token("admin", "420500") | {"Idempotency-Key": "issue-1"}
    body = {"role": "case_worker", "region_scope": "420582", "label": "王会计", "staff_id": "cw-8"}
    first = client.post(f"{API}/credentials", json=body, headers=admin)
    assert first.status_code == 201
    position = services.log_position()
    again = client.post(f"{API}/credentials", json=body, headers=admin)
    assert again.status_code == 201 and again.headers["Idempotency-Replayed"] == "true"
    assert again.json() == first.json() and services.log_position() == position
    new = {"Authorization": f"Bearer {first.json()['token']}"}
    assert client.get(f"{API}/households", headers=new).status_code == 200
    other = client.post(f"{API}/credentials", json=body | {"role": "auditor"}, headers=admin)
    assert_problem(other, 409, "Idempotency-Key", "idempotency_key_reuse")
    secret = first.json()["token"].encode()
    for notification in services.read_notifications(1, 10_000):
        plain = services.app.mapper.compressor.decompress(
            services.app.mapper.cipher.decrypt(notification.state)
        )  # type: ignore[union-attr]
        assert secret not in plain


def test_subsidy_policy_is_recorded_and_validated(
    client: TestClient, token: Any, services: Services
) -> None:
    """Price indices, the linkage rule, electricity and one-time subsidies are policy facts."""
    approver = token("approver")
    posts = [
        (
            "price-indices",
            {"month": "2022-10", "cpi_yoy_permille": 31, "food_cpi_yoy_permille": 88, **DOC},
        ),
        (
            "price-linkage",
            {
                "cpi_threshold_permille": 30,
                "food_threshold_permille": 60,
                "minimum_fen": 1000,
                "programmes": ["dibao_urban", "tekun_dispersed"],
                "effective_date": "2022-09-01",
                **DOC,
            },
        ),
        (
            "electricity-subsidies",
            {
                "amount_fen_per_quarter": 3000,
                "pay_month_of_quarter": 3,
                "programmes": ["dibao_urban"],
                "effective_date": "2022-01-01",
                **DOC,
            },
        ),
        (
            "one-time-subsidies",
            {
                "name": "春节慰问",
                "amount_fen": 20000,
                "per": "household",
                "pay_month": "2023-01",
                "programmes": ["dibao_urban"],
                "effective_date": "2022-12-01",
                **DOC,
            },
        ),
    ]
    for path, body in posts:
        response = client.post(f"{API}/policy/420582/{path}", json=body, headers=approver)
        assert response.status_code == 201, (path, response.text)
    kinds = {
        f["kind"]: f
        for f in client.get(f"{API}/policy/420582/facts", headers=approver).json()["items"]
    }
    assert set(kinds) == {"price_index", "price_linkage", "electricity", "one_time"}
    assert (
        kinds["price_index"]["item"] == "2022-10"
        and kinds["price_index"]["effective_date"] == "2022-10-01"
    )
    position = services.log_position()
    bad = [
        (
            "price-indices",
            {"month": "2022-13", "cpi_yoy_permille": 31, "food_cpi_yoy_permille": 8, **DOC},
            "month",
        ),
        (
            "price-indices",
            {"month": "2022-10", "cpi_yoy_permille": 3.1, "food_cpi_yoy_permille": 8, **DOC},
            "cpi_yoy_permille",
        ),
        (
            "electricity-subsidies",
            {
                "amount_fen_per_quarter": 3000,
                "pay_month_of_quarter": 4,
                "programmes": ["dibao_urban"],
                "effective_date": "2022-01-01",
                **DOC,
            },
            "pay_month_of_quarter",
        ),
        (
            "one-time-subsidies",
            {
                "name": "x",
                "amount_fen": 100,
                "per": "village",
                "pay_month": "2023-01",
                "programmes": ["dibao_urban"],
                "effective_date": "2022-12-01",
                **DOC,
            },
            "per",
        ),
        (
            "price-linkage",
            {"programmes": ["nope"], "effective_date": "2022-09-01", **DOC},
            "programmes",
        ),
    ]
    for path, body, field in bad:
        assert_problem(
            client.post(f"{API}/policy/420582/{path}", json=body, headers=approver), 422, field
        )
    assert services.log_position() == position
