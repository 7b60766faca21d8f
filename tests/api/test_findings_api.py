"""Misuse findings through the API: each rule fires on its planted case and not on its near miss,
a death record holds the next rolls' payment (never in a bank file) until it is dismissed,
auditors work findings end to end, and a rebuild gives the same findings.

The case file: 当阳市 (420582) as in ``test_rolls_api``: household A (3 people, 1,110.00 yuan a
month), household B (one covered alone, 336.67 yuan), 特困 person T (1,270.00 yuan), the March
2024 roll approved. Then A's second member dies on 2024-02-15 (March was paid after the death:
a finding of 1,110.00 yuan), and B's third member on 2024-03-10 (March is the month of death,
paid in full: no finding). April's roll holds both households; B's record is dismissed as a
wrong match and B is paid again; A stays held.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from ops.services.core import Services
from tests.api.conftest import colleague, tekun_applied
from tests.api.test_grants_api import setup as grants_setup
from tests.api.test_households_api import API, assert_problem
from tests.api.test_rolls_api import DOC, county_with_cases
from tests.factories import approve_body, household_body, id_number, income_body

REVIEW = {"note": "核查属实", "document_ref": "当审〔2024〕7号"}


def record(
    client: TestClient, headers: dict[str, str], kind: str, person: str, day: str, **details: Any
) -> str:
    body = {"kind": kind, "source": "民政数据交换", "source_ref": f"{kind}-{person}-{day}",
            "id_number": person, "region_code": "420582001000", "effective_date": day,
            "details": details}  # fmt: skip
    response = client.post(f"{API}/registry/records", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["record_id"])


def findings(client: TestClient, headers: dict[str, str], **query: str) -> dict[str, Any]:
    response = client.get(f"{API}/findings", params=query, headers=headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def ok(response: Any) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


def people(seed: int) -> list[str]:
    """The identity numbers of a household ``county_with_cases`` applies with this seed (A: 50,
    B: 60), in the order they applied."""
    return [m["id_number"] for m in household_body(members=3, seed=seed)["members"]]


def roll(client: TestClient, finance: dict[str, str], month: str, approve: bool) -> dict[str, Any]:
    body = {"county_code": "420582", "month": month}
    made = client.post(f"{API}/rolls", json=body, headers=finance)
    assert made.status_code == 201, made.text
    roll_id = made.json()["roll_id"]
    if approve:
        approved = client.post(f"{API}/rolls/{roll_id}/approve", headers=colleague(client, finance))
        assert approved.status_code == 200, approved.text
    found: dict[str, Any] = client.get(f"{API}/rolls/{roll_id}", headers=finance).json()
    return found


def test_paid_after_death_holds_and_the_auditors_workflow(
    client: TestClient, token: Any, services: Services
) -> None:
    """Deaths recorded after the March roll: a finding for the month paid after a death, none
    for the month of a death; April's roll holds both households, B's dismissed record lets B
    be paid; auditors explain and confirm; case workers see their own cases' findings only."""
    admin = token("admin")
    ids = county_with_cases(client, admin)
    finance = token("finance_officer")
    roll(client, finance, "2024-03", approve=True)
    worker = token("case_worker")
    a_people, b_people = people(50), people(60)
    death_a = record(client, worker, "death", a_people[1], "2024-02-15")
    record(client, worker, "death", b_people[2], "2024-03-10")

    auditor = token("auditor")
    found = findings(client, auditor, rule="paid_after_death")
    assert found["total"] == 1 and found["amount_fen"] == 111_000
    (finding,) = found["items"]
    assert (finding["case_id"], finding["record_id"], finding["months"]) == (
        ids["a"],
        death_a,
        ["2024-03"],
    )
    assert finding["severity"] == "high" and finding["status"] == "open"
    (paid,) = finding["evidence"]["paid"]
    assert paid["amount_fen"] == 111_000 and paid["events"][0].startswith("PaymentRoll.Approved#")
    assert finding["evidence"]["events"][0].startswith("RegistryRecord.Recorded#")
    assert found["by_rule"] == {"paid_after_death": {"count": 1, "amount_fen": 111_000}}

    # April: both households held (次月停发), only T paid; nothing held reaches the lines.
    april = roll(client, finance, "2024-04", approve=False)
    held = {h["case_id"]: h for h in april["totals"]["held"]}
    assert set(held) == {ids["a"], ids["b"]} and april["line_count"] == 1
    assert held[ids["a"]]["held_from"] == "2024-03" and held[ids["a"]]["record_id"] == death_a
    assert (
        held[ids["a"]]["amount_fen"] == 111_000 and april["totals"]["held_fen"] == 111_000 + 33_667
    )
    # B's record was a wrong match: an approver dismisses it, and B is paid again.
    b_record = client.get(f"{API}/registry/records?kind=death", headers=admin).json()["items"]
    wrong = next(r["record_id"] for r in b_record if r["effective_date"] == "2024-03-10")
    refused = client.post(f"{API}/registry/records/{wrong}/dismiss", json=REVIEW, headers=worker)
    assert_problem(refused, 403, "role")
    approver = token("approver")
    dismissed = client.post(
        f"{API}/registry/records/{wrong}/dismiss", json=REVIEW, headers=approver
    )
    assert dismissed.status_code == 200 and dismissed.json()["dismissed"] is True
    again = client.post(f"{API}/registry/records/{wrong}/dismiss", json=REVIEW, headers=approver)
    assert_problem(again, 409, "record_id", "dismiss_once")
    april = roll(client, finance, "2024-04", approve=True)
    assert [h["case_id"] for h in april["totals"]["held"]] == [ids["a"]]
    lines = client.get(f"{API}/rolls/{april['roll_id']}/lines", headers=finance).json()["items"]
    assert {line["case_id"] for line in lines} == {ids["b"], ids["t"]}
    sent = client.post(f"{API}/rolls/{april['roll_id']}/bank-file", headers=finance)
    assert sent.status_code == 200, sent.text
    rows = list(csv.reader(io.StringIO(sent.content.decode("utf-8"))))[1:]
    assert sum(int(r[4]) for r in rows) == april["total_fen"] == 33_667 + 127_000
    assert {r[-1] for r in rows} == {ids["b"], ids["t"]}  # A's held line is never in it
    sheet = client.get(f"{API}/rolls/{april['roll_id']}/xlsx", headers=finance)
    held_rows = list(load_workbook(io.BytesIO(sheet.content))["暂停发放 held"].values)
    assert [(r[0], r[4], r[6], r[8]) for r in held_rows[1:]] == [
        (ids["a"], "death_record", "2024-03", 1110)
    ]
    # A's record too was wrong: dismissed, May's roll pays A for May and back-pays April.
    ok(client.post(f"{API}/registry/records/{death_a}/dismiss", json=REVIEW, headers=approver))
    may = roll(client, finance, "2024-05", approve=False)
    assert may["totals"]["held"] == []
    lines = client.get(f"{API}/rolls/{may['roll_id']}/lines", headers=finance).json()["items"]
    (a_line,) = [line for line in lines if line["case_id"] == ids["a"]]
    parts = [(c["code"], c["month"], c["amount_fen"]) for c in a_line["components"]]
    assert ("backpay", "2024-04", 111_000) in parts and a_line["total_fen"] == 222_000

    _workflow(client, token, services, finding["finding_id"], ids)


