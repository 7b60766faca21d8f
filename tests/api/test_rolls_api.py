"""Payment rolls through the API: a county's month from policy to an approved roll.

The case file: 当阳市 (420582). Urban standard 670 yuan a month, rural 6,000 yuan a year (500 a
month), 特困 at 200 % of the dibao standard, care 15 % of a 1,800-yuan minimum wage for partial
self-care. Household A (urban, 3 people, income 900 yuan): 1,110.00 yuan. Household B (marginal,
3 people, income 1,000 yuan, one covered alone as 单人保): 336.67 yuan. A rural 特困 person with
partial self-care: 1,000 + 270 = 1,270.00 yuan. March 2024 roll: 3 lines, 2,716.67 yuan.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from ops.services.core import Services
from tests.api.conftest import colleague, tekun_applied
from tests.api.test_households_api import API, assert_problem
from tests.factories import approve_body, household_body, id_number, income_body

DOC = {"document_ref": "当民发〔2024〕1号"}
POLICY = [
    (
        "standards",
        {
            "programme": "dibao_urban",
            "amount_fen": 67_000,
            "period": "month",
            "effective_date": "2021-01-01",
        },
    ),
    (
        "standards",
        {
            "programme": "marginal",
            "amount_fen": 67_000,
            "period": "month",
            "effective_date": "2021-01-01",
        },
    ),
    (
        "standards",
        {
            "programme": "dibao_rural",
            "amount_fen": 600_000,
            "period": "year",
            "effective_date": "2021-01-01",
        },
    ),
    ("tekun-rules", {"multiplier_percent": 200, "effective_date": "2021-01-01"}),
    ("minimum-wage", {"amount_fen": 180_000, "effective_date": "2021-01-01"}),
    (
        "care-standards",
        {"level": "partial", "percent_of_minimum_wage": 15, "effective_date": "2021-01-01"},
    ),
]


def fund_county(client: TestClient, headers: dict[str, str], yuan: int = 1_000_000) -> None:
    """Central funds raised and allocated to the county's dibao and 特困 pools (rolls reserve from them)."""
    lines = [("clearing:420582:bank", "source:420582:central", 2 * yuan * 100, "raise"),
             ("pool:420582:dibao", "clearing:420582:bank", yuan * 100, "allocate"),
             ("pool:420582:tekun", "clearing:420582:bank", yuan * 100, "allocate")]  # fmt: skip
    for number, (debit, credit, fen, code) in enumerate(lines):
        body = {"code": code, "posting_date": "2024-01-02", **DOC, "lines": [
            {"account": debit, "debit_fen": fen, "source": "central"},
            {"account": credit, "credit_fen": fen, "source": "central"}]}  # fmt: skip
        response = client.post(
            f"{API}/ledger/transactions",
            json=body,
            headers=headers | {"Idempotency-Key": f"fund-{number}"},
        )
        assert response.status_code in (200, 201), response.text


def county_with_cases(client: TestClient, admin: dict[str, str]) -> dict[str, str]:
    fund_county(client, admin)
    for path, body in POLICY:
        assert (
            client.post(f"{API}/policy/420582/{path}", json=body | DOC, headers=admin).status_code
            == 201
        )
    ids = {}
    a = client.post(
        f"{API}/households", json=household_body("420582001000", members=3, seed=50), headers=admin
    )
    ids["a"] = a.json()["case_id"]
    client.post(
        f"{API}/households/{ids['a']}/economic-checks", json=income_body(90_000), headers=admin
    )
    checker = colleague(client, admin)
    client.post(f"{API}/households/{ids['a']}/approve", json=approve_body(), headers=checker)
    b_body = household_body("420582002000", members=3, seed=60, programme="marginal")
    ids["b"] = client.post(f"{API}/households", json=b_body, headers=admin).json()["case_id"]
    client.post(
        f"{API}/households/{ids['b']}/economic-checks", json=income_body(100_000), headers=admin
    )
    single = b_body["members"][1]["id_number"]
    response = client.post(
        f"{API}/households/{ids['b']}/approve",
        headers=checker,
        json=approve_body(single_person_id_number=single, programme="dibao_urban"),
    )
    assert response.status_code == 200, response.text
    tekun = {
        "region_code": "420582101000",
        "id_number": id_number(sequence=700),
        "name": "赵老",
        "mode": "dispersed",
        "care_level": "partial",
        "payee_account": "6217003312345678",
        "payee_name": "赵老",
        "start_month": "2024-01",
        "effective_date": "2023-12-20",
        **DOC,
    }
    ids["t"] = client.post(
        f"{API}/tekun", json=tekun_applied(client, admin, tekun), headers=admin
    ).json()["case_id"]
    return ids


