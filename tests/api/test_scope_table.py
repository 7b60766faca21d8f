"""Every write endpoint against every region a request can name, outside the caller's scope.

Method: a county 当阳市 (420582) and its sibling 宜都市 (420581) each hold records (a household,
a 特困 person, temporary grants, a roll, a ledger transaction). For every POST route of the
application (enumerated from the app itself: a new write route without a row here fails), the
table names each region-bearing field — a path code, a body code, a ledger line's account, the
township whose reserve pays, a record belonging to the other county — and a 当阳 credential
names the sibling's region through it. Each is refused (403 ``region_scope`` naming the field;
a record of another county is "not found") and the log does not move.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from api.http import schemas
from ops.services.core import Services
from tests.api.conftest import TEKUN_APPLICATION_FIELDS, tekun_applied
from tests.api.test_households_api import API, assert_problem
from tests.api.test_rolls_api import POLICY
from tests.conftest import COUNTY, OTHER_COUNTY
from tests.factories import approve_body, household_body, id_number, income_body

C, THEIRS = COUNTY, OTHER_COUNTY
DOC = {"document_ref": "当民发〔2024〕9号"}
DECISION = {"effective_date": "2024-03-01", **DOC}
PROGRAMMES = {"programmes": ["dibao_urban"]}
POLICY_BODIES: dict[str, dict[str, Any]] = {
    "standards": {"programme": "dibao_urban", "amount_fen": 1, **DECISION},
    "tiers": {"programme": "dibao_urban", "tiers": {"A": 1}, **DECISION},
    "tekun-rules": {"multiplier_percent": 130, **DECISION},
    "care-standards": {"level": "partial", "amount_fen": 1, **DECISION},
    "minimum-wage": {"amount_fen": 1, **DECISION},
    "rounding": {"unit": "fen", **DECISION},
    "price-indices": {"month": "2024-01", "cpi_yoy_permille": 1, "food_cpi_yoy_permille": 1, **DOC},
    "price-linkage": {**PROGRAMMES, **DECISION},
    "electricity-subsidies": {
        "amount_fen_per_quarter": 1,
        "pay_month_of_quarter": 1,
        **PROGRAMMES,
        **DECISION,
    },
    "one-time-subsidies": {
        "name": "春节",
        "amount_fen": 1,
        "per": "person",
        "pay_month": "2024-01",
        **PROGRAMMES,
        **DECISION,
    },
    "approval-limits": {
        "township_limit_fen": 300_000,
        "committee_limit_fen": 2_000_000,
        **DECISION,
    },
    "ledger-confirmation": {"threshold_fen": 100_000_000, **DECISION},
    "roll-deputies": {"staff_id": "F-deputy", **DECISION},
    "misuse-thresholds": {
        "grant_window_days": 90,
        "repeat_grant_count": 3,
        "backdate_days": 90,
        "payment_deadline_day": 10,
        **DECISION,
    },
    "gradual-exit-rules": {"pay_percent": 50, **DECISION},
}
HOUSEHOLD_DECISIONS: dict[str, dict[str, Any]] = {
    "economic-checks": {"household_income_fen": 0},
    "approve": {
        "method": "top_up",
        "start_month": "2024-04",
        "payee_account": "6222000011112222",
        "payee_name": "王一",
    },
    "reject": {"reason": "不符合条件"},
    "members": {"member": {"id_number": id_number(sequence=901), "name": "王九"}},
    "remove-member": {"id_number": id_number(sequence=902), "reason": "迁出"},
    "income": {"household_income_fen": 0},
    "tier": {"tier_code": "A"},
    "payee-account": {"account_number": "6222000011113333", "account_name": "王一"},
    "suspend": {"reason": "核查"},
    "resume": {},
    "gradual-exit": {"months": 6},
    "terminate": {"reason": "death"},
    "annual-review": {"outcome": "继续", "next_due": "2025-03-01"},
}
TEKUN_DECISIONS: dict[str, dict[str, Any]] = {
    "care-level": {"care_level": "none"},
    "mode": {"mode": "dispersed"},
    "terminate": {"reason": "death"},
}


@dataclass
class Case:
    """One request naming a region outside the caller's scope through one field."""

    field: str
    role: str = "admin"
    body: Any = None  # a dict (JSON), bytes (a CSV file) or None
    params: dict[str, str] = field(default_factory=dict)  # path parameters, by world key
    status: int = 403
    rule: str | None = "region_scope"
    key: str | None = None  # an Idempotency-Key


