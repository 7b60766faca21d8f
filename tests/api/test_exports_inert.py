"""Every spreadsheet and CSV doudi writes keeps hostile text inert (CSV/formula injection).

The case file: 当阳市's March roll has, beside its three ordinary lines, a 特困 person recorded as
``=HYPERLINK("http://evil.example","赵")`` whose payee is ``@SUM(1+1)``, and the county's bank
statement carries a line referenced ``+cmd|' /C calc'!A0`` described ``-2+3`` that belongs to no
roll, and a debit of −5.00 yuan. Each export — the roll XLSX, the 公示 CSV, the bank file, the
reconciliation XLSX, through the API and through the CLI — is read back: no cell is a formula,
the text is intact (XLSX) or carries a leading ``'`` (CSV), and numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from typer.testing import CliRunner

from api.cli.main import app as cli
from domain.cells import csv_cell, formula_like
from ops.services.core import Services
from tests.api.conftest import colleague, tekun_applied
from tests.api.test_households_api import API
from tests.api.test_rolls_api import DOC, county_with_cases
from tests.factories import id_number

NAME = '=HYPERLINK("http://evil.example","赵")'
PAYEE = "@SUM(1+1)"
REFERENCE = "+cmd|' /C calc'!A0"
DESCRIPTION = "-2+3"


@pytest.mark.parametrize(
    ("text", "runs"),
    [("=1+1", True), ("+1+1", True), ("-2+3", True), ("@SUM(A1)", True), ("\t=1", True),
     ("\r=1", True), ("  =1", True), ("-12.30", False), ("+5", False), ("123", False),
     ("-１２", True), ("张三", False), ("", False), ("a=1", False)],
)  # fmt: skip
def test_what_a_spreadsheet_would_run(text: str, runs: bool) -> None:
    """The rule, case by case: text beginning = + - @ tab or CR runs; a signed number does not."""
    assert formula_like(text) is runs
    assert csv_cell(text) == ("'" + text if runs else text)
    assert csv_cell(-123) == -123  # a number in a numeric column is data


def hostile_roll(client: TestClient, token: Any) -> tuple[str, dict[str, str]]:
    """The March roll approved, with the hostile 特困 person on it, and the hostile statement
    imported. Returns the roll id and the finance officer's headers."""
    admin, finance = token("admin"), token("finance_officer")
    county_with_cases(client, admin)
    person = {"region_code": "420582101000", "id_number": id_number(sequence=710), "name": NAME,
              "mode": "dispersed", "care_level": "partial", "payee_account": "6217003312340000",
              "payee_name": PAYEE, "start_month": "2024-01", "effective_date": "2023-12-20", **DOC}  # fmt: skip
    created = client.post(f"{API}/tekun", json=tekun_applied(client, admin, person), headers=admin)
    assert created.status_code == 201, created.text
    roll = client.post(
        f"{API}/rolls", json={"county_code": "420582", "month": "2024-03"}, headers=finance
    ).json()
    approved = client.post(
        f"{API}/rolls/{roll['roll_id']}/approve", headers=colleague(client, finance)
    )
    assert approved.status_code == 200, approved.text
    statement = (
        "reference,amount_fen,booked_on,description\r\n"
        f'"{REFERENCE}",700,2024-03-10,"{DESCRIPTION}"\r\nFEE-1,-500,2024-03-11,{PAYEE}\r\n'
    )
    imported = client.post(
        f"{API}/ledger/statements/420582", content=statement.encode(), headers=finance
    )
    assert imported.status_code == 201, imported.text
    return roll["roll_id"], finance


