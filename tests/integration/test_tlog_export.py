"""The special-audit package on SQLite and PostgreSQL: it verifies offline with the verifier key
alone, fails after any one-byte change, and holds nothing outside its scope and period."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest

from domain.errors import InvalidValue
from ops.services import Services
from ops.tlog.export import export_package
from ops.tlog.verify import VerifyError, verify_package
from tests.conftest import COUNTY, OTHER_COUNTY
from tests.factories import household_body
from tests.integration.test_contract import admin, checked_case, record

THIS_MONTH = datetime.now(UTC).strftime("%Y-%m")


def cases(services: Services) -> tuple[set[str], set[str]]:
    """Two checked cases in the county, one in the neighbouring county: (ours, theirs)."""
    principal = admin(services, region="420500")  # the city: both counties
    ours = {checked_case(services, principal, seed=seed) for seed in (1, 2)}
    body = household_body(region=OTHER_COUNTY, seed=3)
    served = record(services, principal, lambda: services.apply_household(principal, body))
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