def tekun_body(region: str, sequence: int) -> dict[str, Any]:
    return {"region_code": region, "id_number": id_number(sequence=sequence), "name": "赵老",
            "mode": "dispersed", "care_level": "partial", "payee_account": "6217003312345678",
            "payee_name": "赵老", "start_month": "2024-01", **DECISION}  # fmt: skip


def grant_body(region: str, occurred_in: str, sequence: int) -> dict[str, Any]:
    return {"region_code": region, "occurred_in": occurred_in, "name": "过路人",
            "id_number": id_number(region[:6], sequence=sequence), "grant_type": "urgent",
            "amount_fen": 100_000, "reason": "车祸急救", **DECISION}  # fmt: skip


def line(account: str, debit: int = 0, credit: int = 0) -> dict[str, Any]:
    return {"account": account, "debit_fen": debit, "credit_fen": credit, "source": "central"}


def advance_body(reserve: str, pool: str) -> dict[str, Any]:
    return {"code": "advance", "posting_date": "2024-03-05", **DOC,
            "lines": [line(reserve, debit=100), line(pool, credit=100)]}  # fmt: skip


def raise_body(clearing: str, source: str) -> dict[str, Any]:
    return {"code": "raise", "posting_date": "2024-03-05", **DOC,
            "lines": [line(clearing, debit=100), line(source, credit=100)]}  # fmt: skip


