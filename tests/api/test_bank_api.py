"""Bank round-trip: payment file out (UTF-8 and GBK), result file back, failures re-issued.

Method: the March roll of the rolls case file is approved and its bank file taken; the bank
answers one line failed. Importing the same file twice changes nothing; unknown references and
changed amounts are refused whole; the April roll re-issues the failed March payment as back-pay.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from ops.services.core import Services
from tests.api.conftest import colleague
from tests.api.test_households_api import API, assert_problem
from tests.api.test_rolls_api import county_with_cases


def approved_march(client: TestClient, token: Any) -> tuple[str, dict[str, str], dict[str, str]]:
    admin, finance = token("admin"), token("finance_officer")
    ids = county_with_cases(client, admin)
    roll = client.post(
        f"{API}/rolls", json={"county_code": "420582", "month": "2024-03"}, headers=finance
    ).json()
    client.post(f"{API}/rolls/{roll['roll_id']}/approve", headers=colleague(client, finance))
    return roll["roll_id"], finance, ids


def results_file(rows: list[dict[str, Any]], encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["reference", "amount_fen", "status", "reason"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def march_paid_but_a(
    client: TestClient, token: Any
) -> tuple[str, dict[str, str], dict[str, str], list[dict[str, str]], bytes]:
    """March approved and sent; the bank answers every line paid except A's (account closed).
    Returns the roll, the finance officer's headers, the case ids, the bank file's lines and
    the result file."""
    roll_id, finance, ids = approved_march(client, token)
    sent = client.post(f"{API}/rolls/{roll_id}/bank-file", headers=finance).content.decode("utf-8")
    lines = list(csv.DictReader(io.StringIO(sent)))
    failed = {line["reference"] for line in lines if line["case_id"] == ids["a"]}
    answer = results_file([
        {"reference": line["reference"], "amount_fen": line["amount_fen"],
         "status": "failed" if line["reference"] in failed else "paid",
         "reason": "销户" if line["reference"] in failed else ""}
        for line in lines
    ])  # fmt: skip
    posted = client.post(f"{API}/rolls/{roll_id}/bank-results", content=answer, headers=finance)
    assert posted.status_code == 200, posted.text
    return roll_id, finance, ids, lines, answer


def test_bank_round_trip(client: TestClient, token: Any, services: Services) -> None:
    roll_id, finance, ids = approved_march(client, token)
    gbk = client.post(f"{API}/rolls/{roll_id}/bank-file?encoding=gbk", headers=finance)
    assert gbk.status_code == 200 and "gbk" in gbk.headers["content-type"]
    lines = list(csv.DictReader(io.StringIO(gbk.content.decode("gbk"))))
    assert len(lines) == 3 and sum(int(line["amount_fen"]) for line in lines) == 271_667
    assert {line["account_number"] for line in lines} >= {"6222020200112233445", "6217003312345678"}
    utf8 = client.post(f"{API}/rolls/{roll_id}/bank-file", headers=finance)
    assert utf8.content.decode("utf-8") == gbk.content.decode("gbk")  # same file, other encoding
    assert client.get(f"{API}/rolls/{roll_id}", headers=finance).json()["status"] == "sent"
    assert_problem(
        client.post(f"{API}/rolls/{roll_id}/bank-file", headers=token("auditor")), 403, "role"
    )

    position = services.log_position()
    bad_ref = results_file([{"reference": "NOPE", "amount_fen": 1, "status": "paid", "reason": ""}])
    changed = results_file(
        [{"reference": lines[0]["reference"], "amount_fen": 1, "status": "paid", "reason": ""}]
    )
    for body, rule in ((bad_ref, "known_reference"), (changed, "amount_matches")):
        assert_problem(
            client.post(f"{API}/rolls/{roll_id}/bank-results", content=body, headers=finance),
            422,
            "file",
            rule,
        )
    assert services.log_position() == position

    failed_case = next(line for line in lines if line["case_id"] == ids["a"])
    answer = results_file([
        {"reference": line["reference"], "amount_fen": line["amount_fen"],
         "status": "failed" if line is failed_case else "paid", "reason": "账户已销户" if line is failed_case else ""}
        for line in lines
    ])  # fmt: skip
    first = client.post(f"{API}/rolls/{roll_id}/bank-results", content=answer, headers=finance)
    assert first.status_code == 200, first.text
    assert first.json()["failed"] == 1 and first.json()["status"] == "settled"
    balances = {
        i["account"]: int(i["balance_fen"])
        for i in client.get(f"{API}/ledger/balances", headers=finance).json()["items"]
    }
    # B (336.67 yuan) and the 特困 person were paid; A's 1,110 yuan went back to the pool.
    assert balances["reserved:420582:dibao"] == 0 and balances["reserved:420582:tekun"] == 0
    assert (
        balances["disbursed:420582:dibao"] == 33_667
        and balances["disbursed:420582:tekun"] == 127_000
    )
    assert balances["pool:420582:dibao"] == 100_000_000 - 33_667
    position = services.log_position()
    again = client.post(f"{API}/rolls/{roll_id}/bank-results", content=answer, headers=finance)
    assert again.status_code == 200 and again.json()["imported"] is False
    assert services.log_position() == position
    statuses = {
        line["case_id"]: line["bank_status"]
        for line in client.get(f"{API}/rolls/{roll_id}/lines", headers=finance).json()["items"]
    }
    assert statuses[ids["a"]] == "failed" and statuses[ids["b"]] == "paid"

    april = client.post(
        f"{API}/rolls", json={"county_code": "420582", "month": "2024-04"}, headers=finance
    ).json()
    april_lines = client.get(f"{API}/rolls/{april['roll_id']}/lines", headers=finance).json()[
        "items"
    ]
    line_a = next(line for line in april_lines if line["case_id"] == ids["a"])
    assert [
        (c["code"], c["month"], c["amount_fen"])
        for c in line_a["components"]
        if c["code"] == "backpay"
    ] == [("backpay", "2024-03", 111_000)]
    assert line_a["total_fen"] == 222_000


def test_reconciliation_itemises_every_planted_mismatch(
    client: TestClient, token: Any, services: Services
) -> None:
    """March is paid except A (failed). The statement then plants: B booked 336.00 instead of
    336.67 yuan, the 特困 payment missing, A's failed payment booked anyway, a line no roll knows;
    and 10,000 yuan allocated to the temporary-assistance pool sits unused (滞留)."""
    _roll, finance, ids, lines, _answer = march_paid_but_a(client, token)
    by_case = {line["case_id"]: line for line in lines}
    idle = {"code": "allocate", "posting_date": "2024-01-02", "document_ref": "当财社", "lines": [
        {"account": "pool:420582:temporary", "debit_fen": 1_000_000, "source": "county"},
        {"account": "clearing:420582:bank", "credit_fen": 1_000_000, "source": "county"}]}  # fmt: skip
    raised = idle | {"code": "raise", "lines": [
        {"account": "clearing:420582:bank", "debit_fen": 1_000_000, "source": "county"},
        {"account": "source:420582:county", "credit_fen": 1_000_000, "source": "county"}]}  # fmt: skip
    for key, body in (("idle-raise", raised), ("idle", idle)):
        posted = client.post(
            f"{API}/ledger/transactions", json=body, headers=finance | {"Idempotency-Key": key}
        )
        assert posted.status_code == 201, posted.text
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["reference", "amount_fen", "booked_on", "description"])
    writer.writerow([by_case[ids["b"]]["reference"], -33_600, "2024-03-20", "低保"])
    writer.writerow([by_case[ids["a"]]["reference"], -111_000, "2024-03-20", "低保"])
    writer.writerow(["OTHER000001", -5_000, "2024-03-21", "手续费"])
    statement = out.getvalue().encode("gbk")
    first = client.post(f"{API}/ledger/statements/420582", content=statement, headers=finance)
    assert first.status_code == 201, first.text
    position = services.log_position()
    again = client.post(f"{API}/ledger/statements/420582", content=statement, headers=finance)
    assert (
        again.status_code == 200
        and again.json()["imported"] is False
        and services.log_position() == position
    )
    assert_problem(
        client.post(f"{API}/ledger/statements/42058x", content=statement, headers=finance),
        422, "county_code",
    )  # fmt: skip
    bad = b"reference,amount_fen,booked_on\nX,1.5,2024-03-01\n"
    assert_problem(
        client.post(f"{API}/ledger/statements/420582", content=bad, headers=finance),
        422,
        "file",
        "integer_fen",
    )
    for digits in (21, 5000):  # beyond 64 bits; beyond what int() converts
        huge = f"reference,amount_fen,booked_on\nX,-{'1' * digits},2024-03-01\n".encode()
        assert_problem(
            client.post(f"{API}/ledger/statements/420582", content=huge, headers=finance),
            422,
            "file",
            "max_fen",
        )
    assert services.log_position() == position

    report = client.get(
        f"{API}/ledger/reconciliation/420582/2024-03", headers=token("auditor")
    ).json()
    (roll,) = report["rolls"]
    issues = {(m.get("case_id"), m["issue"]) for m in roll["mismatches"]}
    assert (ids["b"], "statement amount differs from the roll") in issues
    assert (ids["t"], "paid per bank results, missing from the statement") in issues
    assert (ids["a"], "failed per bank results, yet on the statement") in issues
    assert len(roll["mismatches"]) == 3  # the ledger agrees with the bank results
    assert (roll["paid_fen"], roll["ledger_disbursed_fen"]) == (33_667 + 127_000, 33_667 + 127_000)
    assert roll["failed_fen"] == roll["ledger_released_fen"] == 111_000
    # The money paid is traceable to its funding source: all of it central funds here, and the
    # county still holds the rest of what was allocated (1,000,000 yuan into each of two pools).
    # A second statement books B again, at the right amount: B is now on the statements twice.
    again_b = (
        f"reference,amount_fen,booked_on\n{by_case[ids['b']]['reference']},-33667,2024-03-22\n"
    )
    assert (
        client.post(
            f"{API}/ledger/statements/420582", content=again_b.encode(), headers=finance
        ).status_code
        == 201
    )
    twice = client.get(
        f"{API}/ledger/reconciliation/420582/2024-03", headers=token("auditor")
    ).json()
    issues = [(m["reference"], m["issue"]) for m in twice["rolls"][0]["mismatches"]]
    assert (by_case[ids["b"]]["reference"], "on the statement 2 times") in issues
    # The bank results were posted today, so today's month shows the payment.
    today = datetime.now(UTC).strftime("%Y-%m")
    now = client.get(f"{API}/ledger/reconciliation/420582/{today}", headers=token("auditor")).json()
    by_source = {row["source"]: row for row in now["funds_by_source"]}
    assert by_source["central"]["disbursed_fen"] == 33_667 + 127_000
    assert by_source["central"]["held_fen"] == 2 * 100_000_000 - (33_667 + 127_000)
    assert (by_source["county"]["held_fen"], by_source["county"]["disbursed_fen"]) == (1_000_000, 0)
    assert [line["reference"] for line in report["unmatched_statement_lines"]] == ["OTHER000001"]
    assert [item["account"] for item in report["idle_allocations"]] == ["pool:420582:temporary"]
    pools = {row["account"]: row for row in report["accounts"]}
    # Funds allocated in January: March opens and closes with them (flows are dated when they happen).
    temporary = pools["pool:420582:temporary"]
    assert (temporary["opening_fen"], temporary["closing_fen"]) == (1_000_000, 1_000_000)
    assert_problem(
        client.get(f"{API}/ledger/reconciliation/420581/2024-03", headers=finance),
        403,
        "county_code",
    )


def test_reconciliation_finds_a_failure_not_released_and_a_payment_not_disbursed(
    client: TestClient, token: Any
) -> None:
    """March is paid except A (failed), and the ledger posts both flows. Then someone reverses
    the release of A's failed payment (the money stays reserved, as if the failure had never
    reached the ledger) and the disbursement of the paid lines: the reconciliation names both
    differences with their amounts, while the statement itself agrees with the roll."""
    roll_id, finance, ids, lines, answer = march_paid_but_a(client, token)
    failed = {line["reference"] for line in lines if line["case_id"] == ids["a"]}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["reference", "amount_fen", "booked_on"])
    for line in lines:
        if line["reference"] not in failed:
            writer.writerow([line["reference"], -int(line["amount_fen"]), "2024-03-20"])
    statement = client.post(
        f"{API}/ledger/statements/420582", content=out.getvalue().encode(), headers=finance
    )
    assert statement.status_code == 201, statement.text

    def mismatches() -> list[dict[str, Any]]:
        report = client.get(f"{API}/ledger/reconciliation/420582/2024-03", headers=token("auditor"))
        (roll,) = report.json()["rolls"]
        return list(roll["mismatches"])

    assert mismatches() == []  # roll, ledger and statement agree
    digest = hashlib.sha256(answer).hexdigest()[:16]
    today = datetime.now(UTC).date().isoformat()
    for flow, key in (("failed", "undo-release"), ("paid", "undo-disburse")):
        reversed_ = client.post(
            f"{API}/ledger/transactions/roll:{roll_id}:{flow}:{digest}/reverse",
            json={"posting_date": today, "document_ref": "误冲"},
            headers=finance | {"Idempotency-Key": key},
        )
        assert reversed_.status_code == 201, reversed_.text
    paid_fen = sum(int(line["amount_fen"]) for line in lines if line["reference"] not in failed)
    assert sorted(mismatches(), key=lambda item: item["issue"]) == [
        {"issue": "failed lines not released in the ledger", "ledger_fen": 0, "roll_fen": 111_000},
        {
            "issue": "ledger disbursement differs from lines paid",
            "ledger_fen": 0,
            "roll_fen": paid_fen,
        },
    ]


def test_a_statement_larger_than_a_request_body_is_accepted_as_a_file(
    client: TestClient, token: Any
) -> None:
    """Request bodies stop at 1 MB, CSV files posted whole (statements, bank results) at 64 MB:
    a county's monthly statement runs to megabytes."""
    rows = "".join(f"420582202403A{n:07d},-50000,2024-03-20,低保\n" for n in range(30_000))
    data = ("reference,amount_fen,booked_on,description\n" + rows).encode()
    assert len(data) > 1_000_000
    response = client.post(
        f"{API}/ledger/statements/420582", content=data, headers=token("finance_officer")
    )
    assert response.status_code == 201, response.text
    assert response.json()["lines"] == 30_000


