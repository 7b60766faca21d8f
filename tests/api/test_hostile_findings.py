"""Rules a hostile test of the hardening (issue 23) found holes in, one test per finding (F1…F8).

Each test drives one finding's scenario through the API on both backends and asserts what the
rules of SPEC §9–10 and the README ask for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ops.services.core import Services
from tests.api.conftest import colleague
from tests.api.test_households_api import API, assert_problem
from tests.api.test_scope_table import line, ok
from tests.conftest import COUNTY
from tests.factories import household_body, id_number

C = COUNTY
DOC = {"document_ref": "当民发〔2024〕9号"}
Token = Callable[..., dict[str, str]]
STATEMENT_HEADER = b"reference,amount_fen,booked_on,description\r\n"


def post_statement(client: TestClient, headers: dict[str, str], data: bytes) -> Any:
    return client.post(
        f"{API}/ledger/statements/{C}", content=data, headers=headers | {"Content-Type": "text/csv"}
    )


def test_f1_statement_amount_with_thousands_of_leading_zeros_is_422(
    client: TestClient, token: Token, services: Services
) -> None:
    """A statement amount written as 5,000 zeros and a 1 is a CSV problem naming line 2, never a
    500: posted as the county's finance officer, the answer is 422 and the log does not move."""
    data = STATEMENT_HEADER + b"R1," + b"0" * 5000 + b"1,2024-03-01,x\r\n"
    finance = token("finance_officer")
    before = services.log_position()
    response = post_statement(client, finance, data)
    assert_problem(response, 422, "file")
    assert "line 2" in response.json()["detail"]
    assert services.log_position() == before


def test_f2_special_auditor_sees_a_case_as_it_stood_at_the_end_of_the_period(
    client: TestClient, token: Token
) -> None:
    """A case applied in March and rejected in September is shown to a special auditor of the
    first half-year as it stood on 30 June (applied), in the list and in the detail, just as its
    timeline hides the rejection: both reads as that auditor, compared with the period's end."""
    admin = token("admin")
    body = household_body(f"{C}001000", seed=71) | {"effective_date": "2024-03-01"}
    case_id = ok(client.post(f"{API}/households", json=body, headers=admin))["case_id"]
    rejection = {"reason": "不符合条件", "effective_date": "2024-09-01", **DOC}
    ok(
        client.post(
            f"{API}/households/{case_id}/reject", json=rejection, headers=colleague(client, admin)
        )
    )
    auditor = token("special_auditor", period_from="2024-01-01", period_to="2024-06-30",
                    expires_at="2099-01-01T00:00:00Z")  # fmt: skip
    timeline = ok(client.get(f"{API}/households/{case_id}/timeline", headers=auditor))
    assert all(item["effective_date"] <= "2024-06-30" for item in timeline["items"])
    detail = ok(client.get(f"{API}/households/{case_id}", headers=auditor))
    listed = [
        item
        for item in ok(client.get(f"{API}/households", headers=auditor))["items"]
        if item["case_id"] == case_id
    ]
    assert len(listed) == 1
    for shown in (detail, listed[0]):
        assert shown["status"] == "applied", shown
        assert shown["status_since"] <= "2024-06-30", shown
        assert shown["end_reason"] is None, shown


def fund_township_reserve(client: TestClient, finance: dict[str, str], township: str) -> None:
    """Raise county money, allocate it to the temporary pool and advance it to one township."""
    flows = [
        ("raise", [line(f"clearing:{C}:bank", debit=1000), line(f"source:{C}:central", credit=1000)]),
        ("allocate", [line(f"pool:{C}:temporary", debit=1000), line(f"clearing:{C}:bank", credit=1000)]),
        ("advance", [line(f"reserve:{township}:temporary", debit=1000), line(f"pool:{C}:temporary", credit=1000)]),
    ]  # fmt: skip
    for number, (code, lines) in enumerate(flows):
        body = {"code": code, "posting_date": "2024-03-05", "lines": lines, **DOC}
        key = {"Idempotency-Key": f"fund-{township}-{number}"}
        ok(client.post(f"{API}/ledger/transactions", json=body, headers=finance | key))


def grant_posting(township: str) -> dict[str, Any]:
    lines = [line(f"disbursed:{township}:temporary", debit=1), line(f"reserve:{township}:temporary", credit=1)]  # fmt: skip
    return {"code": "grant", "posting_date": "2024-03-06", "lines": lines, **DOC}


