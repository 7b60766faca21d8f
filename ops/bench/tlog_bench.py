"""The verifiable log on PostgreSQL: sealing and full verification beside reading the same log.

    python -m ops.bench.tlog_bench --events 5000000 [--state-bytes 300]

The log is written straight into the event table (synthetic events: random ids, one topic,
``state-bytes`` of state each), so that the figures are the tree's alone. In the same run:
the raw rate of reading every stored event with its state in log order (what any verification
must at least do), the sealing rate, the verification rate (states hashed here, then with
PostgreSQL hashing them), and the latency of inclusion and consistency proofs.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import psycopg

from ops.bench.databases import fresh_database
from ops.runtime import tune_gc
from ops.services import Services
from ops.settings import Settings
from ops.tlog.audit import verify_database

TOPIC = "domain.household:HouseholdCase.Applied"
RAW_COLUMNS = "notification_id, originator_id, originator_version, topic, state"


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
        conn.execute(f"ANALYZE {table}")


def raw_read(services: Services) -> int:
    """Read every stored event, all its columns and its state as stored, in log order, through
    the same streaming query as the verification, and do nothing with it: the yardstick."""
    reader = services.tree_reader
    count = 0
    for rows in reader.stream(RAW_COLUMNS, 1, reader.head()):
        count += len(rows)
    return count


def rate(events: int, seconds: float) -> float:
    return round(events / seconds)


def run(events: int, state_bytes: int, folder: Path) -> dict[str, Any]:
    with fresh_database("postgres", folder, "doudi_tlogbench") as url:
        services = Services(Settings(environment="test", database_url=url, secret="bench"))
        fill(url, services.app.recorder.events_table_name, events, state_bytes)
        started = time.perf_counter()
        read = raw_read(services)
        raw = time.perf_counter() - started
        started = time.perf_counter()
        services.seal()
        sealing = time.perf_counter() - started
        started = time.perf_counter()
        local = verify_database(services.db, services.tree_reader, services.tlog)
        verifying = time.perf_counter() - started
        started = time.perf_counter()
        server = verify_database(
            services.db, services.tree_reader, services.tlog, server_digests=True
        )
        verifying_server = time.perf_counter() - started
        size = services.tlog.head().size
        latencies = []
        for _ in range(300):
            index = random.randrange(size)
            started = time.perf_counter()
            services.tlog.inclusion(index, size)
            latencies.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        for _ in range(100):
            services.tlog.consistency(random.randrange(1, size), size)
        consistency_ms = (time.perf_counter() - started) * 10
        services.close()
    assert read == events and local.ok and server.ok, (local.problems, server.problems)
    return {
        "events": events,
        "state_bytes": state_bytes,
        "read_events_per_s": rate(events, raw),
        "seal_events_per_s": rate(events, sealing),
        "verify_events_per_s": rate(events, verifying),
        "verify_server_digests_events_per_s": rate(events, verifying_server),
        "inclusion_ms_p50": round(statistics.median(latencies), 2),
        "inclusion_ms_p99": round(sorted(latencies)[int(len(latencies) * 0.99)], 2),
        "consistency_ms_mean": round(consistency_ms, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--state-bytes", type=int, default=300)
    args = parser.parse_args()
    tune_gc()
    with TemporaryDirectory() as folder:
        print(json.dumps(run(args.events, args.state_bytes, Path(folder)), indent=1))


if __name__ == "__main__":
    main()
