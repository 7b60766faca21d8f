"""Known-at reads (issue #27): a case, balances and a statement as known at a past time or log
position, with the events recorded since that make today's answer differ.

The case file: 王一's household (two members) is applied for, checked and approved in January
2024. Later (recorded afterwards, effective back in February) the office learns that 王二 died
(a late death: ``remove-member``). The fund ledger raises central money, allocates it to the
dibao pool, and then reverses the allocation. A county pays January and February 2024 at a
670-yuan standard; a raise to 700 yuan effective 1 January is recorded afterwards, and the
March roll carries the back-pay (a retroactive standard change).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from ops.services.core import Services
from projections.reconciliation.view import ReconciliationView
from projections.replay import replay_into, scratch_database
from tests.api.conftest import colleague
from tests.api.test_bank_api import approved_march, results_file
from tests.api.test_households_api import API, apply, assert_problem
from tests.api.test_ledger_api import CASE_FILE, DOC, post, txn
from tests.api.test_retroactivity_api import roll, setup_county
from tests.factories import approve_body, id_number, income_body

DEATH = {
    "id_number": id_number(sequence=11, birth="19940101"),
    "reason": "死亡",
    "effective_date": "2024-02-15",
    "document_ref": "死亡销户2024-7",
}


def approved_case(client: TestClient, admin: dict[str, str]) -> str:
    case_id = apply(client, admin)
    assert client.post(f"{API}/households/{case_id}/economic-checks", json=income_body(),
                       headers=admin).status_code == 200  # fmt: skip
    approve = client.post(f"{API}/households/{case_id}/approve", json=approve_body(),
                          headers=colleague(client, admin))  # fmt: skip
    assert approve.status_code == 200, approve.text
    return case_id


def test_a_late_death_known_before_and_after(
    client: TestClient, token: Any, services: Services
) -> None:
    """As known at the approval, the case has two members and nothing recorded since is
    missing but the death; as known now it has one. By time (the approval's recorded time) the
    answer is the same and names the approval's position; before the application it is 404."""
    admin = token("admin")
    case_id = approved_case(client, admin)
    trail = client.get(f"{API}/audit/cases/{case_id}", headers=token("auditor")).json()["items"]
    approval = trail[-1]
    assert approval["event_type"] == "HouseholdCase.Approved"
    removed = client.post(f"{API}/households/{case_id}/remove-member", json=DEATH, headers=admin)
    assert removed.status_code == 200, removed.text
    death_position = services.log_position()  # nothing but the death's own records since

    now = client.get(f"{API}/households/{case_id}", headers=admin).json()
    assert now["member_count"] == 1 and "known_at" not in now
    by_position = client.get(
        f"{API}/households/{case_id}?as_of_position={approval['position']}", headers=admin
    ).json()
    assert by_position["member_count"] == 2 and by_position["status"] == now["status"]
    assert [m["name"] for m in by_position["members"]] == ["王一", "王二"]
    assert by_position["version"] == approval["originator_version"] == now["version"] - 1
    later = by_position["known_at"]["recorded_after"]
    assert [(e["event_type"], e["effective_date"], e["document_ref"]) for e in later] == [
        ("HouseholdCase.MemberRemoved", "2024-02-15", "死亡销户2024-7")
    ]
    assert approval["position"] < later[0]["position"] <= death_position
    assert by_position["known_at"] == {
        "position": approval["position"], "as_known_at": None, "recorded_after": later,
    }  # fmt: skip

    by_time = client.get(
        f"{API}/households/{case_id}", params={"as_known_at": approval["recorded_at"]},
        headers=admin,
    ).json()  # fmt: skip
    assert by_time["known_at"]["position"] == approval["position"]
    assert by_time["known_at"]["as_known_at"] == approval["recorded_at"]
    assert {k: v for k, v in by_time.items() if k != "known_at"} == {
        k: v for k, v in by_position.items() if k != "known_at"
    }
    head = client.get(
        f"{API}/households/{case_id}?as_of_position={death_position}", headers=admin
    ).json()
    assert head["member_count"] == 1 and head["known_at"]["recorded_after"] == []
    assert_problem(
        client.get(f"{API}/households/{case_id}?as_of_position={trail[0]['position'] - 1}",
                   headers=admin), 404, "case_id", "exists",
    )  # fmt: skip
    # the list, with its filters, as known then
    listed = client.get(
        f"{API}/households?as_of_position={approval['position']}&status=active", headers=admin
    ).json()
    (listed_later,) = listed["known_at"]["recorded_after"]
    assert listed["known_at"]["position"] == approval["position"]
    assert (listed_later["originator_id"], listed_later["event_type"], listed_later["position"]) == (
        case_id, "HouseholdCase.MemberRemoved", later[0]["position"],
    )  # fmt: skip
    assert [(c["case_id"], c["member_count"]) for c in listed["items"]] == [(case_id, 2)]
    assert (
        client.get(f"{API}/households?status=active", headers=admin).json()["items"][0][
            "member_count"
        ]
        == 1
    )
    before = client.get(f"{API}/households?as_of_position={trail[0]['position'] - 1}",
                        headers=admin).json()  # fmt: skip
    assert len(before["items"]) == 0 and before["items"] == []
    assert (
        len(
            client.get(f"{API}/tekun?as_of_position={death_position}", headers=admin).json()[
                "items"
            ]
        )
        == 0
    )
    future = client.get(f"{API}/households/{case_id}?as_known_at=2099-01-01T00:00:00Z",
                        headers=admin).json()  # fmt: skip
    assert future["member_count"] == 1 and future["known_at"]["position"] == services.log_position()


def test_known_at_inputs_are_checked(client: TestClient, token: Any, services: Services) -> None:
    """Both a time and a position, a position not yet recorded, an impossible date, a negative
    position: 422 naming the parameter and rule, on a case and on the ledger reads (balances,
    statement, reconciliation) alike."""
    admin = token("admin")
    case_id = approved_case(client, admin)
    head = services.log_position()
    for path in (f"households/{case_id}", "ledger/balances",
                 "ledger/accounts/pool:420582:dibao/statement",
                 "ledger/reconciliation/420582/2024-03"):  # fmt: skip
        both = f"{API}/{path}?as_of_position=1&as_known_at=2024-01-01T00:00:00Z"
        assert_problem(client.get(both, headers=admin), 422, "as_of_position", "known_at_one")
        ahead = f"{API}/{path}?as_of_position={head + 1000}"
        assert_problem(client.get(ahead, headers=admin), 422, "as_of_position", "position_recorded")
        bad_day = f"{API}/{path}?as_known_at=2024-02-30T00:00:00Z"
        assert_problem(client.get(bad_day, headers=admin), 422, "as_known_at", "timestamp_valid")
        negative = f"{API}/{path}?as_of_position=-1"
        assert_problem(client.get(negative, headers=admin), 422, "as_of_position")


def test_a_reversed_posting_known_before_and_after(
    client: TestClient, token: Any, services: Services
) -> None:
    """As known at the allocation, the pool holds 600,000 yuan and the pool's statement one
    entry; the reversal recorded since is named. As known now the pool is empty."""
    finance = token("finance_officer")
    for key, body in CASE_FILE[:2]:
        assert post(client, finance, key, body).status_code == 201
    allocated = services.log_position()
    reversal = client.post(f"{API}/ledger/transactions/alloc-1/reverse",
                           json={"posting_date": "2024-03-06", **DOC},
                           headers=finance | {"Idempotency-Key": "alloc-1-rev"})  # fmt: skip
    assert reversal.status_code == 201, reversal.text

    def pool(query: str = "") -> tuple[int, dict[str, Any]]:
        found = client.get(f"{API}/ledger/balances{query}", headers=finance).json()
        by_account = {i["account"]: int(i["balance_fen"]) for i in found["items"]}
        assert found["trial_balance_fen"] == 0
        return by_account["pool:420582:dibao"], found

    assert pool()[0] == 0
    then, found = pool(f"?as_of_position={allocated}")
    assert then == 60_000_000
    (later,) = found["known_at"]["recorded_after"]
    assert later["code"] == "reversal" and later["position"] > allocated
    statement = f"{API}/ledger/accounts/pool:420582:dibao/statement"
    known = client.get(f"{statement}?as_of_position={allocated}", headers=finance).json()
    assert [int(row["balance_fen"]) for row in known["items"]] == [60_000_000]
    assert [t["code"] for t in known["known_at"]["recorded_after"]] == ["reversal"]
    current = client.get(statement, headers=finance).json()
    assert [int(row["balance_fen"]) for row in current["items"]] == [60_000_000, 0]
    before_all = client.get(f"{statement}?as_of_position=0", headers=finance).json()
    assert before_all["items"] == [] and len(before_all["known_at"]["recorded_after"]) == 2


def test_a_special_auditors_period_bounds_what_is_known(
    client: TestClient, token: Any, services: Services
) -> None:
    """A special auditor whose period is 2024 reads as known at a time no later than the
    period's end: everything here was recorded later (today), so a case is not known then, a
    position after the period is 403, and the balances as known then count no posting recorded
    after it although they are dated in it. Without a time its reads keep their date bounds."""
    admin = token("admin")
    case_id = approved_case(client, admin)
    finance = token("finance_officer")
    for key, body in CASE_FILE[:2]:
        assert post(client, finance, key, body).status_code == 201
    special = token("special_auditor", expires_at="2099-01-01T00:00:00Z",
                    period_from="2024-01-01", period_to="2024-12-31")  # fmt: skip
    plain = client.get(f"{API}/households/{case_id}", headers=special)
    assert plain.status_code == 200 and "known_at" not in plain.json()
    assert_problem(
        client.get(f"{API}/households/{case_id}?as_known_at=2099-01-01T00:00:00Z", headers=special),
        404, "case_id", "exists",
    )  # fmt: skip
    assert_problem(
        client.get(f"{API}/households/{case_id}?as_of_position=1", headers=special),
        403, "as_of_position", "audit_period",
    )  # fmt: skip
    known = client.get(f"{API}/ledger/balances?as_known_at=2099-01-01T00:00:00Z", headers=special)
    balances = known.json()
    assert (
        balances["items"] == []
        and balances["known_at"]["as_known_at"] == "2024-12-31T23:59:59.999999Z"
    )
    assert [t["txn_key"] for t in balances["known_at"]["recorded_after"]] == ["raise-1", "alloc-1"]
    assert client.get(f"{API}/ledger/balances", headers=special).json()["items"]


def test_statistics_before_and_after_a_retroactive_standard_change(
    client: TestClient, token: Any, services: Services
) -> None:
    """As known after February's roll, the statistics show January and February at 1,110 yuan
    each; the raise (670 → 700, effective 1 January) recorded since is carried by March's roll,
    approved later: as known now March pays 1,200 yuan plus 2 × 90 yuan back-pay, and the
    known-at answer names March's approval as what it lacks."""
    admin, finance = token("admin"), token("finance_officer")
    setup_county(client, admin)
    for month in ("2024-01", "2024-02"):
        assert roll(client, finance, month)["total_fen"] == 111_000
    february = services.log_position()
    raise_body = {"programme": "dibao_urban", "amount_fen": 70_000, "period": "month",
                  "effective_date": "2024-01-01", "document_ref": "当民发〔2024〕9号"}  # fmt: skip
    assert (
        client.post(f"{API}/policy/420582/standards", json=raise_body, headers=admin).status_code
        == 201
    )
    march = roll(client, finance, "2024-03")
    assert march["total_fen"] == 120_000 + 2 * 9_000

    def amounts(query: str) -> tuple[list[tuple[str, int]], dict[str, Any]]:
        found = client.get(f"{API}/statistics?from=2024-01&to=2024-03{query}", headers=admin).json()
        return [(item["period"], item["amount_fen"]) for item in found["items"]], found

    then, known = amounts(f"&as_of_position={february}")
    assert then == [("2024-01", 111_000), ("2024-02", 111_000)]
    assert [(r["roll_id"], r["month"]) for r in known["known_at"]["recorded_after"]] == [
        (march["roll_id"], "2024-03")
    ]
    now, _ = amounts("")
    assert now == [("2024-01", 111_000), ("2024-02", 111_000), ("2024-03", 138_000)]
    assert amounts(f"&as_of_position={services.log_position()}")[0] == now


def replayed_reconciliation(
    services: Services, position: int, month: str, today: str
) -> dict[str, Any]:
    """The county's reconciliation read from the rolls and ledger views replayed from nothing
    up to ``position`` into a scratch database."""
    views = [services.rolls, services.ledger]
    with scratch_database(services.db) as scratch:
        replay_into(scratch, views, services.log.read, services.app.mapper.to_domain_event,
                    {view.name: position for view in views})  # fmt: skip
        return ReconciliationView(scratch).report("420582", month, 90, today)


def test_reconciliation_as_known_before_the_bank_results_and_a_reversal(
    client: TestClient, token: Any, services: Services
) -> None:
    """March's roll is approved and sent; the bank's results (A failed, the rest paid), a
    statement and a county allocation, then its reversal, are recorded later. As known when the
    bank file left, every line awaits its result, nothing is disbursed, booked or allocated, and
    the answer names the six facts recorded since; as known before the reversal, the allocation
    stands. Every known-at answer equals the report over the views replayed up to its position."""
    roll_id, finance, ids = approved_march(client, token)
    auditor = token("auditor")
    sent = client.post(f"{API}/rolls/{roll_id}/bank-file", headers=finance)
    lines = list(csv.DictReader(io.StringIO(sent.content.decode("utf-8"))))
    at_sending = services.log_position()
    answer = results_file([
        {"reference": line["reference"], "amount_fen": line["amount_fen"],
         "status": "failed" if line["case_id"] == ids["a"] else "paid",
         "reason": "销户" if line["case_id"] == ids["a"] else ""} for line in lines
    ])  # fmt: skip
    posted = client.post(f"{API}/rolls/{roll_id}/bank-results", content=answer, headers=finance)
    assert posted.status_code == 200, posted.text
    at_results = services.log_position()
    paid = [line for line in lines if line["case_id"] != ids["a"]]
    statement = "reference,amount_fen,booked_on\n" + "".join(
        f"{line['reference']},-{line['amount_fen']},2024-03-20\n" for line in paid
    )
    imported = client.post(f"{API}/ledger/statements/420582", content=statement.encode(),
                           headers=finance)  # fmt: skip
    assert imported.status_code == 201, imported.text
    raised = txn("raise", "clearing:420582:bank", "source:420582:central", 500_000,
                 date="2024-03-10")  # fmt: skip
    assert post(client, finance, "raise-late", raised).status_code == 201
    allocation = txn("allocate", "pool:420582:temporary", "clearing:420582:bank", 500_000,
                     date="2024-03-10")  # fmt: skip
    allocated = post(client, finance, "alloc-late", allocation)
    assert allocated.status_code == 201, allocated.text
    at_allocation = services.log_position()
    reversal = client.post(f"{API}/ledger/transactions/alloc-late/reverse",
                           json={"posting_date": "2024-03-11", **DOC},
                           headers=finance | {"Idempotency-Key": "alloc-late-rev"})  # fmt: skip
    assert reversal.status_code == 201, reversal.text
    path = f"{API}/ledger/reconciliation/420582/2024-03"

    def known(position: int) -> dict[str, Any]:
        found = client.get(f"{path}?as_of_position={position}", headers=auditor)
        assert found.status_code == 200, found.text
        report: dict[str, Any] = found.json()
        known_at = report.pop("known_at")
        assert known_at["position"] == position
        today = datetime.now(UTC).date().isoformat()
        assert report == replayed_reconciliation(services, position, "2024-03", today)
        later = [(e["event_type"], e["subject"]) for e in known_at["recorded_after"]]
        assert all(e["position"] > position for e in known_at["recorded_after"])
        return report | {"later": later}

    def temporary(report: dict[str, Any]) -> int | None:
        pools = {row["account"]: int(row["closing_fen"]) for row in report["accounts"]}
        return pools.get("pool:420582:temporary")

    total = sum(int(line["amount_fen"]) for line in lines)
    failed = total - sum(int(line["amount_fen"]) for line in paid)
    then = known(at_sending)
    (march,) = then["rolls"]
    assert (march["status"], march["paid_fen"], march["failed_fen"], march["awaiting_fen"]) == (
        "sent",
        0,
        0,
        total,
    )
    assert (march["ledger_disbursed_fen"], march["statement_fen"]) == (0, 0)
    assert {m["issue"] for m in march["mismatches"]} == set()
    assert temporary(then) is None
    posted = "JournalTransaction.Posted"
    assert then["later"][:2] == [("PaymentRoll.BankResultsImported", roll_id),
                                 ("PaymentRoll.Settled", roll_id)]  # fmt: skip
    # The results' disbursement and release, the statement, the allocation, raised and reversed.
    assert [event for event, _subject in then["later"][2:]] == [
        posted,
        posted,
        "BankStatement.Imported",
        posted,
        posted,
        posted,
    ]
    assert [subject for _event, subject in then["later"][-3:]] == [
        "raise-late",
        "alloc-late",
        "alloc-late-rev",
    ]

    after_results = known(at_results)
    (march,) = after_results["rolls"]
    assert (march["status"], march["paid_fen"], march["failed_fen"]) == (
        "settled",
        total - failed,
        failed,
    )
    # Paid per the bank, missing from a statement not yet imported.
    assert {m["issue"] for m in march["mismatches"]} == {
        "paid per bank results, missing from the statement"
    }
    assert after_results["later"] == then["later"][4:]

    before_reversal = known(at_allocation)
    assert temporary(before_reversal) == 500_000
    assert before_reversal["rolls"][0]["mismatches"] == []
    assert before_reversal["later"] == [(posted, "alloc-late-rev")]

    now = client.get(path, headers=auditor).json()
    assert temporary(now) == 0 and "known_at" not in now
    head = known(services.log_position())
    assert head["later"] == [] and {k: v for k, v in head.items() if k != "later"} == now
    assert_problem(client.get(f"{path}?as_of_position=-1", headers=auditor), 422, "as_of_position")
