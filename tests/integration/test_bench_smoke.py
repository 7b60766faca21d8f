"""The benchmarks run end to end at a tiny size, so they keep working between measurements.

Each is called as its command is (or its steps in turn, where the command hands a step to a
child process) and its report is checked for the figures it promises; the sizes say nothing
about speed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ledger.store.settings import Settings
from ops.bench import (
    bare_pipeline,
    findings_bench,
    import_bench,
    ledger_bench,
    reconcile_bench,
    roll_bench,
    tlog_bench,
)
from ops.demo import write_roster
from ops.services.core import Services
from ops.services.importer import import_households
from tests.conftest import new_postgres_database, require_postgres


def run_main(
    module: ModuleType,
    argv: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> list[dict[str, Any]]:
    """Run ``python -m module *argv`` in this process; its JSON report lines."""
    monkeypatch.setattr(sys, "argv", [module.__name__, *argv])
    module.main()
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_ledger_bench(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (report,) = run_main(
        ledger_bench, ["--postings", "3", "--backend", "sqlite", "--rounds", "2"], monkeypatch,
        capsys,
    )  # fmt: skip
    assert report["postings"] == 3 and report["rounds"] == 2
    assert min(report["library_saves_per_s"] + report["doudi_postings_per_s"]) > 0
    assert report["median_ratio"] > 0


def test_import_bench(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = import_bench.library_baseline
    monkeypatch.setattr(import_bench, "library_baseline", lambda env, events: baseline(env, 100))
    argv = ["--households", "12", "--backend", "sqlite", "--import-workers", "1"]
    (report,) = run_main(import_bench, argv, monkeypatch, capsys)
    assert report["households"] == 12 and report["import_errors"] == 0
    assert report["import_events"] > 12 and report["case_state_catch_up_events_per_s"] > 0


def test_findings_bench(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """At 2,000 households in 2 counties: hits planted (registry records, a member in a second
    county's case), every rule timed from empty and after a roll, the rebuild (and one event by event) equal to
    live."""
    argv = ["--households", "2000", "--counties", "2", "--backend", "sqlite", "--case-state",
            "--per-event"]  # fmt: skip
    (report,) = run_main(findings_bench, argv, monkeypatch, capsys)
    assert report["planted"] >= 3 and report["planted_twice"] == 1 and report["rebuild_equal"]
    assert report["per_event_equal"] and report["per_event_s"] > 0
    assert report["by_rule"]["two_active_cases"]["count"] == 1
    assert report["by_rule"]["registry_hit"]["count"] >= 1 and report["from_empty_s"] > 0
    assert report["notifications"] > 2000 and report["incremental_s"] > 0


def test_roll_bench(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--households", "12", "--counties", "1", "--workers", "1", "--backend", "sqlite"]
    (report,) = run_main(roll_bench, argv, monkeypatch, capsys)
    assert report["households"] == 12 and report["workers"] == 1 and report["lines"] > 0


def test_reconcile_bench(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/reconcile.sqlite3"
    reconcile_bench.build(url, 20, tmp_path)
    report = reconcile_bench.reconcile(url, str(tmp_path / "statement.csv"))
    assert report["mismatches"] >= 2  # the statement changes line 7's amount and leaves out 11


@pytest.mark.postgres
def test_roll_bench_on_a_loaded_database_and_the_bare_pipeline(
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The measuring routine on PostgreSQL: load once, pay a month, time doudi's roll and the
    bare pipeline over the same database."""
    common = ["--database", postgres_url, "--counties", "1", "--households", "12"]
    assert run_main(roll_bench, [*common, "--load-only"], monkeypatch, capsys) == []
    assert run_main(roll_bench, [*common, "--pay-month", "2022-11"], monkeypatch, capsys) == []
    (doudi,) = run_main(roll_bench, [*common, "--workers", "1"], monkeypatch, capsys)
    bare_argv = ["--database", postgres_url, "--counties", "1", "--workers", "1"]
    (bare,) = run_main(bare_pipeline, bare_argv, monkeypatch, capsys)
    assert bare["pipeline"] == "bare" and bare["lines"] == doudi["lines"] > 0


@pytest.mark.postgres
def test_tlog_bench(tmp_path: Path) -> None:
    require_postgres()
    report = tlog_bench.run(events=30, households=3, state_bytes=10, rounds=1, folder=tmp_path)
    assert report["median"]["events"] == report["rounds"][0]["events"] > 30


def test_tlog_bench_export_of_a_loaded_database(tmp_path: Path) -> None:
    """``--export-of``: the export of a county's year from a database loaded beforehand, and
    the proofs' latency on it."""
    url, drop = new_postgres_database()
    try:
        services = Services(Settings(environment="test", database_url=url, secret="bench"))
        roster = tmp_path / "roster.csv"
        with roster.open("w", encoding="utf-8", newline="") as stream:
            write_roster(stream, 4, seed=1, counties=[tlog_bench.COUNTY])
        with roster.open(encoding="utf-8", newline="") as stream:
            imported = import_households(services, stream, "bench")
        services.fresh()
        services.close()
        report = tlog_bench.export_rounds(url, tlog_bench.COUNTY, 2, tmp_path)
    finally:
        drop()
    assert report["cases"] == 4 and report["cases"] <= report["events"] <= imported.events
    assert len(report["export_seconds"]) == len(report["proofs"]) == 2
    assert all(proofs["inclusion_ms_p50_p99"][0] > 0 for proofs in report["proofs"])


def test_known_at_bench(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ops.bench import known_at_bench

    (report,) = run_main(
        known_at_bench, ["--households", "20", "--backend", "sqlite", "--rounds", "2"],
        monkeypatch, capsys,
    )  # fmt: skip
    equal = report["replay_equal"]  # each replay round's verdict
    assert equal and all(verdict is True for verdict in equal)
    assert report["events"] > report["known_at_position"] > 0
    assert report["list_page_known_at"]["p50_ms"] > 0 and report["refold_per_case_ms"] > 0


@pytest.mark.postgres
def test_api_bench(
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """locust against `doudi serve --workers 2` and a projection worker, for a few seconds a
    mix: each endpoint answers, reads fail none, and every party's CPU is counted."""
    import socket

    from ops.bench import api_bench

    common = ["--database", postgres_url, "--counties", "1", "--households", "12"]
    assert run_main(roll_bench, [*common, "--load-only"], monkeypatch, capsys) == []
    assert run_main(roll_bench, [*common, "--pay-month", "2022-12"], monkeypatch, capsys) == []
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = ["--database", postgres_url, "--county", roll_bench.COUNTIES[0], "--seconds", "3",
            "--rounds", "1", "--users", "2", "--mixes", "read,write", "--port", str(port)]  # fmt: skip
    reads, writes = run_main(api_bench, argv, monkeypatch, capsys)
    assert reads["mix"] == "read" and reads["total"]["requests"] > 0
    assert reads["total"]["failures"] == 0
    assert {e["endpoint"] for e in reads["endpoints"]} >= {"GET /households/{case_id}"}
    assert writes["mix"] == "write" and writes["total"]["requests"] > 0
    assert reads["cpu_s"]["api"] > 0 and reads["cpu_s"]["locust"] > 0


@pytest.mark.postgres
def test_read_bench(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from ops.bench import read_bench

    require_postgres()
    root = str(Path(__file__).resolve().parents[2])
    argv = ["--tree", root, "--households", "30", "--seconds", "2", "--readers", "1",
            "--writers", "1", "--workers", "1", "--rounds", "1"]  # fmt: skip
    (report,) = run_main(read_bench, argv, monkeypatch, capsys)
    assert report["tree"] == root and report["failed"] == {}
    assert report["reads_per_s"] > 0 and report["writes_per_s"] > 0
    assert report["token_read_p50_ms"] > 0