def test_march_roll_to_the_fen_with_sources(client: TestClient, token: Any) -> None:
    admin = token("admin")
    ids = county_with_cases(client, admin)
    finance = token("finance_officer")
    response = client.post(
        f"{API}/rolls", json={"county_code": "420582", "month": "2024-03"}, headers=finance
    )
    assert response.status_code == 201, response.text
    roll = response.json()
    assert (roll["status"], roll["line_count"], roll["total_fen"]) == ("draft", 3, 271_667)
    lines = client.get(f"{API}/rolls/{roll['roll_id']}/lines", headers=finance).json()["items"]
    by_case = {line["case_id"]: line for line in lines}
    assert by_case[ids["a"]]["total_fen"] == 111_000
    assert by_case[ids["b"]]["total_fen"] == 33_667 and by_case[ids["b"]]["covered_members"] == 1
    assert [(c["code"], c["amount_fen"]) for c in by_case[ids["t"]]["components"]] == [
        ("base", 100_000),
        ("care", 27_000),
    ]
    base = by_case[ids["a"]]["components"][0]
    assert base["sources"][0].startswith("RegionPolicy.StandardSet#") and "top-up" in base["rule"]
    assert by_case[ids["a"]]["account_masked"].startswith("*") and "6222020200112233445" not in str(
        lines
    )
    summary = client.get(f"{API}/rolls/{roll['roll_id']}", headers=finance).json()
    assert summary["totals"]["by_programme"]["tekun_dispersed"]["amount_fen"] == 127_000
    assert summary["totals"]["persons"] == 3 + 1 + 1


def test_regenerate_approve_and_refusals(
    client: TestClient, token: Any, services: Services
) -> None:
    admin = token("admin")
    ids = county_with_cases(client, admin)
    finance = token("finance_officer")
    city = token("finance_officer", "420500")
    neighbour = token("finance_officer", "420581")
    body = {"county_code": "420582", "month": "2024-03"}
    first = client.post(f"{API}/rolls", json=body, headers=finance).json()
    again = client.post(f"{API}/rolls", json=body, headers=finance).json()
    assert again["generation"] == 2 and again["roll_id"] == first["roll_id"]
    roll = first["roll_id"]
    lines_1 = client.get(f"{API}/rolls/{roll}/lines", headers=finance).json()["items"]
    # A decision recorded between generations changes the draft: A is suspended.
    client.post(
        f"{API}/households/{ids['a']}/suspend",
        json={"reason": "外出", "effective_date": "2024-03-01", **DOC},
        headers=admin,
    )
    third = client.post(f"{API}/rolls", json=body, headers=finance).json()
    assert (
        third["generation"] == 3
        and third["line_count"] == 2
        and third["total_fen"] == 271_667 - 111_000
    )
    lines_3 = client.get(f"{API}/rolls/{roll}/lines", headers=finance).json()["items"]
    assert {line["case_id"] for line in lines_1} - {line["case_id"] for line in lines_3} == {
        ids["a"]
    }
    assert_problem(
        client.post(f"{API}/rolls/{roll}/approve", headers=city),
        403,
        "region_scope",
        "county_finance_officer",
    )
    assert_problem(
        client.post(f"{API}/rolls/{roll}/approve", headers=token("approver")), 403, "role"
    )
    assert_problem(client.post(f"{API}/rolls/{roll}/approve", headers=neighbour), 404, "roll_id")
    assert (
        client.post(f"{API}/rolls/{roll}/approve", headers=colleague(client, finance)).json()[
            "status"
        ]
        == "approved"
    )
    position = services.log_position()
    assert_problem(
        client.post(f"{API}/rolls/{roll}/approve", headers=colleague(client, finance)),
        409,
        "status",
        "approve_once",
    )
    assert_problem(
        client.post(f"{API}/rolls", json=body, headers=finance),
        409,
        "status",
        "regenerate_only_draft",
    )
    assert services.log_position() == position
    assert len(client.get(f"{API}/rolls", headers=neighbour).json()["items"]) == 0
    assert len(client.get(f"{API}/rolls", headers=city).json()["items"]) == 1