def test_f3_a_sibling_townships_keys_are_answered_like_keys_never_used(
    client: TestClient, token: Token, services: Services
) -> None:
    """Township 002 cannot learn or take township 001's transaction keys: posting with a key 001
    used answers as a never-used key does (422 for its empty reserve, not 409), and reversing it
    answers 404 ``exists`` (not 403); both record nothing."""
    fund_township_reserve(client, token("finance_officer"), f"{C}001")
    first, second = token("finance_officer", f"{C}001"), token("finance_officer", f"{C}002")
    used = {"Idempotency-Key": "township-key-1"}
    ok(
        client.post(
            f"{API}/ledger/transactions", json=grant_posting(f"{C}001"), headers=first | used
        )
    )
    before = services.log_position()
    fresh = client.post(f"{API}/ledger/transactions", json=grant_posting(f"{C}002"),
                        headers=second | {"Idempotency-Key": "township-key-never-used"})  # fmt: skip
    taken = client.post(f"{API}/ledger/transactions", json=grant_posting(f"{C}002"), headers=second | used)  # fmt: skip
    assert fresh.status_code == 422, fresh.text
    assert (taken.status_code, taken.json()["type"]) == (fresh.status_code, fresh.json()["type"])
    reversal = {"posting_date": "2024-03-07", **DOC}
    reverse_used = client.post(f"{API}/ledger/transactions/township-key-1/reverse", json=reversal,
                               headers=second | {"Idempotency-Key": "r-1"})  # fmt: skip
    reverse_missing = client.post(f"{API}/ledger/transactions/township-key-none/reverse",
                                  json=reversal, headers=second | {"Idempotency-Key": "r-2"})  # fmt: skip
    assert_problem(reverse_missing, 404, "key", "exists")
    assert_problem(reverse_used, 404, "key", "exists")
    assert services.log_position() == before


def registry_body(details: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "death", "source": "公安户籍", "source_ref": "D-1", "region_code": f"{C}001000",
            "id_number": id_number(sequence=901), "effective_date": "2024-03-01", "details": details}  # fmt: skip


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("a\x00b", "text_control_character"),
        ("a\u202eb", "text_bidi_override"),
        (2**70, "less_than_equal"),
    ],
)
def test_f4_registry_details_errors_name_the_detail_and_its_rule(
    client: TestClient, token: Token, services: Services, value: Any, rule: str
) -> None:
    """A refused value in ``details`` is reported as ``details.<key>`` with the rule it broke,
    not as a pydantic union member's internal name: posted as admin, nothing recorded."""
    admin = token()
    before = services.log_position()
    response = client.post(f"{API}/registry/records", json=registry_body({"note": value}), headers=admin)  # fmt: skip
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [error["field"] for error in errors] == ["details.note"], errors
    assert [error["rule"] for error in errors] == [rule], errors
    assert services.log_position() == before


@pytest.mark.parametrize("raw", [b"{", b'{"document_ref": "x"', b'{"document_ref": "x",}'])
def test_f5_malformed_json_names_the_body_not_an_offset(
    client: TestClient, token: Token, services: Services, raw: bytes
) -> None:
    """A body that is not JSON is reported as field ``body``, rule ``json_invalid`` (the offset
    belongs in the detail): posted to close a period, nothing recorded."""
    headers = token("finance_officer") | {"Content-Type": "application/json"}
    before = services.log_position()
    response = client.post(f"{API}/ledger/periods/{C}/2024-03/close", content=raw, headers=headers)
    assert_problem(response, 422, "body", "json_invalid")
    assert [error["field"] for error in response.json()["errors"]] == ["body"]
    assert services.log_position() == before


@pytest.mark.parametrize(
    ("row", "rule"),
    [
        (b"R1,100,2024-03-01," + b"x" * 200_000 + b"\r\n", "csv_format"),
        (b"R1,100,2024-03-01,x,EXTRA\r\n", "csv_columns"),
        (b'R1,100,2024-03-01,"x",EXTRA\r\n', "csv_columns"),
    ],
    ids=["unquoted-field-past-the-limit", "more-cells-than-columns", "quoted-more-cells"],
)
def test_f6_statement_rows_follow_the_csv_rules_with_or_without_quotes(
    client: TestClient, token: Token, services: Services, row: bytes, rule: str
) -> None:
    """The README's CSV rules (a field past 131,072 characters, more cells than columns: 422
    naming the line) hold for statements whichever path parses them: posted as finance."""
    finance = token("finance_officer")
    before = services.log_position()
    response = post_statement(client, finance, STATEMENT_HEADER + row)
    assert_problem(response, 422, "file", rule)
    assert "line 2" in response.json()["detail"]
    assert services.log_position() == before


