"""The ``doudi`` command on SQLite: token issue, demo, import (with a bad row), projections."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.main import app
from ops.demo import roster_csv


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DOUDI_DATABASE_URL", f"sqlite:///{tmp_path}/cli.sqlite3")
    monkeypatch.setenv("DOUDI_SECRET", "cli-test-secret")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_token_issue_prints_a_token_once_and_refuses_bad_roles(env: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["token", "issue", "--role", "auditor", "--region", "420500"])
    assert result.exit_code == 0, result.output
    issued = json.loads(result.stdout.strip().splitlines()[-1])
    assert issued["token"].startswith("doudi_") and issued["region_scope"] == "420500"
    bad = runner.invoke(app, ["token", "issue", "--role", "emperor", "--region", "420500"])
    assert bad.exit_code == 2


def test_token_issue_scopes_a_township_and_checks_the_audit_period(env: Path) -> None:
    """A township approver's credential (9-digit scope) is issued; a 12-digit scope and an audit
    period that ends before it starts are refused."""
    runner = CliRunner()
    township = runner.invoke(
        app, ["token", "issue", "--role", "approver", "--region", "420582001", "--staff-id", "ap-1"]
    )
    assert township.exit_code == 0, township.output
    assert json.loads(township.stdout.strip().splitlines()[-1])["region_scope"] == "420582001"
    village = ["token", "issue", "--role", "approver", "--region", "420582001001"]
    assert runner.invoke(app, village).exit_code == 2
    backwards = ["token", "issue", "--role", "special_auditor", "--region", "420582",
                 "--expires-at", "2099-01-01T00:00:00+00:00",
                 "--period-from", "2024-07-01", "--period-to", "2024-06-30"]  # fmt: skip
    refused = runner.invoke(app, backwards)
    assert refused.exit_code == 2 and "period_from" in refused.output


def test_demo_import_and_rebuild(env: Path) -> None:
    runner = CliRunner()
    demo = runner.invoke(app, ["demo", "--households", "30"])
    assert demo.exit_code == 0, demo.output
    assert set(json.loads((env / "var" / "demo-tokens.json").read_text())) >= {"admin", "auditor"}
    again = runner.invoke(app, ["demo", "--if-empty"])
    assert again.exit_code == 0 and "already has events" in again.output
    rows = list(csv.DictReader(io.StringIO(roster_csv(5, seed=99))))
    for row in rows:
        row["household_ref"] = "T" + row["household_ref"]  # refs of their own, not the demo's
    rows[-1]["id_number"] = "420582199501010000"  # wrong check digit: that household is reported
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    (env / "roster.csv").write_text(out.getvalue(), encoding="utf-8")
    result = runner.invoke(app, ["import", "households", str(env / "roster.csv")])
    assert result.exit_code == 1
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert (
        report["households"] == 4
        and report["error_count"] == 1
        and "check digit" in report["errors"][0]
    )
    # The months the previous system paid: two of the imported households in March 2022, one
    # unknown household that refuses April whole, and the same file again records nothing.
    paid = [r for r in rows[:-1] if r["relation"] == "self"][:2]
    history = ["household_ref,region_code,month,amount_fen"]
    history += [f"{r['household_ref']},{r['region_code']},2022-03,50000" for r in paid]
    history += [f"{paid[0]['household_ref']},{paid[0]['region_code']},2022-04,50000",
                f"NOPE,{paid[0]['region_code']},2022-04,50000"]  # fmt: skip
    (env / "paid.csv").write_text("\n".join(history) + "\n", encoding="utf-8")
    migrate = ["import", "history", str(env / "paid.csv"), "--document-ref", "当民发〔2024〕3号"]
    migrated = runner.invoke(app, migrate)
    assert migrated.exit_code == 1, migrated.output
    report = json.loads(migrated.stdout.strip().splitlines()[-1])
    assert (report["rolls"], report["lines"], report["total_fen"]) == (1, 2, 100_000)
    assert report["error_count"] == 1 and "2022-04" in report["errors"][0]
    again = json.loads(runner.invoke(app, migrate).stdout.strip().splitlines()[-1])
    assert (again["rolls"], again["skipped_months"]) == (0, 1)
    rebuilt = runner.invoke(app, ["projections", "rebuild", "all"])
    assert rebuilt.exit_code == 0, rebuilt.output
    status = json.loads(runner.invoke(app, ["projections", "status"]).stdout)
    assert set(status["projections"].values()) == {status["log_position"]}
    assert runner.invoke(app, ["projections", "rebuild", "nope"]).exit_code == 2


def test_roll_commands_from_generation_to_bank_results(env: Path) -> None:
    """A finance officer's token drives the month through the CLI: generate, approve, bank file,
    results; the officers' XLSX and statistics follow."""
    runner = CliRunner()
    assert runner.invoke(app, ["demo", "--households", "20"]).exit_code == 0
    tokens = json.loads((env / "var" / "demo-tokens.json").read_text())
    finance, checker = tokens["finance_officer"], tokens["finance_officer_2"]
    made = runner.invoke(
        app, ["roll", "generate", "--county", "420582", "--month", "2022-08", "--token", finance]
    )
    assert made.exit_code == 0, made.output
    roll = json.loads(made.stdout.strip().splitlines()[-1])
    assert roll["status"] == "draft" and roll["line_count"] > 0
    refused = runner.invoke(
        app, ["roll", "approve", roll["roll_id"]]
    )  # the operator is no finance officer
    assert refused.exit_code == 2
    assert (
        runner.invoke(app, ["roll", "approve", roll["roll_id"], "--token", checker]).exit_code == 0
    )
    out = env / "bank.csv"
    sent = runner.invoke(
        app,
        [
            "roll",
            "bank-file",
            roll["roll_id"],
            "--out",
            str(out),
            "--encoding",
            "gbk",
            "--token",
            finance,
        ],
    )
    assert sent.exit_code == 0, sent.output
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("gbk"))))
    results = env / "results.csv"
    with results.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["reference", "amount_fen", "status", "reason"])
        writer.writerows([row["reference"], row["amount_fen"], "paid", ""] for row in rows)
    imported = runner.invoke(
        app, ["roll", "bank-results", roll["roll_id"], str(results), "--token", finance]
    )
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout.strip().splitlines()[-1])["status"] == "settled"
    assert (
        runner.invoke(
            app, ["roll", "xlsx", roll["roll_id"], "--out", str(env / "roll.xlsx")]
        ).exit_code
        == 0
    )
    assert (env / "roll.xlsx").stat().st_size > 1000
    stats = runner.invoke(app, ["stats", "--from", "2022-08", "--to", "2022-08"])
    assert (
        stats.exit_code == 0
        and sum(item["amount_fen"] for item in json.loads(stats.stdout)) == roll["total_fen"]
    )