def test_roll_refused_without_policy_records_nothing(
    client: TestClient, token: Any, services: Services
) -> None:
    admin = token("admin")
    county_with_cases(client, admin)
    finance = token("finance_officer")
    position = services.log_position()
    for body, field in (
        ({"county_code": "420582", "month": "2020-06"}, "month"),
        ({"county_code": "420582", "month": "2024-13"}, "month"),
        ({"county_code": "420599", "month": "2024-03"}, "county_code"),
    ):
        response = client.post(f"{API}/rolls", json=body, headers=finance)
        assert response.status_code in (403, 422), response.text
        assert_problem(response, response.status_code, field)
    assert services.log_position() == position


def test_regenerating_unchanged_facts_gives_identical_lines(client: TestClient, token: Any) -> None:
    """Determinism: the same facts as known at two times give byte-identical lines."""
    admin = token("admin")
    county_with_cases(client, admin)
    finance = token("finance_officer")
    body = {"county_code": "420582", "month": "2024-04", "group": "dibao"}
    roll = client.post(f"{API}/rolls", json=body, headers=finance).json()["roll_id"]
    first = client.get(f"{API}/rolls/{roll}/lines", headers=finance).json()["items"]
    client.post(f"{API}/rolls", json=body, headers=finance)
    second = client.get(f"{API}/rolls/{roll}/lines", headers=finance).json()["items"]
    assert first == second and len(first) == 2  # the dibao group leaves out the 特困 person


def test_xlsx_and_public_disclosure(client: TestClient, token: Any) -> None:
    """The officers' XLSX sums to the roll; the 公示 file masks names and shows no id or account."""
    import io

    from openpyxl import load_workbook

    admin = token("admin")
    county_with_cases(client, admin)
    finance = token("finance_officer")
    roll = client.post(
        f"{API}/rolls", json={"county_code": "420582", "month": "2024-03"}, headers=finance
    ).json()
    xlsx = client.get(f"{API}/rolls/{roll['roll_id']}/xlsx", headers=finance)
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content), read_only=True)
    lines = list(book["名册 lines"].iter_rows(min_row=2, values_only=True))
    assert len(lines) == 3 and round(sum(row[15] for row in lines), 2) == 2716.67
    summary = list(book["汇总 summary"].iter_rows(values_only=True))
    assert any(row[0] == "合计 total" and round(row[3], 2) == 2716.67 for row in summary)
    public = client.get(
        f"{API}/rolls/{roll['roll_id']}/disclosure", headers=token("auditor")
    ).content.decode("utf-8-sig")
    rows = public.strip().splitlines()[1:]
    assert len(rows) == 3 and all("*" in row.split(",")[2] for row in rows)
    assert "6222020200112233445" not in public and "420582" not in "".join(
        r.split(",")[2] for r in rows
    )
    assert "1110.00" in public


def test_statistics_as_the_seeds_report_them(client: TestClient, token: Any) -> None:
    """Q1 2024, urban dibao: A (3 covered) and B (1 covered) paid February and March:
    8 person-times, 2,893.34 yuan, average 361.67 yuan; both were additions in February."""
    admin, finance = token("admin"), token("finance_officer")
    county_with_cases(client, admin)
    for month in ("2024-01", "2024-02", "2024-03"):
        roll = client.post(
            f"{API}/rolls", json={"county_code": "420582", "month": month}, headers=finance
        ).json()
        client.post(f"{API}/rolls/{roll['roll_id']}/approve", headers=colleague(client, finance))
    monthly = client.get(
        f"{API}/statistics?from=2024-01&to=2024-03&programme=dibao_urban", headers=finance
    ).json()
    by_month = {item["period"]: item for item in monthly["items"]}
    assert set(by_month) == {"2024-02", "2024-03"}
    assert (
        by_month["2024-02"]["households"],
        by_month["2024-02"]["persons"],
        by_month["2024-02"]["additions"],
    ) == (2, 4, 2)
    assert by_month["2024-03"]["additions"] == 0 and by_month["2024-03"]["amount_fen"] == 144_667
    province = token("auditor", "420000")
    quarter = client.get(
        f"{API}/statistics?from=2024-01&to=2024-03&level=province&period=quarter", headers=province
    )
    rows = {(i["programme"], i["period"]): i for i in quarter.json()["items"]}
    urban = rows["dibao_urban", "2024-Q1"]
    assert (
        urban["area"] == "420000" and urban["person_times"] == 8 and urban["amount_fen"] == 289_334
    )
    assert urban["average_monthly_yuan"] == "361.67"
    assert rows["tekun_dispersed", "2024-Q1"]["person_times"] == 3
    other = client.get(
        f"{API}/statistics?from=2024-01&to=2024-03", headers=token("auditor", "110105")
    ).json()
    assert other["items"] == []
    assert_problem(
        client.get(f"{API}/statistics?from=2024-03&to=2024-01", headers=finance), 422, "from"
    )