def test_f6_statement_with_a_repeated_column_is_refused(
    client: TestClient, token: Token, services: Services
) -> None:
    """A statement header naming a column twice is ambiguous and refused (422), not read by its
    first occurrence: posted as finance, nothing recorded."""
    finance = token("finance_officer")
    before = services.log_position()
    data = b"reference,amount_fen,booked_on,reference\r\nR1,100,2024-03-01,R2\r\n"
    response = post_statement(client, finance, data)
    assert_problem(response, 422, "file")
    assert services.log_position() == before


@pytest.mark.parametrize(
    "name",
    ["\u3164", "\uffa0", "\u115f", "\u2800", "\u0301\u0301", "张\u2028三", "张\u2029三"],
    ids=[
        "hangul-filler",
        "halfwidth-filler",
        "choseong-filler",
        "braille-blank",
        "combining-only",
        "line-separator",
        "paragraph-separator",
    ],
)
def test_f7_invisible_names_and_unicode_line_breaks_are_refused(
    client: TestClient, token: Token, services: Services, name: str
) -> None:
    """A member name that renders as nothing, or holds a Unicode line break, is refused with a
    ``text_*`` rule naming the field: applied as admin, nothing recorded."""
    body = household_body(f"{C}001000", seed=72, members=1)
    body["members"][0]["name"] = name
    admin = token()
    before = services.log_position()
    response = client.post(f"{API}/households", json=body, headers=admin)
    assert_problem(response, 422, "members.0.name")
    assert all(error["rule"].startswith("text_") for error in response.json()["errors"])
    assert services.log_position() == before


@pytest.mark.parametrize("tier", ["１", "A١"], ids=["full-width", "arabic-indic"])
def test_f8_tier_codes_take_ascii_digits_only(
    client: TestClient, token: Token, services: Services, tier: str
) -> None:
    """A tier code with a full-width or Arabic-Indic digit is refused like every other digit
    field (422 naming the tiers), so no two tiers look alike: posted as admin, nothing recorded."""
    body = {"programme": "dibao_urban", "tiers": {tier: 10_000}, "effective_date": "2024-01-01", **DOC}  # fmt: skip
    admin = token()
    before = services.log_position()
    response = client.post(f"{API}/policy/{C}/tiers", json=body, headers=admin)
    assert_problem(response, 422, "tiers")
    assert services.log_position() == before


@pytest.mark.parametrize("birth", ["20990101", "20300101", "18000101"])
def test_f9_identity_number_born_after_the_decision_or_centuries_ago_is_refused(
    client: TestClient, token: Token, services: Services, birth: str
) -> None:
    """A member whose identity number says born in 2099 or 2030 (after the 2024 application) or
    in 1800 has an impossible birth date: applied as admin, 422 naming the member's number,
    nothing recorded."""
    body = household_body(f"{C}001000", seed=73, members=1)
    body["members"][0]["id_number"] = id_number(birth=birth, sequence=731)
    admin = token()  # issuing the credential records an event: before the log is read
    before = services.log_position()
    response = client.post(f"{API}/households", json=body, headers=admin)
    assert_problem(response, 422, "members.0.id_number", "id_number_birth_data")
    assert services.log_position() == before


def test_f9_identity_number_written_with_spaces_is_read_without_them(
    client: TestClient, token: Token
) -> None:
    """The README's rule "spaces are dropped" holds for a number written in its usual groups
    (6 + 8 + 4): the application is accepted as the same person as the number without spaces."""
    number = id_number(sequence=741)
    body = household_body(f"{C}001000", seed=74, members=1)
    body["members"][0]["id_number"] = f"{number[:6]} {number[6:14]} {number[14:]}"
    ok(client.post(f"{API}/households", json=body, headers=token()))
    found = ok(
        client.post(f"{API}/audit/persons/search", json={"id_number": number}, headers=token())
    )
    assert found["items"], found


@pytest.mark.parametrize("key", ["café-2", "银行-1"], ids=["latin", "chinese"])
def test_f12_a_non_ascii_transaction_key_means_the_same_in_the_header_and_the_path(
    client: TestClient, token: Token, key: str
) -> None:
    """A transaction key sent as UTF-8 in the Idempotency-Key header is either refused as such
    (422 naming the header, not as a "control character" it does not contain) or kept as the
    caller wrote it, so that the reversal path naming the same key finds it."""
    from urllib.parse import quote

    finance = token("finance_officer")
    body = raise_posting()
    response = client.post(f"{API}/ledger/transactions", json=body,
                           headers=finance | {"Idempotency-Key": key.encode()})  # fmt: skip
    if response.status_code == 422:
        assert_problem(response, 422, "Idempotency-Key")
        assert all(e["rule"] != "text_control_character" for e in response.json()["errors"])
        return
    assert ok(response)["key"] == key
    reversal = {"posting_date": "2024-03-07", **DOC}
    reversed_ = client.post(f"{API}/ledger/transactions/{quote(key)}/reverse", json=reversal,
                            headers=finance | {"Idempotency-Key": "r-f12"})  # fmt: skip
    assert reversed_.status_code == 201, reversed_.text


