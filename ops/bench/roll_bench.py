"""Roll generation for a synthetic province: generate, store and project one month's rolls.

    python -m ops.bench.roll_bench --households 100000 [--counties 13] [--workers 2]
                                   [--month 2022-12] [--backend postgres|sqlite|both]

Cases are loaded with the bulk import first (not timed; see import_bench), dealt round-robin
to the counties of 宜昌市 (up to 13), with the demo policy book recorded once at city level so
every county inherits it. Then, timed: ``--workers`` fresh processes share the counties, and
each generates its counties' rolls for the month (all programmes) — reading case facts,
computing every line, storing ~1 chunk event per 1,000 lines — and projects them into the rolls
view. The workers start, import and open their connections first; end to end is from the
signal that sets them going until the last has projected its rolls, as a running server or CLI
process would make them (``with_start_up_s`` adds the processes' start-up, ~0.5 s). Peak RSS is
the largest of any one process. With month 2022-12 every case has started, so there is about
one line per household.

An ordinary month — every case paid the month before, nothing new since — is timed on a loaded
database after ``--database URL --pay-month 2022-11`` (not timed: funds each county's pools,
generates and approves its November roll), then ``--database URL --month 2022-12``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory

from domain.access import Principal
from ledger.store.runtime import tune_gc
from ledger.store.settings import Settings
from ops.bench.databases import fresh_database, peak_rss_mib
from ops.demo import policy_facts, write_roster
from ops.services.core import Services
from ops.services.importer import import_households
from ops.services.rebuild import rebuild
from ops.services.rolls import generate_roll

CITY = "420500"
# The current county-level divisions of 宜昌市 in GB/T 2260.
COUNTIES = ("420502", "420503", "420504", "420505", "420506", "420525", "420526", "420527",
            "420528", "420529", "420581", "420582", "420583")  # fmt: skip


def settings(url: str) -> Settings:
    return Settings(environment="test", database_url=url, secret="bench")


def load(url: str, households: int, counties: tuple[str, ...], folder: Path) -> None:
    services = Services(settings(url))
    operator = Principal("bench", "admin", "000000")
    for kind, fields in policy_facts():
        services.app.save(*services.set_policy(operator, CITY, kind, fields).aggregates)
    roster = folder / "roster.csv"
    with roster.open("w", encoding="utf-8", newline="") as stream:
        write_roster(stream, households, seed=3, counties=counties)
    with roster.open(encoding="utf-8", newline="") as stream:
        import_households(services, stream, "bench", workers=3)
    for view in ("case_state", "audit_trail"):  # the views keyed by aggregate, shared by 2
        rebuild(services, view, workers=2)
    services.fresh()
    services.close()


def pay_month(url: str, counties: tuple[str, ...], month: str) -> None:
    """Not timed: fund each county's pools, generate its roll for ``month`` and approve it, so
    that the next month's roll is an ordinary month's (every case paid before, nothing new)."""
    from domain.access import Role
    from ops.services.ledger import confirm_posting, post_transaction
    from ops.services.rolls import approve_roll

    services = Services(settings(url))
    operator = Principal("bench", "admin", "000000")
    checker = Principal("bench-checker", "admin", "000000")
    meta = {"document_ref": "bench", "description": "bench"}
    for county in counties:
        bank, fen = f"clearing:{county}:bank", 10**12
        postings = [("raise", [(bank, fen, 0), (f"source:{county}:central", 0, fen)])] + [
            ("allocate", [(f"pool:{county}:{pool}", fen // 4, 0), (bank, 0, fen // 4)])
            for pool in ("dibao", "tekun", "temporary")
        ]
        for number, (code, lines) in enumerate(postings):
            fields = {"code": code, "posting_date": f"{month}-01", **meta, "lines": [
                {"account": a, "debit_fen": d, "credit_fen": c, "source": "central"} for a, d, c in lines]}  # fmt: skip
            key = f"bench-{county}-{month}-{number}"
            outcome = post_transaction(services, operator, key, fields)
            services.app.save(*outcome.aggregates)
            if outcome.status_code == 202:  # above the confirmation threshold: a second person
                services.app.save(*confirm_posting(services, checker, key).aggregates)
        roll = generate_roll(services, operator, county, month, "all")
        services.app.save(*roll.aggregates)
        finance = Principal("bench-finance", Role.FINANCE_OFFICER, county)
        services.app.save(*approve_roll(services, finance, roll.response["roll_id"]).aggregates)
    services.fresh()
    services.close()


def generate(url: str, counties: list[str], month: str) -> dict[str, object]:
    """One worker: generate, store and project the rolls of its counties. It imports, opens
    its connections and says ``ready`` first, then waits for a line on its input: the clock
    times the rolls, as a running server or CLI process makes them, not Python's start-up."""
    services = Services(settings(url))
    operator = Principal("bench", "admin", "000000")
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":  # the parent gave up (another worker failed)
        raise SystemExit("not told to go")
    lines, cpu = 0, time.process_time()
    for county in counties:
        outcome = generate_roll(services, operator, county, month, "all")
        services.app.save(*outcome.aggregates)
        services.projections.catch_up(["rolls"])
        lines += int(outcome.response["line_count"])
    services.close()
    return {"lines": lines, "peak_rss_mib": peak_rss_mib(), "cpu_s": time.process_time() - cpu}


