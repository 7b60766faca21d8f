"""The verifiable log on PostgreSQL: sealing, verification and proofs beside reading the same log.

    python -m ops.bench.tlog_bench --events 5000000 [--county-households 10000] [--rounds 3]

The log: one county's roster imported through ``ops.services.importer`` (real, encrypted and compressed
household events: the county-year the export packages), then ``--events`` synthetic stored
events written straight into the event table (random ids, a topic no view reads, ``state-bytes``
of state each). The setup (filling, importing, the views' catch-up) is not timed. Each round then
starts from an empty seal and measures, in the same run:

- the raw rate of reading every stored event, all its columns and its state, in log order
  (``TreeReader.stream`` of ``LOG_COLUMNS``: the query, columns and loaders the verification
  streams), before and after the verification: the yardstick is the mean of the two;
- the sealing rate (``Sealer.catch_up`` from nothing);
- the full verification rate, states hashed here, and its ratio to the raw read (wall time, and
  the process's CPU time an event, all threads); then with the tree built by a child process
  beside the comparison; then with PostgreSQL hashing the states;
- the latency of inclusion and consistency proofs as the API answers them (``proofs.py``: the
  leaf by position, the proof and the tree head; p50 and p99 of random ones);
- the time of a special-audit export of the county for the current year.

The figures of each round and their medians are printed as JSON.

    python -m ops.bench.tlog_bench --export-of URL --scope 420503 [--rounds 3]

times only the export, of a scope's current year (and the proofs' latency before it), on a database already loaded (``roll_bench
--load-only``, sealed by its catch-up): the county-year of the 1,000,000-household province.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import psycopg

from domain.errors import NotFound
from ledger.proof import fast
from ledger.proof.reader import LOG_COLUMNS
from ledger.store.runtime import tune_gc
from ledger.store.settings import Settings
from ops.bench.databases import fresh_database
from ops.demo import COUNTY, write_roster
from ops.services.core import Services
from ops.services.export import export_package
from ops.services.importer import import_households
from projections.tlog.audit import verify_database
from projections.tlog.proofs import consistency_proof, inclusion_proof

TOPIC = "bench.filler:Filler.Event"  # no view reads it


def fill(url: str, table: str, events: int, state_bytes: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for start in range(0, events, 1_000_000):
            count = min(1_000_000, events - start)
            conn.execute(
                f"INSERT INTO {table} (originator_id, originator_version, topic, state)"
                " SELECT gen_random_uuid(), 1, %s, decode(substr(repeat(md5(i::text), %s), 1, %s),"
                " 'hex') FROM generate_series(1, %s) i",
                (TOPIC, state_bytes // 16 + 1, state_bytes * 2, count),
            )
        conn.execute(f"VACUUM ANALYZE {table}")


def unseal(url: str) -> None:
    """Drop the seal, so that the round seals the whole log again."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE tlog_tiles, tlog_edge, tlog_head")
        conn.execute("UPDATE projection_tracking SET position = 0 WHERE name = 'tlog'")


def raw_read(services: Services) -> int:
    """Read every stored event, all its columns and its state as stored, in log order, through
    the same streaming query as the verification, and do nothing with it: the yardstick."""
    reader = services.tree_reader
    return sum(len(rows) for rows in reader.stream(LOG_COLUMNS, 1, reader.head()))


