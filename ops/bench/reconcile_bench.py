"""Three-way reconciliation of a large roll against its bank statement (statement import included).

    python -m ops.bench.reconcile_bench --lines 200000 [--backend postgres|sqlite|both]

A synthetic approved roll of N lines is recorded straight through the domain (chunks of 1,000
lines, header, approval; not timed), its bank results marked paid in the view, and a statement
of N lines written with a few planted mismatches. Timed, in a fresh process: importing the
statement (validation, one event, projection) and the reconciliation report; then, in turns
(``--rounds``), the report as known now and as known at the log's head (every position bound
applied, the same answer), and on PostgreSQL the bytes the recording positions take in
``roll_lines`` against the table's.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

from domain.access import Principal
from domain.references import bank_reference
from domain.roll import LINES_PER_CHUNK, PaymentRoll, RollChunk
from ledger.store.runtime import tune_gc
from ledger.store.settings import Settings
from ops.bench.databases import fresh_database, peak_rss_mib
from ops.services.core import Services
from ops.services.ledger import import_statement, save_in_order

COUNTY, MONTH = "420582", "2024-03"


def settings(url: str) -> Settings:
    return Settings(environment="test", database_url=url, secret="bench")


def build(url: str, lines: int, folder: Path) -> None:
    services = Services(settings(url))
    roll = PaymentRoll.open(county_code=COUNTY, month=MONTH, group="all")
    token = uuid.uuid4()
    for start in range(0, lines, LINES_PER_CHUNK):
        chunk = [{"case_id": str(uuid.UUID(int=n)), "kind": "household", "programme": "dibao_urban",
                  "region_code": f"{COUNTY}001000", "head_name": "王", "head_id_masked": "x", "payee_name": "王",
                  "account_number": "6217000000000000", "account_masked": "****0000", "covered_members": 1,
                  "components": [], "total_fen": 50_000, "receivable_fen": 0, "months": []}
                 for n in range(start, min(start + LINES_PER_CHUNK, lines))]  # fmt: skip
        services.app.save(
            RollChunk.record_lines(
                roll_id=roll.id,
                token=token,
                number=start // LINES_PER_CHUNK,
                county_code=COUNTY,
                month=MONTH,
                group="all",
                lines=chunk,
            )
        )
    roll.record_generation(as_of="", line_count=lines, total_fen=lines * 50_000,
                           totals={"token": str(token), "payable_lines": lines}, chunk_count=-(-lines // 1000),
                           actor="bench")  # fmt: skip
    roll.approve(actor="bench")
    services.app.save(roll)
    services.fresh()
    with services.db.transaction(write=True) as cur:
        cur.execute(
            "UPDATE roll_lines SET bank_status = 'paid', bank_position = %s"
            " WHERE gen = (SELECT gen FROM rolls WHERE roll_id = %s)",
            (services.log_position(), str(roll.id)),
        )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["reference", "amount_fen", "booked_on", "description"])
    for n in range(lines):
        amount = -50_000 if n % 100_000 != 7 else -49_999  # a changed amount now and then
        if n % 100_000 != 11:  # and a missing line
            writer.writerow([bank_reference(COUNTY, MONTH, "all", n), amount, "2024-03-20", ""])
    (folder / "statement.csv").write_text(out.getvalue())
    services.close()


def known_at_turns(services: Services, rounds: int) -> dict[str, object]:
    """The report as known now and as known at the head, in turns: medians and their ratio."""
    head, now, then = services.log_position(), [], []
    for _ in range(rounds):
        for view, seconds in ((services.reconciliation, now),
                              (services.reconciliation.at(head), then)):  # fmt: skip
            started = time.perf_counter()
            report = view.report(COUNTY, MONTH, 90, "2024-12-31")
            seconds.append(time.perf_counter() - started)
        if report != services.reconciliation.report(COUNTY, MONTH, 90, "2024-12-31"):
            raise AssertionError("the report as known at the head differs from the report now")
    found: dict[str, object] = {
        "report_now_s": round(statistics.median(now), 3),
        "report_known_at_s": round(statistics.median(then), 3),
        "known_at_over_now": round(statistics.median(then) / statistics.median(now), 2),
    }
    if not services.db.is_sqlite:
        with services.db.transaction() as cur:
            row = cur.execute(
                "SELECT SUM(pg_column_size(bank_position)) AS history,"
                " pg_total_relation_size('roll_lines') AS lines FROM roll_lines"
            ).fetchone() or {}  # fmt: skip
        found["positions_bytes"], found["roll_lines_bytes"] = row.get("history"), row.get("lines")
    return found


def reconcile(url: str, statement: str, rounds: int = 3) -> dict[str, object]:
    services = Services(settings(url))
    finance = Principal("bench", "finance_officer", COUNTY)
    started = time.perf_counter()
    outcome = import_statement(services, finance, COUNTY, Path(statement).read_bytes())
    save_in_order(services, outcome.aggregates)
    services.fresh()
    imported = time.perf_counter() - started
    report = services.reconciliation.report(COUNTY, MONTH, 90, "2024-12-31")
    total = time.perf_counter() - started
    rss = peak_rss_mib()
    turns = known_at_turns(services, rounds)
    services.close()
    (roll,) = report["rolls"]
    return {
        "import_s": round(imported, 2),
        "end_to_end_s": round(total, 2),
        "mismatches": len(roll["mismatches"]),
        "peak_rss_mib": rss,
        **turns,
    }


def main() -> None:
    tune_gc()
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--backend", choices=["postgres", "sqlite", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reconcile", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reconcile:
        print(json.dumps(reconcile(*args.reconcile, rounds=args.rounds)))
        return
    with TemporaryDirectory() as folder:
        for kind in ["postgres", "sqlite"] if args.backend == "both" else [args.backend]:
            with fresh_database(kind, Path(folder), "doudi_recbench") as url:
                build(url, args.lines, Path(folder))
                child = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "ops.bench.reconcile_bench",
                        "--reconcile",
                        url,
                        str(Path(folder) / "statement.csv"),
                        "--rounds",
                        str(args.rounds),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                result = json.loads(child.stdout.strip().splitlines()[-1])
                print(json.dumps({"backend": kind, "lines": args.lines, **result}), flush=True)


if __name__ == "__main__":
    main()