def _workflow(
    client: TestClient, token: Any, services: Services, finding_id: str, ids: dict[str, str]
) -> None:
    """Auditors in scope and period work the finding; others cannot."""
    path = f"{API}/findings/{finding_id}"
    auditor, other = token("auditor"), token("auditor", "420581")
    assert client.get(path, headers=other).status_code == 404
    assert_problem(client.post(f"{path}/explain", json=REVIEW, headers=other), 404, "finding_id")
    assert_problem(client.post(f"{path}/explain", json=REVIEW, headers=token("admin")), 403, "role")
    outside = token("special_auditor", period_from="2023-01-01", period_to="2023-12-31",
                    expires_at="2099-01-01T00:00:00Z")  # fmt: skip
    assert client.get(path, headers=outside).status_code == 404
    assert_problem(
        client.get(f"{API}/findings", params={"from": "2024-01-01"}, headers=outside), 403, "from",
        "audit_period",
    )  # fmt: skip
    assert findings(client, outside)["total"] == 0
    bad_day = client.get(f"{API}/findings", params={"from": "2024-02-31"}, headers=auditor)
    assert_problem(bad_day, 422, "from", "date_format")
    # A case worker sees the findings on the cases they worked, not a colleague's.
    assert findings(client, token("case_worker"))["total"] == 0
    special = token("special_auditor", period_from="2024-01-01", period_to="2024-12-31",
                    expires_at="2099-01-01T00:00:00Z")  # fmt: skip
    position = services.log_position()
    bad = client.post(f"{path}/confirm", json=REVIEW | {"outcome": "prison"}, headers=special)
    assert_problem(bad, 422, "outcome")
    assert services.log_position() == position
    confirmed = client.post(
        f"{path}/confirm", json=REVIEW | {"outcome": "recovery"}, headers=special
    )
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
    assert_problem(client.post(f"{path}/explain", json=REVIEW, headers=auditor), 409, "status",
                   "finding_open")  # fmt: skip
    shown = client.get(path, headers=auditor).json()
    assert shown["status"] == "confirmed" and shown["outcome"] == "recovery"
    assert [(s["step"], s["note"]) for s in shown["steps"]] == [("confirmed", "核查属实")]
    assert findings(client, auditor, status="confirmed")["total"] == 1
    del ids
    # The same findings, ids and all, after a rebuild from the log.
    live = services.projections.dump("findings")
    services.projections.rebuild("findings")
    assert services.projections.dump("findings") == live


