"""Two-phase postings (大额资金双人复核) through the API, on both backends.

Method: 当阳市's confirmation threshold is set to 10,000 yuan. Finance officer 甲 (two tokens) posts
above it: the posting is proposed (202), moves no money, and 甲 cannot confirm it with either
token (403 ``separation_of_duties`` naming ``proposed_by``, nothing recorded); 乙, another
finance officer, confirms it and only then do the balances move, naming both persons. Balances
and never-negative apply at confirmation; reversals and year-end carry-over go the same way.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from domain.policy import DEFAULT_CONFIRMATION_THRESHOLD_FEN
from ops.services.core import Services
from tests.api.test_households_api import API, assert_problem
from tests.api.test_ledger_api import post, txn

C = "420582"
THRESHOLD = 1_000_000
RAISE = txn("raise", f"clearing:{C}:bank", f"source:{C}:central", 3 * THRESHOLD)


def set_threshold(client: TestClient, token: Any, fen: int = THRESHOLD) -> None:
    body = {"threshold_fen": fen, "effective_date": "2024-01-01", "document_ref": "当财〔2024〕1号"}
    response = client.post(
        f"{API}/policy/{C}/ledger-confirmation", json=body, headers=token("admin")
    )
    assert response.status_code == 201, response.text


def balances(client: TestClient, headers: dict[str, str]) -> dict[str, int]:
    items = client.get(f"{API}/ledger/balances", headers=headers).json()["items"]
    return {item["account"]: int(item["balance_fen"]) for item in items}


def confirm(client: TestClient, headers: dict[str, str], key: str) -> Any:
    return client.post(f"{API}/ledger/transactions/{key}/confirm", headers=headers)


def refused(
    client: TestClient, services: Services, path: str, people: list[dict[str, str]]
) -> None:
    for headers in people:
        before = services.log_position()
        assert_problem(client.post(f"{API}{path}", headers=headers), 403, "proposed_by",
                       "separation_of_duties")  # fmt: skip
        assert services.log_position() == before


def test_a_posting_above_the_threshold_waits_for_a_second_officer(
    client: TestClient, token: Any, services: Services
) -> None:
    set_threshold(client, token)
    jia = token("finance_officer", staff_id="jia")
    jia_again = token("finance_officer", staff_id="jia")
    yi = token("finance_officer", staff_id="yi")
    proposed = post(client, jia, "big-raise", RAISE)
    assert proposed.status_code == 202, proposed.text
    assert proposed.json() | {"threshold_set_by": ""} == {
        "key": "big-raise", "status": "proposed", "kind": "posting", "total_fen": 3 * THRESHOLD,
        "threshold_fen": THRESHOLD, "threshold_set_by": "", "proposed_by": "jia",
        "confirmed_by": None}  # fmt: skip
    assert proposed.json()["threshold_set_by"].startswith("RegionPolicy.LedgerConfirmationSet#")
    assert balances(client, yi) == {}
    assert post(client, jia_again, "big-raise", RAISE).status_code == 202  # a retry
    assert_problem(post(client, jia, "big-raise", RAISE | {"description": "other"}), 409, "key",
                   "transaction_key_reuse")  # fmt: skip
    refused(client, services, "/ledger/transactions/big-raise/confirm", [jia, jia_again])
    assert_problem(confirm(client, yi, "no-such-key"), 404, "key", "exists")
    done = confirm(client, yi, "big-raise")
    assert done.status_code == 201, done.text
    assert (done.json()["prepared_by"], done.json()["confirmed_by"]) == ("jia", "yi")
    assert balances(client, yi)[f"clearing:{C}:bank"] == 3 * THRESHOLD
    assert confirm(client, yi, "big-raise").status_code == 200
    trail = client.get(f"{API}/audit/accounts/clearing:{C}:bank", headers=token("auditor"))
    (posted,) = trail.json()["items"]
    assert (posted["prepared_by"], posted["checked_by"]) == ("jia", "yi")  # 经办人, 审核人
    again = post(client, jia, "big-raise", RAISE)
    assert again.status_code == 200 and again.json()["confirmed_by"] == "yi"
    refused(client, services, "/ledger/transactions/big-raise/confirm", [jia])
    # At the threshold itself: posted at once, by one person.
    small = txn("allocate", f"pool:{C}:dibao", f"clearing:{C}:bank", THRESHOLD)
    posted = post(client, jia, "at-threshold", small)
    assert posted.status_code == 201 and posted.json()["confirmed_by"] is None


def test_balances_and_never_negative_apply_at_confirmation(
    client: TestClient, token: Any, services: Services
) -> None:
    set_threshold(client, token)
    jia, yi = token("finance_officer", staff_id="jia"), token("finance_officer", staff_id="yi")
    assert post(client, jia, "raise", RAISE).status_code == 202
    assert confirm(client, yi, "raise").status_code == 201
    big = txn("allocate", f"pool:{C}:dibao", f"clearing:{C}:bank", 5 * THRESHOLD // 2)
    assert post(client, jia, "alloc-big", big).status_code == 202  # nothing reserved for it
    small = txn("allocate", f"pool:{C}:tekun", f"clearing:{C}:bank", THRESHOLD)
    assert post(client, yi, "alloc-small", small).status_code == 201
    before = services.log_position()
    assert_problem(confirm(client, yi, "alloc-big"), 422, "lines", "never_negative")
    assert services.log_position() == before
    assert balances(client, yi).get(f"pool:{C}:dibao", 0) == 0


def test_a_large_reversal_is_proposed_and_confirmed(
    client: TestClient, token: Any, services: Services
) -> None:
    set_threshold(client, token)
    jia, yi = token("finance_officer", staff_id="jia"), token("finance_officer", staff_id="yi")
    assert post(client, jia, "raise", RAISE).status_code == 202
    assert confirm(client, yi, "raise").status_code == 201
    body = {"posting_date": "2024-03-06", "document_ref": "当财〔2024〕2号"}
    path = f"{API}/ledger/transactions/raise/reverse"
    proposed = client.post(path, json=body, headers=yi | {"Idempotency-Key": "undo"})
    assert proposed.status_code == 202 and proposed.json()["kind"] == "reversal", proposed.text
    assert balances(client, jia)[f"clearing:{C}:bank"] == 3 * THRESHOLD
    refused(client, services, "/ledger/transactions/undo/confirm", [yi])
    done = confirm(client, jia, "undo")
    assert done.status_code == 201 and done.json()["code"] == "reversal", done.text
    assert (done.json()["prepared_by"], done.json()["confirmed_by"]) == ("yi", "jia")
    assert balances(client, jia)[f"clearing:{C}:bank"] == 0
    again = client.post(path, json=body, headers=yi | {"Idempotency-Key": "undo-2"})
    assert_problem(again, 409, "reverses", "reverse_once")


def test_a_large_carry_over_is_proposed_and_confirmed(
    client: TestClient, token: Any, services: Services
) -> None:
    set_threshold(client, token)
    jia, yi = token("finance_officer", staff_id="jia"), token("finance_officer", staff_id="yi")
    assert post(client, jia, "raise", RAISE | {"posting_date": "2024-06-01"}).status_code == 202
    assert confirm(client, yi, "raise").status_code == 201
    body = {"document_ref": "当财社〔2025〕1号"}
    proposed = client.post(f"{API}/ledger/carry-over/{C}/2024", json=body, headers=jia)
    assert proposed.status_code == 202 and proposed.json()["kind"] == "carry_over", proposed.text
    # Nothing is closed yet: a posting dated in 2024 still goes in.
    late = txn("allocate", f"pool:{C}:dibao", f"clearing:{C}:bank", 100, date="2024-12-30")
    assert post(client, yi, "late", late).status_code == 201
    path = f"/ledger/carry-over/{C}/2024/confirm"
    refused(client, services, path, [jia])
    assert_problem(client.post(f"{API}/ledger/carry-over/{C}/2023/confirm", headers=yi), 404,
                   "year", "exists")  # fmt: skip
    done = client.post(f"{API}{path}", headers=yi)
    assert done.status_code == 201, done.text
    assert done.json()["carried_fen"] == 3 * THRESHOLD
    assert (done.json()["prepared_by"], done.json()["confirmed_by"]) == ("jia", "yi")
    assert client.post(f"{API}{path}", headers=yi).status_code == 200
    assert_problem(post(client, yi, "later", late | {"posting_date": "2024-12-31"}), 422,
                   "posting_date", "period_closed")  # fmt: skip


def test_without_a_policy_fact_the_documented_default_applies(
    client: TestClient, token: Any
) -> None:
    jia = token("finance_officer", staff_id="jia")
    at = txn(
        "raise", f"clearing:{C}:bank", f"source:{C}:central", DEFAULT_CONFIRMATION_THRESHOLD_FEN
    )
    assert post(client, jia, "at-default", at).status_code == 201
    above = txn(
        "raise", f"clearing:{C}:bank", f"source:{C}:central", DEFAULT_CONFIRMATION_THRESHOLD_FEN + 1
    )
    proposed = post(client, jia, "above-default", above)
    assert proposed.status_code == 202 and proposed.json()["threshold_set_by"] == "default"
