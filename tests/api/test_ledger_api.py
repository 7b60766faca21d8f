"""The fund ledger through the API and straight at the database (SPEC §6).

The case file: 当阳市 receives 1,000,000 yuan of central funds into bank clearing, allocates 600,000
to its dibao pool, reserves a 271,667-yuan roll and the bank pays it.
"""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.access import Principal
from domain.errors import DomainError
from ops.services.core import Services
from ops.services.ledger import post_transaction
from tests.api.test_households_api import API, assert_problem

DOC = {"document_ref": "当财社〔2024〕3号"}


def txn(
    code: str, debit: str, credit: str, fen: Any, date: str = "2024-03-05", **extra: Any
) -> dict[str, Any]:
    return {"code": code, "posting_date": date, **DOC, **extra, "lines": [
        {"account": debit, "debit_fen": fen, "source": "central"},
        {"account": credit, "credit_fen": fen, "source": "central"}]}  # fmt: skip


def post(client: TestClient, headers: dict[str, str], key: str, body: dict[str, Any]) -> Any:
    return client.post(
        f"{API}/ledger/transactions", json=body, headers=headers | {"Idempotency-Key": key}
    )


CASE_FILE = [
    ("raise-1", txn("raise", "clearing:420582:bank", "source:420582:central", 100_000_000)),
    ("alloc-1", txn("allocate", "pool:420582:dibao", "clearing:420582:bank", 60_000_000)),
    ("roll-2024-03", txn("reserve_roll", "reserved:420582:dibao", "pool:420582:dibao", 27_166_700)),
    (
        "bank-2024-03",
        txn("disburse", "disbursed:420582:dibao", "reserved:420582:dibao", 27_166_700),
    ),
]


def test_the_case_file_balances_with_statements(client: TestClient, token: Any) -> None:
    finance = token("finance_officer")
    for key, body in CASE_FILE:
        assert post(client, finance, key, body).status_code == 201
    balances = client.get(f"{API}/ledger/balances", headers=finance).json()
    by_account = {item["account"]: int(item["balance_fen"]) for item in balances["items"]}
    assert balances["trial_balance_fen"] == 0
    assert (
        by_account["pool:420582:dibao"] == 32_833_300 and by_account["reserved:420582:dibao"] == 0
    )
    statement = client.get(
        f"{API}/ledger/accounts/pool:420582:dibao/statement", headers=token("auditor")
    ).json()
    assert [int(row["balance_fen"]) for row in statement["items"]] == [60_000_000, 32_833_300]
    assert statement["items"][1]["txn_key"] == "roll-2024-03"
    other = token("auditor", "420581")
    assert_problem(
        client.get(f"{API}/ledger/accounts/pool:420582:dibao/statement", headers=other),
        404,
        "account",
    )
    assert client.get(f"{API}/ledger/balances", headers=other).json()["items"] == []


def test_bad_postings_are_refused_and_record_nothing(
    client: TestClient, token: Any, services: Services
) -> None:
    finance = token("finance_officer")
    post(client, finance, "raise-1", CASE_FILE[0][1])
    post(client, finance, "alloc-1", CASE_FILE[1][1])
    auditor = token("auditor")
    position = services.log_position()
    cases = [
        (txn("allocate", "pool:420582:dibao", "clearing:420582:bank", 0), 422, "lines"),
        (txn("allocate", "pool:420582:dibao", "clearing:420582:bank", -5), 422, "debit_fen"),
        (txn("allocate", "pool:420582:dibao", "clearing:420582:bank", 1.5), 422, "debit_fen"),
        (txn("allocate", "pool:420582:dibao", "pool:420582:dibao", 100), 422, "lines"),
        (txn("allocate", "vault:420582:dibao", "clearing:420582:bank", 100), 422, "account"),
        (
            txn("allocate", "pool:420581:dibao", "clearing:420582:bank", 100),
            403,
            "lines[0].account",
        ),
        (
            txn("reserve_roll", "reserved:420582:dibao", "pool:420582:dibao", 60_000_001),
            422,
            "lines",
        ),
        (
            txn("allocate", "pool:420582:dibao", "clearing:420582:bank", 100)
            | {"posting_date": "2024-02-30"},
            422,
            "posting_date",
        ),
    ]
    for index, (body, status, field) in enumerate(cases):
        assert_problem(post(client, finance, f"bad-{index}", body), status, field)
    assert_problem(post(client, auditor, "x", CASE_FILE[1][1]), 403, "role")
    missing_key = client.post(f"{API}/ledger/transactions", json=CASE_FILE[1][1], headers=finance)
    assert_problem(missing_key, 422, "Idempotency-Key")
    assert services.log_position() == position


