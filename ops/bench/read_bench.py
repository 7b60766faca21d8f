"""Reads under writes through the HTTP API, PostgreSQL: one county imported, ``doudi serve``
plus ``doudi projections run`` (subprocesses, from a source tree given, so another commit can be
the yardstick in turns); reader threads GET one household each (no token), writer threads apply
and read their own case back with the command's ``Doudi-Log-Position``. Prints JSON: reads/s,
p50/p99 of plain reads and of token reads, writes/s.

    python -m ops.bench.read_bench --tree . --tree /tmp/old-tree --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from ops.bench.databases import fresh_database
from ops.demo import write_roster

DOUDI = [sys.executable, "-c", "from api.cli.main import main; main()"]


def _load(url: str, households: int, work: Path) -> tuple[str, list[str]]:
    """Import the county; an admin token and the case ids."""
    from ledger.store.settings import Settings
    from ops.services.core import Services

    roster = work / "roster.csv"
    with roster.open("w", encoding="utf-8") as stream:
        write_roster(stream, households)
    env = os.environ | {"DOUDI_DATABASE_URL": url}
    subprocess.run([*DOUDI, "import", "households", str(roster), "--actor", "bench"], env=env,
                   check=True, capture_output=True)  # fmt: skip
    services = Services(Settings(database_url=url))
    services.fresh()
    _id, token = services.issue_credential("bench", role="admin", region_scope="420582",
                                           staff_id="bench-admin")  # fmt: skip
    with services.db.transaction() as cur:
        cases = [r["case_id"] for r in cur.execute("SELECT case_id FROM case_state").fetchall()]
    services.close()
    return token, cases


def _body(n: int) -> dict[str, Any]:
    from stdnum.cn import ric

    digits = f"420582{1950 + n // 300000:04d}{1 + n // 1000 % 12:02d}{1 + n // 12000 % 28:02d}"
    digits += f"{n % 1000:03d}"
    return {"region_code": "420582", "programme": "dibao_urban", "address": "当阳市玉阳街道",
            "members": [{"id_number": digits + ric.calc_check_digit(digits + "0"),
                         "name": "王一", "relation": "self"}],
            "effective_date": "2024-01-05", "document_ref": f"当民申〔2024〕{n}号"}  # fmt: skip


class _Lost:
    """A request the server never answered (it went away): counted as status 0."""

    status_code = 0


def _get(http: httpx.Client, url: str, **kwargs: Any) -> Any:
    """GET (POST with ``json``), a lost connection answered as ``_Lost``."""
    try:
        return http.post(url, **kwargs) if "json" in kwargs else http.get(url, **kwargs)
    except httpx.TransportError:
        return _Lost()


def _round(
    tree: Path, url: str, token: str, cases: list[str], args: Any, start: int
) -> dict[str, Any]:
    env = os.environ | {"DOUDI_DATABASE_URL": url, "DOUDI_PROJECTIONS": "worker",
                        "PYTHONPATH": str(tree)}  # fmt: skip
    port = str(18000 + random.randrange(1000))
    out = args.log.open("ab")  # the servers' own lines, for a round that goes wrong
    procs = [subprocess.Popen([*DOUDI, "serve", "--workers", str(args.workers), "--port", port],
                              cwd=tree, env=env, stdout=out, stderr=out),
             subprocess.Popen([*DOUDI, "projections", "run"], cwd=tree, env=env, stdout=out,
                              stderr=out)]  # fmt: skip
    base, auth = f"http://127.0.0.1:{port}/api/v1", {"Authorization": f"Bearer {token}"}
    for _ in range(900):
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    plain: list[float] = []
    tokened: list[float] = []
    failed: list[int] = []
    writes, stop = [0], time.monotonic() + args.seconds
    numbers = iter(range(start, start + 10**6))

    def reader() -> None:
        with httpx.Client(headers=auth, timeout=30) as http:
            while time.monotonic() < stop:
                began = time.perf_counter()
                answer = _get(http, f"{base}/households/{random.choice(cases)}")
                ok = answer.status_code == 200
                plain.append(time.perf_counter() - began) if ok else failed.append(
                    answer.status_code
                )

    def writer() -> None:
        with httpx.Client(headers=auth, timeout=30) as http:
            while time.monotonic() < stop:
                made = _get(http, f"{base}/households", json=_body(next(numbers)))
                if made.status_code != 201:
                    failed.append(made.status_code)
                    continue
                writes[0] += 1
                began = time.perf_counter()
                seen = _get(
                    http,
                    f"{base}/households/{made.json()['case_id']}",
                    headers={"Doudi-Log-Position": made.headers["Doudi-Log-Position"]},
                )
                tokened.append(
                    time.perf_counter() - began
                ) if seen.status_code == 200 else failed.append(seen.status_code)

    threads = [threading.Thread(target=reader) for _ in range(args.readers)]
    threads += [threading.Thread(target=writer) for _ in range(args.writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)

    def quantile(values: list[float], q: float) -> float:
        return round(sorted(values)[int(q * (len(values) - 1))] * 1000, 1) if values else 0.0

    return {"tree": str(tree), "reads_per_s": round(len(plain) / args.seconds, 1),
            "read_p50_ms": quantile(plain, 0.5), "read_p99_ms": quantile(plain, 0.99),
            "token_read_p50_ms": quantile(tokened, 0.5), "token_read_p99_ms": quantile(tokened, 0.99),
            "writes_per_s": round(writes[0] / args.seconds, 1), "failed": dict(Counter(failed)),
            "load": os.getloadavg()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tree", action="append", type=Path, required=True)
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="h_reads_bench_"))
    with fresh_database("postgres", work, prefix="h_reads_bench") as url:
        token, cases = _load(url, args.households, work)
        args.log = work / "servers.log"
        for number in range(args.rounds):
            trees = args.tree if number % 2 == 0 else args.tree[::-1]  # in turns
            for index, tree in enumerate(trees):
                start = (number * len(trees) + index + 1) * 100_000
                print(
                    json.dumps(_round(tree.resolve(), url, token, cases, args, start)), flush=True
                )


if __name__ == "__main__":
    main()