def raise_posting() -> dict[str, Any]:
    lines = [line(f"clearing:{C}:bank", debit=5), line(f"source:{C}:central", credit=5)]
    return {"code": "raise", "posting_date": "2024-03-05", "lines": lines, **DOC}


def test_f13_an_approval_cannot_be_dated_back_to_older_higher_limits(
    client: TestClient, token: Token, services: Services
) -> None:
    """Approval authority is not chosen by a date in the body: with the township limit lowered
    from 3,000 yuan to 1 yuan in 2024, a township approver approving a 2,000-yuan grant requested
    in March 2024 is refused even when the approval claims to be dated 2021 (before the request
    itself); nothing is recorded."""
    admin = token("admin")
    for day, township_limit, committee_limit in (("2021-01-01", 300_000, 2_000_000), ("2024-01-01", 100, 500)):  # fmt: skip
        limits = {"effective_date": day, "township_limit_fen": township_limit,
                  "committee_limit_fen": committee_limit, **DOC}  # fmt: skip
        ok(client.post(f"{API}/policy/{C}/approval-limits", json=limits, headers=admin))
    request = {"region_code": f"{C}001000", "occurred_in": f"{C}001000", "id_number": id_number(sequence=811),
               "name": "李某", "grant_type": "urgent", "amount_fen": 200_000, "reason": "火灾",
               "effective_date": "2024-03-01", **DOC}  # fmt: skip
    grant_id = ok(client.post(f"{API}/temporary-grants", json=request, headers=admin))["grant_id"]
    approval = {"paying_township": f"{C}001", "effective_date": "2021-06-01", **DOC}
    approver = token("approver", f"{C}001")  # issuing it records an event: before the log is read
    before = services.log_position()
    response = client.post(f"{API}/temporary-grants/{grant_id}/approve", json=approval,
                           headers=approver)  # fmt: skip
    assert response.status_code in (403, 422), response.text
    assert services.log_position() == before


def test_f14_a_carried_over_year_closes_the_years_before_it(
    client: TestClient, token: Token, services: Services
) -> None:
    """After the year-end carry-over (结转) of 2024 has recorded its closing balances as 2025's
    opening, a posting dated 2023 (or 1990) would change them behind it: posted as finance,
    422 ``period_closed`` naming ``posting_date``, nothing recorded."""
    finance = token("finance_officer")
    ok(client.post(f"{API}/ledger/carry-over/{C}/2024", json=DOC, headers=finance))
    for day in ("2023-06-15", "1990-01-15"):
        before = services.log_position()
        body = raise_posting() | {"posting_date": day}
        response = client.post(f"{API}/ledger/transactions", json=body,
                               headers=finance | {"Idempotency-Key": f"late-{day}"})  # fmt: skip
        assert_problem(response, 422, "posting_date", "period_closed")
        assert services.log_position() == before


@pytest.mark.parametrize(
    "reserve",
    [f"reserve:{C}001000:temporary", f"reserve:{C}:temporary"],
    ids=["township-as-12-digits", "county-level-reserve"],
)
def test_f15_a_township_reserve_has_one_name(
    client: TestClient, token: Token, services: Services, reserve: str
) -> None:
    """A township's reserve is ``reserve:<9-digit township>:temporary`` and nothing else: an
    advance (county pool → township reserve) into the same township written with 12 digits (a
    second account with its own balance) or into a county-level reserve is refused (422 naming
    the line's account) for the county's finance officer; nothing recorded."""
    finance = token("finance_officer")
    fund_township_reserve(client, finance, f"{C}001")  # the pool's 1,000 fen go to 001's reserve
    top_up = {"code": "allocate", "posting_date": "2024-03-05", **DOC,
              "lines": [line(f"pool:{C}:temporary", debit=5), line(f"clearing:{C}:bank", credit=5)]}  # fmt: skip
    raised = raise_posting()  # 5 fen into the bank clearing account first
    ok(client.post(f"{API}/ledger/transactions", json=raised, headers=finance | {"Idempotency-Key": "f15-raise"}))  # fmt: skip
    ok(client.post(f"{API}/ledger/transactions", json=top_up, headers=finance | {"Idempotency-Key": "f15-top-up"}))  # fmt: skip
    lines = [line(reserve, debit=1), line(f"pool:{C}:temporary", credit=1)]
    body = {"code": "advance", "posting_date": "2024-03-06", "lines": lines, **DOC}
    before = services.log_position()
    response = client.post(f"{API}/ledger/transactions", json=body,
                           headers=finance | {"Idempotency-Key": f"advance-{reserve}"})  # fmt: skip
    assert_problem(response, 422, "lines[0].account")
    assert services.log_position() == before