def test_same_key_same_content_once_other_content_conflicts(
    client: TestClient, token: Any, services: Services
) -> None:
    finance = token("finance_officer")
    first = post(client, finance, "raise-1", CASE_FILE[0][1])
    position = services.log_position()
    again = post(client, finance, "raise-1", CASE_FILE[0][1])
    assert again.status_code == 200 and again.json() == first.json()
    changed = txn("raise", "clearing:420582:bank", "source:420582:central", 1)
    assert_problem(
        post(client, finance, "raise-1", changed), 409, "Idempotency-Key", "transaction_key_reuse"
    )
    assert services.log_position() == position


def test_reversal_once_and_closed_periods(
    client: TestClient, token: Any, services: Services
) -> None:
    finance = token("finance_officer")
    post(client, finance, "raise-1", CASE_FILE[0][1])
    post(client, finance, "alloc-1", CASE_FILE[1][1])
    reverse = {"posting_date": "2024-03-06", **DOC}
    first = client.post(
        f"{API}/ledger/transactions/alloc-1/reverse",
        json=reverse,
        headers=finance | {"Idempotency-Key": "alloc-1-rev"},
    )
    assert first.status_code == 201 and first.json()["code"] == "reversal"
    same = client.post(
        f"{API}/ledger/transactions/alloc-1/reverse",
        json=reverse,
        headers=finance | {"Idempotency-Key": "alloc-1-rev"},
    )
    assert same.status_code == 200
    assert_problem(
        client.post(
            f"{API}/ledger/transactions/alloc-1/reverse",
            json=reverse,
            headers=finance | {"Idempotency-Key": "alloc-1-rev-2"},
        ),
        409,
        "reverses",
        "reverse_once",
    )
    pool = {
        i["account"]: int(i["balance_fen"])
        for i in client.get(f"{API}/ledger/balances", headers=finance).json()["items"]
    }
    assert pool["pool:420582:dibao"] == 0
    close = client.post(f"{API}/ledger/periods/420582/2024-03/close", json=DOC, headers=finance)
    assert close.status_code == 201
    position = services.log_position()
    late = post(
        client, finance, "late", txn("allocate", "pool:420582:dibao", "clearing:420582:bank", 100)
    )
    assert_problem(late, 422, "posting_date", "period_closed")
    assert_problem(
        client.post(f"{API}/ledger/periods/420582/2024-03/close", json=DOC, headers=finance),
        409,
        "month",
        "close_once",
    )
    assert services.log_position() == position
    april = txn("allocate", "pool:420582:dibao", "clearing:420582:bank", 100, date="2024-04-01")
    assert post(client, finance, "april", april).status_code == 201


