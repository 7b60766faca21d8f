"""Three misuse rules through the API, each on its planted case and its near miss: the same
person enrolled in two cases across counties, a month paid above what the standard allows, and
allocated funds left idle (滞留). The case file is ``test_rolls_api``'s 当阳市 (420582) with, for
the first rule, 枝江市 (420583) beside it.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from ops.services.core import Services
from tests.api.conftest import colleague
from tests.api.test_findings_api import findings, ok, roll
from tests.api.test_households_api import API, assert_problem
from tests.api.test_rolls_api import DOC, county_with_cases, fund_county
from tests.factories import approve_body, household_body, id_number, income_body


def enrol(
    client: TestClient, admin: dict[str, str], region: str, seed: int, shared: str | None = None,
    *, approve: bool = True, **approval: Any,
) -> dict[str, Any]:  # fmt: skip
    """A household of two applied in ``region`` (its first member ``shared`` if given), checked
    and, unless told not to, approved by the admin's colleague."""
    body = household_body(
        region, members=2, seed=seed, programme=approval.get("programme", "dibao_urban")
    )
    if shared is not None:
        body["members"][0]["id_number"] = shared
    case_id = ok(client.post(f"{API}/households", json=body, headers=admin))["case_id"]
    ok(
        client.post(
            f"{API}/households/{case_id}/economic-checks", json=income_body(0), headers=admin
        )
    )
    if approve:
        decided = client.post(f"{API}/households/{case_id}/approve",
                              json=approve_body(**approval), headers=colleague(client, admin))  # fmt: skip
        assert decided.status_code == 200, decided.text
    return {"case_id": case_id, "people": [m["id_number"] for m in body["members"]]}


def test_the_same_person_in_two_cases_across_counties(
    client: TestClient, token: Any, services: Services
) -> None:
    """The enrolment guard refuses a person in a second open household case on every command,
    so the planted cases get past it as a migrated caseload or a writer around the service
    would: members added to an approved 当阳 (420582) case straight through the application.
    P is enrolled in 枝江 (420583) and added to the 当阳 case: a finding on it naming the 枝江
    case (the check is province-wide). Near misses: Q's 枝江 case was terminated, R's only
    applied. A rebuild gives the same findings."""
    here, there = token("admin"), token("admin", "420583")
    p, q, r = id_number(sequence=501), id_number(sequence=502), id_number(sequence=503)
    first = enrol(client, there, "420583001000", 51, p)
    ended = enrol(client, there, "420583001000", 52, q)
    terminate = {"reason": "moved", "effective_date": "2024-02-01", **DOC}
    ok(client.post(f"{API}/households/{ended['case_id']}/terminate", json=terminate,
                   headers=colleague(client, there)))  # fmt: skip
    enrol(client, there, "420583001000", 53, r, approve=False)
    second = enrol(client, here, "420582001000", 54)
    for person in (q, r, p):
        case = services.app.repository.get(UUID(second["case_id"]))
        case.add_member(member={"id_number": person, "name": "王某"}, effective_date="2024-03-01",
                        actor="migration", document_ref="迁移2024-3")  # fmt: skip
        services.app.save(case)
        if person != p:
            assert findings(client, token("auditor"), rule="two_active_cases")["total"] == 0

    (found,) = findings(client, token("auditor"), rule="two_active_cases")["items"]
    assert found["case_id"] == second["case_id"] and found["severity"] == "high"
    assert found["evidence"]["other_case_id"] == first["case_id"]
    assert found["evidence"]["other_region_code"] == "420583001000"
    assert found["evidence"]["events"][0].startswith("HouseholdCase.MemberAdded#")
    assert found["id_masked"].count("*") == 8 and found["id_masked"][-4:] == p[-4:]
    # 枝江's auditor does not see 当阳's finding; the province's does.
    assert findings(client, token("auditor", "420583"), rule="two_active_cases")["total"] == 0
    assert findings(client, token("auditor", "420000"), rule="two_active_cases")["total"] == 1
    live = services.projections.dump("findings")
    services.projections.rebuild("findings")
    assert services.projections.dump("findings") == live


def test_a_month_paid_above_the_standard(
    client: TestClient, token: Any, services: Services
) -> None:
    """当阳's rural standard is 6,000 yuan a year (500 yuan a month). A tier table sets tier X at
    500.01 yuan, one fen above it, and tier A at 500 yuan. Household X (two covered, tier X) is
    paid 1,000.02 yuan for March: a finding of 2 fen. Household A (tier A) is paid 1,000 yuan,
    the full standard: none. From April the region allows 101 %: April pays X again, no new
    finding."""
    admin = token("admin")
    county_with_cases(client, admin)
    tiers = {"programme": "dibao_rural", "tiers": {"A": 50_000, "X": 50_001},
             "effective_date": "2021-01-01", **DOC}  # fmt: skip
    ok(client.post(f"{API}/policy/420582/tiers", json=tiers, headers=admin))
    above = enrol(client, admin, "420582001000", 61, programme="dibao_rural", method="tier",
                  tier_code="X")  # fmt: skip
    enrol(client, admin, "420582001000", 62, programme="dibao_rural", method="tier", tier_code="A")
    finance = token("finance_officer")
    roll(client, finance, "2024-03", approve=True)
    auditor = token("auditor")
    (found,) = findings(client, auditor, rule="above_standard")["items"]
    assert (found["case_id"], found["amount_fen"], found["dated"]) == (
        above["case_id"], 2, "2024-03-01",
    )  # fmt: skip
    evidence = found["evidence"]
    assert (evidence["paid_fen"], evidence["allowed_fen"], evidence["standard_fen"]) == (
        100_002, 100_000, 50_000,
    )  # fmt: skip
    assert evidence["covered_members"] == 2 and evidence["events"][0].startswith(
        "PaymentRoll.Approved#"
    )
    thresholds = {"grant_window_days": 90, "repeat_grant_count": 3, "backdate_days": 90,
                  "payment_deadline_day": 10, "above_standard_percent": 101,
                  "effective_date": "2024-04-01", **DOC}  # fmt: skip
    ok(client.post(f"{API}/policy/420582/misuse-thresholds", json=thresholds, headers=admin))
    roll(client, finance, "2024-04", approve=True)
    assert findings(client, auditor, rule="above_standard")["total"] == 1
    # Out of range, named in the caller's terms, nothing recorded.
    position = services.log_position()
    bad = client.post(f"{API}/policy/420582/misuse-thresholds",
                      json=thresholds | {"above_standard_percent": 99}, headers=admin)  # fmt: skip
    assert_problem(bad, 422, "above_standard_percent")
    assert services.log_position() == position
    live = services.projections.dump("findings")
    services.projections.rebuild("findings")
    assert services.projections.dump("findings") == live


