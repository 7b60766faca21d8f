"""Business keys belong to the county that keys them: ledger transaction keys, registry records.

The case file: 当阳市 (420582) posts its allocation under the key ``alloc-2024-03``; 宜都市
(420581), in the same city, later posts its own allocation under the same key. Each county gets
its own transaction, neither can tell the other used the key (not by status, not by body), and
within 当阳市 every finance officer shares the key: the same key and content is the first
result, other content a conflict.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.access import Principal
from domain.errors import InvalidValue
from ops.services.core import Services
from ops.services.ledger import post_transaction
from tests.api.test_households_api import API, assert_problem
from tests.api.test_ledger_api import DOC, post, txn
from tests.factories import id_number

KEY = "alloc-2024-03"


def fund(client: TestClient, headers: dict[str, str], county: str, fen: int) -> Any:
    """Raise central money into the county's bank clearing under ``KEY``."""
    return post(
        client,
        headers,
        KEY,
        txn("raise", f"clearing:{county}:bank", f"source:{county}:central", fen),
    )


def reverse(client: TestClient, headers: dict[str, str], key: str, reversal_key: str) -> Any:
    return client.post(
        f"{API}/ledger/transactions/{key}/reverse",
        json={"posting_date": "2024-03-06", **DOC},
        headers=headers | {"Idempotency-Key": reversal_key},
    )


def answer(response: Any) -> tuple[int, str, Any]:
    return response.status_code, response.headers["content-type"], response.json()


def balances(client: TestClient, headers: dict[str, str]) -> dict[str, int]:
    items = client.get(f"{API}/ledger/balances", headers=headers).json()["items"]
    return {item["account"]: int(item["balance_fen"]) for item in items}


def test_another_county_using_a_key_is_invisible(client: TestClient, token: Any) -> None:
    """County B posts and reverses under a key county A already used: B gets its own 201, and
    B's reversal of a key only A used answers byte for byte as before A used it."""
    a, b = token("finance_officer", "420582"), token("finance_officer", "420581")
    unknown_before = answer(reverse(client, b, KEY, "rev-1"))
    first = fund(client, a, "420582", 1_000)
    assert first.status_code == 201, first.text
    assert answer(reverse(client, b, KEY, "rev-1")) == unknown_before
    assert unknown_before[0] == 404
    assert (
        answer(reverse(client, b, "never-used", "rev-1"))[2]["errors"]
        == unknown_before[2]["errors"]
    )
    theirs = fund(client, b, "420581", 2_000)  # other content: not a conflict, a new transaction
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["transaction_id"] != first.json()["transaction_id"]
    assert balances(client, a)["clearing:420582:bank"] == 1_000
    assert balances(client, b)["clearing:420581:bank"] == 2_000
    mine = client.get(f"{API}/ledger/accounts/clearing:420581:bank/statement", headers=b).json()
    assert [row["txn_key"] for row in mine["items"]] == [KEY]
    undone = reverse(client, b, KEY, "rev-1")  # B's key now names B's own transaction
    assert undone.status_code == 201 and undone.json()["total_fen"] == 2_000
    assert balances(client, a)["clearing:420582:bank"] == 1_000


def test_one_county_shares_its_keys_across_credentials(
    client: TestClient, token: Any, services: Services
) -> None:
    """Two finance officers of one county: the same key and content is the first result; other
    content is 409; a key doudi keeps for its own postings is refused; nothing more recorded."""
    first_officer, second_officer = token("finance_officer"), token("finance_officer")
    first = fund(client, first_officer, "420582", 1_000)
    position = services.log_position()
    again = fund(client, second_officer, "420582", 1_000)
    assert again.status_code == 200 and again.json() == first.json()
    assert_problem(
        fund(client, second_officer, "420582", 999), 409, "Idempotency-Key", "transaction_key_reuse"
    )
    body = txn("raise", "clearing:420582:bank", "source:420582:central", 5)
    assert_problem(
        post(client, first_officer, "roll:x:reserve", body),
        422,
        "Idempotency-Key",
        "reserved_transaction_key",
    )
    assert_problem(
        reverse(client, first_officer, KEY, "grant:x:pay"),
        422,
        "Idempotency-Key",
        "reserved_transaction_key",
    )
    assert services.log_position() == position