def test_many_workers_draining_one_pool_never_overdraw(services: Services) -> None:
    """Twelve workers each reserve 100 yuan from a pool holding 1,000 yuan, at once: exactly ten
    succeed, two are refused for want of money, and the pool ends at zero — never below."""
    credential_id, _ = services.issue_credential(
        "test", role="finance_officer", region_scope="420582", staff_id="test-officer"
    )
    finance = Principal(credential_id, "finance_officer", "420582")
    for key, body in (
        ("raise", txn("raise", "clearing:420582:bank", "source:420582:central", 100_000)),
        ("alloc", txn("allocate", "pool:420582:dibao", "clearing:420582:bank", 100_000)),
    ):
        fields = {k: v for k, v in body.items()}
        services.execute(
            finance, None, key, lambda k=key, f=fields: post_transaction(services, finance, k, f)
        )
    barrier = threading.Barrier(12)
    outcomes: list[Any] = []

    def worker(number: int) -> None:
        body = txn("reserve_roll", "reserved:420582:dibao", "pool:420582:dibao", 10_000)
        barrier.wait(timeout=10)
        try:
            services.execute(
                finance,
                None,
                f"w{number}",
                lambda: post_transaction(services, finance, f"w{number}", body),
                retries=20,
            )
            outcomes.append("ok")
        except DomainError as error:
            outcomes.append(error.rule)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 10 and outcomes.count("never_negative") == 2, outcomes
    services.fresh()
    balances = {i["account"]: int(i["balance_fen"]) for i in services.ledger.balances("420582")}
    assert balances["pool:420582:dibao"] == 0 and balances["reserved:420582:dibao"] == 100_000


def test_the_database_itself_refuses_edits_and_unbalanced_transactions(
    client: TestClient, token: Any, services: Services
) -> None:
    """Bypassing the application: UPDATE and DELETE of an entry fail on both backends, and on
    PostgreSQL an unbalanced transaction fails at commit; a non-positive amount fails its CHECK."""
    finance = token("finance_officer")
    post(client, finance, "raise-1", CASE_FILE[0][1])
    client.get(f"{API}/ledger/balances", headers=finance)
    for statement in (
        "UPDATE ledger_entries SET debit_fen = debit_fen + 1",
        "DELETE FROM ledger_entries",
    ):
        with pytest.raises(Exception, match="never"), services.db.transaction(write=True) as cur:
            cur.execute(statement)
    insert = (
        "INSERT INTO ledger_entries (txn_id, line_no, account, kind, region_code, county_code, debit_fen,"
        " credit_fen, source, posting_date, position, debit_total, credit_total) VALUES (%s, %s,"
        " 'pool:420582:dibao', 'pool', '420582', '420582', %s, %s, '', '2024-03-05', 999, 0, 0)"
    )
    with pytest.raises(Exception), services.db.transaction(write=True) as cur:  # noqa: B017 - driver-specific
        cur.execute(insert, ("t-neg", 0, -5, 0))
    if not services.db.is_sqlite:
        with (
            pytest.raises(Exception, match="unbalanced"),
            services.db.transaction(write=True) as cur,
        ):
            cur.execute(insert, ("t-half", 0, 500, 0))
            cur.execute(
                insert.replace("'pool:420582:dibao'", "'clearing:420582:bank'"),
                ("t-half", 1, 0, 400),
            )
    balances = services.ledger.balances("420582")
    assert sum(int(item["balance_fen"]) for item in balances) == 0


def test_audit_trail_per_account(client: TestClient, token: Any) -> None:
    """An auditor follows a pool: every posting to it, who made it, on which document."""
    finance = token("finance_officer")
    for key, body in CASE_FILE[:3]:
        post(client, finance, key, body)
    trail = client.get(f"{API}/audit/accounts/pool:420582:dibao", headers=token("auditor")).json()[
        "items"
    ]
    assert [row["event_type"] for row in trail] == ["JournalTransaction.Posted"] * 2
    assert all(row["document_ref"] == DOC["document_ref"] and row["actor"] for row in trail)
    assert_problem(
        client.get(f"{API}/audit/accounts/pool:420582:dibao", headers=token("auditor", "420581")),
        404,
        "account",
    )