def test_registry_hits_relatives_double_payment_and_termination(
    client: TestClient, token: Any
) -> None:
    """On top of the case file: B's first member is also a 特困 person (T2), and household C (a
    case worker's application) is never approved, its first member a 特困 person too (T3).
    March's roll pays B and T2 for the same person (a finding), T3 but never C (none). A vehicle
    for T's person fires, a property of C's member does not (C is not paid); a cadre's relative
    in A fires, one in C does not. T is terminated from 2024-02-10 after March was paid (a
    finding of 1,270.00 yuan); A from 2024-03-15, its month of termination (none)."""
    admin, worker = token("admin"), token("case_worker")
    ids = county_with_cases(client, admin)
    c_body = household_body("420582001000", members=2, seed=80)
    ids["c"] = client.post(f"{API}/households", json=c_body, headers=worker).json()["case_id"]
    c_people = [m["id_number"] for m in c_body["members"]]
    tekun = {"region_code": "420582101000", "name": "钱老", "mode": "dispersed",
             "care_level": "partial", "payee_account": "6217003312349999", "payee_name": "钱老",
             "start_month": "2024-01", "effective_date": "2023-12-20", **DOC}  # fmt: skip
    for name, person in (("t2", people(60)[0]), ("t3", c_people[0])):
        body = tekun_applied(client, admin, tekun | {"id_number": person})
        made = client.post(f"{API}/tekun", json=body, headers=admin)
        assert made.status_code == 201, made.text
        ids[name] = made.json()["case_id"]
    finance = token("finance_officer")
    roll(client, finance, "2024-03", approve=True)
    record(client, worker, "vehicle", id_number(sequence=700), "2024-03-05", plate="鄂E12345")
    record(client, worker, "property", c_people[1], "2024-03-05")
    record(client, worker, "cadre_relative", people(50)[2], "2024-03-05", staff_id="E9001")
    record(client, worker, "cadre_relative", c_people[1], "2024-03-05", staff_id="E9002")
    approver = colleague(client, admin)
    ended = {"reason": "death", "effective_date": "2024-02-10", **DOC}
    assert (
        client.post(f"{API}/tekun/{ids['t']}/terminate", json=ended, headers=admin).status_code
        == 200
    )
    ended = {"reason": "death", "effective_date": "2024-03-15", **DOC}
    terminated = client.post(f"{API}/households/{ids['a']}/terminate", json=ended, headers=approver)
    assert terminated.status_code == 200, terminated.text

    # A and B are paid to one account (the factory's): B, approved second, is a finding. B then
    # moves to an account of its own, and D is approved with the old one, which now pays no
    # other household (A is terminated): no finding.
    moved = {
        "account_number": "6222020200188887777",
        "account_name": "王一",
        "effective_date": "2024-04-01",
        **DOC,
    }
    ok(client.post(f"{API}/households/{ids['b']}/payee-account", json=moved, headers=admin))
    ids["d"] = ok(
        client.post(
            f"{API}/households", json=household_body("420582001000", seed=90), headers=admin
        )
    )["case_id"]
    ok(
        client.post(
            f"{API}/households/{ids['d']}/economic-checks", json=income_body(90_000), headers=admin
        )
    )
    ok(client.post(f"{API}/households/{ids['d']}/approve", json=approve_body(), headers=approver))

    auditor = token("auditor")
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for item in findings(client, auditor)["items"]:
        by_rule.setdefault(item["rule"], []).append(item)
    (twice,) = by_rule["dibao_and_tekun"]
    assert twice["case_id"] == ids["t2"] and twice["evidence"]["other_case_id"] == ids["b"]
    assert twice["months"] == ["2024-03"] and twice["amount_fen"] == 127_000
    assert twice["evidence"]["paid"][0]["household_fen"] == 33_667
    (hit,) = by_rule["registry_hit"]
    assert hit["case_id"] == ids["t"] and hit["evidence"]["record_kind"] == "vehicle"
    (relative,) = by_rule["cadre_relative"]
    assert relative["case_id"] == ids["a"] and relative["severity"] == "low"
    (after,) = by_rule["paid_after_termination"]
    assert (after["case_id"], after["months"], after["amount_fen"]) == (
        ids["t"],
        ["2024-03"],
        127_000,
    )
    assert after["evidence"]["events"][0].startswith("TekunPerson.Terminated#")
    (shared,) = by_rule["shared_account"]
    assert shared["case_id"] == ids["b"] and shared["evidence"]["other_case_ids"] == [ids["a"]]
    assert shared["evidence"]["account_masked"].endswith("3445")
    # The case worker who applied for C sees no finding (none is on C); the rules filter.
    assert findings(client, worker)["total"] == 0
    assert findings(client, auditor, rule="registry_hit")["total"] == 1


