"""The API under load: locust (headless, bounded) against `doudi serve --workers N` and one
projection worker on a loaded PostgreSQL database, or one `doudi serve` on SQLite (issue #29
item 7).

    pip install -e '.[bench]'     # locust
    python -m ops.bench.api_bench --database URL [--mixes read,write,mixed] [--rounds 3]
                                  [--load 20000] [--tree . --tree /tmp/old]

URL is a database loaded with ``roll_bench --load-only`` and paid with ``--pay-month`` (a copy:
the write mix adds applications, postings and decisions to it), or an empty one (PostgreSQL or
``sqlite:///path``) that ``--load N`` fills with N households of ``--county`` and pays. A mix is
``read``, ``write``, ``mixed`` or one endpoint's task of ``api_locust`` (``one_case``, …). Per
round, tree (the servers run each tree's code, in turns) and mix: locust runs ``--users``
clients for ``--seconds``, and the report gives each endpoint's throughput and p50/p95/p99, the
failures, the CPU seconds of the API processes, the projection worker, the database's backends
and locust (read from /proc, so the load generator's own cost is visible beside the server's),
and the server side's CPU milliseconds per request.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from ledger.store.db import Database
from ops.bench.read_bench import DOUDI
from ops.bench.roll_bench import load, pay_month, settings
from ops.services.core import Services

LOCUSTFILE = Path(__file__).with_name("api_locust.py")
MIXES = {"read": "Reads", "write": "Writes", "mixed": "Mixed"}
TICKS = os.sysconf("SC_CLK_TCK")


def fixture(url: str, county: str, month: str) -> dict[str, Any]:
    """Credentials for the county's staff and an auditor, a sample of its active cases, its
    roll for the month and a township to apply in."""
    services = Services(settings(url))
    roles = {
        "case_worker": (county, "B1"), "finance_officer": (county, "B2"),
        "auditor": (county[:4] + "00", None),
    }  # fmt: skip
    tokens = {
        role: services.issue_credential("bench", role=role, region_scope=scope,
                                        label="api_bench", staff_id=staff)[1]
        for role, (scope, staff) in roles.items()
    }  # fmt: skip
    db = Database(services.settings.database)
    with db.transaction() as cur:
        cases = [r["case_id"] for r in cur.execute(
            "SELECT case_id FROM case_state WHERE county_code = %s AND status = 'active' "
            "AND kind = 'household' ORDER BY case_id LIMIT 2000", (county,)).fetchall()]  # fmt: skip
        first = cur.execute(
            "SELECT region_code FROM case_state WHERE county_code = %s LIMIT 1", (county,)
        ).fetchone()
        roll = cur.execute(
            "SELECT roll_id FROM rolls WHERE county_code = %s AND month = %s LIMIT 1",
            (county, month),
        ).fetchone()
    db.close()
    services.close()
    if not cases or first is None or roll is None:
        raise SystemExit(f"no active cases or no {month} roll for {county}: load and pay first")
    today = datetime.now(UTC).date().isoformat()
    return {"tokens": tokens, "case_ids": cases, "county": county, "township": first["region_code"],
            "roll_id": roll["roll_id"], "month": month, "today": today}  # fmt: skip


def _cpu_ticks(group: int | None = None, command: str = "") -> int:
    """The CPU ticks (user + system) of every process in the process group ``group``, or of
    every process whose command line holds ``command``."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            if group is not None and int(fields[2]) != group:
                continue
            if command and command.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def _wait_healthy(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("the API did not answer /health")


def _ms(text: str) -> float | None:
    """A locust percentile in ms, None where it has none (no request of that kind)."""
    return None if text in ("", "N/A") else float(text)


def _stats(prefix: Path) -> list[dict[str, Any]]:
    rows = []
    with Path(f"{prefix}_stats.csv").open(encoding="utf-8") as stream:
        for row in csv.DictReader(stream):
            rows.append({
                "endpoint": row["Name"], "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]), "per_s": round(float(row["Requests/s"]), 1),
                "p50_ms": _ms(row["50%"]), "p95_ms": _ms(row["95%"]), "p99_ms": _ms(row["99%"]),
            })  # fmt: skip
    return rows


def run_mix(mix: str, port: int, args: Any, folder: Path, groups: dict[str, int | None], database: str) -> dict[str, Any]:  # fmt: skip
    """One mix for ``args.seconds``: locust's per-endpoint figures and each party's CPU seconds;
    ``database`` is the command line of its PostgreSQL backends (empty on SQLite)."""
    prefix = folder / f"{mix}-{time.monotonic_ns()}"
    groups = {**groups, "postgres": None} if database else groups
    ticks = {name: _cpu_ticks(group, database if name == "postgres" else "") for name, group in groups.items()}  # fmt: skip
    started = time.perf_counter()
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), MIXES.get(mix, "Only"), "--headless",
        "--host", f"http://127.0.0.1:{port}", "--users", str(args.users), "--spawn-rate",
        str(args.users), "--run-time", f"{args.seconds}s", "--csv", str(prefix), "--only-summary",
        "--loglevel", "ERROR",
    ]  # fmt: skip
    environment = {**os.environ, "DOUDI_BENCH_FIXTURE": str(folder / "fixture.json"), "DOUDI_BENCH_TASKS": mix}  # fmt: skip
    with (folder / "locust.log").open("a") as log:
        locust = subprocess.Popen(command, env=environment, stdout=log, stderr=log,
                                  start_new_session=True)  # fmt: skip
        locust_ticks = 0
        while locust.poll() is None:  # the load generator's CPU, read before it exits
            locust_ticks = _cpu_ticks(locust.pid)
            time.sleep(0.25)
    elapsed = time.perf_counter() - started
    cpu = {name: (_cpu_ticks(group, database if name == "postgres" else "") - ticks[name]) / TICKS
           for name, group in groups.items()}  # fmt: skip
    rows = _stats(prefix)
    total = next(r for r in rows if r["endpoint"] == "Aggregated")
    served = 1000 * sum(cpu.values()) / max(total["requests"], 1)  # server, worker, database
    cpu["locust"] = locust_ticks / TICKS
    return {"mix": mix, "users": args.users, "seconds": round(elapsed, 1), "total": total,
            "endpoints": [r for r in rows if r["endpoint"] != "Aggregated"],
            "cpu_s": {name: round(value, 1) for name, value in cpu.items()},
            "server_cpu_ms_per_request": round(served, 2), "load": os.getloadavg()[0]}  # fmt: skip