def write_table() -> dict[str, list[Case]]:
    """POST route (as the app names it) → the cases that name a region outside the scope."""
    table: dict[str, list[Case]] = {}
    for path, _model in schemas.POLICY_BODIES.values():
        table[f"/policy/{{region_code}}/{path}"] = [
            Case("region_code", "approver", POLICY_BODIES[path], {"region_code": region})
            for region in (
                THEIRS,
                "420500",
                f"{THEIRS}001",
            )  # a sibling, its own city, a sibling township
        ]
    table["/households"] = [
        Case("region_code", body=household_body(region, seed=70))
        for region in (THEIRS, f"{THEIRS}001000")
    ]
    for action, body in HOUSEHOLD_DECISIONS.items():
        table[f"/households/{{case_id}}/{action}"] = [Case(
            "case_id", body=body | DECISION, params={"case_id": "other_case"}, status=404, rule="exists",
        )]  # fmt: skip
    table["/tekun"] = [
        Case(
            "region_code",
            body=tekun_body(f"{THEIRS}101000", 801)
            | {"application_id": "00000000-0000-4000-8000-000000000001"},
        )
    ]
    table["/tekun/applications"] = [
        Case(
            "region_code",
            body={
                name: tekun_body(f"{THEIRS}101000", 803)[name] for name in TEKUN_APPLICATION_FIELDS
            },
        )
    ]
    for action, body in TEKUN_DECISIONS.items():
        table[f"/tekun/{{case_id}}/{action}"] = [Case(
            "case_id", body=body | DECISION, params={"case_id": "other_tekun"}, status=404, rule="exists",
        )]  # fmt: skip
    registry = {"kind": "death", "source": "公安", "source_ref": "R-1", "effective_date": "2024-03-01",
                "id_number": id_number(THEIRS, sequence=3)}  # fmt: skip
    table["/registry/records"] = [
        Case("region_code", body=registry | {"region_code": region})
        for region in (THEIRS, f"{THEIRS}001000")
    ]
    review = {"note": "核查", "document_ref": "审〔2024〕1号"}
    table["/registry/records/{record_id}/dismiss"] = [Case(
        "record_id", "approver", review, {"record_id": "other_record"}, 404, "exists",
    )]  # fmt: skip
    for action, body in (("explain", review), ("confirm", review | {"outcome": "recovery"})):
        table[f"/findings/{{finding_id}}/{action}"] = [Case(
            "finding_id", "auditor", body, {"finding_id": "other_finding"}, 404, "exists",
        )]  # fmt: skip
    table["/credentials"] = [
        Case("region_scope", body={"role": "case_worker", "region_scope": scope})
        for scope in (THEIRS, f"{THEIRS}001", "420500")
    ]
    table["/rolls"] = [
        Case("county_code", "finance_officer", {"county_code": THEIRS, "month": "2024-03"})
    ]
    for action, body in (("approve", None), ("bank-file", None),
                         ("bank-results", b"reference,amount_fen,status,reason\n")):  # fmt: skip
        table[f"/rolls/{{roll_id}}/{action}"] = [Case(
            "roll_id", "finance_officer", body, {"roll_id": "other_roll"}, 404, "exists",
        )]  # fmt: skip
    table["/ledger/transactions"] = [
        Case("lines[1].account", "finance_officer", raise_body(f"clearing:{C}:bank", f"source:{THEIRS}:central"), key="t1"),
        Case("lines[0].account", "finance_officer", raise_body(f"clearing:{THEIRS}:bank", f"source:{C}:central"), key="t2"),
        Case("lines[0].account", "finance_officer", advance_body(f"reserve:{THEIRS}001:temporary", f"pool:{C}:temporary"), key="t3"),
    ]  # fmt: skip
    table["/ledger/transactions/{key}/reverse"] = [Case(
        # another county's key names nothing here (keys are per county): not found
        "key", "finance_officer", {"posting_date": "2024-03-06", **DOC}, {"key": "other_txn"},
        404, "exists", key="reversal-1",
    )]  # fmt: skip
    table["/ledger/transactions/{key}/confirm"] = [Case(
        # another county's proposal under a key: not one of this county's keys
        "key", "finance_officer", None, {"key": "other_proposal"}, 404, "exists",
    )]  # fmt: skip
    table["/ledger/carry-over/{county_code}/{year}/confirm"] = [
        Case("county_code", "finance_officer", None, {"county_code": THEIRS, "year": "2023"})
    ]
    table["/ledger/periods/{county_code}/{month}/close"] = [
        Case("county_code", "finance_officer", DOC, {"county_code": THEIRS, "month": "2024-03"})
    ]
    table["/ledger/carry-over/{county_code}/{year}"] = [
        Case("county_code", "finance_officer", DOC, {"county_code": THEIRS, "year": "2023"})
    ]
    table["/ledger/statements/{county_code}"] = [Case(
        "county_code", "finance_officer", b"reference,amount_fen,booked_on,description\n", {"county_code": THEIRS},
    )]  # fmt: skip
    table["/temporary-grants"] = [
        Case("region_code", body=grant_body(THEIRS, f"{THEIRS}001000", 11)),
        Case("region_code", body=grant_body(f"{THEIRS}001000", THEIRS, 12)),
    ]
    approve = {"paying_township": f"{THEIRS}001", **DECISION}
    table["/temporary-grants/{grant_id}/approve"] = [
        # 急难发生地: the grant is 当阳's to decide, but not to pay from 宜都's reserve.
        Case("paying_township", "approver", approve, {"grant_id": "hurt_here"}),
        Case("grant_id", "approver", approve, {"grant_id": "theirs"}, 404, "exists"),
    ]
    table["/temporary-grants/{grant_id}/pay"] = [
        Case("paying_township", "finance_officer", {"posting_date": "2024-03-05"},
             {"grant_id": "paid_there"}),
        Case("grant_id", "finance_officer", {"posting_date": "2024-03-05"}, {"grant_id": "theirs"},
             404, "exists"),
    ]  # fmt: skip
    table["/temporary-grants/{grant_id}/supplements"] = [Case(
        "grant_id", body={"note": "补充", **DECISION}, params={"grant_id": "theirs"}, status=404, rule="exists",
    )]  # fmt: skip
    return table


# POST routes that read: they record nothing and are in the read table (test_period_table).
READS_BY_POST = {"/audit/persons/search"}


def ok(response: Any) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