def lines_oracle(services: Services, level: str, period: str, known_at: int | None) -> list[Any]:
    """The statistics summed from the approved rolls' lines themselves, as they were computed
    before the totals were kept (the approvals by ``known_at`` from the audit trail)."""
    from collections import defaultdict

    from domain.dates import add_months
    from projections.rolls.view import line_months
    from projections.statistics.view import Bucket, area_of, period_of

    months, month, _amount = line_months(services.db.is_sqlite)
    counted = "r.status IN ('approved', 'sent', 'settled')" if known_at is None else (
        "r.roll_id IN (SELECT originator_id FROM audit_events WHERE event_type ="
        f" 'PaymentRoll.Approved' AND position <= {known_at})")  # fmt: skip
    with services.db.transaction() as cur:
        rows = cur.execute(
            "SELECT r.county_code, r.month, l.programme, l.case_id, l.covered_members, l.total_fen,"
            f" EXISTS (SELECT 1 FROM {months} WHERE {month} = r.month) AS regular FROM roll_lines l"
            f" JOIN rolls r ON r.gen = l.gen WHERE {counted} AND r.month >= '2023-12'"
            " AND r.month <= '2024-03'"
        ).fetchall()
    paid: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    cases: dict[tuple[str, str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    buckets: dict[tuple[str, str, str], Bucket] = defaultdict(Bucket)
    for row in rows:
        area = area_of(row["county_code"], level)
        if row["regular"]:
            paid[area, row["programme"], row["month"]].add(row["case_id"])
        if row["month"] < "2024-01":
            continue
        key = (area, row["programme"], period_of(row["month"], period))
        buckets[key].amount_fen += int(row["total_fen"])
        if row["regular"]:
            cases[key][row["month"]].add(row["case_id"])
            persons = buckets[key].persons_by_month
            persons[row["month"]] = persons.get(row["month"], 0) + int(row["covered_members"])
    for key, by_month in cases.items():
        buckets[key].households_by_month = {m: len(found) for m, found in by_month.items()}
    for (area, programme, month_paid), found in list(paid.items()):
        if month_paid >= "2024-01":
            before = paid.get((area, programme, add_months(month_paid, -1)), set())
            bucket = buckets[area, programme, period_of(month_paid, period)]
            bucket.additions += len(found - before)
            bucket.removals += len(before - found)
    return [{"area": a, "level": level, "programme": p, "period": k, **b.row()}
            for (a, p, k), b in sorted(buckets.items())]  # fmt: skip


def test_kept_statistics_answer_what_the_lines_sum_to(
    client: TestClient, token: Any, services: Services
) -> None:
    """The statistics read from the totals the rolls view keeps equal those summed from the
    approved lines, at every level and period, as known now and after each approval, while a
    case leaves in March (a removal) and the rolls are approved out of month order."""
    admin, finance = token("admin"), token("finance_officer")
    ids = county_with_cases(client, admin)
    rolls = {month: client.post(f"{API}/rolls", json={"county_code": "420582", "month": month},
                                headers=finance).json() for month in ("2024-01", "2024-02")}  # fmt: skip
    ended = client.post(f"{API}/households/{ids['a']}/terminate", headers=colleague(client, admin),
                        json={"effective_date": "2024-03-01", "reason": "income_above_standard",
                              "document_ref": "当民〔2024〕5号"})  # fmt: skip
    assert ended.status_code == 200, ended.text
    rolls["2024-03"] = client.post(
        f"{API}/rolls", json={"county_code": "420582", "month": "2024-03"}, headers=finance
    ).json()
    positions = []
    for month in ("2024-02", "2024-03", "2024-01"):
        approved = client.post(f"{API}/rolls/{rolls[month]['roll_id']}/approve",
                               headers=colleague(client, finance))  # fmt: skip
        assert approved.status_code == 200, approved.text
        positions.append(services.log_position())
    services.fresh()
    for known_at in [None, *positions]:
        for level in ("county", "city", "province"):
            for period in ("month", "quarter", "year"):
                kept = services.statistics.report(
                    scope_prefix="42", level=level, period=period, first="2024-01",
                    last="2024-03", programme=None, known_at=known_at,
                )  # fmt: skip
                assert kept == lines_oracle(services, level, period, known_at), (level, period)
    assert any(row["removals"] for row in services.statistics.report(
        scope_prefix="42", level="county", period="month", first="2024-01", last="2024-03",
        programme=None))  # fmt: skip


def test_approval_reserves_funds_and_is_refused_without_them(
    client: TestClient, token: Any, services: Services
) -> None:
    """Approving March reserves 2,716.67 yuan (1,446.67 dibao + 1,270 特困) in the pools; a county
    whose 特困 pool is empty cannot approve: 409 `insufficient_funds` on the roll, naming the
    pool, what it holds (per funding source) and what the roll needs; nothing is recorded."""
    admin, finance = token("admin"), token("finance_officer")
    county_with_cases(client, admin)
    checker = colleague(client, finance)
    roll = client.post(
        f"{API}/rolls", json={"county_code": "420582", "month": "2024-03"}, headers=finance
    ).json()
    drain = {"code": "reserve_roll", "posting_date": "2024-03-01", **DOC, "lines": [
        {"account": "reserved:420582:tekun", "debit_fen": 100_000_000, "source": "central"},
        {"account": "pool:420582:tekun", "credit_fen": 100_000_000, "source": "central"}]}  # fmt: skip
    assert (
        client.post(
            f"{API}/ledger/transactions", json=drain, headers=admin | {"Idempotency-Key": "drain"}
        ).status_code
        == 201
    )
    position = services.log_position()
    refused = client.post(f"{API}/rolls/{roll['roll_id']}/approve", headers=checker)
    # The refusal speaks of the roll and its pool, not of the internal posting's lines.
    assert_problem(refused, 409, "roll_id", "insufficient_funds")
    assert refused.json()["funds"] == [{
        "account": "pool:420582:tekun", "programme_group": "tekun", "holds_fen": 0,
        "needs_fen": 127_000, "short_fen": 127_000, "holds_fen_by_source": {}}]  # fmt: skip
    assert "lines" not in refused.text
    assert services.log_position() == position
    refill = drain | {
        "code": "release",
        "lines": [
            dict(drain["lines"][0], account="pool:420582:tekun"),
            dict(drain["lines"][1], account="reserved:420582:tekun"),
        ],
    }
    client.post(
        f"{API}/ledger/transactions", json=refill, headers=admin | {"Idempotency-Key": "refill"}
    )
    assert (
        client.post(
            f"{API}/rolls/{roll['roll_id']}/approve", headers=colleague(client, finance)
        ).status_code
        == 200
    )
    balances = {
        i["account"]: int(i["balance_fen"])
        for i in client.get(f"{API}/ledger/balances", headers=finance).json()["items"]
    }
    assert (
        balances["reserved:420582:dibao"] == 144_667
        and balances["reserved:420582:tekun"] == 127_000
    )
    assert balances["pool:420582:dibao"] == 100_000_000 - 144_667


def test_special_auditor_sees_only_rolls_of_the_audit_period(
    client: TestClient, token: Any
) -> None:
    admin, finance = token("admin"), token("finance_officer")
    county_with_cases(client, admin)
    for month in ("2024-02", "2024-03"):
        client.post(f"{API}/rolls", json={"county_code": "420582", "month": month}, headers=finance)
    special = token(
        "special_auditor",
        expires_at="2099-01-01T00:00:00+00:00",
        period_from="2024-01-01",
        period_to="2024-02-29",
    )
    listing = client.get(f"{API}/rolls", headers=special).json()
    assert [item["month"] for item in listing["items"]] == ["2024-02"]
    march = next(
        i
        for i in client.get(f"{API}/rolls", headers=finance).json()["items"]
        if i["month"] == "2024-03"
    )
    assert_problem(client.get(f"{API}/rolls/{march['roll_id']}", headers=special), 404, "roll_id")
