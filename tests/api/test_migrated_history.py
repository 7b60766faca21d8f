"""Migrated history: the first doudi roll settles up against what the previous system paid.

The case file: 当阳市 (420582) moves onto doudi in 2024. Its roster brings two urban households
of two, each with 300 yuan of income, approved on 2023-12-20 (household A's approval decided on
12-18 under a document dated 12-19) and paid from January at 670 × 2 − 300 = 1,040 yuan. Its
history: the previous system paid A 1,040 yuan for January, February and March, and B the same
for January and February but 1,200 yuan for March (an overpayment). Each month becomes a
migrated roll, settled, that no bank file or regeneration touches. Then a raise of the
standard to 700 yuan from 1 February is recorded: the April roll pays each household 1,100
yuan and settles February and March against what was really paid — A +60 and +60 (1,220 yuan),
B +60 and −100 (1,060 yuan). Both backends.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ops.services.core import Services
from ops.services.history import import_history
from ops.services.importer import COLUMNS, import_households, imported_case_id
from tests.api.test_households_api import API, assert_problem
from tests.api.test_rolls_api import DOC, POLICY
from tests.factories import id_number

MIGRATION = "当民发〔2024〕3号"
REGION = "420582001"


def roster() -> str:
    header = [*COLUMNS, "decided_on", "document_date"]
    rows = []
    for ref, seed, decided in (("A", 91, ("2023-12-18", "2023-12-19")), ("B", 92, ("", ""))):
        for n, relation in enumerate(("self", "spouse")):
            rows.append([ref, REGION, "dibao_urban", id_number(sequence=seed * 10 + n), f"王{ref}{n}",
                         relation, "top_up", "", "2024-01", "30000", "6222020200112233445",
                         f"王{ref}0", "2023-12-20", "当民批〔2023〕9号", *decided])  # fmt: skip
    return "\n".join(",".join(row) for row in [header, *rows]) + "\n"


HISTORY = """household_ref,region_code,month,amount_fen
A,420582001,2024-01,104000
B,420582001,2024-01,104000
A,420582001,2024-02,104000
B,420582001,2024-02,104000
A,420582001,2024-03,104000
B,420582001,2024-03,120000
"""


def by_month(line: dict[str, Any]) -> dict[str, int]:
    """A roll line's amounts by the month each component is for."""
    months: dict[str, int] = {}
    for part in line["components"]:
        months[part["month"]] = months.get(part["month"], 0) + part["amount_fen"]
    return months


@pytest.fixture
def client(log_head_client: TestClient) -> TestClient:
    """The scenario imports beside the API: its reads wait for the log's head."""
    return log_head_client


def test_the_first_roll_settles_up_against_the_migrated_months(
    client: TestClient, token: Any, services: Services
) -> None:
    admin, finance = token("admin"), token("finance_officer")
    for path, body in POLICY:
        assert client.post(f"{API}/policy/420582/{path}", json=body | DOC,
                           headers=admin).status_code == 201  # fmt: skip
    imported = import_households(services, io.StringIO(roster()), "migration-2024")
    assert (imported.households, imported.errors) == (2, [])
    services.projections.catch_up()
    report = import_history(services, io.StringIO(HISTORY), "migration-2024", MIGRATION)
    assert (report.rolls, report.lines, report.total_fen, report.errors) == (3, 6, 640_000, [])
    again = import_history(services, io.StringIO(HISTORY), "migration-2024", MIGRATION)
    assert (again.rolls, again.skipped_months) == (0, 3)
    a, b = (str(imported_case_id(REGION, ref)) for ref in ("A", "B"))

    timeline = client.get(f"{API}/households/{a}/timeline", headers=admin).json()["items"]
    approval = next(e for e in timeline if e["event_type"] == "HouseholdCase.Approved")
    assert (approval["decided_on"], approval["document_date"]) == ("2023-12-18", "2023-12-19")

    rolls = client.get(f"{API}/rolls?county_code=420582", headers=finance).json()["items"]
    march = next(roll for roll in rolls if roll["month"] == "2024-03")
    assert (march["status"], march["total_fen"]) == ("settled", 224_000)
    detail = client.get(f"{API}/rolls/{march['roll_id']}", headers=finance).json()
    assert detail["totals"]["migrated"] is True
    lines = client.get(f"{API}/rolls/{march['roll_id']}/lines", headers=finance).json()["items"]
    assert {line["case_id"]: line["total_fen"] for line in lines} == {a: 104_000, b: 120_000}
    assert lines[0]["components"][0]["sources"] == [f"migration:{MIGRATION}"]
    # Nothing to reconcile in doudi: no ledger postings, bank results or statement for it.
    reconciled = client.get(f"{API}/ledger/reconciliation/420582/2024-03", headers=finance)
    assert reconciled.status_code == 200 and reconciled.json()["rolls"] == []
    position = services.log_position()
    assert_problem(client.post(f"{API}/rolls/{march['roll_id']}/bank-file", headers=finance),
                   409, "roll_id", "migrated_roll")  # fmt: skip
    assert_problem(client.post(f"{API}/rolls", json={"county_code": "420582", "month": "2024-03"},
                               headers=finance), 409, "status")  # fmt: skip
    assert services.log_position() == position

    raise_ = {"programme": "dibao_urban", "amount_fen": 70_000, "period": "month",
              "effective_date": "2024-02-01", **DOC}  # fmt: skip
    assert client.post(f"{API}/policy/420582/standards", json=raise_,
                       headers=admin).status_code == 201  # fmt: skip
    april = client.post(f"{API}/rolls", json={"county_code": "420582", "month": "2024-04"},
                        headers=finance)  # fmt: skip
    assert april.status_code == 201, april.text
    lines = client.get(f"{API}/rolls/{april.json()['roll_id']}/lines",
                       headers=finance).json()["items"]  # fmt: skip
    by_case = {line["case_id"]: line for line in lines}
    assert by_month(by_case[a]) == {"2024-02": 6_000, "2024-03": 6_000, "2024-04": 110_000}
    assert by_month(by_case[b]) == {"2024-02": 6_000, "2024-03": -10_000, "2024-04": 110_000}
    assert (by_case[a]["total_fen"], by_case[b]["total_fen"]) == (122_000, 106_000)