def build_world(client: TestClient, token: Callable[..., dict[str, str]]) -> dict[str, str]:
    """The sibling county's records, and grants that straddle the two counties."""
    ours, theirs = token("admin"), token("admin", THEIRS)
    limits = {"township_limit_fen": 300_000, "committee_limit_fen": 2_000_000, **DECISION}
    for county, admin in ((C, ours), (THEIRS, theirs)):
        ok(client.post(f"{API}/policy/{county}/approval-limits", json=limits, headers=admin))
    for path, body in POLICY:
        ok(client.post(f"{API}/policy/{THEIRS}/{path}", json=body | DOC, headers=theirs))
    world = {
        "other_case": ok(client.post(f"{API}/households", json=household_body(THEIRS, seed=80),
                                     headers=theirs))["case_id"],
        "other_tekun": ok(client.post(f"{API}/tekun", json=tekun_applied(client, theirs, tekun_body(f"{THEIRS}101000", 802)),
                                      headers=theirs))["case_id"],
        "theirs": ok(client.post(f"{API}/temporary-grants", json=grant_body(THEIRS, f"{THEIRS}001000", 13),
                                 headers=theirs))["grant_id"],
        "hurt_here": ok(client.post(f"{API}/temporary-grants", json=grant_body(THEIRS, f"{C}001000", 14),
                                    headers=ours))["grant_id"],
        "paid_there": ok(client.post(f"{API}/temporary-grants", json=grant_body(C, f"{THEIRS}001000", 15),
                                     headers=ours))["grant_id"],
        "other_txn": "o-raise",
    }  # fmt: skip
    ok(client.post(f"{API}/temporary-grants/{world['paid_there']}/approve",
                   json={"paying_township": f"{THEIRS}001", **DECISION}, headers=token("approver", THEIRS)))  # fmt: skip
    ok(client.post(f"{API}/ledger/transactions", json=raise_body(f"clearing:{THEIRS}:bank", f"source:{THEIRS}:central"),
                   headers=theirs | {"Idempotency-Key": "o-raise"}))  # fmt: skip
    threshold = {"threshold_fen": 99, **DECISION}
    ok(client.post(f"{API}/policy/{THEIRS}/ledger-confirmation", json=threshold, headers=theirs))
    proposed = client.post(f"{API}/ledger/transactions", json=raise_body(f"clearing:{THEIRS}:bank", f"source:{THEIRS}:central"),
                           headers=theirs | {"Idempotency-Key": "o-big"})  # fmt: skip
    assert proposed.status_code == 202, proposed.text
    world["other_proposal"] = "o-big"
    roll = client.post(f"{API}/rolls", json={"county_code": THEIRS, "month": "2024-03"},
                       headers=token("finance_officer", THEIRS))  # fmt: skip
    world["other_roll"] = ok(roll)["roll_id"]
    # A finding there: the household approved now with an effective date long past (back-dated).
    ok(client.post(f"{API}/households/{world['other_case']}/economic-checks", json=income_body(),
                   headers=theirs))  # fmt: skip
    ok(client.post(f"{API}/households/{world['other_case']}/approve", json=approve_body(),
                   headers=token("approver", THEIRS)))  # fmt: skip
    found = client.get(f"{API}/findings", headers=token("auditor", THEIRS)).json()["items"]
    world["other_finding"] = found[0]["finding_id"]
    registry = {"kind": "vehicle", "source": "车管所", "source_ref": "V-1", "effective_date": "2024-03-01",
                "id_number": id_number(THEIRS, sequence=4), "region_code": THEIRS}  # fmt: skip
    world["other_record"] = ok(client.post(f"{API}/registry/records", json=registry,
                                           headers=theirs))["record_id"]  # fmt: skip
    return world


def app_routes(client: TestClient, method: str) -> set[str]:
    """The routes of the app for a method, without the /api/v1 prefix."""
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return {path.removeprefix(API) for path, ops in paths.items() if method in ops}


def test_every_write_refuses_every_region_outside_the_scope(
    client: TestClient, token: Any, services: Services
) -> None:
    """Each row of the table, as a 当阳 credential of the role it names: refused, nothing recorded."""
    table = write_table()
    assert app_routes(client, "post") - READS_BY_POST == set(table), "a write route has no row"
    world = build_world(client, token)
    headers = {role: token(role) for role in ("admin", "approver", "finance_officer", "auditor")}
    for template, cases in table.items():
        for case in cases:
            values = {name: world.get(value, value) for name, value in case.params.items()}
            path = API + template.format(**values)
            extra = {"Idempotency-Key": case.key} if case.key else {}
            content = (
                {"content": case.body} if isinstance(case.body, bytes) else {"json": case.body}
            )
            before = services.log_position()
            response = client.post(path, headers=headers[case.role] | extra, **content)
            assert_problem(response, case.status, case.field, case.rule)
            assert services.log_position() == before, (template, case.field)