def test_roll_events_hold_accounts_sealed_and_the_bank_file_in_full(
    client: TestClient, token: Any, services: Services
) -> None:
    """A ``RollChunk.Recorded`` line carries the account as the case-state view seals it, never
    in the clear; the bank file unseals it."""
    from uuid import UUID

    from domain.roll import PaymentRoll, chunk_id

    roll_id, finance, _ids = approved_march(client, token)
    roll: PaymentRoll = services.app.repository.get(UUID(roll_id))
    (chunk,) = [
        services.app.repository.get(chunk_id(roll.id, UUID(str(roll.token)), number))
        for number in range(roll.chunk_count)
    ]
    (stored,) = services.app.recorder.select_events(chunk.id, limit=1)
    event = services.app.mapper.to_domain_event(stored)
    sealed = {line["account_sealed"] for line in event.expanded()}
    assert all("account_number" not in line for line in event.expanded())
    mapper = services.app.mapper  # the stored state as the store wrote it, before encryption
    assert mapper.cipher is not None and mapper.compressor is not None
    plain = mapper.compressor.decompress(mapper.cipher.decrypt(stored.state))
    assert b"6222020200112233445" not in plain
    assert all(token.encode() in plain for token in sealed)
    sent = client.post(f"{API}/rolls/{roll_id}/bank-file", headers=finance).content.decode("utf-8")
    accounts = {line["account_number"] for line in csv.DictReader(io.StringIO(sent))}
    assert accounts == {services.keys.unseal(token) for token in sealed}
    assert "6222020200112233445" in accounts
