"""Misuse findings over a synthetic province: from an empty findings view, and incrementally
after a month's roll.

    python -m ops.bench.findings_bench --households 100000 [--counties 13] [--backend postgres|sqlite]

Not timed: cases loaded with the bulk import (as ``roll_bench`` loads them), every view caught
up, then planted hits: a death record, a vehicle record and a cadre's relative for one
household in a thousand (a household's first member). Timed:

1. ``from_empty_s``: the findings view rebuilt from position 0 (every event of the log read),
   beside the case-state view's rebuild in the same run (``case_state_rebuild_s``);
2. ``roll_s``: each county's roll for the month generated, approved and projected into the
   rolls view (one process), then ``incremental_s``: the findings view catching up with those
   rolls (copying what they paid, checking the cases a rule can fire on).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from domain.access import Principal, Role
from ledger.store.runtime import tune_gc
from ops.bench.databases import fresh_database, peak_rss_mib
from ops.bench.roll_bench import COUNTIES, load, settings
from ops.demo import write_roster
from ops.services.access import RecordRegistryEntry
from ops.services.core import Services


def plant(services: Services, households: int, counties: tuple[str, ...], folder: Path) -> int:
    """Registry hits for one household in a thousand, read back from the roster the load wrote
    (the same seed): a death, a vehicle and a cadre's relative, each on another household."""
    import csv

    operator = Principal("bench", "admin", "000000", staff_id="bench")
    roster = folder / "plant.csv"
    with roster.open("w", encoding="utf-8", newline="") as stream:
        write_roster(stream, households, seed=3, counties=counties)
    planted = 0
    with roster.open(encoding="utf-8", newline="") as stream:
        for number, row in enumerate(csv.DictReader(stream)):
            if number % 1000 >= 3:
                continue
            kind = ("death", "vehicle", "cadre_relative")[number % 1000]
            details = {"staff_id": "E1"} if kind == "cadre_relative" else {}
            command = RecordRegistryEntry(
                kind=kind, source="bench", source_ref=f"{kind}-{number}", id_number=row["id_number"],
                region_code=row["region_code"], effective_date="2022-10-15", details=details,
            )  # fmt: skip
            services.execute(operator, None, "", command)
            planted += 1
    return planted


def run(kind: str, households: int, counties: tuple[str, ...], month: str, folder: Path) -> dict[str, Any]:  # fmt: skip
    from ops.services.ledger import post_transaction
    from ops.services.rolls import approve_roll, generate_roll

    with fresh_database(kind, folder, "doudi_findingsbench") as url:
        load(url, households, counties, folder)
        services = Services(settings(url))
        result: dict[str, Any] = {"backend": kind, "households": households}
        result["planted"] = plant(services, households, counties, folder)
        services.fresh()
        result["log_positions"] = services.log_position()
        for view in ("case_state", "findings"):
            started = time.perf_counter()
            services.projections.rebuild(view)
            result[f"{view}_rebuild_s"] = round(time.perf_counter() - started, 2)
        result["from_empty_s"] = result.pop("findings_rebuild_s")
        operator = Principal("bench", "admin", "000000", staff_id="bench")
        meta = {"document_ref": "bench", "description": "bench"}
        for county in counties:
            bank, fen = f"clearing:{county}:bank", 10**12
            for number, (code, lines) in enumerate(
                [("raise", [(bank, fen, 0), (f"source:{county}:central", 0, fen)])]
                + [("allocate", [(f"pool:{county}:{p}", fen // 4, 0), (bank, 0, fen // 4)])
                   for p in ("dibao", "tekun")]
            ):  # fmt: skip
                fields = {"code": code, "posting_date": f"{month}-01", **meta, "lines": [
                    {"account": a, "debit_fen": d, "credit_fen": c, "source": "central"} for a, d, c in lines]}  # fmt: skip
                outcome = post_transaction(services, operator, f"b-{county}-{number}", fields)
                services.app.save(*outcome.aggregates)
        services.fresh()
        started = time.perf_counter()
        for county in counties:
            roll = generate_roll(services, operator, county, month, "all")
            services.app.save(*roll.aggregates)
            finance = Principal("bench-finance", Role.FINANCE_OFFICER, county, staff_id="f2")
            services.app.save(*approve_roll(services, finance, roll.response["roll_id"]).aggregates)
            services.projections.catch_up(["rolls"])
        result["roll_s"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        services.projections.catch_up(["findings"])
        result["incremental_s"] = round(time.perf_counter() - started, 2)
        result["incremental_of_roll"] = round(result["incremental_s"] / result["roll_s"], 3)
        total, money, _items, by_rule, _next = services.findings.search(
            scope_prefix="", rule=None, status=None, period=None, staff_id=None, limit=1
        )
        result.update(
            findings=total, amount_fen=money, by_rule=by_rule, peak_rss_mib=peak_rss_mib()
        )
        services.close()
        return result


def main() -> None:
    tune_gc()
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--counties", type=int, default=13)
    parser.add_argument("--month", default="2022-12")
    parser.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    args = parser.parse_args()
    with TemporaryDirectory() as folder:
        result = run(
            args.backend, args.households, COUNTIES[: args.counties], args.month, Path(folder)
        )
        print(json.dumps(result, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