def serve(tree: Path, args: Any, folder: Path, database: str) -> list[dict[str, Any]]:
    """Start the servers of ``tree`` (the production shape on PostgreSQL: API processes that only
    read the views, one worker keeping them; on SQLite one process), run every mix, stop them."""
    env = {**os.environ, "DOUDI_DATABASE_URL": args.database, "DOUDI_ENVIRONMENT": "test",
           "DOUDI_SECRET": "bench", "DOUDI_LOG_JSON": "true",
           "PYTHONPATH": os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")]),
           "DOUDI_PROJECTIONS": "worker" if database else "thread"}  # fmt: skip
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env, "cwd": tree,
             "start_new_session": True}  # fmt: skip
    workers = ["--workers", str(args.workers)] if database else []
    children = {"api": subprocess.Popen([*DOUDI, "serve", *workers, "--port", str(args.port)], **quiet)}  # type: ignore[call-overload]  # fmt: skip
    if database:
        children["worker"] = subprocess.Popen([*DOUDI, "projections", "run", "--interval", "0.05"], **quiet)  # type: ignore[call-overload]  # fmt: skip
    try:
        _wait_healthy(args.port)
        groups: dict[str, int | None] = {name: child.pid for name, child in children.items()}
        return [run_mix(mix, args.port, args, folder, groups, database) | {"tree": str(tree)}
                for mix in args.mixes.split(",")]  # fmt: skip
    finally:
        for child in children.values():
            os.killpg(child.pid, signal.SIGTERM)
        for child in children.values():
            try:
                child.wait(60)
            except subprocess.TimeoutExpired:  # a worker stuck in a request
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", required=True, help="a loaded, paid database (or see --load)")
    parser.add_argument("--load", type=int, metavar="N", help="first load N households and pay")
    parser.add_argument("--tree", action="append", type=Path, help="source trees, in turns")
    parser.add_argument("--county", default="420582")
    parser.add_argument("--month", default="2022-12", help="the paid roll's month")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--mixes", default="read,write,mixed")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    target = settings(args.database).database
    # A backend's title: "postgres: [cluster: ]user database client state".
    database = f": {target.user} {target.dbname} " if target.kind == "postgres" else ""
    trees = [tree.resolve() for tree in args.tree or [Path(__file__).parents[2]]]
    with TemporaryDirectory() as name:
        folder = Path(name)
        if args.load:
            load(args.database, args.load, (args.county,), folder)
            pay_month(args.database, (args.county,), args.month)
        fixture_path = folder / "fixture.json"
        fixture_path.write_text(json.dumps(fixture(args.database, args.county, args.month)))
        for round_number in range(args.rounds):
            for tree in trees if round_number % 2 == 0 else trees[::-1]:
                for result in serve(tree, args, folder, database):
                    print(json.dumps(result | {"round": round_number + 1}, ensure_ascii=False), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