def timed(work: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def cpu_timed(work: Any) -> tuple[Any, float, float]:
    """``work()``, its wall time and this process's CPU time (every thread's)."""
    started = time.process_time()
    result, wall = timed(work)
    return result, wall, time.process_time() - started


def latencies(call: Any, count: int) -> tuple[float, float]:
    """p50 and p99 of ``count`` calls, in milliseconds."""
    found = sorted(timed(call)[1] * 1000 for _ in range(count))
    return round(statistics.median(found), 2), round(found[int(len(found) * 0.99)], 2)


def prove(services: Services, position: int) -> None:
    """The inclusion proof of the event at ``position``, as the API answers it (a position no
    event holds, a rolled-back write's, is answered "not found")."""
    with contextlib.suppress(NotFound):
        inclusion_proof(services.tlog, position)


def one_round(url: str, folder: Path, number: int) -> dict[str, Any]:
    unseal(url)
    services = Services(Settings(environment="test", database_url=url, secret="bench"))
    try:
        events, reading, read_cpu = cpu_timed(lambda: raw_read(services))
        _, sealing = timed(services.seal)
        local, verifying, verify_cpu = cpu_timed(
            lambda: verify_database(services.db, services.tree_reader, services.tlog)
        )
        _, reading_again, read_cpu_again = cpu_timed(lambda: raw_read(services))
        reading, read_cpu = (reading + reading_again) / 2, (read_cpu + read_cpu_again) / 2
        beside, verifying_beside = timed(
            lambda: verify_database(
                services.db, services.tree_reader, services.tlog, builder_process=True
            )
        )
        server, verifying_server = timed(
            lambda: verify_database(
                services.db, services.tree_reader, services.tlog, server_digests=True
            )
        )
        assert local.ok and beside.ok and server.ok, (local.problems, server.problems)
        head = services.tlog.head()
        size = head.size
        assert size == events
        proofs = proof_latencies(services)
        inclusion, consistency = proofs["inclusion_ms_p50_p99"], proofs["consistency_ms_p50_p99"]
        year = datetime.now(UTC).year
        package, exporting = timed(
            lambda: export_package(
                services, COUNTY, f"{year}-01", f"{year}-12", folder / f"package-{number}"
            )
        )
    finally:
        services.close()
    return {
        "events": events,
        "read_events_per_s": round(events / reading),
        "seal_events_per_s": round(events / sealing),
        "verify_events_per_s": round(events / verifying),
        "verify_time_vs_read": round(verifying / reading, 2),
        "read_cpu_us_per_event": round(read_cpu / events * 1e6, 3),
        "verify_cpu_us_per_event": round(verify_cpu / events * 1e6, 3),
        "verify_cpu_vs_read": round(verify_cpu / read_cpu, 2),
        "accelerated": fast.ACCEL is not None,
        "verify_builder_process_events_per_s": round(events / verifying_beside),
        "verify_server_digests_events_per_s": round(events / verifying_server),
        "inclusion_ms_p50": inclusion[0],
        "inclusion_ms_p99": inclusion[1],
        "consistency_ms_p50": consistency[0],
        "consistency_ms_p99": consistency[1],
        "export_seconds": round(exporting, 2),
        "export_events": package["events"],
        "export_cases": package["cases"],
        # The machine is shared: its 1-minute load average as the round ended (2 cores).
        "load_average": round(os.getloadavg()[0], 1),
    }


def run(
    events: int, households: int, state_bytes: int, rounds: int, folder: Path
) -> dict[str, Any]:
    started = time.perf_counter()
    with fresh_database("postgres", folder, "doudi_tlogbench") as url:
        services = Services(Settings(environment="test", database_url=url, secret="bench"))
        roster = folder / "roster.csv"
        with roster.open("w", encoding="utf-8", newline="") as stream:
            write_roster(stream, households, seed=1, counties=[COUNTY])
        with roster.open(encoding="utf-8", newline="") as stream:
            imported = import_households(services, stream, "bench")
        fill(url, services.app.recorder.events_table_name, events, state_bytes)  # type: ignore[attr-defined]
        services.projections.catch_up()
        services.close()
        print(f"set up in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        results = []
        for number in range(rounds):
            results.append(one_round(url, folder, number))
            print(json.dumps(results[-1]), file=sys.stderr)
    medians = {key: statistics.median(r[key] for r in results) for key in results[0]}
    return {"imported_events": imported.events, "state_bytes": state_bytes,
            "rounds": results, "median": medians}  # fmt: skip


def proof_latencies(services: Services) -> dict[str, tuple[float, float]]:
    """p50 and p99 (ms) of 300 random inclusion and 300 random consistency proofs to the head."""
    head = services.tlog.head()
    inclusion = latencies(lambda: prove(services, random.randrange(1, head.position + 1)), 300)
    consistency = latencies(
        lambda: consistency_proof(services.tlog, random.randrange(1, head.size), head.size), 300
    )
    return {"inclusion_ms_p50_p99": inclusion, "consistency_ms_p50_p99": consistency}


def export_rounds(url: str, scope: str, rounds: int, folder: Path) -> dict[str, Any]:
    """The export of ``scope``'s current year from a loaded database, ``rounds`` times."""
    year = datetime.now(UTC).year
    services = Services(Settings(environment="test", database_url=url, secret="bench"))
    try:
        found, proofs = [], []
        for number in range(rounds):
            proofs.append(proof_latencies(services))
            out = folder / f"package-{number}"
            package, seconds = timed(
                lambda: export_package(services, scope, f"{year}-01", f"{year}-12", out)  # noqa: B023
            )
            found.append(round(seconds, 2))
            print(json.dumps({"seconds": found[-1], **proofs[-1], **package}), file=sys.stderr)
    finally:
        services.close()
    return {"scope": scope, "cases": package["cases"], "events": package["events"],
            "tree_size": package["tree_size"], "export_seconds": found,
            "median_seconds": statistics.median(found), "proofs": proofs,
            "load_average": round(os.getloadavg()[0], 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--export-of", help="a loaded database's URL: time its export only")
    parser.add_argument("--scope", default=COUNTY)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--county-households", type=int, default=2_000)
    parser.add_argument("--state-bytes", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tune_gc()
    with TemporaryDirectory() as folder:
        if args.export_of:
            print(json.dumps(export_rounds(args.export_of, args.scope, args.rounds, Path(folder))))
            return
        result = run(args.events, args.county_households, args.state_bytes, args.rounds,
                     Path(folder))  # fmt: skip
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
