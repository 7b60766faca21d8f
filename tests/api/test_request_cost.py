"""What a request costs the server beyond its own reads: a bearer token is looked up once per
``PRINCIPAL_TTL_S`` and never honoured past its expiry, a read's JSON is written by orjson
exactly as FastAPI's encoder and ``json`` would write it, and the pages of a roll's lines decode
their chunk once. Both backends."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import pytest
from fastapi.encoders import jsonable_encoder
from fastapi.testclient import TestClient

from api.http import deps
from api.http.routing import json_bytes
from ops.services import core
from ops.services.core import Services
from tests.api.test_rolls_api import API, county_with_cases


def counted_lookups(services: Services, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens ``services.credential`` is asked for from now on."""
    asked: list[str] = []
    looked_up = services.credential

    def credential(token: str) -> Any:
        asked.append(token)
        return looked_up(token)

    monkeypatch.setattr(services, "credential", credential)
    return asked


def test_a_token_is_read_from_the_credentials_once_while_it_is_kept(
    client: TestClient,
    services: Services,
    token: Callable[..., dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Goal: requests with one token inside ``PRINCIPAL_TTL_S`` read its credential once, and
    once more after it. Method: count ``Services.credential`` over three reads, moving the
    process's clock past the TTL before the third."""
    headers = token("case_worker")
    asked = counted_lookups(services, monkeypatch)
    for _ in range(2):
        assert client.get("/api/v1/households?limit=1", headers=headers).status_code == 200
    assert len(asked) == 1
    later = time.monotonic() + deps.PRINCIPAL_TTL_S + 1
    client.app.state.principals.clock = lambda: later  # type: ignore[attr-defined]
    assert client.get("/api/v1/households?limit=1", headers=headers).status_code == 200
    assert len(asked) == 2


def test_a_kept_token_is_refused_once_it_expires(
    client: TestClient,
    token: Callable[..., dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Goal: keeping a principal never stretches its token's life. Method: a token that expires
    in an hour reads once (and is kept); with the clocks moved two hours on, the same token is
    refused 401 at once."""
    expires = datetime.now(UTC) + timedelta(hours=1)
    headers = token("case_worker", expires_at=expires.isoformat().replace("+00:00", "Z"))
    assert client.get("/api/v1/households?limit=1", headers=headers).status_code == 200
    for module in (deps, core):  # the kept entry's clock and the credential's
        monkeypatch.setattr(module, "now_utc", lambda: expires + timedelta(hours=1))
    refused = client.get("/api/v1/households?limit=1", headers=headers)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"


def test_unknown_tokens_are_not_kept(
    client: TestClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Goal: a token not (yet) issued is looked up on each request, so one issued a moment later
    works at once. Method: two requests with an unknown token both ask for its credential."""
    asked = counted_lookups(services, monkeypatch)
    headers = {"Authorization": "Bearer not-issued"}
    for _ in range(2):
        assert client.get("/api/v1/households", headers=headers).status_code == 401
    assert asked == ["not-issued", "not-issued"]


class Colour(Enum):
    RED = "red"


@pytest.mark.parametrize(
    "content",
    [
        {"case_id": UUID(int=7), "name": "王一", "amount_fen": 104_000, "ok": True, "none": None},
        {"at": datetime(2024, 5, 1, 8, 0, 0, 120, tzinfo=UTC), "naive": datetime(2024, 5, 1)},
        {"day": date(2024, 5, 1), "share": 0.1, "big": 1e300, "rate": Decimal("12.5")},
        {"whole": Decimal("3"), "set": {3}, "tuple": (1, "a"), 2022: "year", "colour": Colour.RED},
        [{"nested": [{"deep": ["\u2028", "\\", '"']}]}],
    ],
)
def test_a_read_is_written_as_fastapi_would_write_it(content: Any) -> None:
    """Goal: orjson's bytes parse to what ``JSONResponse`` of ``jsonable_encoder`` answers, for
    every kind of value a view returns and a few it might. Method: compare both, parsed."""
    expected = json.dumps(jsonable_encoder(content), ensure_ascii=False)
    assert json.loads(json_bytes(content)) == json.loads(expected)


def test_the_pages_of_a_chunk_decode_it_once(
    client: TestClient, services: Services, token: Callable[..., dict[str, str]]
) -> None:
    """Goal: paging through a roll's lines decodes each chunk once per process, and a roll
    generated again reads its new chunk. Method: a roll of three lines read as two pages, then
    regenerated and read again, counting the rolls view's decoded chunks kept and reused."""
    county_with_cases(client, token("admin"))
    finance = token("finance_officer")
    body = {"county_code": "420582", "month": "2024-03"}
    roll = client.post(f"{API}/rolls", json=body, headers=finance).json()["roll_id"]
    whole = client.get(f"{API}/rolls/{roll}/lines", headers=finance).json()["items"]
    first = client.get(f"{API}/rolls/{roll}/lines?limit=2", headers=finance).json()
    rest = client.get(f"{API}/rolls/{roll}/lines?cursor={first['next']}", headers=finance).json()
    assert first["items"] + rest["items"] == whole and len(whole) == 3
    kept = services.rolls.chunk_lines.cache_info()
    assert (kept.misses, kept.hits) == (1, 2)
    client.post(f"{API}/rolls", json=body, headers=finance)
    assert client.get(f"{API}/rolls/{roll}/lines", headers=finance).json()["items"] == whole
    assert services.rolls.chunk_lines.cache_info().misses == 2
