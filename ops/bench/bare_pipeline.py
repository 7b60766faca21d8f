"""The issue's bare pipeline, as a yardstick for the roll benchmark on the same machine.

    python -m ops.bench.bare_pipeline --database URL [--workers 2] [--month 2022-12]

The payment-roll issue sets its PostgreSQL target (1,000,000 households in ≤ 10 s) against "a
bare pipeline of the same shape" that ran in ~5 s here: read the case state with a binary
cursor, compute, append ~1,000 chunk events with binary parameters and LZ4-compressed states,
COPY the lines into a fresh per-month table and build its key afterwards. This is that pipeline,
on a database loaded by ``roll_bench --load-only``, over the same counties split the same way
between the same number of worker processes, timed the same way (``roll_bench.timed``: from the
go signal to the last worker's end, plus here the key built on the month's table).

It does none of doudi's work: no entitlement (each line pays one fixed amount), no settled
basis, no paid months, no policy, no encryption, no totals, no rolls view. Its time is what the
machine needs to move the same rows through the same database; the roll benchmark's time over
this one, taken in turns, compares code with code on whatever machine runs them — 2.0 is the
issue's own ratio (10 s against ~5 s).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid

import lz4.block
import orjson
import psycopg

from ops.bench.databases import peak_rss_mib
from ops.bench.roll_bench import COUNTIES, timed

LINES_PER_CHUNK = 1000
CHUNKS_PER_SAVE = 5
FIXED_FEN = 67_000
# What it reads of each case, from the same index as the roll (the case-state view's county
# index): case id, kind, region code, the payee's fields (one JSON array, passed on as it is),
# and the two dates that vouch for the settled basis. Fixed on purpose: a yardstick does not
# follow the code it measures, so these stay as they are when the roll reads more or less.
COLUMNS = ("case_id", "kind", "region_code", "payee", "recorded_at", "settled_from")
EVENTS = """CREATE TABLE IF NOT EXISTS bare_events (
    notification_id BIGSERIAL PRIMARY KEY, originator_id UUID NOT NULL,
    originator_version INTEGER NOT NULL, topic TEXT NOT NULL, state BYTEA NOT NULL,
    UNIQUE (originator_id, originator_version))"""
LINE_COLUMNS = ("month", "line_no", "county_code", "case_id", "region_code", "total_fen")


def lines_table(month: str) -> str:
    return f"bare_lines_{month.replace('-', '_')}"


def prepare(url: str, month: str) -> None:
    """Not timed: the events table, and the month's lines table made fresh (no key yet)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(EVENTS)
        conn.execute("TRUNCATE bare_events")
        table = lines_table(month)
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(
            f"CREATE TABLE {table} (month TEXT NOT NULL, line_no INTEGER NOT NULL,"
            " county_code TEXT NOT NULL, case_id TEXT NOT NULL, region_code TEXT NOT NULL,"
            " total_fen BIGINT NOT NULL)"
        )


def finish(url: str, month: str) -> None:
    """Timed: the month's key, built once every worker has loaded its lines."""
    with psycopg.connect(url, autocommit=True) as conn:
        table = lines_table(month)
        conn.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (county_code, line_no)")


def county(conn: psycopg.Connection, code: str, month: str) -> int:
    roll = uuid.uuid4()
    table = lines_table(month)
    pending: list[tuple[uuid.UUID, int, str, bytes]] = []
    rows: list[tuple[object, ...]] = []
    lines: list[list[object]] = []
    number = count = 0

    def chunk() -> None:
        nonlocal number, lines
        state = orjson.dumps({"roll_id": str(roll), "number": number, "lines": lines})
        compressed = lz4.block.compress(state, mode="fast", acceleration=4)
        pending.append((uuid.uuid5(roll, str(number)), 1, "bare:Chunk", compressed))
        number, lines = number + 1, []

    def save() -> None:
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(
                f"COPY {table} ({', '.join(LINE_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["text", "int4", "text", "text", "text", "int8"])
                for row in rows:
                    copy.write_row(row)
            cur.executemany(
                "INSERT INTO bare_events (originator_id, originator_version, topic, state)"
                " VALUES (%s, %s, %s, %s)",
                pending,
            )
        pending.clear()
        rows.clear()

    with conn.transaction(), conn.cursor("cases", binary=True) as cases:
        cases.itersize = 2000
        cases.execute(
            f"SELECT {', '.join(COLUMNS)} FROM case_state WHERE county_code = %s ORDER BY case_id",
            (code,),
        )
        for case_id, kind, region, payee, _recorded, _settled in cases:
            amount = FIXED_FEN if kind == "household" else FIXED_FEN // 2  # "compute"
            lines.append([case_id, kind, region, orjson.Fragment(payee), amount])
            rows.append((month, count, code, case_id, region, amount))
            count += 1
            if len(lines) == LINES_PER_CHUNK:
                chunk()
                if len(pending) == CHUNKS_PER_SAVE:
                    save()
    if lines:
        chunk()
    save()
    return count


def work(url: str, counties: list[str], month: str) -> dict[str, object]:
    """One worker, as ``roll_bench.generate``: ready, then its counties on the go signal."""
    conn = psycopg.connect(url)
    conn.execute("SET enable_bitmapscan = off")  # along case_state_county, as doudi reads it
    conn.execute("SET enable_sort = off")
    conn.commit()
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("not told to go")
    cpu = time.process_time()
    lines = sum(county(conn, code, month) for code in counties)
    conn.close()
    return {"lines": lines, "peak_rss_mib": peak_rss_mib(), "cpu_s": time.process_time() - cpu}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", help="a database loaded by roll_bench --load-only")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--counties", type=int, default=len(COUNTIES))
    parser.add_argument("--month", default="2022-12")
    parser.add_argument("--generate", help=argparse.SUPPRESS)
    parser.add_argument("--only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        print(json.dumps(work(args.generate, args.only.split(","), args.month)))
        return
    chosen = COUNTIES[: args.counties]
    prepare(args.database, args.month)
    result = timed(
        args.database, chosen, args.workers, args.month, module="ops.bench.bare_pipeline",
        finish=lambda: finish(args.database, args.month),
    )  # fmt: skip
    print(json.dumps(result | {"pipeline": "bare"}), flush=True)


if __name__ == "__main__":
    main()