def test_ledger_commands(env: Path) -> None:
    """Post from a JSON file (twice: once recorded), import a statement, reconcile to XLSX."""
    runner = CliRunner()
    assert runner.invoke(app, ["demo", "--households", "20"]).exit_code == 0
    finance = json.loads((env / "var" / "demo-tokens.json").read_text())["finance_officer"]
    body = {"code": "allocate", "posting_date": "2022-07-01", "document_ref": "当财社〔2022〕9号", "lines": [
        {"account": "pool:420582:dibao", "debit_fen": 1_000, "credit_fen": 0, "source": "central"},
        {"account": "clearing:420582:bank", "debit_fen": 0, "credit_fen": 1_000, "source": "central"}]}  # fmt: skip
    (env / "txn.json").write_text(json.dumps(body))
    first = runner.invoke(
        app, ["ledger", "post", str(env / "txn.json"), "--key", "cli-1", "--token", finance]
    )
    again = runner.invoke(
        app, ["ledger", "post", str(env / "txn.json"), "--key", "cli-1", "--token", finance]
    )
    assert first.exit_code == again.exit_code == 0 and first.stdout == again.stdout
    (env / "statement.csv").write_text(
        "reference,amount_fen,booked_on,description\nFEE1,-500,2022-06-30,fee\n"
    )
    imported = runner.invoke(
        app, ["ledger", "statement", "420582", str(env / "statement.csv"), "--token", finance]
    )
    assert imported.exit_code == 0 and json.loads(imported.stdout)["lines"] == 1
    report = runner.invoke(
        app, ["ledger", "reconcile", "420582", "2022-06", "--xlsx", str(env / "rec.xlsx")]
    )
    assert report.exit_code == 0, report.output
    assert [s["reference"] for s in json.loads(report.stdout)["unmatched_statement_lines"]] == [
        "FEE1"
    ]
    assert (env / "rec.xlsx").stat().st_size > 1000
    # As known at the log's first position: no statement yet, and the answer names it as later.
    then = runner.invoke(app, ["ledger", "reconcile", "420582", "2022-06", "--as-of-position", "1"])
    assert then.exit_code == 0, then.output
    known = json.loads(then.stdout)
    assert known["unmatched_statement_lines"] == [] and known["known_at"]["position"] == 1
    later = [event["event_type"] for event in known["known_at"]["recorded_after"]]
    assert "BankStatement.Imported" in later