def run(kind: str, households: int, counties: int, workers: int, month: str, folder: Path) -> dict[str, object]:  # fmt: skip
    chosen = COUNTIES[:counties]
    with fresh_database(kind, folder, "doudi_rollbench") as url:
        load(url, households, chosen, folder)
        return timed(url, chosen, workers, month) | {"backend": kind, "households": households}


def timed(
    url: str,
    counties: tuple[str, ...],
    workers: int,
    month: str,
    module: str = "ops.bench.roll_bench",
    finish: Callable[[], None] | None = None,
) -> dict[str, object]:
    """``end_to_end_s`` from the workers' start signal until the last has projected its rolls
    (and ``finish`` has run, if given); ``with_start_up_s`` also counts starting the processes
    and importing (~0.4 s each, the two at once); ``workers_cpu_s`` is the CPU time the workers'
    processes spent (all their threads) from the signal to their end — the Python side's work,
    whatever the machine's cores were doing otherwise. ``module`` runs each worker (its
    ``--generate`` mode): this one, or ``ops.bench.bare_pipeline``."""
    Services(settings(url)).fresh().close()  # views set up and caught up before the clock starts
    spawned = time.perf_counter()
    children = [
        subprocess.Popen([sys.executable, "-m", module, "--generate", url, "--month", month,
                          "--only", ",".join(counties[index::workers])],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for index in range(workers)
    ]  # fmt: skip
    for child in children:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            for other in children:
                other.kill()
            raise SystemExit("a worker failed to start")
    started = time.perf_counter()
    results = []
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        out, _ = child.communicate()
        if child.returncode:
            raise SystemExit(f"worker failed with {child.returncode}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    if finish is not None:
        finish()
    finished = time.perf_counter()
    elapsed = finished - started
    lines = sum(int(r["lines"]) for r in results)
    return {
        "counties": len(counties), "workers": workers, "month": month, "lines": lines,
        "end_to_end_s": round(elapsed, 2), "with_start_up_s": round(finished - spawned, 2),
        "lines_per_s": round(lines / elapsed),
        "peak_rss_mib": max(int(r["peak_rss_mib"]) for r in results),
        "workers_cpu_s": round(sum(float(r["cpu_s"]) for r in results), 2),
    }  # fmt: skip


def main() -> None:
    tune_gc()
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--counties", type=int, default=len(COUNTIES))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--month", default="2022-12")
    parser.add_argument("--backend", choices=["postgres", "sqlite", "both"], default="both")
    parser.add_argument("--generate", help=argparse.SUPPRESS)
    parser.add_argument("--only", help=argparse.SUPPRESS)
    parser.add_argument(
        "--database", help="an existing, loaded database URL: time only (after --load-only)"
    )
    parser.add_argument(
        "--load-only", action="store_true", help="load into --database and stop (not timed)"
    )
    parser.add_argument(
        "--pay-month",
        help="with --database: fund the pools, generate and approve this month's rolls (not timed)",
    )
    args = parser.parse_args()
    chosen = COUNTIES[: args.counties]
    if args.database and args.pay_month:
        pay_month(args.database, chosen, args.pay_month)
        return
    if args.database and args.load_only:
        with TemporaryDirectory() as folder:
            load(args.database, args.households, chosen, Path(folder))
        return
    if args.database:
        print(json.dumps(timed(args.database, chosen, args.workers, args.month)), flush=True)
        return
    if args.generate:
        print(json.dumps(generate(args.generate, args.only.split(","), args.month)))
        return
    with TemporaryDirectory() as folder:
        for kind in ["postgres", "sqlite"] if args.backend == "both" else [args.backend]:
            # SQLite too: one writer at a time, but each worker computes its lines while the
            # other writes.
            result = run(
                kind, args.households, args.counties, args.workers, args.month, Path(folder)
            )
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