def post(client: TestClient, headers: dict[str, str], key: str, day: str, code: str,
         debit: str, credit: str, fen: int) -> None:  # fmt: skip
    body = {"code": code, "posting_date": day, **DOC, "lines": [
        {"account": debit, "debit_fen": fen, "source": "central"},
        {"account": credit, "credit_fen": fen, "source": "central"}]}  # fmt: skip
    made = client.post(f"{API}/ledger/transactions", json=body,
                       headers=headers | {"Idempotency-Key": key})  # fmt: skip
    assert made.status_code in (200, 201), made.text


def test_allocated_funds_left_idle(client: TestClient, token: Any, services: Services) -> None:
    """当阳's dibao and 特困 pools receive 1,000,000 yuan each on 2024-01-02 (idle from
    2024-04-01, 90 days on), the temporary pool 100 yuan, all advanced to a township on
    2024-02-01. A posting dated 2024-03-31 finds nothing; one dated 2024-04-01 finds the two
    pools idle, each with its unspent amount, not the spent one. With 30 days set for 当阳
    from 2024-05-01, 100 yuan allocated that day is idle from 2024-05-31, not on 2024-05-30."""
    admin = token("admin")
    fund_county(client, admin)
    post(client, admin, "tmp-1", "2024-01-02", "raise", "clearing:420582:bank",
         "source:420582:central", 10_000)  # fmt: skip
    post(client, admin, "tmp-2", "2024-01-02", "allocate", "pool:420582:temporary",
         "clearing:420582:bank", 10_000)  # fmt: skip
    post(client, admin, "tmp-3", "2024-02-01", "advance", "reserve:420582001:temporary",
         "pool:420582:temporary", 10_000)  # fmt: skip
    post(client, admin, "late-1", "2024-03-31", "raise", "clearing:420582:bank",
         "source:420582:central", 100)  # fmt: skip
    auditor = token("auditor")
    assert findings(client, auditor, rule="idle_funds")["total"] == 0
    post(client, admin, "late-2", "2024-04-01", "raise", "clearing:420582:bank",
         "source:420582:central", 100)  # fmt: skip
    found = findings(client, auditor, rule="idle_funds")
    assert found["total"] == 2 and found["amount_fen"] == 2 * 100_000_000
    accounts = sorted(item["evidence"]["account"] for item in found["items"])
    assert accounts == ["pool:420582:dibao", "pool:420582:tekun"]
    item = found["items"][0]
    assert (item["dated"], item["region_code"], item["severity"]) == (
        "2024-04-01",
        "420582",
        "medium",
    )
    assert item["evidence"]["posted_on"] == "2024-01-02"
    assert item["evidence"]["events"][1].startswith("JournalTransaction.Posted#")
    # A later posting does not find them again.
    post(client, admin, "late-3", "2024-05-01", "raise", "clearing:420582:bank",
         "source:420582:central", 100)  # fmt: skip
    assert findings(client, auditor, rule="idle_funds")["total"] == 2
    assert findings(client, token("auditor", "420583"), rule="idle_funds")["total"] == 0
    thresholds = {"grant_window_days": 90, "repeat_grant_count": 3, "backdate_days": 90,
                  "payment_deadline_day": 10, "idle_days": 30,
                  "effective_date": "2024-05-01", **DOC}  # fmt: skip
    ok(client.post(f"{API}/policy/420582/misuse-thresholds", json=thresholds, headers=admin))
    post(client, admin, "may-0", "2024-05-01", "raise", "clearing:420582:bank",
         "source:420582:central", 10_000)  # fmt: skip
    post(client, admin, "may-1", "2024-05-01", "allocate", "pool:420582:dibao",
         "clearing:420582:bank", 10_000)  # fmt: skip
    post(client, admin, "may-2", "2024-05-30", "raise", "clearing:420582:bank",
         "source:420582:central", 100)  # fmt: skip
    assert findings(client, auditor, rule="idle_funds")["total"] == 2
    post(client, admin, "may-3", "2024-05-31", "raise", "clearing:420582:bank",
         "source:420582:central", 100)  # fmt: skip
    newest = findings(client, auditor, rule="idle_funds", **{"from": "2024-05-01"})["items"]
    assert [(i["dated"], i["amount_fen"]) for i in newest] == [("2024-05-31", 10_000)]
    live = services.projections.dump("findings")
    services.projections.rebuild("findings")
    assert services.projections.dump("findings") == live
