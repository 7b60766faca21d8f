"""Bulk import and projection catch-up, beside the raw eventsourcing library's batched append.

    python -m ops.bench.import_bench --households 20000 [--backend postgres|sqlite|both]

Everything is measured in one run on fresh databases, so the ratios hold on a noisy machine:
1. library baseline: a plain ``Application`` saving 100 new aggregates (one event each) per
   ``save()``, default settings (no cipher, no compression);
2. doudi import: a generated roster through ``ops.services.importer`` (cipher + compression on, as in
   production; ``--import-workers`` processes decide and encode), events/s over every event;
3. catch-up: rebuilding the ``case_state`` and ``audit_trail`` views from position 0, first by
   the ordinary catch-up in this process, then (PostgreSQL) shared by ``--workers`` processes
   (``ops/services/rebuild.py``). Events/s count every position of the log, read or passed over.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from ledger.store.runtime import tune_gc
from ledger.store.settings import Settings
from ops.bench.databases import fresh_database, peak_rss_mib
from ops.demo import write_roster
from ops.services.core import Services
from ops.services.importer import import_households
from ops.services.rebuild import rebuild


class Probe(Aggregate):
    @event("Created")
    def __init__(self, region_code: str, amount_fen: int) -> None:
        self.region_code = region_code
        self.amount_fen = amount_fen


def library_baseline(env: dict[str, str], events: int) -> float:
    app: Application[Any] = Application(env=env)
    started = time.perf_counter()
    for _ in range(events // 100):
        app.save(*[Probe(region_code="420582", amount_fen=67_000) for _ in range(100)])
    elapsed = time.perf_counter() - started
    app.close()
    return events / elapsed


def baseline_env(url: str, folder: Path) -> dict[str, str]:
    """The plain library application's settings: same server, its own schema or file."""
    if url.startswith("sqlite"):
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": f"{folder}/baseline.sqlite3",
        }
    target = Settings(database_url=url).database
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS baseline")
    return {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": target.dbname,
            "POSTGRES_HOST": target.host, "POSTGRES_PORT": str(target.port), "POSTGRES_USER": target.user,
            "POSTGRES_PASSWORD": "", "POSTGRES_SCHEMA": "baseline"}  # fmt: skip


def run_backend(
    kind: str, households: int, folder: Path, import_workers: int, workers: int
) -> dict[str, Any]:
    with fresh_database(kind, folder) as url:
        result: dict[str, Any] = {"backend": kind, "households": households,
                                  "import_workers": import_workers, "rebuild_workers": workers}  # fmt: skip
        result["library_events_per_s"] = round(library_baseline(baseline_env(url, folder), 20_000))
        services = Services(Settings(environment="test", database_url=url, secret="bench"))
        roster = folder / f"roster-{kind}.csv"
        with roster.open("w", encoding="utf-8", newline="") as stream:
            write_roster(stream, households, seed=1)
        started = time.perf_counter()
        with roster.open(encoding="utf-8", newline="") as stream:
            report = import_households(services, stream, "bench", workers=import_workers)
        elapsed = time.perf_counter() - started
        result.update(
            import_events=report.events,
            import_seconds=round(elapsed, 2),
            import_events_per_s=round(report.events / elapsed),
            import_errors=len(report.errors),
        )
        for view in ("case_state", "audit_trail"):
            started = time.perf_counter()
            count = services.projections.rebuild(view)
            result[f"{view}_catch_up_events_per_s"] = round(count / (time.perf_counter() - started))
            if kind == "postgres" and workers > 1:
                started = time.perf_counter()
                count = rebuild(services, view, workers)
                result[f"{view}_rebuild_{workers}_processes_events_per_s"] = round(
                    count / (time.perf_counter() - started)
                )
        result["peak_rss_mib"] = peak_rss_mib()
        services.close()
        return result


def main() -> None:
    tune_gc()
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--backend", choices=["postgres", "sqlite", "both"], default="both")
    # Three import workers on two cores: while one waits (on the roster, on its result being
    # taken), another computes; three kept both cores busier than two or four.
    parser.add_argument("--import-workers", type=int, default=3, help="import worker processes")
    parser.add_argument("--workers", type=int, default=2, help="processes sharing a rebuild")
    args = parser.parse_args()
    kinds = ["postgres", "sqlite"] if args.backend == "both" else [args.backend]
    with TemporaryDirectory() as folder:
        for kind in kinds:
            print(
                json.dumps(
                    run_backend(
                        kind, args.households, Path(folder), args.import_workers, args.workers
                    )
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