def test_a_registry_record_is_once_per_county_not_once_overall(
    client: TestClient, token: Any, services: Services
) -> None:
    """Two counties record a death under the same source reference: each records its own (201),
    neither learns of the other; the same county again records nothing (200)."""
    death = {"kind": "death", "source": "公安户籍", "source_ref": "D-1",
             "id_number": id_number(sequence=31), "effective_date": "2024-03-03"}  # fmt: skip
    admin = token("admin")
    ours = client.post(
        f"{API}/registry/records", json=death | {"region_code": "420582"}, headers=admin
    )
    theirs = client.post(
        f"{API}/registry/records",
        json=death | {"region_code": "420581"},
        headers=token("admin", "420581"),
    )
    assert (ours.status_code, theirs.status_code) == (201, 201), theirs.text
    assert theirs.json()["created"] and theirs.json()["record_id"] != ours.json()["record_id"]
    position = services.log_position()
    again = client.post(
        f"{API}/registry/records", json=death | {"region_code": "420582"}, headers=admin
    )
    assert again.status_code == 200 and again.json() == ours.json() | {"created": False}
    assert services.log_position() == position


def test_a_key_posted_outside_the_api_passes_the_text_rule(services: Services) -> None:
    """Goal: a key that does not come through the API's header type (``doudi ledger post
    --key``) obeys the same text rule. Method: post through the service with a bidi override
    in the key; it is refused and nothing is recorded."""
    finance = Principal("cli-finance", "finance_officer", "420582")
    position = services.log_position()
    body = txn("raise", "clearing:420582:bank", "source:420582:central", 5)
    with pytest.raises(InvalidValue) as refused:
        post_transaction(services, finance, "alloc\u202e-1", body)
    assert (refused.value.field, refused.value.rule) == ("Idempotency-Key", "text_bidi_override")
    assert services.log_position() == position


def unlike_instance(response: Any) -> tuple[int, str, Any]:
    """A problem answer but for its ``instance`` (the request's own path)."""
    status, content_type, body = answer(response)
    return status, content_type, {k: v for k, v in body.items() if k != "instance"}


def grant_lines(township: str, fen: int) -> dict[str, Any]:
    return {"code": "grant", "posting_date": "2024-03-05", **DOC, "lines": [
        {"account": f"disbursed:{township}:temporary", "debit_fen": fen, "source": "central"},
        {"account": f"reserve:{township}:temporary", "credit_fen": fen, "source": "central"}]}  # fmt: skip


def test_a_township_keys_its_own_transactions_and_reverses_doudis_postings_of_its_reserve(
    client: TestClient, token: Any, services: Services
) -> None:
    """A township credential's keys are its township's: the county neither finds nor conflicts
    with them. A grant payment doudi posted from 玉阳街道's reserve (key ``grant:…:pay``, in the
    county's books) is reversed by 玉阳's finance officer, once, its retry answering the first
    result; to the sibling township 002 the same key answers exactly as a key never used."""
    from tests.api.conftest import colleague
    from tests.api.test_grants_api import grant_body, setup

    admin, county = token("admin"), token("finance_officer")
    own, sibling = token("finance_officer", "420582001"), token("finance_officer", "420582002")
    setup(client, admin)  # 5,000 yuan advanced to 420582001's reserve
    assert post(client, own, "pay-1", grant_lines("420582001", 100)).status_code == 201
    assert unlike_instance(reverse(client, county, "pay-1", "rev-c")) == unlike_instance(
        reverse(client, county, "never-used", "rev-c")
    )
    assert post(client, county, "pay-1", grant_lines("420582001", 200)).status_code == 201

    grant = client.post(f"{API}/temporary-grants", json=grant_body(1_000), headers=admin).json()
    approval = {"paying_township": "420582001", "effective_date": "2024-03-02", **DOC}
    assert client.post(f"{API}/temporary-grants/{grant['grant_id']}/approve", json=approval,
                       headers=colleague(client, admin)).status_code == 200  # fmt: skip
    assert client.post(f"{API}/temporary-grants/{grant['grant_id']}/pay",
                       json={"posting_date": "2024-03-06"}, headers=admin).status_code == 200  # fmt: skip
    paid = f"grant:{grant['grant_id']}:pay"
    position = services.log_position()
    theirs, missing = (
        reverse(client, sibling, paid, "rev-s"),
        reverse(client, sibling, "grant:x:pay", "rev-s"),
    )
    assert unlike_instance(theirs) == unlike_instance(missing)
    assert_problem(theirs, 404, "key", "exists")
    assert services.log_position() == position
    undone = reverse(client, own, paid, "rev-own")
    assert undone.status_code == 201 and undone.json()["total_fen"] == 1_000, undone.text
    again = reverse(client, own, paid, "rev-own")
    assert again.status_code == 200 and again.json() == undone.json()
    assert_problem(reverse(client, county, paid, "rev-county"), 409, "reverses", "reverse_once")
    assert balances(client, county)["reserve:420582001:temporary"] == 500_000 - 100 - 200