def test_a_large_posting_is_confirmed_by_a_second_officer_through_the_cli(env: Path) -> None:
    """Above the default threshold a posting is proposed; its proposer cannot confirm it, the
    second finance officer can; confirming again answers the same; no step runs without a token."""
    runner = CliRunner()
    assert runner.invoke(app, ["demo", "--households", "20"]).exit_code == 0
    tokens = json.loads((env / "var" / "demo-tokens.json").read_text())
    finance, checker = tokens["finance_officer"], tokens["finance_officer_2"]
    fen = 500_000_001
    body = {"code": "raise", "posting_date": "2022-07-01", "document_ref": "当财社〔2022〕9号", "lines": [
        {"account": "clearing:420582:bank", "debit_fen": fen, "credit_fen": 0, "source": "central"},
        {"account": "source:420582:central", "debit_fen": 0, "credit_fen": fen, "source": "central"}]}  # fmt: skip
    (env / "big.json").write_text(json.dumps(body))
    post = ["ledger", "post", str(env / "big.json"), "--key", "cli-big"]
    assert runner.invoke(app, post).exit_code == 2  # the operator is no person
    proposed = runner.invoke(app, [*post, "--token", finance])
    assert proposed.exit_code == 0 and json.loads(proposed.stdout)["status"] == "proposed"
    assert runner.invoke(app, ["ledger", "confirm", "cli-big"]).exit_code == 2
    own = runner.invoke(app, ["ledger", "confirm", "cli-big", "--token", finance])
    assert own.exit_code == 2 and "separation_of_duties" in own.output
    done = runner.invoke(app, ["ledger", "confirm", "cli-big", "--token", checker])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["confirmed_by"] == "demo-finance_officer_2"
    again = runner.invoke(app, ["ledger", "confirm", "cli-big", "--token", checker])
    assert again.exit_code == 0 and json.loads(again.stdout)["key"] == "cli-big"
    generate = ["roll", "generate", "--county", "420582", "--month", "2022-08"]
    assert "credential_required" in runner.invoke(app, generate).output
    review = runner.invoke(app, ["audit", "recusal-review", "--token", checker])
    assert review.exit_code == 2 and "permission:read.audit" in review.output  # a finance officer
    assert json.loads(runner.invoke(app, ["audit", "recusal-review"]).stdout) == []


def test_findings_list_xlsx_and_review(env: Path) -> None:
    """The demo county's findings (its decisions are back-dated: taken today, effective in 2022)
    listed with an auditor's token and written as XLSX; the auditor explains one by the command
    line; without a token (no person) it is refused."""
    from openpyxl import load_workbook

    runner = CliRunner()
    assert runner.invoke(app, ["demo", "--households", "30"]).exit_code == 0
    issued = runner.invoke(app, ["token", "issue", "--role", "auditor", "--region", "420582"])
    token = json.loads(issued.stdout.strip().splitlines()[-1])["token"]
    listed = runner.invoke(app, ["findings", "list", "--xlsx", "findings.xlsx", "--token", token])
    assert listed.exit_code == 0, listed.output
    found = json.loads(listed.stdout)
    assert found["total"] >= 1 and found["by_rule"]["backdated_decision"]["count"] >= 1
    sheet = load_workbook(env / "findings.xlsx")["问题线索 findings"]
    assert sheet.max_row == found["total"] + 1
    assert {row[0].value for row in sheet.iter_rows(min_row=2)} >= {
        item["finding_id"] for item in found["items"]
    }
    first = found["items"][0]["finding_id"]
    review = ["findings", "explain", first, "--note", "补录历史决定", "--document-ref", "说明 1"]
    refused = runner.invoke(app, review)
    assert refused.exit_code == 2 and "credential_required" in refused.output
    explained = runner.invoke(app, [*review, "--token", token])
    assert explained.exit_code == 0, explained.output
    assert json.loads(explained.stdout)["status"] == "explained"
    shown = json.loads(runner.invoke(app, ["findings", "show", first, "--token", token]).stdout)
    assert shown["status"] == "explained" and shown["steps"][0]["note"] == "补录历史决定"
