"""A stored header (Idempotency-Key) means what its sender's bytes say, as a path does.

ASGI hands header bytes over as Latin-1; the API reads them again as UTF-8 so that a key sent
as ``银行-1`` in the header is the key ``银行-1`` of the reversal path, refuses bytes that are
not UTF-8 (422 `header_utf8` naming the header), and applies the text rule to the characters
the caller sent. Both backends.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient

from ops.services.core import Services
from tests.api.test_households_api import API, assert_problem
from tests.api.test_ledger_api import DOC, txn
from tests.conftest import COUNTY

Token = Any


def raise_money() -> dict[str, Any]:
    return txn("raise", f"clearing:{COUNTY}:bank", f"source:{COUNTY}:central", 500)


def test_a_utf8_key_is_the_same_key_in_the_header_and_the_path(
    client: TestClient, token: Token
) -> None:
    """A posting keyed `银行-1` (UTF-8 bytes in the header) answers that key, is found by the
    reversal path naming it, and a retry with the same bytes is the same transaction (200)."""
    finance = token("finance_officer")
    key = "银行-1"
    headers = finance | {"Idempotency-Key": key.encode()}
    posted = client.post(f"{API}/ledger/transactions", json=raise_money(), headers=headers)
    assert posted.status_code == 201 and posted.json()["key"] == key, posted.text
    again = client.post(f"{API}/ledger/transactions", json=raise_money(), headers=headers)
    assert again.status_code == 200 and again.json()["key"] == key, again.text
    reversal = client.post(f"{API}/ledger/transactions/{quote(key)}/reverse",
                           json={"posting_date": "2024-03-06", **DOC},
                           headers=finance | {"Idempotency-Key": "撤销-1".encode()})  # fmt: skip
    assert reversal.status_code == 201, reversal.text


def post_raw(client: TestClient, path: str, body: Any, headers: dict[str, Any]) -> Any:
    """POST with header bytes exactly as given: the TestClient re-encodes header values as
    UTF-8, httpx's ASGI transport hands the app the raw bytes, as a server does."""

    async def send() -> Any:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as raw:
            return await raw.post(f"{API}{path}", json=body, headers=headers)

    return asyncio.run(send())


@pytest.mark.parametrize(
    ("raw", "rule"),
    [(b"caf\xe9-1", "header_utf8"), (b"\xff\xfe", "header_utf8"),
     ("a\u0085b".encode(), "text_control_character")],
    ids=["latin1", "not-utf8", "next-line"],
)  # fmt: skip
@pytest.mark.parametrize("path", ["/ledger/transactions", "/credentials"])
def test_a_stored_header_that_is_not_utf8_text_is_refused(
    client: TestClient, token: Token, services: Services, raw: bytes, rule: str, path: str
) -> None:
    """A key whose bytes are not UTF-8 (Latin-1 `café`, 0xFF 0xFE), or UTF-8 for a control
    character (U+0085), on a posting and on a credential: 422 naming `Idempotency-Key` with that
    rule, nothing recorded."""
    headers = token("admin") | {"Idempotency-Key": raw}
    body = (
        raise_money()
        if path == "/ledger/transactions"
        else {"role": "auditor", "region_scope": COUNTY}
    )
    before = services.log_position()
    assert_problem(post_raw(client, path, body, headers), 422, "Idempotency-Key", rule)
    assert services.log_position() == before