def test_fifty_identical_postings_at_once_record_one_transaction(services: Services) -> None:
    """Fifty threads post the same key and content at once: one transaction, fifty equal answers."""
    credential_id, _ = services.issue_credential(
        "test", role="finance_officer", region_scope="420582", staff_id="test-officer"
    )
    finance = Principal(credential_id, "finance_officer", "420582")
    body = txn("raise", "clearing:420582:bank", "source:420582:central", 500)
    barrier = threading.Barrier(50)
    answers: list[Any] = []

    def worker() -> None:
        barrier.wait(timeout=20)
        served = services.execute(
            finance,
            None,
            "same",
            lambda: post_transaction(services, finance, "same", body),
            retries=50,
        )
        answers.append(served.response)

    threads = [threading.Thread(target=worker) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 50 and all(answer == answers[0] for answer in answers)
    services.fresh()
    with services.db.transaction() as cur:
        count = cur.execute(
            "SELECT COUNT(*) AS n FROM ledger_transactions WHERE txn_key = 'same'"
        ).fetchone()
    assert count is not None and int(count["n"]) == 1
    assert {i["account"]: int(i["balance_fen"]) for i in services.ledger.balances("420582")}[
        "clearing:420582:bank"
    ] == 500


def test_year_end_carry_over_closes_the_year_and_opens_the_next(
    client: TestClient, token: Any, services: Services
) -> None:
    """结转: the township reserve's unused balance and the pools' balances at 31 December are
    recorded once per county and year, per funding source; the year accepts no more postings;
    January's reconciliation shows them carried in, agreeing with its opening balances."""
    finance = token("finance_officer")
    for key, body in [*CASE_FILE, ("advance-1", txn("advance", "reserve:420582001:temporary", "pool:420582:dibao", 500_000)),
                      ("grant-1", txn("grant", "disbursed:420582:temporary", "reserve:420582001:temporary", 120_000))]:  # fmt: skip
        assert post(client, finance, key, body).status_code == 201
    keyed = finance | {"Idempotency-Key": "year-end-2024"}
    carried = client.post(f"{API}/ledger/carry-over/420582/2024", json=DOC, headers=keyed)
    assert carried.status_code == 201, carried.text
    retried = client.post(f"{API}/ledger/carry-over/420582/2024", json=DOC, headers=keyed)
    assert retried.json() == carried.json() and retried.headers["Idempotency-Replayed"] == "true"
    body = carried.json()
    assert body["periods_closed"] == [f"2024-{m:02d}" for m in range(1, 13)]
    assert {(b["account"], b["source"]): b["amount_fen"] for b in body["balances"]} == {
        ("clearing:420582:bank", "central"): 100_000_000 - 60_000_000,
        ("pool:420582:dibao", "central"): 60_000_000 - 27_166_700 - 500_000,
        ("reserve:420582001:temporary", "central"): 500_000 - 120_000,
    }
    position = services.log_position()
    assert_problem(
        client.post(f"{API}/ledger/carry-over/420582/2024", json=DOC, headers=finance),
        409, "year", "carry_over_once",
    )  # fmt: skip
    late = post(client, finance, "late-1", txn("advance", "reserve:420582001:temporary",
                                                 "pool:420582:dibao", 100, date="2024-12-31"))  # fmt: skip
    assert_problem(late, 422, "posting_date", "period_closed")
    assert services.log_position() == position
    report = client.get(
        f"{API}/ledger/reconciliation/420582/2025-01", headers=token("auditor")
    ).json()
    assert [
        (row["account"], row["carried_fen"], row["agrees"]) for row in report["carried_in"]
    ] == [
        ("clearing:420582:bank", 40_000_000, True),
        ("pool:420582:dibao", 60_000_000 - 27_166_700 - 500_000, True),
        ("reserve:420582001:temporary", 380_000, True),
    ]
    from openpyxl import load_workbook

    xlsx = client.get(
        f"{API}/ledger/reconciliation/420582/2025-01?format=xlsx", headers=token("auditor")
    )
    book = load_workbook(io.BytesIO(xlsx.content), read_only=True)
    rows = list(book["结转 carried in"].iter_rows(min_row=2, values_only=True))
    assert [(account, carried, agrees) for account, carried, _opening, agrees in rows] == [
        ("clearing:420582:bank", 400_000.0, "是"),
        ("pool:420582:dibao", 323_333.0, "是"),
        ("reserve:420582001:temporary", 3_800.0, "是"),
    ]
    sources = list(book["资金来源 sources"].iter_rows(min_row=2, values_only=True))
    assert [row[0] for row in sources] == ["central"]
    assert_problem(
        client.post(f"{API}/ledger/carry-over/420581/2024", json=DOC, headers=finance),
        403, "county_code",
    )  # fmt: skip


def test_a_carry_over_closes_every_earlier_month_and_year(
    client: TestClient, token: Any, services: Services
) -> None:
    """结转 of 2024 with March 2023 posted and still open: the carry-over closes March 2023 too;
    afterwards no posting dated in 2024, 2023 (a month posted in or not) or in a year before
    the county's first posting (1990) is recorded (422 ``period_closed`` on ``posting_date``),
    nor a reversal dated there; closing such a month again or carrying over 2023 is 409; 2025
    stays open."""
    finance = token("finance_officer")
    body = txn("raise", "clearing:420582:bank", "source:420582:central", 500, date="2023-03-10")
    assert post(client, finance, "raise-2023", body).status_code == 201
    carried = client.post(f"{API}/ledger/carry-over/420582/2024", json=DOC, headers=finance)
    assert carried.status_code == 201, carried.text
    assert carried.json()["periods_closed"] == ["2023-03"] + [f"2024-{m:02d}" for m in range(1, 13)]
    position = services.log_position()
    for day in ("2024-07-01", "2023-03-11", "2023-11-30", "1990-01-01"):
        late = txn("raise", "clearing:420582:bank", "source:420582:central", 1, date=day)
        assert_problem(
            post(client, finance, f"late-{day}", late), 422, "posting_date", "period_closed"
        )
    reversal = client.post(f"{API}/ledger/transactions/raise-2023/reverse",
                           json={"posting_date": "2023-12-31", **DOC},
                           headers=finance | {"Idempotency-Key": "rev-2023"})  # fmt: skip
    assert_problem(reversal, 422, "posting_date", "period_closed")
    assert_problem(client.post(f"{API}/ledger/periods/420582/2022-05/close", json=DOC, headers=finance),
                   409, "month", "close_once")  # fmt: skip
    assert_problem(client.post(f"{API}/ledger/carry-over/420582/2023", json=DOC, headers=finance),
                   409, "year", "period_closed")  # fmt: skip
    assert services.log_position() == position
    body = txn("raise", "clearing:420582:bank", "source:420582:central", 1, date="2025-01-02")
    assert post(client, finance, "raise-2025", body).status_code == 201


@pytest.mark.parametrize("day", ["2023-03-20", "2022-05-05"], ids=["open-month", "new-month"])
def test_a_posting_into_an_earlier_year_and_a_carry_over_cannot_both_be_saved(
    services: Services, day: str
) -> None:
    """Race, decided side by side: a posting dated 2023 (in a month already posted in, or in one
    never posted in) is decided, then the carry-over of 2024 is decided and saved first; saving
    the posting then fails on a version (the month's period, or the county's books), and the
    posting decided again is refused as ``period_closed``."""
    from eventsourcing.persistence import IntegrityError

    from ops.services.ledger import carry_over

    credential_id, _ = services.issue_credential(
        "test", role="finance_officer", region_scope="420582", staff_id="test-officer"
    )
    finance = Principal(credential_id, "finance_officer", "420582")
    first = txn("raise", "clearing:420582:bank", "source:420582:central", 5, date="2023-03-10")
    services.app.save(*post_transaction(services, finance, "first", first).aggregates)
    late = txn("raise", "clearing:420582:bank", "source:420582:central", 5, date=day)
    decided = post_transaction(services, finance, "late", late)
    services.app.save(*carry_over(services, finance, "420582", 2024, "结转").aggregates)
    with pytest.raises(IntegrityError):
        services.app.save(*decided.aggregates)
    with pytest.raises(DomainError) as refused:
        post_transaction(services, finance, "late", late)
    assert (refused.value.field, refused.value.rule) == ("posting_date", "period_closed")
