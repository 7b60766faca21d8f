"""A county's household list, page by page: the keyset page against the offset page it replaced.

    python -m ops.bench.list_bench --households 1000000 --rounds 3

Fills ``case_state`` of a fresh PostgreSQL database with N synthetic households spread over the
13 counties of 宜昌市 (SQL, not the log: only the list is measured) and analyses it. Each round
reads, in turns, a page of 50 of one county (the first page and the page at depth 10,000, or half the county if smaller):
the page as the list reads it now (``CaseStateView.search``, after a cursor's key), and the
yardstick, the page as it was read before keyset pagination (a count of the county, then
``ORDER BY applied_on, case_id LIMIT 50 OFFSET d`` with the scope as ``LIKE``). Each figure is
the median of ``--reads`` reads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from ledger.store.settings import Settings
from ops.bench.databases import fresh_database
from ops.services.core import Services

COUNTIES = ("420502", "420503", "420504", "420505", "420506", "420525", "420526", "420527",
            "420528", "420529", "420581", "420582", "420583")  # fmt: skip
COUNTY = "420582"
DEPTH = 10_000
OLD_PAGE = (
    "SELECT case_id, region_code, applied_on FROM case_state WHERE region_code LIKE %s AND kind = %s"
    " ORDER BY applied_on, case_id LIMIT 50 OFFSET %s"
)


def fill(services: Services, households: int) -> None:
    per = households // len(COUNTIES)
    day = "to_char(DATE '2015-01-01' + mod(i, 3000), 'YYYY-MM-DD')"
    with services.db.transaction(write=True) as cur:
        cur.execute(
            "INSERT INTO case_state (case_id, kind, region_code, county_code, programme, status,"
            " status_since, head_name, head_id_masked, head_person_key, applied_on, version,"
            " recorded_at, facts, settled_from, payee)"
            f" SELECT c || '-' || i, 'household', c || lpad(mod(i, 12)::text, 3, '0')"
            " || lpad(mod(i, 20)::text, 3, '0'), c, 'dibao_urban',"
            f" (ARRAY['active','suspended','terminated'])[1 + mod(i, 3)], {day}, '王', '4205**', 'k' || i,"
            f" {day}, 1, '2024-01-01T00:00:00Z', '\\x00', {day}, '\\x00'"
            f" FROM unnest(%s::text[]) AS c, generate_series(1, {per}) AS i",
            (list(COUNTIES),),
        )
        # the index the old list had (it could not serve the scope's LIKE, nor the order)
        cur.execute("CREATE INDEX case_state_region ON case_state (region_code, status)")
    with services.db.transaction(write=True) as cur:
        cur.execute("ANALYZE case_state")


def median_ms(read: Callable[[], Any], reads: int) -> float:
    times = []
    for _ in range(reads):
        start = time.perf_counter()
        read()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 2)


def old_page(services: Services, offset: int) -> None:
    with services.db.transaction() as cur:
        cur.execute(
            "SELECT COUNT(*) AS n FROM case_state WHERE region_code LIKE %s AND kind = %s",
            (COUNTY + "%", "household"),
        ).fetchone()
        cur.execute(OLD_PAGE, (COUNTY + "%", "household", offset)).fetchall()


def new_page(services: Services, after: list[Any] | None) -> None:
    page, _key = services.case_state.search(
        scope_prefix=COUNTY, kind="household", region_prefix=None, status=None,
        programme=None, limit=50, after=after,
    )  # fmt: skip
    assert len(page) == 50


def measure(url: str, households: int, rounds: int, reads: int) -> dict[str, Any]:
    services = Services(Settings(environment="test", database_url=url, secret="bench"))
    try:
        services.projections.setup()
        started = time.perf_counter()
        fill(services, households)
        filled_s = round(time.perf_counter() - started, 1)
        depth = min(DEPTH, households // len(COUNTIES) // 2)
        with services.db.transaction() as cur:
            deep = cur.execute(
                "SELECT region_code, applied_on, case_id FROM case_state WHERE county_code = %s"
                " ORDER BY region_code, applied_on, case_id LIMIT 1 OFFSET %s",
                (COUNTY, depth - 1),
            ).fetchone()
        key = [deep["region_code"], deep["applied_on"], deep["case_id"]]  # type: ignore[index]
        found: list[dict[str, Any]] = []
        for _ in range(rounds):
            row = {
                "old_first_ms": median_ms(lambda: old_page(services, 0), reads),
                "new_first_ms": median_ms(lambda: new_page(services, None), reads),
                "new_deep_ms": median_ms(lambda: new_page(services, key), reads),
                "old_deep_ms": median_ms(lambda: old_page(services, depth), reads),
            }
            row["first_ratio"] = round(row["new_first_ms"] / row["old_first_ms"], 4)
            row["deep_ratio"] = round(row["new_deep_ms"] / row["old_deep_ms"], 4)
            found.append(row)
        return {
            "households": households, "county_households": households // len(COUNTIES),
            "depth": depth, "fill_s": filled_s, "rounds": found, "load_average": os.getloadavg(),
            "median_first_ratio": statistics.median(r["first_ratio"] for r in found),
            "median_deep_ratio": statistics.median(r["deep_ratio"] for r in found),
        }  # fmt: skip
    finally:
        services.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--households", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reads", type=int, default=15)
    args = parser.parse_args()
    with TemporaryDirectory() as folder, fresh_database("postgres", Path(folder), "h_lists") as url:
        print(json.dumps(measure(url, args.households, args.rounds, args.reads)))


if __name__ == "__main__":
    main()
