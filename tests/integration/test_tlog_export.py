"""The special-audit package on SQLite and PostgreSQL: it verifies offline with the verifier key
alone, fails after any one-byte change, and holds nothing outside its scope and period."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest

from api.cli.demo import load_demo
from domain.errors import InvalidValue
from ledger.proof.verify import VerifyError, verify_package
from ops.demo import policy_facts
from ops.services.cases import ApplyHousehold
from ops.services.core import Services
from ops.services.export import export_package, scope_records
from tests.conftest import COUNTY, OTHER_COUNTY
from tests.factories import household_body
from tests.integration.test_contract import admin, checked_case, record

THIS_MONTH = datetime.now(UTC).strftime("%Y-%m")


def cases(services: Services) -> tuple[set[str], set[str]]:
    """Two checked cases in the county, one in the neighbouring county: (ours, theirs)."""
    principal = admin(services, region="420500")  # the city: both counties
    ours = {checked_case(services, principal, seed=seed) for seed in (1, 2)}
    body = household_body(region=OTHER_COUNTY, seed=3)
    served = record(services, principal, lambda: ApplyHousehold(**body).decide(services, principal))
    return ours, {str(served.response["case_id"])}


def lines(folder: Path) -> list[dict[str, object]]:
    with (folder / "events.jsonl").open(encoding="utf-8") as stream:
        return [json.loads(line) for line in stream]


def test_a_package_verifies_offline_and_holds_only_its_scope(
    services: Services, tmp_path: Path
) -> None:
    """Export the county for this month: every event of its cases is in, proven against the
    checkpoint; no event of the other county's case, nor of any other aggregate, is."""
    ours, theirs = cases(services)
    summary = export_package(services, COUNTY, THIS_MONTH, THIS_MONTH, tmp_path / "pkg")
    assert summary["cases"] == 2
    proven = verify_package(tmp_path / "pkg", [services.log_key.vkey])
    found = lines(tmp_path / "pkg")
    assert proven == len(found) == summary["events"] > 2
    assert {item["originator_id"] for item in found} == ours
    assert not theirs & {item["originator_id"] for item in found}
    assert all(OTHER_COUNTY not in str(item["payload"]) for item in found)
    with services.db.transaction() as cur:  # every stored event of our cases, counted apart
        stored = cur.execute(
            f"SELECT originator_id FROM {services.app.recorder.events_table_name}"
        ).fetchall()
    expected = sum(str(UUID(str(row["originator_id"]))) in ours for row in stored)
    assert proven == expected


def test_any_one_byte_change_fails_the_package(services: Services, tmp_path: Path) -> None:
    """Change one byte — at the start, the middle and the end — of each file in turn: the
    package no longer verifies; restored, it does again."""
    cases(services)
    folder = tmp_path / "pkg"
    export_package(services, COUNTY, THIS_MONTH, THIS_MONTH, folder)
    vkeys = [services.log_key.vkey]
    for path in sorted(folder.iterdir()):
        original = path.read_bytes()
        for offset in (0, len(original) // 2, len(original) - 2):
            changed = bytearray(original)
            changed[offset] ^= 0x01
            path.write_bytes(bytes(changed))
            with pytest.raises(VerifyError):
                verify_package(folder, vkeys)
        path.write_bytes(original)
        assert verify_package(folder, vkeys) > 0
    (folder / "extra.csv").write_text("a,b\n", encoding="utf-8")
    with pytest.raises(VerifyError, match="manifest lists"):
        verify_package(folder, vkeys)


def test_the_period_bounds_the_package_and_bad_requests_are_refused(
    services: Services, tmp_path: Path
) -> None:
    """Months before the events were recorded give an empty package that still verifies; a
    malformed month, an inverted period or a used folder record nothing."""
    cases(services)
    summary = export_package(services, COUNTY, "2020-01", "2020-12", tmp_path / "old")
    assert summary["events"] == 0
    assert verify_package(tmp_path / "old", [services.log_key.vkey]) == 0
    for first, last, field in (("2024-13", "2024-12", "from"), ("2024-06", "2024-01", "from"),
                               ("2024-01", "2024/02", "to")):  # fmt: skip
        with pytest.raises(InvalidValue) as refused:
            export_package(services, COUNTY, first, last, tmp_path / "bad")
        assert refused.value.field == field
    assert not (tmp_path / "bad").exists()
    with pytest.raises(InvalidValue, match="new or empty"):
        export_package(services, COUNTY, THIS_MONTH, THIS_MONTH, tmp_path / "old")


def test_a_package_holds_every_kind_of_record_of_its_scope_and_nothing_else(
    services: Services, tmp_path: Path
) -> None:
    """Load the demo county (policy, cases, a grant, ledger postings, two rolls), then record a
    case and policy in the neighbouring county and policy for the province: the county's
    package holds the events of each kind of its records — the province's policy too, as the
    county's policy lies in it — with the roll lines and reconciliation as CSV, and nothing of
    the neighbouring county in any file."""
    load_demo(services, households=5, tekun=1)
    city = admin(services, region="420500")
    neighbour = record(services, city, lambda: ApplyHousehold(**household_body(region=OTHER_COUNTY, seed=8)).decide(services, city))  # fmt: skip
    province = admin(services, region="420000")
    kind, fields = policy_facts()[0]
    for region, principal in ((OTHER_COUNTY, city), ("420000", province)):
        services.app.save(*services.set_policy(principal, region, kind, fields).aggregates)
    folder = tmp_path / "pkg"
    summary = export_package(services, COUNTY, "2022-01", THIS_MONTH, folder)
    assert verify_package(folder, [services.log_key.vkey]) == summary["events"]
    records = scope_records(services, COUNTY)
    assert {"case", "policy", "grant", "ledger", "roll", "roll_chunk"} <= set(records.values())
    found = lines(folder)
    assert {item["originator_id"] for item in found} <= set(records)
    assert {item["record"] for item in found} == set(records.values())
    assert str(neighbour.response["case_id"]) not in {item["originator_id"] for item in found}
    with services.db.transaction() as cur:
        regions = {row["policy_id"]: row["region_code"] for row in
                   cur.execute("SELECT policy_id, region_code FROM policy_regions").fetchall()}  # fmt: skip
    exported = {regions[item["originator_id"]] for item in found if item["record"] == "policy"}
    assert exported == {COUNTY, "420000"}
    for path in folder.iterdir():
        assert OTHER_COUNTY not in path.read_text(encoding="utf-8"), path.name
    with (folder / "roll_lines.csv").open(encoding="utf-8") as stream:
        roll_lines = list(csv.DictReader(stream))
    assert roll_lines and all(line["region_code"].startswith(COUNTY) for line in roll_lines)
    with (folder / "reconciliation.csv").open(encoding="utf-8") as stream:
        reconciled = list(csv.DictReader(stream))
    assert reconciled and {line["county_code"] for line in reconciled} == {COUNTY}
    # The demo's later decisions are back-dated (taken today, effective in 2022): findings.
    with (folder / "findings.csv").open(encoding="utf-8") as stream:
        findings = list(csv.DictReader(stream))
    total, _money, _page, _rules, _next = services.findings.search(
        scope_prefix=COUNTY, rule=None, status=None, period=None, staff_id=None, limit=1
    )
    assert findings and len(findings) == total
    assert all(row["region_code"].startswith(COUNTY) for row in findings)
    assert all(json.loads(row["evidence"]) for row in findings)