def test_grants_split_under_the_limit_and_repeated(
    client: TestClient, token: Any, services: Services
) -> None:
    """A township approves up to 3,000 yuan. Person P gets 2,000 yuan on 2024-03-01, 1,000.01 on
    2024-04-15 (together above the limit within 90 days: split) and 100 yuan on 2024-05-30 (the
    third within 90 days of the first: repeated). Person Q gets 2,000 and 1,000 yuan (at the
    limit, one fen under "above"), and R 2,000 and 1,500 yuan 91 days apart: neither fires. With
    a 120-day window set for 当阳 from 2024-01-01, R's grants are split too."""
    admin, township = token("admin"), token("approver", "420582001")
    grants_setup(client, admin)

    worker = token("case_worker")

    def grant(sequence: int, fen: int, day: str, by: dict[str, str] = admin) -> str:
        body = {"region_code": "420582001000", "occurred_in": "420582001000", "name": "求助人",
                "id_number": id_number(sequence=sequence), "grant_type": "urgent", "amount_fen": fen,
                "reason": "急难", "effective_date": day, **DOC}  # fmt: skip
        made = client.post(f"{API}/temporary-grants", json=body, headers=by)
        assert made.status_code == 201, made.text
        grant_id = str(made.json()["grant_id"])
        approve = {"paying_township": "420582001", "effective_date": day, **DOC}
        approved = client.post(f"{API}/temporary-grants/{grant_id}/approve", json=approve,
                               headers=township)  # fmt: skip
        assert approved.status_code == 200, approved.text
        return grant_id

    p = [grant(31, 200_000, "2024-03-01", worker), grant(31, 100_001, "2024-04-15"),
         grant(31, 10_000, "2024-05-30")]  # fmt: skip
    grant(32, 200_000, "2024-03-01"), grant(32, 100_000, "2024-04-15")
    r = [grant(33, 200_000, "2024-03-01"), grant(33, 150_000, "2024-05-31")]
    auditor = token("auditor")
    (split,) = findings(client, auditor, rule="split_grants")["items"]
    assert [g["grant_id"] for g in split["evidence"]["grants"]] == p
    assert split["amount_fen"] == 310_001 and split["evidence"]["limit_fen"] == 300_000
    (repeated,) = findings(client, auditor, rule="repeated_grants")["items"]
    assert [g["grant_id"] for g in repeated["evidence"]["grants"]] == p
    assert repeated["grant_id"] == p[2] and repeated["evidence"]["window_days"] == 90
    # The case worker who requested P's first grant sees P's findings; another does not.
    assert findings(client, worker)["total"] == 2
    assert findings(client, token("case_worker"))["total"] == 0
    # A staff id holding a LIKE wildcard ('_') matches no other person's id.
    assert findings(client, token("case_worker", staff_id="case_worker-_"))["total"] == 0

    window = {"grant_window_days": 120, "repeat_grant_count": 3, "backdate_days": 90,
              "payment_deadline_day": 10,
              "effective_date": "2024-01-01", **DOC}  # fmt: skip
    set_window = client.post(f"{API}/policy/420582/misuse-thresholds", json=window, headers=admin)
    assert set_window.status_code == 201, set_window.text
    r.append(grant(33, 1_000, "2024-06-01"))  # a new approval checks R's grants again
    splits = findings(client, auditor, rule="split_grants")["items"]
    assert [[g["grant_id"] for g in f["evidence"]["grants"]] for f in splits] == [p, r]
    live = services.projections.dump("findings")
    services.projections.rebuild("findings")
    assert services.projections.dump("findings") == live