def inert_cells(data: bytes) -> dict[str, list[tuple[Any, ...]]]:
    """The workbook's cells per sheet, after asserting that no sheet holds a formula and that
    every formula-like text is a string cell marked as text (quote prefix)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert re.search(rb"<f[ >]", archive.read(name)) is None, name
    book = load_workbook(io.BytesIO(data))
    cells: dict[str, list[tuple[Any, ...]]] = {}
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str) and formula_like(cell.value):
                    assert cell.data_type == "s" and cell.quotePrefix, cell.coordinate
        cells[sheet.title] = [tuple(row) for row in sheet.iter_rows(values_only=True)]
    return cells


def texts(cells: dict[str, list[tuple[Any, ...]]], sheet: str) -> set[Any]:
    return {value for row in cells[sheet] for value in row}


def assert_roll_xlsx(data: bytes) -> None:
    cells = inert_cells(data)
    assert {NAME, PAYEE} <= texts(cells, "名册 lines")  # the text intact, as text
    assert len(cells["名册 lines"]) == 1 + 4


def assert_bank_file(data: bytes) -> list[dict[str, str]]:
    lines = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    hostile = [line for line in lines if line["account_number"] == "6217003312340000"]
    assert len(lines) == 4 and len(hostile) == 1
    assert hostile[0]["payee_name"] == "'" + PAYEE  # neutralised, the rest of the name intact
    assert not any(formula_like(value) for line in lines for value in line.values())
    return lines


def assert_reconciliation_xlsx(data: bytes) -> None:
    cells = inert_cells(data)
    rows = {row[1]: row for row in cells["差异 mismatches"]}
    assert rows[REFERENCE][4] == 7.0 and rows["FEE-1"][4] == -5.0  # numbers stay numbers


def test_api_exports_keep_hostile_text_inert(client: TestClient, token: Any) -> None:
    """Roll XLSX, 公示 CSV, bank file and reconciliation XLSX from the API; the neutralised
    payee name does not disturb the bank round trip, which matches by reference and amount."""
    roll_id, finance = hostile_roll(client, token)
    assert_roll_xlsx(client.get(f"{API}/rolls/{roll_id}/xlsx", headers=finance).content)
    public = client.get(f"{API}/rolls/{roll_id}/disclosure", headers=finance)
    rows = list(csv.reader(io.StringIO(public.content.decode("utf-8-sig"))))[1:]
    assert "'=" + "*" * (len(NAME) - 1) in [row[2] for row in rows]
    assert not any(formula_like(value) for row in rows for value in row)
    sent = assert_bank_file(
        client.post(f"{API}/rolls/{roll_id}/bank-file", headers=finance).content
    )
    answer = io.StringIO()
    writer = csv.DictWriter(answer, fieldnames=["reference", "amount_fen", "status", "reason"])
    writer.writeheader()
    writer.writerows({"reference": line["reference"], "amount_fen": line["amount_fen"],
                      "status": "paid", "reason": ""} for line in sent)  # fmt: skip
    settled = client.post(
        f"{API}/rolls/{roll_id}/bank-results", content=answer.getvalue().encode(), headers=finance
    )
    assert settled.status_code == 200, settled.text
    assert_reconciliation_xlsx(
        client.get(
            f"{API}/ledger/reconciliation/420582/2024-03?format=xlsx", headers=finance
        ).content
    )


def test_cli_exports_keep_hostile_text_inert(
    client: TestClient,
    token: Any,
    services: Services,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``doudi roll xlsx``, ``roll bank-file`` and ``ledger reconcile --xlsx`` on the same
    database write the same inert files."""
    roll_id, _finance = hostile_roll(client, token)
    _credential, secret = services.issue_credential(
        "test", role="finance_officer", region_scope="420582", staff_id="test-officer"
    )
    monkeypatch.setenv("DOUDI_DATABASE_URL", database_url)
    monkeypatch.setenv("DOUDI_SECRET", "test-secret")
    monkeypatch.setenv("DOUDI_ENVIRONMENT", "test")
    runner = CliRunner()
    for command in (
        ["roll", "xlsx", roll_id, "--out", str(tmp_path / "roll.xlsx")],
        ["roll", "bank-file", roll_id, "--out", str(tmp_path / "bank.csv"), "--token", secret],
        ["ledger", "reconcile", "420582", "2024-03", "--xlsx", str(tmp_path / "rec.xlsx")],
    ):
        result = runner.invoke(cli, command)
        assert result.exit_code == 0, result.output
    assert_roll_xlsx((tmp_path / "roll.xlsx").read_bytes())
    assert_bank_file((tmp_path / "bank.csv").read_bytes())
    assert_reconciliation_xlsx((tmp_path / "rec.xlsx").read_bytes())
