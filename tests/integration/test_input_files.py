"""Files and command-line input pass the same text rule as the API (domain/text.py): a roster
with a NUL, a bidi override or bad quoting is refused naming its line, on both backends, and the
CLI refuses a ledger posting whose JSON carries an invisible character."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.main import app
from domain.errors import InvalidValue
from ops.demo import roster_csv
from ops.services.core import Services
from ops.services.importer import import_households
from tests.integration.test_cli import env  # noqa: F401 - the CLI's environment fixture


def roster_with(line_2_name: str) -> str:
    """A three-household roster whose first data row (line 2) names ``line_2_name``."""
    rows = list(csv.DictReader(io.StringIO(roster_csv(3, seed=21))))
    rows[0]["name"] = line_2_name
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "rule"),
    [("王\x00一", "text_control_character"), ("王\u202e一", "text_bidi_override"),
     ("王\u200b一", "text_zero_width"), ('王"一"x', "csv_format"), ("王" * 140_000, "csv_format")],
)  # fmt: skip
def test_a_roster_cell_that_breaks_a_rule_is_refused_naming_its_line(
    name: str, rule: str, services: Services
) -> None:
    """Goal: a bad roster cell never reaches the log, and the refusal names the line. Method:
    the first row's name carries each problem; the import raises, the log stays empty."""
    roster = roster_with(name).replace('"王""一""x"', '"王"一"x"')  # unbalanced quotes as sent
    with pytest.raises(InvalidValue) as refused:
        import_households(services, io.StringIO(roster, newline=""), "import")
    assert refused.value.rule == rule and "line 2" in refused.value.detail
    assert services.log_position() == 0


def test_a_roster_in_nfd_is_recorded_in_nfc(services: Services) -> None:
    """Goal: imported names are composed (NFC) like the API's. Method: a decomposed name."""
    report = import_households(services, io.StringIO(roster_with("Zoe\u0301")), "import")
    assert report.errors == [] and report.households == 3
    names = {row["head_name"] for row in services.fresh().case_state.search(
        scope_prefix="42", kind="household", region_prefix=None, status=None, programme=None,
        limit=10)[0]}  # fmt: skip
    assert "Zoé" in names


def test_the_cli_refuses_invisible_text_in_a_posting_and_a_roster(env: Path) -> None:  # noqa: F811
    """Goal: the CLI's inputs pass the text rule. Method: a posting whose description holds a
    bidi override and a roster with a NUL both exit 2 naming the rule; nothing is recorded."""
    runner = CliRunner()
    posting = {"code": "raise", "posting_date": "2024-03-01", "document_ref": "文号",
               "description": "a\u202eb", "lines": [
                   {"account": "source:420582:central", "debit_fen": 0, "credit_fen": 100},
                   {"account": "pool:420582:dibao", "debit_fen": 100, "credit_fen": 0}]}  # fmt: skip
    (env / "txn.json").write_text(json.dumps(posting), encoding="utf-8")
    issued = runner.invoke(app, ["token", "issue", "--role", "finance_officer", "--region",
                                 "420582", "--staff-id", "F1"])  # fmt: skip
    finance = json.loads(issued.stdout.strip().splitlines()[-1])["token"]
    result = runner.invoke(
        app, ["ledger", "post", str(env / "txn.json"), "--key", "k1", "--token", finance]
    )
    assert result.exit_code == 2 and "text_bidi_override" in result.output, result.output
    (env / "roster.csv").write_text(roster_with("王\x00一"), encoding="utf-8")
    result = runner.invoke(app, ["import", "households", str(env / "roster.csv")])
    assert result.exit_code == 2 and "line 2" in result.output, result.output
    status = runner.invoke(app, ["projections", "status"])
    assert json.loads(status.stdout.strip().splitlines()[-1])["log_position"] == 1  # the token