def test_a_roll_sent_after_its_deadline(client: TestClient, token: Any) -> None:
    """March 2024's roll, sent today, is years past 2024-03-10 (the default deadline): a finding
    of its total. Next month's roll, sent today, is before its deadline: none."""
    admin, finance = token("admin"), token("finance_officer")
    county_with_cases(client, admin)
    today = datetime.now(UTC).date()
    next_month = (today.replace(day=28) + timedelta(days=5)).strftime("%Y-%m")
    for month in ("2024-03", next_month):
        made = roll(client, finance, month, approve=True)
        sent = client.post(f"{API}/rolls/{made['roll_id']}/bank-file", headers=finance)
        assert sent.status_code == 200, sent.text
    (late,) = findings(client, token("auditor"), rule="late_roll")["items"]
    assert late["evidence"]["month"] == "2024-03" and late["evidence"]["deadline"] == "2024-03-10"
    assert late["amount_fen"] == 271_667 and late["evidence"]["days_late"] > 900


def test_a_grant_approved_above_the_limit_in_force_on_its_date(
    client: TestClient, token: Any
) -> None:
    """当阳's township limit was 2,000 yuan until 2024-05-31 and 3,000 from 2024-06-01. Two
    grants of 2,500 yuan are approved today by a township approver (today's limit allows it):
    one dated 2024-03-02, above the 2,000 yuan in force then (a finding), one dated 2024-06-01
    (none)."""
    admin, township = token("admin"), token("approver", "420582001")
    grants_setup(client, admin)
    limits = {"township_limit_fen": 200_000, "committee_limit_fen": 2_000_000,
              "effective_date": "2021-01-01", **DOC}  # fmt: skip
    ok(client.post(f"{API}/policy/420582/approval-limits", json=limits, headers=admin))
    raised = limits | {"township_limit_fen": 300_000, "effective_date": "2024-06-01"}
    ok(client.post(f"{API}/policy/420582/approval-limits", json=raised, headers=admin))
    made = []
    for number, day in enumerate(("2024-03-02", "2024-06-01")):
        body = {"region_code": "420582001000", "occurred_in": "420582001000", "name": "求助人",
                "id_number": id_number(sequence=40 + number), "grant_type": "urgent",
                "amount_fen": 250_000, "reason": "急难", "effective_date": day, **DOC}  # fmt: skip
        grant_id = ok(client.post(f"{API}/temporary-grants", json=body, headers=admin))["grant_id"]
        approve = {"paying_township": "420582001", "effective_date": day, **DOC}
        ok(
            client.post(
                f"{API}/temporary-grants/{grant_id}/approve", json=approve, headers=township
            )
        )
        made.append(grant_id)
    (above,) = findings(client, token("auditor"), rule="above_authority")["items"]
    assert above["grant_id"] == made[0] and above["evidence"]["limit_fen"] == 200_000
    assert above["amount_fen"] == 250_000 and above["severity"] == "high"
