"""Keyset pagination of every list, on both backends, over a loaded demo county.

Goal: each list walked page by page with its cursor yields every row exactly once, in the same
order as one large page, also when rows are inserted between pages; a cursor is only good for
the list, filters and scope it was issued for, and one altered or forged is refused (422
naming ``cursor``) without reading anything.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.cli.demo import load_demo
from api.http.app import create_app
from ops.services.core import Services
from tests.conftest import COUNTY, make_settings, new_postgres_database
from tests.factories import household_body

API = "/api/v1"


@dataclass
class Demo:
    client: TestClient
    services: Services
    tokens: dict[str, dict[str, str]]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    if request.param == "sqlite":
        url, cleanup = f"sqlite:///{tmp_path_factory.mktemp('paging')}/doudi.sqlite3", None
    else:
        url, cleanup = new_postgres_database()
    services = Services(make_settings(url))
    try:
        loaded = load_demo(services, households=30, tekun=4)
        headers = {role: {"Authorization": f"Bearer {secret}"}
                   for role, secret in loaded["tokens"].items()}  # fmt: skip
        with TestClient(create_app(make_settings(url), services)) as client:
            yield Demo(client, services, headers)
    finally:
        services.close()
        if cleanup is not None:
            cleanup()


def get(demo: Demo, url: str, role: str = "auditor", **params: Any) -> dict[str, Any]:
    answer = demo.client.get(url, params=params, headers=demo.tokens[role])
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def walk(demo: Demo, url: str, limit: int, role: str = "auditor", **params: Any) -> list[Any]:
    """Every item of a list, following ``next`` from page to page."""
    items: list[Any] = []
    cursor = None
    for _ in range(1_000):
        page = get(demo, url, role, limit=limit, **params, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= limit and page["limit"] == limit
        items += page["items"]
        cursor = page["next"]
        if cursor is None:
            return items
    raise AssertionError("the cursor never ended")


def ids(items: list[dict[str, Any]]) -> list[Any]:
    # Each item's own id first: a finding or grant also names its case (or none: idle funds).
    keys = ("finding_id", "record_id", "grant_id", "line_no", "roll_id", "case_id", "position")
    return [next(item[key] for key in keys if key in item) for item in items]


def test_every_list_walked_page_by_page_is_one_large_page(demo: Demo) -> None:
    """Each list, its documented filters too: small pages give exactly the large page's rows, in
    its order, each once; the large page has no ``next``."""
    roll = get(demo, f"{API}/rolls", "finance_officer", limit=500)["items"][0]["roll_id"]
    case = get(demo, f"{API}/households", limit=1)["items"][0]["case_id"]
    lists: list[tuple[str, str, dict[str, Any]]] = [
        (f"{API}/households", "auditor", {}),
        (f"{API}/households", "auditor", {"status": "suspended"}),
        (f"{API}/households", "auditor", {"status": "terminated"}),
        (f"{API}/households", "auditor", {"region": f"{COUNTY}001"}),
        (f"{API}/households", "auditor", {"programme": "dibao_rural"}),
        (f"{API}/tekun", "auditor", {}),
        (f"{API}/temporary-grants", "auditor", {}),
        (f"{API}/rolls", "finance_officer", {}),
        (f"{API}/rolls/{roll}/lines", "finance_officer", {}),
        (f"{API}/findings", "auditor", {}),
        (f"{API}/registry/records", "admin", {}),
        (f"{API}/ledger/accounts/pool:{COUNTY}:dibao/statement", "auditor", {}),
        (f"{API}/audit/accounts/pool:{COUNTY}:dibao", "auditor", {}),
        (f"{API}/audit/policy/{COUNTY}", "auditor", {}),
        (f"{API}/audit/cases/{case}", "auditor", {}),
    ]
    for url, role, params in lists:
        whole = get(demo, url, role, limit=500, **params)
        assert whole["next"] is None, url
        assert whole["items"], f"the demo has rows for {url} {params}"
        for limit in (1, 3):
            walked = walk(demo, url, limit, role, **params)
            assert ids(walked) == ids(whole["items"]), (url, params, limit)
            assert len(set(map(str, ids(walked)))) == len(walked), (url, params, limit)


def test_rows_inserted_between_pages_neither_repeat_nor_shift_others(demo: Demo) -> None:
    """Applications recorded while an officer pages through the county — one sorting before the
    page reached, one after it — leave every case that was there listed exactly once, and the
    one after the cursor is reached; nothing is listed twice."""
    before = ids(get(demo, f"{API}/households", limit=500)["items"])
    seen: list[Any] = []
    page = get(demo, f"{API}/households", limit=4)
    inserted = []
    for number, region in enumerate([COUNTY, f"{COUNTY}999999", COUNTY]):
        seen += ids(page["items"])
        body = household_body(region, seed=900 + number)
        answer = demo.client.post(
            f"{API}/households", json=body, headers=demo.tokens["case_worker"]
        )
        assert answer.status_code == 201, answer.text
        inserted.append((region, answer.json()["case_id"]))
        page = get(demo, f"{API}/households", limit=4, cursor=page["next"])
    while True:
        seen += ids(page["items"])
        if page["next"] is None:
            break
        page = get(demo, f"{API}/households", limit=4, cursor=page["next"])
    assert len(seen) == len(set(seen))
    assert set(before) <= set(seen)
    # A case of region 420582 sorts before every demo case (of its townships): behind the
    # cursor, so not listed; one of 420582999999 sorts after them all: listed once.
    assert [case for region, case in inserted if region == COUNTY and case in seen] == []
    assert [case for region, case in inserted if region != COUNTY and case in seen] == [
        inserted[1][1]
    ]


def test_a_cursor_serves_only_its_own_list_filters_and_scope(demo: Demo) -> None:
    """A cursor sent back on the same list continues it (twice the same page); altered, forged,
    on another list, with other filters or by a caller of another scope it is 422 naming
    ``cursor`` (rule ``issued_cursor``, or the pattern for one not even shaped as a cursor)."""
    first = get(demo, f"{API}/households", limit=2)
    cursor = first["next"]
    assert cursor is not None
    again = get(demo, f"{API}/households", limit=2, cursor=cursor)
    assert again == get(demo, f"{API}/households", limit=2, cursor=cursor)
    assert not set(ids(again["items"])) & set(ids(first["items"]))
    payload, tag = cursor.split(".")
    key = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    forged = key.replace(b'"', b'"0', 1)  # a key of the caller's choosing, the tag kept
    altered = [
        base64.urlsafe_b64encode(forged).rstrip(b"=").decode() + "." + tag,
        payload + "." + ("A" if tag[0] != "A" else "B") + tag[1:],
    ]
    city = demo.services.issue_credential("test", role="auditor", region_scope="420500",
                                          staff_id="city-auditor")[1]  # fmt: skip
    refusals = [
        *[(f"{API}/households", {"cursor": bad}, demo.tokens["auditor"]) for bad in altered],
        (f"{API}/tekun", {"cursor": cursor}, demo.tokens["auditor"]),
        (f"{API}/households", {"cursor": cursor, "status": "suspended"}, demo.tokens["auditor"]),
        (f"{API}/households", {"cursor": cursor, "limit": 2}, {"Authorization": f"Bearer {city}"}),
        (f"{API}/temporary-grants", {"cursor": cursor}, demo.tokens["auditor"]),
    ]
    for url, params, headers in refusals:
        answer = demo.client.get(url, params=params, headers=headers)
        assert answer.status_code == 422, (url, params, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["errors"][0]["field"] == "cursor"
        assert answer.json()["errors"][0]["rule"] == "issued_cursor"
    for bad in ("x", "a.b", "%00." + tag, payload + "." + tag + "=", "é." + tag):
        answer = demo.client.get(
            f"{API}/households", params={"cursor": bad}, headers=demo.tokens["auditor"]
        )
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "cursor", bad