@pytest.mark.parametrize(
    ("debit_source", "credit_source"),
    [("central", "county"), ("foreign_aid", "foreign_aid"), ("=1+1", "=1+1")],
    ids=["relabelled", "unknown-source", "formula"],
)
def test_f16_a_transaction_balances_per_funding_source_of_the_four_levels(
    client: TestClient, token: Token, services: Services, debit_source: str, credit_source: str
) -> None:
    """Funding sources stay traceable: a transaction whose lines move money from one funding
    source to another (central in, county out), or name a source that is not one of central,
    provincial, city, county, is refused (422 naming the lines); nothing recorded."""
    finance = token("finance_officer")
    lines = [
        line(f"clearing:{C}:bank", debit=7) | {"source": debit_source},
        line(f"source:{C}:county", credit=7) | {"source": credit_source},
    ]
    body = {"code": "raise", "posting_date": "2024-03-05", "lines": lines, **DOC}
    before = services.log_position()
    response = client.post(f"{API}/ledger/transactions", json=body,
                           headers=finance | {"Idempotency-Key": f"src-{debit_source}"})  # fmt: skip
    assert_problem(response, 422, "lines")
    assert services.log_position() == before


def test_f2_special_auditor_sees_a_grant_as_it_stood_at_the_end_of_the_period(
    client: TestClient, token: Token
) -> None:
    """A grant requested in June and approved and paid in September is shown to a special
    auditor of the first half-year as requested, without the later approval and payment: read
    as that auditor, in the list and in the detail."""
    admin = token("admin")
    limits = {"effective_date": "2021-01-01", "township_limit_fen": 300_000,
              "committee_limit_fen": 2_000_000, **DOC}  # fmt: skip
    ok(client.post(f"{API}/policy/{C}/approval-limits", json=limits, headers=admin))
    fund_township_reserve(client, token("finance_officer"), f"{C}001")
    request = {"region_code": f"{C}001000", "occurred_in": f"{C}001000", "id_number": id_number(sequence=821),
               "name": "赵某", "grant_type": "urgent", "amount_fen": 100, "reason": "火灾",
               "effective_date": "2024-06-10", **DOC}  # fmt: skip
    grant_id = ok(client.post(f"{API}/temporary-grants", json=request, headers=admin))["grant_id"]
    approval = {"paying_township": f"{C}001", "effective_date": "2024-09-01", **DOC}
    ok(
        client.post(
            f"{API}/temporary-grants/{grant_id}/approve",
            json=approval,
            headers=colleague(client, admin),
        )
    )
    payment = {"posting_date": "2024-09-02"}
    ok(client.post(f"{API}/temporary-grants/{grant_id}/pay", json=payment, headers=token("finance_officer")))  # fmt: skip
    auditor = token("special_auditor", period_from="2024-01-01", period_to="2024-06-30",
                    expires_at="2099-01-01T00:00:00Z")  # fmt: skip
    detail = ok(client.get(f"{API}/temporary-grants/{grant_id}", headers=auditor))
    listed = [g for g in ok(client.get(f"{API}/temporary-grants", headers=auditor))["items"]
              if g["grant_id"] == grant_id]  # fmt: skip
    assert len(listed) == 1
    for shown in (detail, listed[0]):
        assert shown["status"] == "requested", shown
        assert shown["approved_on"] is None and shown["paid_on"] is None, shown


@pytest.mark.parametrize("authorization", [None, "Bearer doudi_unknown", "Basic dXNlcjpwYXNz"])
def test_f5_a_refused_credential_names_the_authorization_header(
    client: TestClient, authorization: str | None
) -> None:
    """A missing, unknown or non-bearer credential is a 401 problem whose ``errors[]`` name the
    ``Authorization`` header and a rule, like every other refused input."""
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get(f"{API}/households", headers=headers)
    assert_problem(response, 401, "Authorization")
