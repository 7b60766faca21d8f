"""Known-at reads and the replay proof on a demo county, or on a copy of a loaded province.

    python -m ops.bench.known_at_bench --households 5000 [--backend postgres|sqlite]
    python -m ops.bench.known_at_bench --copy-of doudi_base_1m --reassess 2000

Imports the demo county's roster (N households; or copies a database loaded by ``roll_bench``)
and then reassesses the income of every other one of the county's first households (not
timed), then measures: a page of the county's active households, and the province's monthly
statistics of the months paid, as known now and as known before the reassessments (p50/p99 of
repeated reads); what folding each case's own events would cost instead (per case, and for the
whole county's list); the size of the case versions against the case-state view's own tables
(PostgreSQL); and the whole-log replay-and-diff rate (``--workers`` processes), in turns with a
plain read of the whole log (its yardstick), ``--replay-rounds`` times.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from domain.access import Principal
from ledger.store.settings import Settings
from ops.bench.databases import fresh_database
from ops.demo import roster_csv
from ops.services.cases import HOUSEHOLD_DECISIONS
from ops.services.core import Services
from ops.services.importer import import_households
from ops.services.known_at import KnownAt, case_known_at
from ops.services.replay import replay

COUNTY = "420582"
PAGE = {"scope_prefix": COUNTY, "kind": "household", "region_prefix": None, "status": "active",
        "programme": None, "limit": 50}  # fmt: skip


def timed(action: Any, rounds: int) -> dict[str, float]:
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - start)
    seconds.sort()
    return {"p50_ms": round(statistics.median(seconds) * 1000, 2),
            "p99_ms": round(seconds[min(len(seconds) - 1, int(len(seconds) * 0.99))] * 1000, 2)}  # fmt: skip


def sizes(services: Services) -> dict[str, int]:
    if services.db.is_sqlite:
        return {}
    with services.db.transaction() as cur:
        return {
            table: int(
                cur.execute("SELECT pg_total_relation_size(%s) AS n", (table,)).fetchone()["n"]
            )  # type: ignore[index]
            for table in ("case_state", "case_history", "case_programmes", "case_versions")
        }


def whole_log_read(services: Services) -> float:
    """Seconds to read every event of the log with its state, undecoded (the yardstick the
    replay is measured against: no replay can read the log faster)."""
    start, position = time.perf_counter(), 0
    while True:
        _events, covered = services.log.read(position + 1, 1000)
        if covered <= position:
            return time.perf_counter() - start
        position = covered


def reassess(services: Services, households: int) -> int:
    """Every other one of the county's first ``households`` has its income reassessed: the
    position before."""
    services.fresh()
    imported = services.log_position()
    cases, _next = services.case_state.search(**PAGE | {"status": None, "limit": households})
    officer = Principal("bench", "admin", COUNTY, staff_id="bench")
    income = {"income": {"household_income_fen": 1_000}, "effective_date": "2024-01-10",
              "document_ref": "复核"}  # fmt: skip
    for case in cases[::2]:
        command = HOUSEHOLD_DECISIONS["income"](case_id=case["case_id"], **income)
        services.execute(officer, None, "", command)
    services.fresh()
    return imported


def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    services = Services(Settings(environment="test", database_url=url, secret="bench"))
    try:
        if not args.copy_of:
            import_households(services, io.StringIO(roster_csv(args.households)), "bench")
        middle = reassess(services, args.reassess or args.households)
        head, rounds = services.log_position(), args.rounds
        now = timed(lambda: services.case_state.search(**PAGE), rounds)
        then = timed(lambda: services.case_state.search(**PAGE, known_at=middle), rounds)
        with services.db.transaction() as cur:
            paid = cur.execute("SELECT MIN(month) AS a, MAX(month) AS b FROM rolls").fetchone()
        months = [(paid or {}).get(end) or "2022-01" for end in ("a", "b")]
        stats = {"scope_prefix": "42", "level": "province", "period": "month", "programme": None,
                 "first": months[0], "last": months[1]}  # fmt: skip
        stats_now = timed(lambda: services.statistics.report(**stats), max(3, rounds // 10))
        stats_then = timed(
            lambda: services.statistics.report(**stats, known_at=middle), max(3, rounds // 10)
        )
        total = services.case_state.count(scope_prefix=COUNTY, kind="household")
        sample, _next = services.case_state.search(**PAGE | {"status": None, "limit": 200})
        start = time.perf_counter()
        for case in sample:
            case_known_at(services, case["case_id"], KnownAt(middle))
        per_case_ms = (time.perf_counter() - start) * 1000 / max(len(sample), 1)
        found = sizes(services)
        read_s, replay_s, equal = [], [], []
        for _ in range(args.replay_rounds):
            read_s.append(whole_log_read(services))
            start = time.perf_counter()
            equal.append(replay(services, workers=args.workers)["equal"])
            replay_s.append(time.perf_counter() - start)
        view = sum(found.get(t, 0) for t in ("case_state", "case_history", "case_programmes"))
        return {
            "backend": "sqlite" if services.db.is_sqlite else "postgres",
            "households": services.case_state.count(scope_prefix="42", kind="household"),
            "events": head, "known_at_position": middle,
            "list_page_now": now, "list_page_known_at": then,
            "province_statistics_now": stats_now, "province_statistics_known_at": stats_then,
            "refold_per_case_ms": round(per_case_ms, 3),
            "refold_county_list_s": round(per_case_ms * total / 1000, 2),
            "sizes_bytes": found,
            "versions_over_view": round(found["case_versions"] / view, 2) if view else None,
            "replay_equal": equal, "replay_s": [round(x, 2) for x in replay_s],
            "replay_events_per_s": [round(head / x) for x in replay_s],
            "read_events_per_s": [round(head / x) for x in read_s],
            "replay_over_read": [round(x / y, 2) for x, y in zip(replay_s, read_s, strict=True)],
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }  # fmt: skip
    finally:
        services.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--households", type=int, default=5000)
    parser.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--copy-of", help="a PostgreSQL database loaded by roll_bench, copied")
    parser.add_argument("--reassess", type=int, help="households reassessed (default: all)")
    parser.add_argument("--workers", type=int, default=2, help="processes replaying")
    parser.add_argument("--replay-rounds", type=int, default=3)
    args = parser.parse_args()
    kind = "postgres" if args.copy_of else args.backend
    with (
        TemporaryDirectory() as folder,
        fresh_database(kind, Path(folder), "doudi_replay", args.copy_of) as url,
    ):
        print(json.dumps(measure(url, args)))


if __name__ == "__main__":
    main()
